import { describe, expect, it } from 'vitest';
import { probeAccepted } from './accept.js';
import type { CaseRecord, ProbeOutcome, RemovalOutcome } from './record.js';
import { classifyCase, judgeControls, subsystemVerdict } from './verdict.js';

const removal = (o: Partial<RemovalOutcome> = {}): RemovalOutcome => ({
  method: 'sysfs-unbind',
  issued: true,
  completed: true,
  ms: 12,
  timeoutMs: 8000,
  completedAfterCloseMs: null,
  errno: null,
  refusedOk: [],
  ...o,
});
const probe = (o: Partial<ProbeOutcome> = {}): ProbeOutcome => ({
  op: 'read',
  fd: 'chip',
  ok: false,
  errno: 'ENODEV',
  ms: 0.3,
  timedOut: false,
  accepted: true,
  ...o,
});
const rec = (o: Partial<CaseRecord> = {}): CaseRecord => ({
  id: 'gpio/sim-unbind-chip-read',
  missingOptions: [],
  harnessError: null,
  guestLost: null,
  consoleLinesSeen: 10,
  removal: removal(),
  probes: [probe()],
  loops: [],
  restore: { ok: true },
  findings: [],
  ...o,
});

describe('classifyCase', () => {
  const table: Array<[string, Partial<CaseRecord>, string, RegExp]> = [
    ['all accepted, restore ok', {}, 'handled', /completed in 12 ms; probes got ENODEV/],
    ['missing option', { missingOptions: ['CONFIG_GPIO_SIM'] }, 'skipped', /lacks CONFIG_GPIO_SIM/],
    [
      'KASAN finding',
      { findings: [{ kind: 'kasan', title: 'KASAN: slab-use-after-free Read in linereq_put_event' }] },
      'crashed',
      /^KASAN: slab-use-after-free Read in linereq_put_event$/,
    ],
    ['WARNING counts as crashed', { findings: [{ kind: 'warning', title: 'WARNING in gpiochip_remove' }] }, 'crashed', /WARNING in gpiochip_remove/],
    ['crash beats hang', { guestLost: 'ssh connection closed', findings: [{ kind: 'panic', title: 'kernel panic: Fatal exception' }] }, 'crashed', /panic/],
    ['guest lost, silent console', { guestLost: 'ssh connection closed', consoleLinesSeen: 0 }, 'hung', /ssh connection closed \(no console output\)/],
    ['hung-task report', { findings: [{ kind: 'hung-task', title: 'INFO: task hung in i2c_del_adapter' }] }, 'hung', /task hung in i2c_del_adapter/],
    ['hang beats blocked', { guestLost: 'agent silent', removal: removal({ completed: false, ms: null }) }, 'hung', /agent silent/],
    [
      'blocked, completed after close',
      { removal: removal({ completed: false, ms: null, completedAfterCloseMs: 412 }) },
      'blocked',
      /within 8000 ms while fds were held; completed 412 ms after/,
    ],
    [
      'blocked until the calls in flight stopped (before the close)',
      { removal: removal({ completed: false, ms: null, completedAfterCloseMs: -6 }) },
      'blocked',
      /while fds were held; completed once the calls in flight were stopped, 6 ms before the fds were closed$/,
    ],
    [
      'blocked, seen asleep in the kernel rather than sitting out the bound',
      { removal: removal({ completed: false, ms: null, completedAfterCloseMs: 30, blockedIn: { task: 'sh (pid 9)', wait: 'i2c_del_adapter', ms: 1000 } }) },
      'blocked',
      /^sysfs-unbind waited while fds were held: sh \(pid 9\) asleep in i2c_del_adapter for 1000 ms; completed 30 ms after/,
    ],
    [
      'a removal cut short by a harness failure is not blocked',
      { harnessError: 'QEMU (pid 7) was killed by SIGKILL during the case (agent stream dead)', removal: removal({ completed: false, ms: null }) },
      'error',
      /killed by SIGKILL/,
    ],
    [
      'blocked, then a harness failure after the fds were closed: still blocked',
      { harnessError: 'restore step failed', removal: removal({ completed: false, ms: null, completedAfterCloseMs: 30 }) },
      'blocked',
      /completed 30 ms after/,
    ],
    [
      'blocked beats silent',
      { removal: removal({ completed: false, ms: null }), probes: [probe({ ok: true, errno: null, accepted: false })] },
      'blocked',
      /never completed/,
    ],
    ['silent: probe succeeded', { probes: [probe({ ok: true, errno: null, bytes: 8, accepted: false })] }, 'silent', /read on chip succeeded \(8 bytes\)/],
    [
      'silent: unexpected errno (fd still behaves as live)',
      { probes: [probe({ op: 'ioctl:GPIO_GET_CHIPINFO_IOCTL', errno: 'EINVAL', accepted: false })] },
      'silent',
      /got EINVAL/,
    ],
    [
      'silent: blocked reader not woken',
      { loops: [{ fd: 'req', op: 'read', iterations: 0, counts: {}, expectWake: ['ENODEV'], stuck: true }] },
      'silent',
      /not woken with ENODEV/,
    ],
    [
      'handled: blocked reader woken',
      { loops: [{ fd: 'req', op: 'read', iterations: 1, counts: { ENODEV: 1 }, expectWake: ['ENODEV'] }] },
      'handled',
      /ENODEV/,
    ],
    [
      'handled: blocked poll woken with one of the flags',
      { loops: [{ fd: 'video', op: 'poll', iterations: 1, counts: { 'POLLPRI|POLLERR|POLLHUP': 1 }, expectWake: ['POLLHUP'] }] },
      'handled',
      /completed/,
    ],
    [
      'silent: blocked poll that only timed out',
      { loops: [{ fd: 'video', op: 'poll', iterations: 3, counts: { TIMEOUT: 3 }, expectWake: ['POLLHUP', 'POLLERR'] }] },
      'silent',
      /not woken with POLLHUP\/POLLERR/,
    ],
    [
      'rmmod refused with EBUSY',
      { removal: removal({ method: 'rmmod', errno: 'EBUSY', refusedOk: ['EBUSY'] }), probes: [probe({ ok: true, errno: null, accepted: false })] },
      'handled',
      /rmmod refused with EBUSY/,
    ],
    ['removal failed unexpectedly', { removal: removal({ errno: 'ENOENT', detail: "sh: can't create …/unbind" }) }, 'error', /sysfs-unbind failed with ENOENT/],
    [
      'harness failure',
      { harnessError: 'holder chip: open /dev/gpiochip9 failed: ENOENT', removal: null, probes: [], restore: null },
      'error',
      /open \/dev\/gpiochip9 failed/,
    ],
    ['restore failed', { restore: { ok: false, detail: 'bind: No such device' } }, 'error', /restore failed: bind/],
  ];
  for (const [name, o, verdict, reason] of table) {
    it(name, () => {
      const c = classifyCase(rec(o));
      expect(c.verdict).toBe(verdict);
      expect(c.reason).toMatch(reason);
    });
  }
});

