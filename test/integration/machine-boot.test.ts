// Machine.start against real QEMU + Debian's kernel (no initrd) under TCG:
//  - the kernel panics (no root fs); panic=-1 + -no-reboot make QEMU exit; the console file is
//    complete afterwards and no QEMU is left;
//  - a machine with hot-pluggable devices comes up with its root ports, network forward, and stops;
//  - QEMU failing at startup becomes an InfraError carrying its stderr and argv.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, InfraError } from '../../src/errors.js';
import { readConsoleLines } from '../../src/vm/console.js';
import { freeLoopbackPort } from '../../src/vm/free-port.js';
import { Machine } from '../../src/vm/machine.js';
import { findTestKernel } from '../../src/vm/testing/test-kernel.js';

let kernel: string;
const dirs: string[] = [];
const machines: Machine[] = [];
const tmp = (): string => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'huci-boot-'));
  dirs.push(d);
  return d;
};

beforeAll(async () => {
  kernel = await findTestKernel();
}, 300_000);

afterAll(async () => {
  await Promise.all(machines.map((m) => m.stop()));
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function qemuAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

function qemuProcessesFor(runDir: string): string[] {
  try {
    return execFileSync('pgrep', ['-af', `qemu-system.*${runDir}`], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

describe('Machine (real QEMU, TCG)', () => {
  it('boots to "Kernel panic - not syncing", QEMU exits by itself, the console file is complete, nothing is left', async () => {
    const runDir = tmp();
    const t0 = Date.now();
    const m = await Machine.start({ kernel, accel: 'tcg', runDir, memMiB: 512 });
    machines.push(m);
    const started = Date.now() - t0;
    expect(m.argv).toEqual(expect.arrayContaining(['-accel', 'tcg', '-cpu', 'max,la57=off', '-no-reboot']));
    expect(m.argv[m.argv.indexOf('-append') + 1]).toBe('console=ttyS0 panic=-1');

    const panic = await m.console.waitForLine(/Kernel panic - not syncing/, { timeoutMs: 180_000 });
    const exit = await m.exited;
    const total = Date.now() - t0;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(m.exitStatus).toEqual(exit);
    expect(panic.text).toMatch(/VFS: Unable to mount root fs/);

    // The raw file holds every line we streamed, in order, through the end-of-panic marker.
    const raw = fs.readFileSync(m.console.file, 'utf8');
    const fileLines = raw.replaceAll('\r', '').split('\n');
    if (fileLines.at(-1) === '') fileLines.pop();
    expect(fileLines.length).toBe(m.console.lineCount);
    expect(fileLines).toEqual(m.console.retained().map((l) => l.text));
    expect(raw).toMatch(/Linux version \d/);
    // panic=-1 reboots right after the panic report: its message and stack are the file's last lines
    expect(fileLines.slice(-40).some((l) => l.includes('Kernel panic - not syncing: VFS: Unable to mount root fs'))).toBe(true);
    expect(fileLines.at(-1)).toBe(m.console.tail(1)[0]);
    expect(m.console.byteCount).toBe(Buffer.byteLength(raw));

    // console.jsonl: same lines, host timestamps in order.
    const jl = await readConsoleLines(path.join(runDir, 'console.jsonl'));
    expect(jl.map((l) => l.text)).toEqual(fileLines);
    expect(jl.every((l, i) => i === 0 || l.hostMs >= jl[i - 1]!.hostMs)).toBe(true);

    // QMP saw the guest's reboot request that -no-reboot turned into an exit.
    expect(m.qmp.backlogEvents().find((e) => e.event === 'SHUTDOWN')?.data).toEqual({ guest: true, reason: 'guest-reset' });
    await m.qmp.closed;

    expect(qemuAlive(m.pid)).toBe(false);
    expect(qemuProcessesFor(runDir)).toEqual([]);
    await m.stop(); // after exit: a no-op
    await m.stop();
    console.log(`panic boot: QMP up in ${started} ms, panic after ${panic.hostMs - t0} ms, QEMU gone after ${total} ms, ${m.console.lineCount} lines`);
  }, 240_000);

  it('starts with hot-pluggable devices, spare ports and a loopback ssh forward; stop() is quick and idempotent', async () => {
    const runDir = tmp();
    const disk = path.join(runDir, 'blk0.img');
    fs.writeFileSync(disk, Buffer.alloc(1 << 20));
    const port = await freeLoopbackPort();
    const m = await Machine.start({
      kernel,
      accel: 'tcg',
      runDir,
      memMiB: 256,
      append: ['panic=0'], // hang on panic instead of exiting: this test stops the machine itself
      sshHostPort: port,
      spareRootPorts: 2,
      chardevs: [{ id: 'us0-chr', backend: 'ringbuf' }],
      drives: [{ id: 'blk0-drv', file: disk }],
      devices: [
        { id: 'xhci', driver: 'qemu-xhci', hotplug: true },
        { id: 'us0', driver: 'usb-serial', bus: 'xhci.0', props: { chardev: 'us0-chr' } },
        { id: 'blk0', driver: 'virtio-blk-pci', hotplug: true, props: { drive: 'blk0-drv' } },
      ],
    });
    machines.push(m);
    const names = ((await m.qmp.execute('qom-list', { path: '/machine/peripheral' })) as { name: string }[]).map((p) => p.name).sort();
    expect(names).toEqual(['blk0', 'rp-blk0', 'rp-spare-0', 'rp-spare-1', 'rp-xhci', 'type', 'us0', 'xhci']);

    // hostfwd listens on loopback
    await new Promise<void>((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve();
      });
      s.on('error', reject);
    });

    // a device on a spare port, and a USB unplug that completes without the guest
    await m.qmp.execute('device_add', { driver: 'virtio-rng-pci', id: 'rng0', bus: 'rp-spare-0' });
    await m.qmp.execute('device_del', { id: 'us0' });
    expect((await m.qmp.waitForEvent('DEVICE_DELETED', { device: 'us0' }, 10_000)).data?.path).toBe('/machine/peripheral/us0');

    const t0 = Date.now();
    await Promise.all([m.stop(), m.stop()]);
    const stopMs = Date.now() - t0;
    expect(await m.exited).toEqual({ code: 0, signal: null }); // quit, not SIGKILL
    expect(stopMs).toBeLessThan(3000);
    console.log(`stop() of a running TCG guest: ${stopMs} ms`);
    expect(qemuAlive(m.pid)).toBe(false);
    expect(qemuProcessesFor(runDir)).toEqual([]);
  }, 120_000);

  it('kill() ends QEMU with the signal; exited reports it', async () => {
    const runDir = tmp();
    const m = await Machine.start({ kernel, accel: 'tcg', runDir, memMiB: 256, append: ['panic=0'] });
    machines.push(m);
    m.kill('SIGTERM');
    const exit = await m.exited;
    // QEMU handles SIGTERM as a clean shutdown request
    expect(exit.code === 0 || exit.signal === 'SIGTERM').toBe(true);
    expect(qemuAlive(m.pid)).toBe(false);
  }, 60_000);

  it('QEMU failing at startup becomes an InfraError with its stderr and argv', async () => {
    const runDir = tmp();
    // the ssh forward port is taken: QEMU cannot set up hostfwd and exits
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as net.AddressInfo).port;
    try {
      const err = (await Machine.start({ kernel, accel: 'tcg', runDir, sshHostPort: port }).catch((e: unknown) => e)) as InfraError;
      expect(err).toBeInstanceOf(InfraError);
      expect(err.message).toMatch(/^QEMU exited \(code 1, signal null\) before QMP came up: .*host forwarding/i);
      expect(err.transcript[0]).toMatch(/^\$ \S*setpriv --pdeathsig KILL -- \S*qemu-system-x86_64 -machine q35/);
      expect(fs.readFileSync(path.join(runDir, 'qemu-stderr.txt'), 'utf8')).toMatch(/hostfwd|host forwarding/i);
      expect(qemuProcessesFor(runDir)).toEqual([]);
    } finally {
      busy.close();
    }
  }, 60_000);

  it('a missing kernel is a ConfigError naming the file, before anything is spawned', async () => {
    const runDir = tmp();
    const missing = path.join(runDir, 'no-such-bzImage');
    const err = (await Machine.start({ kernel: missing, accel: 'tcg', runDir }).catch((e: unknown) => e)) as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe(`machine spec: kernel: ${missing} does not exist`);
    expect(fs.existsSync(path.join(runDir, 'console.log'))).toBe(false);
  }, 60_000);
});
