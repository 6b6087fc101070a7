import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { detect, StreamDetector } from '../detect/index.js';
import { classifyCase } from '../classify/verdict.js';
import { RunResultSchema, type RunResult } from '../model/run.js';
import { LATE_GRACE_MS, runCase } from './engine.js';
import { parseSuiteText } from './load-suites.js';
import { realClock, SleepCancel, type DetectorPort, type RunHow, type SeqOp } from './port.js';
import { runLoop, planCases, type RunLoopOptions } from './run-loop.js';
import { executeRun } from './run-job.js';
import type { ResolvedCase } from './suite-schema.js';
import { FakeClock, FakeGuest, FakeSessions, type FakeBehaviour } from './testing/fake-guest.js';
import type { GuestOp } from '../guest/guest-ops.js';
import { SEQ_MAX } from '../guest/agent-protocol.js';

const here = path.dirname(new URL(import.meta.url).pathname);
const kasan = readFileSync(path.join(here, 'testdata/kasan-canary-read.log'), 'utf8').trimEnd().split('\n');
const hungTask = readFileSync(path.join(here, 'testdata/hung-task.log'), 'utf8').trimEnd().split('\n');

const SUITE = `
suite: fake
description: a device the fake guest can remove
images: [fake-img]
requires: [CONFIG_FAKE]
fds:
  chip:
    holders: [{ name: chip, open: { path: "/dev/\${chip}", flags: [O_RDWR] } }]
    target: chip
  req:
    holders:
      - { name: chip, open: { path: "/dev/\${chip}", flags: [O_RDWR] } }
      - { name: req, ioctl: { on: chip, request: GPIO_V2_GET_LINE_IOCTL, args: { offsets: [0] } } }
    target: req
  waiter:
    holders: [{ name: chip, open: { path: "/dev/\${chip}", flags: [O_RDWR] } }]
    target: chip
    loops: [{ on: chip, op: read, size: 48, expectWake: { errno: [ENODEV] } }]
ops:
  read: { op: read, size: 16, accept: { errno: [ENODEV] } }
  poll: { op: poll, events: [POLLIN], accept: { revents: [POLLHUP, POLLERR], reventsOnly: true } }
templates:
  base:
    provider: fake
    requires: [CONFIG_FAKE_CHIP]
    prepare:
      - { modprobe: fake }
      - { discover: { var: chip, glob: "/sys/fake/devices/fake*" } }
    restore:
      - { shell: "echo fake.0 > /sys/bus/platform/drivers/fake/bind" }
    timeouts: { settleMs: 1000 }
cases:
  - use: base
    method: unbind
    removal: { sysfs-unbind: { driver: /sys/bus/platform/drivers/fake, device: fake.0 }, timeoutMs: 2000, closeWaitMs: 3000 }
    matrix: { fd: [chip, req, waiter], op: [read, poll] }
  - use: base
    method: rmmod
    removal: { rmmod: { module: fake }, refused: [EBUSY] }
    fd: chip
    op: read
  - use: base
    method: devdel
    devices: [{ id: dev0, driver: fake-pci, hotplug: true }]
    removal: { qmp-device-del: { device: dev0 }, timeoutMs: 2000, closeWaitMs: 2000 }
    restore: [{ device_add: dev0 }]
    fd: chip
    op: read
`;

const suite = parseSuiteText(SUITE, 'fake.yaml');
const byId = (id: string): ResolvedCase => {
  const c = suite.cases.find((x) => x.id === id);
  if (!c) throw new Error(`no case ${id}: ${suite.cases.map((x) => x.id).join(', ')}`);
  return c;
};

const realDetector: DetectorPort = { live: () => new StreamDetector({ settleMs: 3000 }), detect };

async function run(caseId: string, b: FakeBehaviour) {
  const clock = new FakeClock();
  const guest = new FakeGuest(b, clock);
  const r = await runCase(byId(caseId), { port: guest, detector: realDetector, iteration: 1, clock });
  return { r, cls: classifyCase(r.record), guest };
}

