// Golden argv per spec in testdata/argv/<case>.spec.json → <case>.argv (one argument per line).
// UPDATE_GOLDEN=1 rewrites the .argv files; review the diff.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MachineSpecSchema, type MachineSpecInput } from './machine-spec.js';
import { bootArgv, deviceAddArgs, qemuArgv } from './qemu-argv.js';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'testdata', 'argv');
const cases = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.spec.json'))
  .map((f) => f.replace(/\.spec\.json$/, ''));

describe('qemuArgv golden', () => {
  it('has cases', () => expect(cases.length).toBeGreaterThanOrEqual(4));
  for (const name of cases) {
    it(name, () => {
      const input = JSON.parse(fs.readFileSync(path.join(dir, `${name}.spec.json`), 'utf8')) as unknown;
      const spec = MachineSpecSchema.parse(input);
      const frozen = structuredClone(spec);
      const argv = qemuArgv(spec);
      expect(qemuArgv(spec)).toEqual(argv); // pure: same spec, same argv
      expect(spec).toEqual(frozen); // and the spec is untouched
      const golden = path.join(dir, `${name}.argv`);
      const text = `${argv.join('\n')}\n`;
      if (process.env.UPDATE_GOLDEN) fs.writeFileSync(golden, text);
      expect(text).toBe(fs.readFileSync(golden, 'utf8'));
    });
  }
});

const base: MachineSpecInput = { kernel: '/k', accel: 'tcg', runDir: '/tmp/r' };
const argOf = (argv: string[], flag: string): string[] => argv.flatMap((a, i) => (a === flag ? [argv[i + 1]!] : []));

describe('qemuArgv invariants', () => {
  it("always boots with the console on ttyS0 and panic=-1, then the caller's words", () => {
    const argv = qemuArgv(MachineSpecSchema.parse({ ...base, append: ['quiet', 'x=1'] }));
    expect(argOf(argv, '-append')).toEqual(['console=ttyS0 panic=-1 quiet x=1']);
    expect(argv).toContain('-no-reboot');
  });
  it('gives every hot-pluggable device its own root port with unique chassis/slot', () => {
    const spec = MachineSpecSchema.parse({
      ...base,
      spareRootPorts: 3,
      devices: [
        { id: 'a', driver: 'virtio-serial-pci', hotplug: true },
        { id: 'b', driver: 'virtio-rng-pci', hotplug: true },
        { id: 'c', driver: 'virtio-rng-pci' },
      ],
    });
    const devs = argOf(qemuArgv(spec), '-device');
    const ports = devs.filter((d) => d.startsWith('pcie-root-port,'));
    expect(ports.map((p) => /id=([^,]+)/.exec(p)?.[1])).toEqual(['rp-a', 'rp-b', 'rp-spare-0', 'rp-spare-1', 'rp-spare-2']);
    const chassis = ports.map((p) => /chassis=(\d+)/.exec(p)?.[1]);
    expect(new Set(chassis).size).toBe(ports.length);
    expect(devs).toContain('virtio-serial-pci,id=a,bus=rp-a');
    expect(devs).toContain('virtio-rng-pci,id=c');
  });
  it('only adds a network when sshHostPort is set, forwarding from loopback only', () => {
    expect(qemuArgv(MachineSpecSchema.parse(base))).not.toContain('-netdev');
    const argv = qemuArgv(MachineSpecSchema.parse({ ...base, sshHostPort: 2222 }));
    expect(argOf(argv, '-netdev')).toEqual(['user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:2222-:22']);
  });
  it('puts the agent port last, on its own controller, so other devices keep their slots', () => {
    const spec = { ...base, sshHostPort: 2222, devices: [{ id: 'a', driver: 'virtio-rng-pci', hotplug: true }] };
    const without = qemuArgv(MachineSpecSchema.parse(spec));
    const withPort = qemuArgv(MachineSpecSchema.parse({ ...spec, agentPort: 'huci.agent' }));
    expect(withPort.slice(0, without.length)).toEqual(without);
    expect(withPort.slice(without.length)).toEqual([
      '-chardev',
      'socket,id=huci-agent-chr,path=/tmp/r/agent.sock,server=on,wait=off',
      '-device',
      'virtio-serial-pci,id=huci-vser',
      '-device',
      'virtserialport,bus=huci-vser.0,chardev=huci-agent-chr,id=huci-agent,name=huci.agent',
    ]);
  });
  it('device_add arguments match the -device option', () => {
    const d = MachineSpecSchema.parse({ ...base, devices: [{ id: 'x', driver: 'usb-serial', bus: 'xhci.0', props: { chardev: 'c' } }] }).devices[0]!;
    expect(deviceAddArgs(d)).toEqual({ driver: 'usb-serial', id: 'x', bus: 'xhci.0', chardev: 'c' });
    expect(deviceAddArgs(d, 'rp-spare-0').bus).toBe('rp-spare-0');
  });
});

describe('MachineSpec rejects bad specs with a path', () => {
  const bad: [string, Record<string, unknown>, string, RegExp][] = [
    ['unknown key', { ...base, ram: 5 }, '', /ram/],
    ['bad accel', { ...base, accel: 'hvf' }, 'accel', /kvm|tcg/],
    ['hotplug with bus', { ...base, devices: [{ id: 'a', driver: 'd', hotplug: true, bus: 'pcie.0' }] }, 'devices.0.bus', /own root port/],
    ['duplicate id', { ...base, devices: [{ id: 'a', driver: 'd' }], drives: [{ id: 'a', file: '/f' }] }, 'drives.0.id', /already used/],
    [
      'device id clashes with a root port',
      {
        ...base,
        devices: [
          { id: 'x', driver: 'd', hotplug: true },
          { id: 'rp-x', driver: 'd' },
        ],
      },
      'devices.1.id',
      /already used/,
    ],
    ['reserved id', { ...base, chardevs: [{ id: 'con', backend: 'null' }] }, '', /reserved/],
    ['agent port id', { ...base, devices: [{ id: 'huci-vser', driver: 'virtio-serial-pci' }] }, '', /reserved/],
    ['bad agent port name', { ...base, agentPort: 'a b' }, 'agentPort', /letters/],
    ['id in props', { ...base, devices: [{ id: 'a', driver: 'd', props: { id: 'b' } }] }, 'devices.0.props.id', /not in props/],
    ['bad id', { ...base, devices: [{ id: '0a', driver: 'd' }] }, 'devices.0.id', /QEMU id/],
    ['tiny memory', { ...base, memMiB: 8 }, 'memMiB', /64/],
  ];
  for (const [name, input, where, msg] of bad) {
    it(name, () => {
      const r = MachineSpecSchema.safeParse(input);
      expect(r.success).toBe(false);
      const issue = r.error!.issues[0]!;
      expect(issue.path.join('.')).toBe(where);
      expect(issue.message).toMatch(msg);
    });
  }
});

describe('a machine waiting for a saved state', () => {
  it('is the same machine with -incoming defer at the end, and bootArgv gives back the argv that boots it', () => {
    const boots = qemuArgv(MachineSpecSchema.parse({ ...base, agentPort: 'p' }));
    const waits = qemuArgv(MachineSpecSchema.parse({ ...base, agentPort: 'p', incoming: true }));
    expect(waits).toEqual([...boots, '-incoming', 'defer']);
    expect(bootArgv(waits)).toEqual(boots);
    expect(bootArgv(boots)).toEqual(boots);
  });
});