describe('probeAccepted', () => {
  const rule = { errno: ['ENODEV'], revents: ['POLLHUP', 'POLLERR'], reventsOnly: true, eof: false, fault: [] as string[] };
  const table: Array<[string, Parameters<typeof probeAccepted>[1], boolean, Partial<typeof rule>?]> = [
    ['ENODEV', { op: 'read', ok: false, errno: 'ENODEV' }, true],
    ['EINVAL', { op: 'read', ok: false, errno: 'EINVAL' }, false],
    ['harness timeout', { op: 'read', ok: false, errno: 'ETIMEDOUT_HARNESS', timedOut: true }, false],
    ['poll HUP|ERR', { op: 'poll', ok: true, errno: null, revents: ['POLLHUP', 'POLLERR'] }, true],
    ['poll IN|HUP only-rule', { op: 'poll', ok: true, errno: null, revents: ['POLLIN', 'POLLHUP'] }, false],
    ['poll IN|HUP any-rule (tty)', { op: 'poll', ok: true, errno: null, revents: ['POLLIN', 'POLLHUP'] }, true, { reventsOnly: false }],
    ['poll nothing', { op: 'poll', ok: true, errno: null, revents: [] }, false],
    ['read data', { op: 'read', ok: true, errno: null, bytes: 4 }, false],
    ['read EOF when eof accepted', { op: 'read', ok: true, errno: null, bytes: 0 }, true, { eof: true }],
    ['mmap refused ENODEV', { op: 'mmap', ok: false, errno: 'ENODEV' }, true],
    ['mmap faults SIGBUS when a fault is accepted', { op: 'mmap', ok: true, errno: null, bytes: 4096, fault: 'SIGBUS' }, true, { fault: ['SIGBUS'] }],
    ['mmap faults SIGBUS when not', { op: 'mmap', ok: true, errno: null, bytes: 4096, fault: 'SIGBUS' }, false],
    ['mmap reads a dead device (numb)', { op: 'mmap', ok: true, errno: null, bytes: 4096 }, false, { fault: ['SIGBUS'] }],
    ['read EOF when not', { op: 'read', ok: true, errno: null, bytes: 0 }, false],
  ];
  for (const [name, reply, want, over] of table) it(name, () => expect(probeAccepted({ ...rule, ...over }, reply)).toBe(want));
});