describe('engine + classifier on a fake guest', () => {
  const table: Array<{ name: string; id: string; b: FakeBehaviour; verdict: string; reason: RegExp }> = [
    {
      name: 'all probes ENODEV → handled',
      id: 'fake/fake-unbind-chip-read',
      b: { removal: 'completes', zombie: 'enodev' },
      verdict: 'handled',
      reason: /unbind completed in \d+ ms; probes got ENODEV/,
    },
    {
      name: 'poll POLLHUP|POLLERR → handled',
      id: 'fake/fake-unbind-req-poll',
      b: { removal: 'completes', zombie: 'enodev' },
      verdict: 'handled',
      reason: /POLLHUP\|POLLERR/,
    },
    {
      name: 'probe succeeds on a zombie fd → silent',
      id: 'fake/fake-unbind-chip-read',
      b: { removal: 'completes', zombie: 'succeeds' },
      verdict: 'silent',
      reason: /read on chip succeeded \(4 bytes\)/,
    },
    {
      name: 'poll with POLLIN besides POLLHUP (reventsOnly) → silent',
      id: 'fake/fake-unbind-chip-poll',
      b: { removal: 'completes', zombie: 'pollhup' },
      verdict: 'silent',
      reason: /poll on chip returned POLLIN\|POLLHUP/,
    },
    {
      name: 'probe never returns, guest answers → silent (numbed)',
      id: 'fake/fake-unbind-req-read',
      b: { removal: 'completes', zombie: 'no-reply' },
      verdict: 'silent',
      reason: /read on req did not return/,
    },
    {
      name: 'KASAN report during a probe → crashed, title attached',
      id: 'fake/fake-unbind-chip-read',
      b: { removal: 'completes', zombie: 'enodev', crashOnProbe: kasan },
      verdict: 'crashed',
      reason: /^KASAN: slab-use-after-free Read in canary_read/,
    },
    {
      name: 'report only in dmesg (console dropped it) → crashed',
      id: 'fake/fake-unbind-chip-read',
      b: { removal: 'completes', zombie: 'enodev', dmesgOnlyOnProbe: kasan.slice(1, 30).map((l) => l.replace(/^\[[^\]]*\]\[[^\]]*\] /, '')) },
      verdict: 'crashed',
      reason: /KASAN: slab-use-after-free/,
    },
    {
      name: 'hung-task report → hung',
      id: 'fake/fake-unbind-chip-read',
      b: { removal: 'completes', zombie: 'enodev', crashOnProbe: hungTask },
      verdict: 'hung',
      reason: /INFO: task hung in linereq_free/,
    },
    {
      name: 'unbind waits for the fds → blocked, wait measured',
      id: 'fake/fake-unbind-chip-read',
      b: { removal: 'blocks-until-close', zombie: 'succeeds' },
      verdict: 'blocked',
      reason: /did not complete within 2000 ms while fds were held; completed \d+ ms after the fds were closed/,
    },
    {
      name: 'unbind never completes → blocked, never',
      id: 'fake/fake-unbind-chip-read',
      b: { removal: 'blocks-forever', zombie: 'enodev' },
      verdict: 'blocked',
      reason: /never completed/,
    },
    {
      name: 'DEVICE_DELETED never arrives → blocked',
      id: 'fake/fake-devdel-chip-read',
      b: { removal: 'completes', zombie: 'enodev', deviceDeleted: false },
      verdict: 'blocked',
      reason: /devdel did not complete.*never completed/,
    },
    {
      name: 'no DEVICE_DELETED but the device left QEMU → completed, handled',
      id: 'fake/fake-devdel-chip-read',
      b: { removal: 'completes', zombie: 'enodev', deviceDeleted: 'left-peripherals' },
      verdict: 'handled',
      reason: /devdel completed in \d+ ms/,
    },
    {
      name: 'DEVICE_DELETED arrives, ENODEV → handled',
      id: 'fake/fake-devdel-chip-read',
      b: { removal: 'completes', zombie: 'enodev' },
      verdict: 'handled',
      reason: /devdel completed/,
    },
    {
      name: 'SSH lost mid-case (removal) → hung',
      id: 'fake/fake-unbind-chip-read',
      b: { removal: 'completes', zombie: 'enodev', loseAt: 'removal' },
      verdict: 'hung',
      reason: /guest stopped answering: ssh connection closed/,
    },
    {
      name: 'guest silent after a probe → hung',
      id: 'fake/fake-unbind-chip-read',
      b: { removal: 'completes', zombie: 'enodev', loseAt: 'probe' },
      verdict: 'hung',
      reason: /guest stopped answering/,
    },
    {
      name: 'rmmod refused with EBUSY → handled',
      id: 'fake/fake-rmmod-chip-read',
      b: { removal: 'refuses-ebusy', zombie: 'succeeds' },
      verdict: 'handled',
      reason: /rmmod refused with EBUSY/,
    },
    {
      name: 'harness cannot open the device node → error',
      id: 'fake/fake-unbind-chip-read',
      b: { removal: 'completes', zombie: 'enodev', openFails: 'ENOENT' },
      verdict: 'error',
      reason: /holder chip: open \/dev\/fake0 failed: ENOENT/,
    },
    {
      name: 'restore fails → error',
      id: 'fake/fake-unbind-chip-read',
      b: { removal: 'completes', zombie: 'enodev', restoreFails: true },
      verdict: 'error',
      reason: /restore failed/,
    },
    {
      name: 'blocked reader woken with ENODEV → handled',
      id: 'fake/fake-unbind-waiter-read',
      b: { removal: 'completes', zombie: 'enodev' },
      verdict: 'handled',
      reason: /probes got ENODEV/,
    },
    {
      name: 'blocked reader never woken → silent',
      id: 'fake/fake-unbind-waiter-read',
      b: { removal: 'completes', zombie: 'enodev', loopWoken: false },
      verdict: 'silent',
      reason: /read blocked on chip was not woken/,
    },
  ];
  for (const t of table) {
    it(t.name, async () => {
      const { cls } = await run(t.id, t.b);
      expect(cls.verdict).toBe(t.verdict);
      expect(cls.reason).toMatch(t.reason);
    });
  }

  it('stress: workers per op and as many reopening the node start before the removal, stop after the probes, are tallied and not judged', async () => {
    const base = byId('fake/fake-unbind-chip-read');
    const c: ResolvedCase = { ...base, stress: { ...base.stress, workers: 2 } };
    expect(c.stress.ops.map((l) => l.op)).toEqual(['read', 'poll']);
    const clock = new FakeClock();
    const guest = new FakeGuest({ removal: 'completes', zombie: 'enodev' }, clock);
    const r = await runCase(c, { port: guest, detector: realDetector, iteration: 1, clock });
    const cls = classifyCase(r.record);
    expect(cls.verdict).toBe('handled');
    const spawns = r.timeline.filter((e) => e.label.startsWith('stress '));
    // 2 workers × (read, poll, reopen)
    expect(spawns.map((e) => e.label)).toEqual([
      'stress read on chip',
      'stress poll on chip',
      'stress reopen on chip',
      'stress read on chip',
      'stress poll on chip',
      'stress reopen on chip',
    ]);
    const order = guest.calls.filter((x) => /^agent (spawn|stop)$/.test(x) || x.startsWith('write ')).map((x) => x.split(' ').slice(0, 2).join(' '));
    const firstRemoval = order.findIndex((x) => x.startsWith('write'));
    expect(order.slice(0, firstRemoval)).toEqual(Array(6).fill('agent spawn'));
    expect(order.slice(firstRemoval + 1).filter((x) => x === 'agent stop')).toHaveLength(6);
    expect(r.record.loops.filter((l) => l.stress)).toHaveLength(6);
    expect(r.record.loops.every((l) => l.iterations > 0 && l.counts)).toBe(true);
    const spawned = r.replay.filter((a) => a.kind === 'agent' && a.request.op === 'spawn').map((a) => (a.kind === 'agent' ? a.request : {}));
    expect(spawned.find((q) => (q.loop as { op: string }).op === 'reopen')).toMatchObject({
      intervalMs: 0,
      loop: { op: 'reopen', path: '/dev/fake0', flags: ['O_RDWR'] },
    });
  });

  it('records a timeline, a console excerpt between the case markers, and the finding', async () => {
    const { r } = await run('fake/fake-unbind-chip-read', { removal: 'completes', zombie: 'enodev', crashOnProbe: kasan });
    expect(r.findings).toHaveLength(1);
    expect(r.findings[0]!.kind).toBe('kasan');
    expect(r.consoleExcerpt).toMatch(/huci: begin fake\/fake-unbind-chip-read#1/);
    expect(r.consoleExcerpt).toMatch(/huci: end fake\/fake-unbind-chip-read#1/);
    const labels = r.timeline.map((e) => e.label);
    expect(labels).toContain('prepare: chip = fake0');
    expect(labels.some((l) => l.startsWith('removal: sysfs-unbind'))).toBe(true);
    expect(labels).toContain('probe read on chip');
    expect(r.timeline.every((e, i, a) => i === 0 || e.relMs >= a[i - 1]!.relMs)).toBe(true);
    expect(r.needsRestart).toBe(true);
  });

  it('does not count a line twice when console and dmesg both have it', async () => {
    const { r } = await run('fake/fake-unbind-chip-read', { removal: 'completes', zombie: 'enodev' });
    const removed = r.consoleExcerpt.split('\n').filter((l) => l.includes('fake 0000:00:01.0: removed'));
    expect(removed).toHaveLength(1);
    expect(r.needsRestart).toBe(false);
  });

  it('takes the end marker the guest wrote as its sign of life: a ping only for a guest that did not write it', async () => {
    const answered = await run('fake/fake-unbind-chip-read', { removal: 'completes', zombie: 'enodev' });
    expect(answered.guest.calls).not.toContain('agent ping');
    expect(answered.r.record.guestLost).toBeNull();
    const silent = await run('fake/fake-unbind-chip-read', { removal: 'completes', zombie: 'enodev', loseAt: 'probe' });
    expect(silent.guest.calls).toContain('agent ping');
    expect(silent.r.record.guestLost).not.toBeNull();
  });

  it("reads the case's kernel log with its end marker: no read of its own, and a report only in dmesg is found", async () => {
    const onlyInDmesg = kasan.slice(1, 30).map((l) => l.replace(/^\[[^\]]*\]\[[^\]]*\] /, ''));
    const { r, guest } = await run('fake/fake-unbind-chip-read', { removal: 'completes', zombie: 'enodev', dmesgOnlyOnProbe: onlyInDmesg });
    expect(guest.calls.filter((x) => x.startsWith('dmesgFrom '))).toEqual([]);
    expect(guest.calls.filter((x) => x.startsWith('mark ')).at(-1)).toMatch(/^mark \{"op":"mark","text":"huci: end [^"]*","dmes/);
    expect(r.findings.map((f) => f.title)).toEqual([expect.stringMatching(/KASAN: slab-use-after-free/)]);
    expect(r.timeline.map((e) => e.label)).toContain('dmesg harvested');
    // the reproducer writes the end marker; the read is the harness's
    const shell = r.replay.flatMap((a) => (a.kind === 'agent' && typeof a.request.command === 'string' ? [a.request.command] : []));
    expect(shell.at(-1)).toMatch(/^printf .*huci: end .*> \/dev\/kmsg$/);
  });

  it('does not probe live fds when the removal was refused', async () => {
    const { r, guest } = await run('fake/fake-rmmod-chip-read', { removal: 'refuses-ebusy', zombie: 'no-reply' });
    expect(r.record.probes).toEqual([]);
    expect(guest.calls).not.toContain('agent read');
    expect(r.timeline.map((e) => e.label)).toContain('probes skipped');
  });

  it('measures the blocked wait from the close', async () => {
    const { r } = await run('fake/fake-unbind-chip-read', { removal: 'blocks-until-close', zombie: 'enodev' });
    expect(r.record.removal).toMatchObject({ completed: false, ms: null });
    expect(r.record.removal!.completedAfterCloseMs).toBeGreaterThanOrEqual(0);
    expect(r.record.restore).toEqual({ ok: true });
  });
});

