// The QMP client against a real QEMU (paused with -S, no kernel). Records the transcript into
// src/vm/qmp/testdata/qemu-<major>.<minor>-hotplug.txt when HOTUNPLUG_UPDATE_TRANSCRIPTS=1, and
// otherwise compares the conversation (timestamps aside) with the recorded one for this version,
// so a QEMU that changes its answers shows up here.
//
// Facts this pins down (QEMU 7.2): with no guest to acknowledge PCIe native hotplug, device_del
// of a PCI device on a root port returns {} but the device stays and no DEVICE_DELETED comes; a
// second device_del says "already in the process of unplug". USB devices are removed at once and
// DEVICE_DELETED arrives, so that is what proves event delivery end to end.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { track } from '../../src/util/reaper.js';
import { qemuBinary, setprivBinary } from '../../src/vm/host-tools.js';
import { QmpClient } from '../../src/vm/qmp/client.js';
import { QmpCommandError, QmpTimeoutError } from '../../src/vm/qmp/errors.js';
import { QueryStatusSchema } from '../../src/vm/qmp/messages.js';

const testdata = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/vm/qmp/testdata');

let dir: string;
let child: ChildProcess;
let exited: Promise<number | null>;
let qmp: QmpClient;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'huci-qmp-real-'));
  const sock = path.join(dir, 'qmp.sock');
  child = spawn(
    setprivBinary(),
    [
      '--pdeathsig',
      'KILL',
      '--',
      qemuBinary(),
      '-machine',
      'q35',
      '-accel',
      'tcg',
      '-nodefaults',
      '-display',
      'none',
      '-S',
      '-device',
      'pcie-root-port,id=rp0,bus=pcie.0,chassis=1,slot=1',
      '-device',
      'pcie-root-port,id=rp1,bus=pcie.0,chassis=2,slot=2',
      '-qmp',
      `unix:${sock},server=on,wait=off`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  track(child);
  exited = new Promise((r) => child.on('exit', (code) => r(code)));
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      qmp = await QmpClient.connect(sock, { timeoutMs: 5000 });
      break;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
});