describe('subsystem verdict and controls', () => {
  it('worst case wins: crashed > hung > blocked > silent > handled', () => {
    expect(subsystemVerdict(['handled', 'silent', 'blocked'])).toBe('blocked');
    expect(subsystemVerdict(['handled', 'hung', 'crashed'])).toBe('crashed');
    expect(subsystemVerdict(['handled', 'error', 'skipped'])).toBe('handled');
    expect(subsystemVerdict(['skipped'])).toBe('skipped');
  });
  const exp = [
    { id: 'canary/buggy-unbind-read', verdict: 'crashed' as const, title: 'KASAN: slab-use-after-free' },
    { id: 'canary/fixed-unbind-read', verdict: 'handled' as const },
  ];
  it('trusted when the controls come out as declared', () => {
    const c = judgeControls(exp, [
      { id: 'canary/buggy-unbind-read', verdict: 'crashed', findings: [{ title: 'KASAN: slab-use-after-free Read in canary_read' }] },
      { id: 'canary/fixed-unbind-read', verdict: 'handled', findings: [] },
    ]);
    expect(c).toEqual({ ran: true, trusted: true, detail: '2 control(s) came out as expected' });
  });
  it('loudly untrusted when the buggy canary does not crash', () => {
    const c = judgeControls(exp, [
      { id: 'canary/buggy-unbind-read', verdict: 'handled', findings: [] },
      { id: 'canary/fixed-unbind-read', verdict: 'handled', findings: [] },
    ]);
    expect(c.trusted).toBe(false);
    expect(c.detail).toMatch(/^CONTROLS FAILED: canary\/buggy-unbind-read came out handled, expected crashed/);
  });
  it('untrusted when the crash has the wrong title', () => {
    const c = judgeControls(exp, [{ id: 'canary/buggy-unbind-read', verdict: 'crashed', findings: [{ title: 'WARNING in foo' }] }]);
    expect(c.detail).toMatch(/no finding titled "KASAN: slab-use-after-free…"/);
  });
  it('a title list: any of its names (6.1 KASAN says use-after-free where 6.12 says slab-use-after-free)', () => {
    const both = [{ id: 'canary/buggy-unbind-read', verdict: 'crashed' as const, title: ['KASAN: slab-use-after-free', 'KASAN: use-after-free'] }];
    expect(
      judgeControls(both, [{ id: 'canary/buggy-unbind-read', verdict: 'crashed', findings: [{ title: 'KASAN: use-after-free Read in canary_read' }] }]).trusted,
    ).toBe(true);
    const c = judgeControls(both, [{ id: 'canary/buggy-unbind-read', verdict: 'crashed', findings: [{ title: 'WARNING in foo' }] }]);
    expect(c.detail).toMatch(/no finding titled "KASAN: slab-use-after-free…" or "KASAN: use-after-free…"/);
  });
  it('not run', () => expect(judgeControls(exp, [])).toMatchObject({ ran: false, trusted: false }));
});