describe('run loop', () => {
  const config = new Map([
    ['CONFIG_FAKE', 'y'],
    ['CONFIG_FAKE_CHIP', 'm'],
  ]);

  async function loop(
    b: FakeBehaviour[],
    plan = planCases([suite], { images: [], iterations: 1, caseGlob: 'fake/fake-unbind-chip-*' }),
    cfg: Map<string, string> | null = config,
    hooks: (sessions: FakeSessions) => Pick<RunLoopOptions, 'onCase' | 'onNote'> = () => ({}),
  ) {
    const clock = new FakeClock();
    const sessions = new FakeSessions(b, clock);
    const writes: RunResult[] = [];
    const result = await runLoop({
      ...hooks(sessions),
      suites: [suite],
      plan,
      sessions,
      detector: realDetector,
      kernelConfig: async () => cfg,
      write: async (r) => void writes.push(r()),
      runId: 'test-run',
      command: ['run'],
      images: ['fake-img'],
      jobs: 1,
      clock,
      version: '0.0.0-test',
    });
    return { result, sessions, writes };
  }

  it('a missing kernel option skips the case, names the option, and boots nothing', async () => {
    const { result, sessions } = await loop([{ removal: 'completes', zombie: 'enodev' }], undefined, new Map([['CONFIG_FAKE', 'y']]));
    expect(sessions.booted).toHaveLength(0);
    expect(result.cases.map((c) => c.verdict)).toEqual(['skipped', 'skipped']);
    expect(result.cases[0]!.reason).toBe('image lacks CONFIG_FAKE_CHIP');
    expect(result.cases[0]!.missingOptions).toEqual(['CONFIG_FAKE_CHIP']);
  });

  it('a report the console brings after a case was judged is that case’s: verdict corrected, the next case on a fresh VM', async () => {
    const notes: string[] = [];
    const { result, sessions } = await loop([{ removal: 'completes', zombie: 'enodev' }], undefined, config, (fake) => ({
      // the first case is judged handled; then its late KASAN report reaches the console
      onCase: (_r, done) => void (done === 1 && kasan.forEach((l) => fake.booted[0]!.printk(l.replace(/^\[[ 0-9.]+\] /, '')))),
      onNote: (n) => void notes.push(n),
    }));
    expect(result.cases.map((c) => c.verdict)).toEqual(['crashed', 'handled']);
    expect(result.cases[0]!.findings.map((f) => f.title)).toEqual([expect.stringMatching(/^KASAN: slab-use-after-free Read in canary_read/)]);
    expect(result.cases[0]!.timeline.at(-1)).toMatchObject({ kind: 'finding', detail: expect.stringMatching(/^late: printed after the case was judged/) });
    expect(notes.join('\n')).toMatch(/late report "KASAN: slab-use-after-free Read in canary_read.*": now crashed/);
    expect(sessions.booted).toHaveLength(2);
    expect(result.cases[1]!.findings).toEqual([]);
  });

  it('reuses one VM for handled cases and writes run.json after every case', async () => {
    const { result, sessions, writes } = await loop([{ removal: 'completes', zombie: 'enodev' }]);
    expect(sessions.booted).toHaveLength(1);
    expect(result.cases.map((c) => c.verdict)).toEqual(['handled', 'handled']);
    expect(writes.length).toBe(3);
    expect(writes[0]!.complete).toBe(false);
    expect(writes[0]!.cases).toHaveLength(1);
    expect(result.complete).toBe(true);
    expect(() => RunResultSchema.parse(result)).not.toThrow();
    expect(result.subsystems).toEqual([{ subsystem: 'fake', image: 'fake-img', verdict: 'handled', counts: { handled: 2 }, flaky: [] }]);
    expect(sessions.booted[0]!.stopped).toBe(true);
  });

  it('boots a fresh VM after a crash; the subsystem verdict is the worst case', async () => {
    const { result, sessions } = await loop([
      { removal: 'completes', zombie: 'enodev', crashOnProbe: kasan },
      { removal: 'completes', zombie: 'enodev' },
    ]);
    expect(sessions.booted).toHaveLength(2);
    expect(result.cases.map((c) => c.verdict)).toEqual(['crashed', 'handled']);
    expect(result.cases[0]!.findings[0]!.title).toMatch(/^KASAN: slab-use-after-free/);
    expect(result.subsystems[0]!.verdict).toBe('crashed');
  });

  it('--jobs 2 runs groups on two VMs at once and still records every case once', async () => {
    const clock = new FakeClock();
    const sessions = new FakeSessions([{ removal: 'completes', zombie: 'enodev' }], clock);
    const plan = planCases([suite], { images: [], iterations: 2, caseGlob: 'fake/fake-*-chip-read' });
    const result = await runLoop({
      suites: [suite],
      plan,
      sessions,
      detector: realDetector,
      kernelConfig: async () => config,
      write: async () => undefined,
      runId: 'jobs',
      command: [],
      images: ['fake-img'],
      jobs: 2,
      clock,
      version: 't',
    });
    expect(sessions.booted).toHaveLength(2);
    expect(result.cases.map((c) => `${c.id}#${c.iteration}`).sort()).toEqual([
      'fake/fake-devdel-chip-read#1',
      'fake/fake-devdel-chip-read#2',
      'fake/fake-rmmod-chip-read#1',
      'fake/fake-rmmod-chip-read#2',
      'fake/fake-unbind-chip-read#1',
      'fake/fake-unbind-chip-read#2',
    ]);
  });

  it('groups cases by the devices they need at boot', async () => {
    const { sessions } = await loop(
      [{ removal: 'completes', zombie: 'enodev' }],
      planCases([suite], { images: [], iterations: 1, caseGlob: 'fake/fake-*-chip-read' }),
    );
    expect(sessions.configs.map((c) => c.devices.map((d) => d.id))).toEqual([[], ['dev0']]);
  });
});

