// Boots that fail, on the fake guest: retried on a fresh QEMU, every attempt recorded with its
// console, a group whose every boot failed gives up with one line while other groups run.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { detect, StreamDetector } from '../detect/index.js';
import { BootError, InfraError } from '../errors.js';
import { runExitCode } from '../report/merge.js';
import { RunResultSchema } from '../model/run.js';
import { parseSuiteText } from './load-suites.js';
import type { DetectorPort } from './port.js';
import { planCases, runLoop } from './run-loop.js';
import { FakeClock, FakeSessions, type FakeBehaviour } from './testing/fake-guest.js';

const suiteText = (name: string, kernelArgs: string[]): string => `
suite: ${name}
description: a device the fake guest can remove
images: [fake-img]
kernelArgs: ${JSON.stringify(kernelArgs)}
fds:
  chip: { holders: [{ name: chip, open: { path: "/dev/\${chip}", flags: [O_RDWR] } }], target: chip }
ops:
  read: { op: read, size: 16, accept: { errno: [ENODEV] } }
cases:
  - provider: fake
    method: unbind
    prepare: [{ discover: { var: chip, glob: "/sys/bus/platform/devices/fake.0/gpiochip*" } }]
    removal: { sysfs-unbind: { driver: /sys/bus/platform/drivers/fake, device: fake.0 }, timeoutMs: 1000, closeWaitMs: 1000 }
    restore: [{ write: { path: /sys/bus/platform/drivers/fake/bind, value: fake.0 } }]
    timeouts: { settleMs: 500 }
    matrix: { fd: [chip], op: [read] }
  - provider: fake
    method: again
    prepare: [{ discover: { var: chip, glob: "/sys/bus/platform/devices/fake.0/gpiochip*" } }]
    removal: { sysfs-unbind: { driver: /sys/bus/platform/drivers/fake, device: fake.0 }, timeoutMs: 1000, closeWaitMs: 1000 }
    restore: [{ write: { path: /sys/bus/platform/drivers/fake/bind, value: fake.0 } }]
    timeouts: { settleMs: 500 }
    matrix: { fd: [chip], op: [read] }
`;
const crashing = parseSuiteText(suiteText('crashy', ['rdinit=/bin/false']), 'crashy.yaml');
const fine = parseSuiteText(suiteText('fine', []), 'fine.yaml');
const detector: DetectorPort = { live: () => new StreamDetector(), detect };

const kasan = readFileSync(new URL('testdata/kasan-canary-read.log', import.meta.url), 'utf8');
const bootCrash = (): BootError => {
  const findings = detect(kasan);
  const e = new BootError('crash', findings[0]!.title, kasan.split('\n').slice(-40), findings);
  e.reportHostMs = Date.now() - 1200;
  return e;
};
const OK: FakeBehaviour = { removal: 'completes', zombie: 'enodev' };
const CRASH: FakeBehaviour = { ...OK, bootFails: bootCrash() };

async function loop(behaviours: FakeBehaviour[], suites = [fine], bootAttempts?: number) {
  const sessions = new FakeSessions(behaviours, new FakeClock());
  const notes: string[] = [];
  let consoles: ReadonlyArray<{ vm: string; file: string }> = [];
  const result = await runLoop({
    suites,
    plan: planCases(suites, { images: [], iterations: 1 }),
    sessions,
    detector,
    kernelConfig: async () => null,
    write: async (_r, c) => void (consoles = c),
    runId: 'boots',
    command: ['run'],
    images: ['fake-img'],
    jobs: 1,
    ...(bootAttempts ? { bootAttempts } : {}),
    clock: new FakeClock(),
    onNote: (t) => void notes.push(t),
    version: 't',
  });
  expect(() => RunResultSchema.parse(result)).not.toThrow();
  return { result, sessions, notes, consoles };
}

describe('run loop: saved guests', () => {
  it('records how each VM came to be, and says so in one line when a restore failed and the VM booted instead', async () => {
    const restored = { ...OK, start: { how: 'restore' as const, snapshot: 'k1' } };
    const fellBack = { ...OK, start: { how: 'boot' as const, snapshot: 'k1', restoreFailed: 'the migration stream failed', saved: { ms: 2700, bytes: 3e8 } } };
    // two suites of other kernel words: two VM groups, two boots (the fake boots `crashing` fine)
    const { result, notes } = await loop([fellBack, restored], [fine, crashing]);
    expect(result.boots.map((b) => b.start)).toEqual([fellBack.start, restored.start]);
    expect(notes.filter((n) => n.includes('restoring'))).toEqual([
      'vm1-fake-img: restoring the saved guest k1 failed (the migration stream failed); booted instead',
    ]);
  });
});