afterAll(async () => {
  qmp?.close();
  child?.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

const peripherals = async (): Promise<string[]> =>
  ((await qmp.execute('qom-list', { path: '/machine/peripheral' })) as { name: string }[])
    .map((p) => p.name)
    .filter((n) => n !== 'type')
    .sort();

describe('QMP against real QEMU', () => {
  it('speaks QMP and reports the paused machine', async () => {
    expect(qmp.greeting?.QMP.version.qemu.major).toBeGreaterThanOrEqual(7);
    expect(await qmp.execute('query-status', {}, { schema: QueryStatusSchema })).toEqual({ status: 'prelaunch', running: false });
  });

  it('device_add a virtio-serial-pci on a root port; device_del is accepted but waits for the (absent) guest', async () => {
    await qmp.execute('device_add', { driver: 'virtio-serial-pci', id: 'vs0', bus: 'rp0' });
    expect(await peripherals()).toEqual(['rp0', 'rp1', 'vs0']);
    expect(await qmp.execute('device_del', { id: 'vs0' })).toEqual({});
    await expect(qmp.waitForEvent('DEVICE_DELETED', { device: 'vs0' }, 300)).rejects.toBeInstanceOf(QmpTimeoutError);
    const again = (await qmp.execute('device_del', { id: 'vs0' }).catch((e: unknown) => e)) as QmpCommandError;
    expect(again).toBeInstanceOf(QmpCommandError);
    expect(again.desc).toMatch(/already in the process of unplug/);
    expect(await peripherals()).toContain('vs0');
  });

  it('usb-serial on qemu-xhci with a ringbuf chardev: device_del → DEVICE_DELETED', async () => {
    await qmp.execute('device_add', { driver: 'qemu-xhci', id: 'xhci', bus: 'rp1' });
    await qmp.execute('chardev-add', { id: 'us0-chr', backend: { type: 'ringbuf', data: { size: 65536 } } });
    await qmp.execute('device_add', { driver: 'usb-serial', id: 'us0', bus: 'xhci.0', chardev: 'us0-chr' });
    expect(await peripherals()).toContain('us0');
    const seq = qmp.eventSeq;
    await qmp.execute('device_del', { id: 'us0' });
    const ev = await qmp.waitForEvent('DEVICE_DELETED', { device: 'us0' }, 5000, { afterSeq: seq });
    expect(ev.data).toEqual({ device: 'us0', path: '/machine/peripheral/us0' });
    expect(await peripherals()).not.toContain('us0');
    await qmp.execute('chardev-remove', { id: 'us0-chr' });
  });

  it('error replies carry class and desc', async () => {
    const notFound = (await qmp.execute('device_del', { id: 'nope' }).catch((e: unknown) => e)) as QmpCommandError;
    expect([notFound.qmpClass, notFound.desc]).toEqual(['DeviceNotFound', "Device 'nope' not found"]);
    const badDriver = (await qmp.execute('device_add', { driver: 'no-such-device', id: 'x' }).catch((e: unknown) => e)) as QmpCommandError;
    expect(badDriver.qmpClass).toBe('GenericError');
    expect(badDriver.desc).toMatch(/no-such-device/);
  });

  it('cont emits RESUME; quit emits SHUTDOWN, replies, then EOF and QEMU exits 0', async () => {
    await qmp.execute('cont');
    await qmp.waitForEvent('RESUME', {}, 5000);
    await qmp.execute('quit').catch(() => {}); // the reply may lose the race with EOF
    await qmp.waitForEvent('SHUTDOWN', { guest: false, reason: 'host-qmp-quit' }, 5000);
    await qmp.closed;
    expect(await exited).toBe(0);

    const v = qmp.greeting!.QMP.version.qemu;
    const file = path.join(testdata, `qemu-${v.major}.${v.minor}-hotplug.txt`);
    const header = `# QMP transcript recorded by test/integration/qmp-real.test.ts against QEMU ${v.major}.${v.minor}.${v.micro}\n`;
    const lines = qmp.transcript.filter((l) => !/ # /.test(l)); // notes hold temp paths
    if (process.env.HOTUNPLUG_UPDATE_TRANSCRIPTS) fs.writeFileSync(file, `${header}${lines.join('\n')}\n`);
    if (fs.existsSync(file)) expect(conversation(lines)).toEqual(conversation(fs.readFileSync(file, 'utf8').split('\n')));
  });
});

/** What was said, without timestamps, ids, hash-ordered lists, or the quit reply that may lose to EOF. */
function conversation(lines: string[]): unknown[] {
  const out: unknown[] = [];
  for (const l of lines) {
    const m = /^\S+ ([<>]) (.*)$/.exec(l);
    if (!m) continue;
    const msg = JSON.parse(m[2]!) as Record<string, unknown>;
    if (m[1] === '>') {
      out.push({ execute: msg.execute, arguments: msg.arguments });
      continue;
    }
    if ('QMP' in msg) out.push({ greeting: (msg.QMP as { capabilities: unknown }).capabilities });
    else if ('event' in msg) out.push({ event: msg.event, data: msg.data });
    else if ('error' in msg) out.push({ error: msg.error });
    else if (Array.isArray(msg.return)) out.push({ return: [...(msg.return as { name: string }[])].sort((a, b) => a.name.localeCompare(b.name)) });
    else out.push({ return: msg.return });
  }
  // drop the reply to quit, if any (it races with EOF)
  const quit = out.findIndex((x) => (x as { execute?: string }).execute === 'quit');
  return quit >= 0 ? out.slice(0, quit + 1).concat(out.slice(quit + 1).filter((x) => !('return' in (x as object)))) : out;
}