// a clock that runs scheduled guest output at its own time inside a sleep
class EventClock extends FakeClock {
  readonly at: Array<[number, () => void]> = [];
  override sleep(ms: number, cancel?: SleepCancel): Promise<void> {
    return new Promise((r) =>
      setImmediate(() => {
        if (cancel?.cancelled) return r();
        const end = this.t + ms;
        for (const e of this.at.filter(([t]) => t > this.t && t <= end).sort((x, y) => x[0] - y[0])) {
          this.t = e[0];
          e[1]();
          this.at.splice(this.at.indexOf(e), 1);
        }
        this.t = end;
        r();
      }),
    );
  }
}

describe('settle window (quiet, the older way)', () => {
  const settleMs = async (detector: DetectorPort): Promise<number> => {
    const clock = new FakeClock();
    const guest = new FakeGuest({ removal: 'completes', zombie: 'enodev' }, clock);
    const r = await runCase(byId('fake/fake-unbind-chip-read'), { port: guest, detector, iteration: 1, clock, settle: 'quiet' });
    const i = r.timeline.findIndex((e) => e.label === 'settled');
    return r.timeline[i]!.relMs - r.timeline[i - 1]!.relMs;
  };
  it('ends early on a quiet console when the detector has no report open', async () => {
    expect(await settleMs(realDetector)).toBeLessThan(700);
  });
  it('waits the full quiet time when the detector cannot say whether a report is open', async () => {
    const opaque: DetectorPort = {
      live: () => {
        const d = new StreamDetector({ settleMs: 3000 });
        return { push: (l, t) => d.push(l, t), tick: (t) => d.tick(t), flush: () => d.flush() };
      },
      detect,
    };
    expect(await settleMs(opaque)).toBeGreaterThanOrEqual(900);
  });
  it('a line during the settle moves the quiet window on, counted from the line', async () => {
    const settle = async (late: boolean): Promise<{ startMs: number; ms: number }> => {
      const clock = new EventClock();
      const guest = new FakeGuest({ removal: 'completes', zombie: 'enodev' }, clock);
      // deterministic: the first run tells when the settle starts, the second prints 300 ms into it
      if (late) clock.at.push([clock.t + quiet.startMs + 300, () => guest.printk('late: a message after the restore')]);
      const r = await runCase(byId('fake/fake-unbind-chip-read'), { port: guest, detector: realDetector, iteration: 1, clock, settle: 'quiet' });
      const i = r.timeline.findIndex((e) => e.label === 'settled');
      return { startMs: r.timeline[i - 1]!.relMs, ms: r.timeline[i]!.relMs - r.timeline[i - 1]!.relMs };
    };
    const quiet = await settle(false);
    const late = await settle(true);
    expect(late.startMs).toBe(quiet.startMs);
    expect(quiet.ms).toBeLessThan(700);
    // 300 ms to the line, then the 500 ms of quiet a detector with nothing open asks for
    expect(late.ms).toBeGreaterThanOrEqual(800);
    expect(late.ms).toBeLessThan(1000);
  });
  it('a cancelled bound does not hold the process: realClock.sleep resolves on cancel, or at once when cancelled before', async () => {
    const cancel = new SleepCancel();
    const t0 = Date.now();
    const p = realClock.sleep(60_000, cancel);
    cancel.cancel();
    await p;
    await realClock.sleep(60_000, cancel);
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});

describe('blocked from evidence: the removal asleep in one kernel wait', () => {
  it('decides blocked once the task has sat in the same wait for blockedEvidenceMs, not at the bound; the wait after the close is measured as before', async () => {
    const go = async (blockedEvidenceMs?: number) => {
      const clock = new FakeClock();
      const guest = new FakeGuest({ removal: 'blocks-until-close', zombie: 'enodev' }, clock);
      const r = await runCase(byId('fake/fake-unbind-chip-read'), {
        port: guest,
        detector: realDetector,
        iteration: 1,
        clock,
        ...(blockedEvidenceMs !== undefined ? { blockedEvidenceMs } : {}),
      });
      const issued = r.timeline.find((e) => e.label === 'removal: sysfs-unbind')!.relMs;
      const decided = r.timeline.find((e) => e.label === 'removal still pending' || e.label === 'removal blocked')!.relMs;
      return { r, waited: decided - issued, cls: classifyCase(r.record) };
    };
    const bound = await go();
    const early = await go(1000);
    expect(bound.waited).toBe(2000);
    expect(early.waited).toBeGreaterThanOrEqual(1000);
    expect(early.waited).toBeLessThan(1500);
    expect([bound.cls.verdict, early.cls.verdict]).toEqual(['blocked', 'blocked']);
    expect(early.r.record.removal!.blockedIn).toEqual({
      task: 'sh (pid 321)',
      wait: 'fake_wait_for_fds [fake_wait_for_fds,fake_remove,device_release_driver]',
      ms: expect.any(Number),
    });
    expect(early.cls.reason).toMatch(
      /^unbind waited while fds were held: sh \(pid 321\) asleep in fake_wait_for_fds .* for \d+ ms; completed \d+ ms after the fds were closed$/,
    );
    expect(early.r.record.removal!.completedAfterCloseMs).toBe(bound.r.record.removal!.completedAfterCloseMs);
  });

  it("asks the guest for its agent's pid once: a second blocked case on the same guest does not", async () => {
    const clock = new FakeClock();
    const guest = new FakeGuest({ removal: 'blocks-until-close', zombie: 'enodev' }, clock);
    for (let k = 0; k < 2; k++) {
      const r = await runCase(byId('fake/fake-unbind-chip-read'), { port: guest, detector: realDetector, iteration: k + 1, clock, blockedEvidenceMs: 1000 });
      expect(r.record.removal!.blockedIn?.task).toBe('sh (pid 321)');
    }
    expect(guest.calls.filter((x) => x.startsWith('agent ping'))).toHaveLength(1);
  });

  it('a removal that completes is never called blocked, whatever the samples saw before', async () => {
    const clock = new FakeClock();
    const guest = new FakeGuest({ removal: 'completes', zombie: 'enodev' }, clock);
    const r = await runCase(byId('fake/fake-unbind-chip-read'), { port: guest, detector: realDetector, iteration: 1, clock, blockedEvidenceMs: 1000 });
    expect(classifyCase(r.record).verdict).toBe('handled');
    expect(r.record.removal!.blockedIn).toBeUndefined();
  });
});

describe('flush: the end marker on the console, then a short grace', () => {
  const unbindRead = byId('fake/fake-unbind-chip-read');
  const settled = (r: Awaited<ReturnType<typeof runCase>>) => {
    const i = r.timeline.findIndex((e) => e.label === 'settled');
    return { ms: r.timeline[i]!.relMs - r.timeline[i - 1]!.relMs, detail: r.timeline[i]!.detail ?? '' };
  };

  it('judges the case a grace after its end marker shows, without waiting for a quiet console', async () => {
    const clock = new FakeClock();
    const guest = new FakeGuest({ removal: 'completes', zombie: 'enodev' }, clock);
    const r = await runCase(unbindRead, { port: guest, detector: realDetector, iteration: 1, clock });
    expect(settled(r)).toEqual({ ms: LATE_GRACE_MS, detail: 'end marker on the console after 0 ms' });
    expect(classifyCase(r.record).verdict).toBe('handled');
  });

  it('a report that starts within the grace is the case’s, and an open one is waited for until it completes', async () => {
    const clock = new EventClock();
    const guest = new FakeGuest({ removal: 'completes', zombie: 'enodev' }, clock);
    const base = await runCase(unbindRead, { port: guest, detector: realDetector, iteration: 1, clock });
    const endAt = base.timeline.find((e) => e.label === 'settled')!.hostMs - LATE_GRACE_MS;
    const clock2 = new EventClock();
    const guest2 = new FakeGuest({ removal: 'completes', zombie: 'enodev' }, clock2);
    // the KASAN report begins within the grace after the end marker, its last line 400 ms later
    const begins = endAt + LATE_GRACE_MS / 2;
    clock2.at.push([begins, () => kasan.slice(0, 10).forEach((l) => guest2.printk(l.replace(/^\[[ 0-9.]+\] /, '')))]);
    clock2.at.push([begins + 400, () => kasan.slice(10).forEach((l) => guest2.printk(l.replace(/^\[[ 0-9.]+\] /, '')))]);
    const r = await runCase(unbindRead, { port: guest2, detector: realDetector, iteration: 1, clock: clock2 });
    expect(r.findings.map((f) => f.title)).toEqual([expect.stringMatching(/^KASAN: slab-use-after-free Read in canary_read/)]);
    expect(classifyCase(r.record).verdict).toBe('crashed');
    expect(settled(r).ms).toBeGreaterThanOrEqual(LATE_GRACE_MS / 2 + 400);
  });

  it('lines from before the begin marker are the previous case’s preamble, not this case’s', async () => {
    const clock = new FakeClock();
    // the console still delivers the end of the previous case's report as this case begins
    class LateConsole extends FakeGuest {
      override async run(op: GuestOp, ms: number) {
        if (op.op === 'mark' && op.text.startsWith('huci: begin')) for (const l of kasan) this.printk(l.replace(/^\[[ 0-9.]+\] /, ''));
        return super.run(op, ms);
      }
    }
    const port = new LateConsole({ removal: 'completes', zombie: 'enodev' }, clock);
    const r = await runCase(unbindRead, { port, detector: realDetector, iteration: 1, clock });
    // none of it is this case's: not in its excerpt, no finding
    const reportLine = kasan.find((l) => l.includes('BUG: KASAN'))!.replace(/^\[[ 0-9.]+\] /, '');
    expect(r.consoleExcerpt).not.toContain(reportLine);
    expect(r.consoleExcerpt).toMatch(/huci: begin /);
    expect(r.findings).toEqual([]);
    expect(classifyCase(r.record).verdict).toBe('handled');
  });

  it('an end marker that never shows bounds the wait by settleMs and says so', async () => {
    const clock = new FakeClock();
    const guest = new FakeGuest({ removal: 'completes', zombie: 'enodev' }, clock);
    const port = new Proxy(guest, {
      get(t, k, recv) {
        const v = Reflect.get(t, k, recv) as unknown;
        if (k !== 'onConsoleLine') return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
        return (cb: (l: { text: string; hostMs: number; lineNo: number }) => void) =>
          t.onConsoleLine((l) => (l.text.includes('huci: end') ? undefined : cb(l)));
      },
    });
    const r = await runCase(unbindRead, { port, detector: realDetector, iteration: 1, clock });
    expect(settled(r)).toEqual({ ms: 1000, detail: 'end marker not seen on the console within 1000 ms' });
    expect(classifyCase(r.record).verdict).toBe('handled');
  });
});

describe('plain steps in one request', () => {
  const withSteps = (prepare: string, restore: string) =>
    parseSuiteText(
      SUITE.replace(
        `    prepare:
      - { modprobe: fake }
      - { discover: { var: chip, glob: "/sys/fake/devices/fake*" } }
    restore:
      - { shell: "echo fake.0 > /sys/bus/platform/drivers/fake/bind" }`,
        `    prepare:\n${prepare}\n    restore:\n${restore}`,
      ),
      'fake.yaml',
    ).cases.find((c) => c.id === 'fake/fake-unbind-chip-read')!;
  const prepare = `      - { modprobe: fake }
      - { mkdir: /sys/kernel/config/fake/a }
      - { write: { path: /sys/kernel/config/fake/a/live, value: 1 } }
      - { discover: { var: chip, glob: "/sys/fake/devices/fake*" } }
      - { discover: { var: other, file: /sys/fake/other } }
      - { write: { path: "/sys/fake/\${chip}/x", value: 1 } }
      - { shell: "true" }`;
  const optionalFirst = `      - { write: { path: /sys/kernel/config/fake/a/live, value: 0 }, optional: true }
      - { rmdir: /sys/kernel/config/fake/a, optional: true }
      - { shell: "echo fake.0 > /sys/bus/platform/drivers/fake/bind" }`;
  const runOn = async (c: ResolvedCase, b: FakeBehaviour, seq = true) => {
    const clock = new FakeClock();
    const guest = new FakeGuest(b, clock);
    // the same guest, seen through a port that runs one operation per request
    const port = seq ? guest : Object.assign(Object.create(guest) as FakeGuest, { runSeq: undefined });
    const r = await runCase(c, { port, detector: realDetector, iteration: 1, clock });
    return { r, guest };
  };
  const ops = (calls: readonly string[]) => calls.filter((x) => /^(seq|modprobe|mkdir|rmdir|write|sh|find) /.test(x)).map((x) => x.split(' {')[0]!);

  it('sends each run of one-operation steps as one request, in order; a step that needs what one of them discovers starts the next; every step is on the timeline', async () => {
    const { r, guest } = await runOn(withSteps(prepare, optionalFirst), { removal: 'completes', zombie: 'enodev' });
    // the case's begin marker rides in the first request, ahead of the steps; its end marker in
    // the restore's, after them (and reads the case's log): no request of its own
    expect(ops(guest.calls)).toEqual(['seq 6', 'modprobe', 'mkdir', 'write', 'find', 'find', 'seq 2', 'write', 'sh', 'write', 'seq 4', 'write', 'rmdir', 'sh']);
    expect(guest.calls[guest.calls.indexOf('seq 6') + 1]).toMatch(/^mark \{"op":"mark","text":"huci: begin /);
    expect(guest.calls.slice(-2)).toEqual([expect.stringMatching(/^sh /), expect.stringMatching(/^mark \{"op":"mark","text":"huci: end /)]);
    expect(guest.calls.filter((x) => x.startsWith('mark '))).toHaveLength(2);
    expect(guest.calls).toContain(`write {"op":"write","path":"/sys/fake/fake0/x","value":"1"}`);
    const labels = r.timeline.filter((e) => e.kind === 'shell' && /^(prepare|restore):/.test(e.label)).map((e) => e.label);
    expect(labels).toEqual([
      'prepare: modprobe',
      'prepare: mkdir',
      'prepare: write',
      'prepare: find',
      'prepare: find',
      'prepare: write',
      'prepare: sh',
      'restore: write',
      'restore: rmdir',
      'restore: sh',
    ]);
    expect(r.timeline.map((e) => e.label)).toEqual(expect.arrayContaining(['prepare: chip = fake0', 'prepare: other = /sys/fake/devices/fake0']));
    expect(r.record.restore).toEqual({ ok: true });
    expect(classifyCase(r.record).verdict).toBe('handled');
  });

  it("asks for a process of its own for the removal's operation only (the blocked evidence watches its task); set-up steps and markers may run in the agent", async () => {
    const { guest } = await runOn(withSteps(prepare, optionalFirst), { removal: 'completes', zombie: 'enodev' });
    expect(guest.ownProcess).toEqual(['write fake.0 > /sys/bus/platform/drivers/fake/unbind']);
  });

  it('places each step of a request on the timeline when it ended in the guest, and what it found with it', async () => {
    const clock = new FakeClock();
    const guest = new FakeGuest({ removal: 'completes', zombie: 'enodev' }, clock);
    // a guest whose k-th step of a request takes 10·k ms, and a reply that comes when the last ends
    const port = Object.assign(Object.create(guest) as FakeGuest, {
      runSeq: async (ops: readonly SeqOp[]) => {
        const rs = (await guest.runSeq(ops)).map((r, k) => ({ ...r, ms: 10 * (k + 1) }));
        clock.t += rs.reduce((sum, r) => sum + r.ms, 0);
        return rs;
      },
    });
    const r = await runCase(withSteps(prepare, optionalFirst), { port, detector: realDetector, iteration: 1, clock });
    const at = (label: string, nth = 0) => r.timeline.filter((e) => e.label === label)[nth]!.relMs;
    const sent = at('prepare: 5 steps in one request');
    // the begin marker took 10 ms ahead of the steps
    expect([at('prepare: modprobe'), at('prepare: mkdir'), at('prepare: write'), at('prepare: find'), at('prepare: find', 1)].map((t) => t - sent)).toEqual([
      30, 60, 100, 150, 210,
    ]);
    expect(at('prepare: chip = fake0')).toBe(at('prepare: find'));
    expect(at('prepare: other = /sys/fake/devices/fake0')).toBe(at('prepare: find', 1));
    const times = r.timeline.map((e) => e.relMs);
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it('a request holds at most SEQ_MAX operations with the begin marker among them; a request that ran nothing leaves the marker to go alone', async () => {
    const many = Array.from({ length: 20 }, (_, k) => `      - { write: { path: /sys/kernel/config/fake/v${k}, value: 1 } }`).join('\n');
    const { guest } = await runOn(withSteps(many, optionalFirst), { removal: 'completes', zombie: 'enodev' });
    expect(
      ops(guest.calls)
        .filter((x) => x.startsWith('seq'))
        .slice(0, 2),
    ).toEqual([`seq ${SEQ_MAX}`, `seq ${20 - (SEQ_MAX - 1)}`]);
    expect(guest.calls.filter((x) => x.startsWith('write {"op":"write","path":"/sys/kernel/config/fake/v'))).toHaveLength(20);
    expect(guest.calls.filter((x) => x.startsWith('mark {"op":"mark","text":"huci: begin '))).toHaveLength(1);
    // a first request that ran nothing (here: any with a marker in it is refused): the marker goes alone, the steps again
    const clock = new FakeClock();
    const refusing = new FakeGuest({ removal: 'completes', zombie: 'enodev' }, clock);
    const port = Object.assign(Object.create(refusing) as FakeGuest, {
      runSeq: async (o: readonly SeqOp[]) =>
        o.some((x) => x.op.op === 'mark' && x.op.text.startsWith('huci: begin '))
          ? [{ ok: false, errno: null, out: 'refused', ms: 0, timedOut: false }]
          : refusing.runSeq(o),
    });
    const r = await runCase(withSteps(prepare, optionalFirst), { port, detector: realDetector, iteration: 1, clock });
    expect(refusing.calls.filter((x) => x.startsWith('mark {"op":"mark","text":"huci: begin '))).toHaveLength(1);
    expect(ops(refusing.calls).slice(0, 2)).toEqual(['seq 5', 'modprobe']);
    expect(r.timeline.filter((e) => /^prepare: (modprobe|mkdir|write|find|sh)$/.test(e.label))).toHaveLength(7);
    expect(r.record.restore).toEqual({ ok: true });
  });

  it('goes on after an optional step that failed; stops at a required one, which fails the restore by name', async () => {
    const goesOn = await runOn(withSteps(prepare, optionalFirst), { removal: 'completes', zombie: 'enodev', restoreFails: true });
    expect(ops(goesOn.guest.calls).slice(-4)).toEqual(['seq 4', 'write', 'rmdir', 'sh']);
    // the guest stopped at the failed step, before the end marker: that goes alone
    expect(goesOn.guest.calls.slice(-2)).toEqual([expect.stringMatching(/^sh /), expect.stringMatching(/^mark \{"op":"mark","text":"huci: end /)]);
    expect(goesOn.r.record.restore).toEqual({
      ok: false,
      detail: expect.stringMatching(/^restore step "echo fake\.0 > \/sys\/bus\/platform\/drivers\/fake\/bind" failed \(ENODEV\)/),
    });
    const requiredFirst = `      - { write: { path: /sys/kernel/config/fake/a/live, value: 0 } }
      - { rmdir: /sys/kernel/config/fake/a, optional: true }`;
    const stops = await runOn(withSteps(prepare, requiredFirst), { removal: 'completes', zombie: 'enodev', restoreFails: true });
    expect(ops(stops.guest.calls).slice(-2)).toEqual(['seq 3', 'write']);
    expect(stops.r.record.restore).toEqual({
      ok: false,
      detail: expect.stringMatching(/^restore step "write 0 > \/sys\/kernel\/config\/fake\/a\/live" failed \(ENODEV\)/),
    });
  });

  it('a port without seq runs the same steps one by one, with the same results', async () => {
    const one = await runOn(withSteps(prepare, optionalFirst), { removal: 'completes', zombie: 'enodev', restoreFails: true }, false);
    const seq = await runOn(withSteps(prepare, optionalFirst), { removal: 'completes', zombie: 'enodev', restoreFails: true });
    expect(ops(one.guest.calls).filter((x) => !x.startsWith('seq'))).toEqual(ops(seq.guest.calls).filter((x) => !x.startsWith('seq')));
    expect(one.guest.calls.some((x) => x.startsWith('seq'))).toBe(false);
    const shells = (t: typeof one.r.timeline) => t.filter((e) => e.kind === 'shell').map((e) => `${e.label} ${e.detail}`);
    expect(shells(one.r.timeline)).toEqual(shells(seq.r.timeline));
    expect(one.r.record.restore).toEqual(seq.r.record.restore);
  });

  // gpio-sim's way down: live = 0, then its configfs items
  const stepsRemoval = (first = '{ write: { path: /sys/kernel/config/fake/a/live, value: 0 } }') =>
    parseSuiteText(
      SUITE.replace(
        '    removal: { sysfs-unbind: { driver: /sys/bus/platform/drivers/fake, device: fake.0 }, timeoutMs: 2000, closeWaitMs: 3000 }',
        `    removal: { steps: [${first}, { rmdir: /sys/kernel/config/fake/a/bank0 }, { rmdir: /sys/kernel/config/fake/a }], timeoutMs: 2000, closeWaitMs: 3000 }`,
      ),
      'fake.yaml',
    ).cases.find((c) => c.id === 'fake/fake-unbind-chip-read')!;

  it("sends a removal's one-operation steps as one request, each in a guest process of its own; a port without seq sends them one by one", async () => {
    for (const removal of ['completes', 'blocks-until-close'] as const) {
      const clock = new FakeClock();
      const guest = new FakeGuest({ removal, zombie: 'enodev' }, clock);
      const r = await runCase(stepsRemoval(), { port: guest, detector: realDetector, iteration: 1, clock, blockedEvidenceMs: 1000 });
      const at = guest.calls.findIndex((x) => x.startsWith('write {"op":"write","path":"/sys/kernel/config/fake/a/live"'));
      expect(guest.calls[at - 1]).toBe('seq 3');
      // in order, the rmdirs once the write has ended (here: after the close, when the removal blocks)
      const rest = guest.calls.slice(at).filter((x) => x.startsWith('rmdir {"op":"rmdir","path":"/sys/kernel/config/fake/a'));
      expect(rest.map((x) => x.split(' {')[0])).toEqual(['rmdir', 'rmdir']);
      expect(guest.ownProcess).toEqual([
        'write 0 > /sys/kernel/config/fake/a/live',
        'rmdir /sys/kernel/config/fake/a/bank0',
        'rmdir /sys/kernel/config/fake/a',
      ]);
      expect(classifyCase(r.record).verdict).toBe(removal === 'completes' ? 'handled' : 'blocked');
      expect(r.timeline.filter((e) => /^removal: (write|rmdir)$/.test(e.label)).map((e) => e.label)).toEqual([
        'removal: write',
        'removal: rmdir',
        'removal: rmdir',
      ]);
      const times = r.timeline.map((e) => e.relMs);
      expect(times).toEqual([...times].sort((a, b) => a - b));
      // the reproducer sends the same request, beside the case's others while it blocks
      const seqs = r.replay.filter((a) => a.kind === 'agent' && a.request.op === 'seq');
      expect(seqs).toHaveLength(1);
      expect(seqs[0]!.kind === 'agent' && seqs[0]!.request.steps).toEqual([
        { op: 'sh', command: "echo '0' > '/sys/kernel/config/fake/a/live'", timeoutMs: expect.any(Number), stopOnFailure: true },
        { op: 'sh', command: "rmdir '/sys/kernel/config/fake/a/bank0'", timeoutMs: expect.any(Number), stopOnFailure: true },
        { op: 'sh', command: "rmdir '/sys/kernel/config/fake/a'", timeoutMs: expect.any(Number), stopOnFailure: true },
      ]);
    }
    const clock = new FakeClock();
    const guest = new FakeGuest({ removal: 'completes', zombie: 'enodev' }, clock);
    const port = Object.assign(Object.create(guest) as FakeGuest, { runSeq: undefined });
    const r = await runCase(stepsRemoval(), { port, detector: realDetector, iteration: 1, clock });
    expect(guest.calls.some((x) => x.startsWith('seq'))).toBe(false);
    expect(guest.ownProcess).toHaveLength(3);
    expect(classifyCase(r.record).verdict).toBe('handled');
  });

  it("ends a removal's steps at the first that fails, with its errno (the guest runs none after it)", async () => {
    const clock = new FakeClock();
    const guest = new FakeGuest({ removal: 'completes', zombie: 'enodev' }, clock);
    const failing = Object.assign(Object.create(guest) as FakeGuest, {
      run: async (op: GuestOp, timeoutMs: number, how?: RunHow) =>
        op.op === 'rmdir' && op.path.endsWith('/bank0')
          ? { ok: false, errno: 'EBUSY', out: 'rmdir: Device or resource busy', ms: 1, timedOut: false }
          : guest.run(op, timeoutMs, how),
    });
    failing.runSeq = FakeGuest.prototype.runSeq.bind(failing);
    const r = await runCase(stepsRemoval(), { port: failing, detector: realDetector, iteration: 1, clock });
    expect(r.record.removal).toMatchObject({ completed: true, errno: 'EBUSY' });
    expect(r.timeline.filter((e) => /^removal: (write|rmdir)$/.test(e.label))).toHaveLength(2);
    expect(guest.calls.filter((x) => x.startsWith('rmdir {"op":"rmdir","path":"/sys/kernel/config/fake/a"}'))).toHaveLength(0);
  });
});

describe('run job: run.json while the run goes on', () => {
  const config = new Map([
    ['CONFIG_FAKE', 'y'],
    ['CONFIG_FAKE_CHIP', 'm'],
  ]);
  /** the cases each write held, and whether it rendered every view */
  async function job(saveEveryMs: number, failAt?: number) {
    const clock = new FakeClock();
    const writes: Array<{ cases: number; full: boolean; complete: boolean }> = [];
    const plan = planCases([suite], { images: [], iterations: 1, caseGlob: 'fake/fake-unbind-*' });
    const run = executeRun(
      {
        suites: [suite],
        plan,
        sessions: new FakeSessions([{ removal: 'completes', zombie: 'enodev' }], clock),
        detector: realDetector,
        kernelConfig: async () => config,
        runId: 'job',
        command: ['run'],
        images: ['fake-img'],
        jobs: 1,
        clock,
        version: '0.0.0-test',
        onCase: (_r, done) => {
          if (done === failAt) throw new Error('the run broke');
        },
        writeReports: async (r, _c, full) => {
          writes.push({ cases: r.cases.length, full, complete: r.complete });
          return '/reports/job';
        },
      },
      saveEveryMs,
    );
    return { run, writes, cases: plan.length };
  }
  it('saves after every case when the interval has passed each time', async () => {
    const { run, writes, cases } = await job(0);
    await run;
    expect(writes.map((w) => w.cases)).toEqual([...Array.from({ length: cases }, (_, i) => i + 1), cases]);
    expect(writes.map((w) => w.full)).toEqual([true, ...Array.from({ length: cases - 1 }, () => false), true]);
  });
  it('within the interval, only the first case’s render and the end; the end holds every case', async () => {
    const { run, writes, cases } = await job(60_000);
    expect((await run).dir).toBe('/reports/job');
    expect(cases).toBeGreaterThan(3);
    expect(writes).toEqual([
      { cases: 1, full: true, complete: false },
      { cases, full: true, complete: true },
    ]);
  });
  it('a run that fails between saves still writes what it measured since the last one', async () => {
    // the third case breaks the run in its progress line, before the loop hands it over; it was
    // measured all the same, and the save due since the second case holds it too
    const { run, writes } = await job(60_000, 3);
    await expect(run).rejects.toThrow('the run broke');
    expect(writes).toEqual([
      { cases: 1, full: true, complete: false },
      { cases: 3, full: false, complete: false },
    ]);
  });
});