describe('run loop: failed boots', () => {
  it('a boot that crashes is retried; the cases run on the next boot and the crash is a boot finding', async () => {
    const { result, notes, consoles } = await loop([CRASH, OK]);
    expect(result.cases.map((c) => c.verdict)).toEqual(['handled', 'handled']);
    expect(result.boots.map((b) => [b.vm, b.attempt, b.ok, b.failure?.title ?? null, b.gaveUp])).toEqual([
      ['vm1-fake-img', 1, false, 'KASAN: slab-use-after-free Read in canary_read', false],
      ['vm1.2-fake-img', 2, true, null, false],
    ]);
    expect(result.boots[0]!.failure).toMatchObject({ kind: 'crash', verdict: 'crashed' });
    expect(result.boots[0]!.failure!.msAfterReport).toBeGreaterThanOrEqual(1200);
    expect(result.boots[0]!.findings[0]!.kind).toBe('kasan');
    // the failed boot's console is kept and listed as any VM's
    expect(consoles.map((c) => [c.vm, c.file])).toEqual([
      ['vm1-fake-img', '/fake/boot1/console.log'],
      ['vm1.2-fake-img', '/fake/boot2/console.log'],
    ]);
    expect(notes).toContain('vm1-fake-img: boot 1 of 3 failed: KASAN: slab-use-after-free Read in canary_read');
    // a crash while booting is a finding: the run fails as on a crashed case
    expect(runExitCode(result, ['crashed', 'hung'])).toBe(1);
    expect(runExitCode(result, ['hung'])).toBe(0);
  });

  it("three crashing boots: that group's cases are errors with the title, one line says so, other groups run", async () => {
    const { result, notes, sessions, consoles } = await loop([CRASH, CRASH, CRASH, OK], [crashing, fine]);
    expect(sessions.configs.map((c) => c.kernelArgs)).toEqual([['rdinit=/bin/false'], ['rdinit=/bin/false'], ['rdinit=/bin/false'], []]);
    const line = 'fake-img crashes while booting: KASAN: slab-use-after-free Read in canary_read (3 of 3 boots)';
    expect(notes).toContain(line);
    expect(result.cases.map((c) => [c.subsystem, c.verdict])).toEqual([
      ['crashy', 'error'],
      ['crashy', 'error'],
      ['fine', 'handled'],
      ['fine', 'handled'],
    ]);
    expect(result.cases[0]!.reason).toContain(line);
    expect(result.boots.map((b) => [b.attempt, b.ok, b.gaveUp])).toEqual([
      [1, false, false],
      [2, false, false],
      [3, false, true],
      [1, true, false],
    ]);
    expect(consoles).toHaveLength(4);
  });

  it('--boot-attempts 1 gives up after one boot', async () => {
    const { result } = await loop([CRASH, OK], [fine], 1);
    expect(result.boots).toHaveLength(1);
    expect(result.boots[0]!.gaveUp).toBe(true);
    expect(result.cases.every((c) => c.verdict === 'error')).toBe(true);
  });

  it("a guest that never becomes ready counts as hung; QEMU failing is the machinery's (exit 3 once given up)", async () => {
    const timeout: FakeBehaviour = { ...OK, bootFails: new BootError('timeout', 'guest not ready within 240 s', ['[    1.0] x']) };
    const infra: FakeBehaviour = { ...OK, bootFails: new InfraError('QEMU exited (code 1) before QMP came up: bad device', ['$ qemu …']) };
    const t = await loop([timeout, OK]);
    expect(t.result.boots[0]!.failure).toMatchObject({ kind: 'timeout', verdict: 'hung', consoleTail: ['[    1.0] x'] });
    const i = await loop([infra, infra, infra]);
    expect(i.result.boots.map((b) => b.failure?.kind)).toEqual(['infra', 'infra', 'infra']);
    expect(i.notes).toContain('fake-img could not be booted (QEMU or the host failed): QEMU exited (code 1) before QMP came up: bad device (3 of 3 boots)');
    expect(runExitCode(i.result, ['crashed', 'hung'])).toBe(3);
  });
});
