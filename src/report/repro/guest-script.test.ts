import { describe, expect, it } from 'vitest';
import type { ReplayAction } from '../../model/run.js';
import { guestScript } from './guest-script.js';

const info = { caseId: 'i2c/i801-unbind-dev-smbus', runId: 'r1', verdict: 'blocked', title: null };
const agent = (startMs: number, endMs: number | null, request: Record<string, unknown>, reply: Record<string, unknown> | null): ReplayAction => ({
  kind: 'agent',
  startMs,
  endMs,
  request,
  reply,
});

/** the script without its header and helpers, and without the "# was:" lines */
const body = (s: string): string[] =>
  s
    .split('\n')
    .filter((l) => l && !l.startsWith('#') && !l.startsWith('. /repro') && !l.startsWith('repro_start'))
    .map((l) => l.trim());

describe('guestScript', () => {
  it('awaits what had finished, backgrounds what was still running, sleeps the deliberate waits, renumbers handles', () => {
    const s = guestScript(
      [
        agent(0, 40, { id: 900, op: 'sh', command: 'modprobe i2c-dev' }, { ok: true, errno: null }),
        agent(50, 60, { id: 901, op: 'open', path: '/dev/i2c-0', flags: ['O_RDWR'] }, { id: 901, ok: true, errno: null, ms: 1, handle: 41, fd: 7 }),
        // the removal blocks on the held fd: it ends only after the close
        agent(70, 5200, { id: 902, op: 'sh', command: 'echo 0000:00:1f.3 > /sys/bus/pci/drivers/i801_smbus/unbind' }, { ok: true, errno: null }),
        agent(80, 90, { id: 903, op: 'ioctl', handle: 41, request: { nr: 1 } }, { ok: true, errno: null, ret: 0 }),
        agent(5000, 5010, { id: 904, op: 'close', handle: 41 }, { ok: true, errno: null, deferred: false }),
        agent(5300, 5400, { id: 905, op: 'sh', command: 'echo 0000:00:1f.3 > /sys/bus/pci/drivers/i801_smbus/bind' }, { ok: true, errno: null }),
      ],
      info,
    );
    expect(body(s)).toEqual([
      `req 1 '{"id":1,"op":"sh","command":"modprobe i2c-dev"}' 10`,
      `req 2 '{"id":2,"op":"open","path":"/dev/i2c-0","flags":["O_RDWR"]}' 10`,
      `send 3 '{"id":3,"op":"sh","command":"echo 0000:00:1f.3 > /sys/bus/pci/drivers/i801_smbus/unbind"}'`,
      `req 4 '{"id":4,"op":"ioctl","handle":1,"request":{"nr":1}}' 10`,
      'sleep 4.9',
      `req 5 '{"id":5,"op":"close","handle":1}' 10`,
      'await 3 16',
      'sleep 0.1',
      `req 6 '{"id":6,"op":"sh","command":"echo 0000:00:1f.3 > /sys/bus/pci/drivers/i801_smbus/bind"}' 10`,
      'repro_end',
    ]);
    expect(s).toMatch(/^#!\/bin\/sh\n# i2c\/i801-unbind-dev-smbus, from hotunplug-ci run r1: blocked\./);
    expect(s).toContain('# was: {"id":901,"ok":true,"errno":null,"ms":1,"handle":41,"fd":7}');
  });

  it('turns QMP commands and event waits into host requests, quoting for the shell', () => {
    const s = guestScript(
      [
        { kind: 'qmp-event', startMs: 0, endMs: 900, event: 'DEVICE_DELETED', match: { device: 'ftdi0' }, timeoutMs: 5000, arrived: true },
        { kind: 'qmp', startMs: 1, endMs: 5, command: 'device_del', args: { id: 'ftdi0' } },
        agent(10, 20, { op: 'read', handle: 3, size: 8 }, { ok: false, errno: 'EIO' }),
        agent(1000, null, { op: 'sh', command: "echo 'x' > /dev/null" }, null),
      ],
      { ...info, verdict: 'crashed', title: 'KASAN: slab-use-after-free Read in usb_serial_port_work' },
    );
    expect(body(s)).toEqual([
      `host arm 1 DEVICE_DELETED '"device":"ftdi0"'`,
      `host qmp '{"execute":"device_del","arguments":{"id":"ftdi0"}}'`,
      `req 1 '{"id":1,"op":"read","handle":3,"size":8}' 10`,
      // the wait for the event is what took the time: no sleep of its own
      'host wait 1 5',
      'sleep 0.1',
      `send 2 '{"id":2,"op":"sh","command":"echo '\\''x'\\'' > /dev/null"}'`,
      'await 2 10',
      'repro_end',
    ]);
    expect(s).toContain('(KASAN: slab-use-after-free Read in usb_serial_port_work)');
  });

  it('looks once for an event that never came, rather than sitting out its bound', () => {
    const s = guestScript(
      [
        { kind: 'qmp-event', startMs: 0, endMs: 9000, event: 'DEVICE_DELETED', match: { device: 'xhci0' }, timeoutMs: 165000, arrived: false },
        { kind: 'qmp', startMs: 1, endMs: 5, command: 'device_del', args: { id: 'xhci0' } },
        agent(10, 20, { op: 'ping' }, { ok: true, errno: null }),
      ],
      info,
    );
    expect(body(s).slice(-2)).toEqual(['host wait 1 1', 'repro_end']);
    expect(s).toContain('# was: did not arrive within 165000 ms\nhost wait 1 1\n');
  });

  it('a qom-list after a device_del was the case waiting for the device to leave QEMU: the replay waits so too', () => {
    const s = guestScript(
      [
        { kind: 'qmp', startMs: 0, endMs: 2, command: 'device_del', args: { id: 'xhci0' } },
        { kind: 'qmp', startMs: 104, endMs: 106, command: 'qom-list', args: { path: '/machine/peripheral' } },
        agent(110, 120, { op: 'mmap', handle: 1, size: 4096 }, { ok: true, errno: null }),
      ],
      info,
    );
    expect(body(s)).toEqual([
      `host qmp '{"execute":"device_del","arguments":{"id":"xhci0"}}'`,
      'sleep 0.1',
      'host gone xhci0 10',
      `req 1 '{"id":1,"op":"mmap","handle":1,"size":4096}' 10`,
      'repro_end',
    ]);
  });

  it('numbers loops afresh as it does handles', () => {
    const s = guestScript(
      [
        agent(0, 5, { op: 'open', path: '/dev/x' }, { ok: true, errno: null, handle: 9 }),
        agent(6, 8, { op: 'spawn', handle: 9, loop: { op: 'read', size: 1 } }, { ok: true, errno: null, loop: 4 }),
        agent(9, 12, { op: 'stop', loop: 4 }, { ok: true, errno: null }),
      ],
      info,
    );
    expect(body(s).slice(1, 3)).toEqual([
      `req 2 '{"id":2,"op":"spawn","handle":1,"loop":{"op":"read","size":1}}' 10`,
      `req 3 '{"id":3,"op":"stop","loop":1}' 10`,
    ]);
  });
});
