import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, UsageError } from '../../errors.js';
import type { RunResult } from '../../model/run.js';
import { FakeClock, FakeSessions, type FakeBehaviour } from '../../scenario/testing/fake-guest.js';
import { listData } from './list.js';
import { defaultJobs, runCommand, summaryTable, type RunDeps } from './run.js';
import { calibrationCases } from '../../scenario/run-plan.js';
import { planCases } from '../../scenario/run-loop.js';
import { loadSuites } from '../../scenario/load-suites.js';

const SUITE = `
suite: demo
description: demo
images: [debian-6.12]
requires: [CONFIG_DEMO]
fds:
  chip: { holders: [{ name: chip, open: { path: "/dev/\${chip}", flags: [O_RDWR] } }], target: chip }
ops:
  read: { op: read, size: 16, accept: { errno: [ENODEV] } }
cases:
  - provider: sim
    method: unbind
    prepare: [{ discover: { var: chip, glob: "/sys/x/*" } }]
    removal: { sysfs-unbind: { driver: /sys/bus/platform/drivers/x, device: x.0 }, timeoutMs: 1000, closeWaitMs: 1000 }
    timeouts: { settleMs: 500 }
    fd: chip
    op: read
`;

const tmpDirs: string[] = [];
afterAll(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});
function tmpDir(prefix: string): string {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.push(d);
  return d;
}

function harness(suiteText: string, behaviours: FakeBehaviour[] = [{ removal: 'completes', zombie: 'enodev' }]) {
  const dir = tmpDir('huci-run-test-');
  writeFileSync(path.join(dir, 'demo.yaml'), suiteText);
  const sessions = new FakeSessions(behaviours, new FakeClock());
  let sessionFactories = 0;
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  out.on('data', (d) => (stdout += d));
  err.resume();
  const written: RunResult[] = [];
  const deps: RunDeps = {
    sessions: () => {
      sessionFactories++;
      return sessions;
    },
    kernelConfig: async () => new Map([['CONFIG_DEMO', 'y']]),
    writeReports: async (_root, run) => {
      written.push(run);
      return '/tmp/reports/x';
    },
    stdout: out,
    stderr: err,
    suitesDir: dir,
    version: 'test',
  };
  return { deps, sessions, written, stdout: () => stdout, factories: () => sessionFactories };
}

describe('run command', () => {
  it('a bad suite file fails with one ConfigError line before any VM exists', async () => {
    const h = harness(SUITE.replace('sysfs-unbind:', 'sysfs-yank:'));
    await expect(runCommand({ suite: 'demo' }, h.deps)).rejects.toThrow(ConfigError);
    await expect(runCommand({ suite: 'demo' }, h.deps)).rejects.toThrow(/demo\.yaml: cases\[0\]\.removal\.sysfs-yank \(line \d+\): unknown removal method/);
    expect(h.factories()).toBe(0);
    expect(h.sessions.booted).toHaveLength(0);
  });

  const usage: Array<[string, Parameters<typeof runCommand>[0], RegExp]> = [
    ['no --suite', {}, /--suite LIST is required/],
    ['--kernel without --modules', { suite: 'demo', kernel: '/bzImage' }, /--kernel and --modules go together/],
    [
      '--image with --kernel',
      { suite: 'demo', kernel: '/k', modules: '/m', image: ['debian-6.12'] },
      /give one of --image, --kernel\/--modules and --kernel-src, not --image and --kernel\/--modules/,
    ],
    ['bad --iterations', { suite: 'demo', iterations: '0' }, /--iterations 0: expected a positive integer/],
    ['bad --shard', { suite: 'demo', shard: '3/2' }, /--shard 3\/2: shard I must be between 1 and 2/],
    ['bad --fail-on', { suite: 'demo', failOn: 'crashed,exploded' }, /--fail-on: unknown verdict "exploded"/],
    ['unknown image', { suite: 'demo', image: ['nosuch-1.0'] }, /--image nosuch-1.0: no such image/],
    ['--case matching nothing', { suite: 'demo', case: 'demo/zzz*' }, /--case demo\/zzz\* matches none of demo/],
  ];
  for (const [name, opts, re] of usage) {
    it(`usage error: ${name}`, async () => {
      const h = harness(SUITE);
      const p = runCommand(opts, h.deps);
      await expect(p).rejects.toThrow(UsageError);
      await expect(runCommand(opts, h.deps)).rejects.toThrow(re);
      expect(h.sessions.booted).toHaveLength(0);
    });
  }

  const olderWays: Array<[string, string, string, RegExp]> = [
    [
      'a blocked-evidence bound that is not a number',
      'HUCI_BLOCKED_EVIDENCE_MS',
      'soon',
      /HUCI_BLOCKED_EVIDENCE_MS: "soon" is neither a number of ms above 0 nor "off"/,
    ],
    ['a blocked-evidence bound of 0', 'HUCI_BLOCKED_EVIDENCE_MS', '0', /HUCI_BLOCKED_EVIDENCE_MS: "0"/],
    ['an unknown settle', 'HUCI_SETTLE', 'slow', /HUCI_SETTLE: "slow" is neither "flush" nor "quiet"/],
  ];
  for (const [name, key, value, re] of olderWays) {
    it(`usage error, the bench's older ways: ${name}`, async () => {
      const h = harness(SUITE);
      const before = process.env[key];
      process.env[key] = value;
      try {
        await expect(runCommand({ suite: 'demo' }, h.deps)).rejects.toThrow(UsageError);
        await expect(runCommand({ suite: 'demo' }, h.deps)).rejects.toThrow(re);
      } finally {
        if (before === undefined) delete process.env[key];
        else process.env[key] = before;
      }
      expect(h.sessions.booted).toHaveLength(0);
    });
  }

  it('runs, writes after every case, prints the summary table, exits 0 when nothing fails', async () => {
    const h = harness(SUITE);
    const code = await runCommand({ suite: 'demo' }, h.deps);
    expect(code).toBe(0);
    expect(h.sessions.booted).toHaveLength(1);
    expect(h.written.at(-1)!.complete).toBe(true);
    expect(h.written.at(-1)!.cases[0]!.verdict).toBe('handled');
    expect(h.stdout()).toMatch(/^subsystem\s+image\s+verdict\s+handled\s+blocked/m);
    expect(h.stdout()).toMatch(/^demo\s+debian-6\.12\s+HANDLED\s+1\s+0/m);
  });

  it('exits 1 when a case has a --fail-on verdict', async () => {
    const h = harness(SUITE, [{ removal: 'completes', zombie: 'succeeds' }]);
    expect(await runCommand({ suite: 'demo', failOn: 'silent' }, h.deps)).toBe(1);
    const h2 = harness(SUITE, [{ removal: 'completes', zombie: 'succeeds' }]);
    expect(await runCommand({ suite: 'demo' }, h2.deps)).toBe(0);
  });

  it('a control with its expected verdict does not trip --fail-on; a control that misbehaves exits 3', async () => {
    const control = SUITE.replace('    fd: chip\n', '    control: { verdict: silent }\n    fd: chip\n');
    const ok = harness(control, [{ removal: 'completes', zombie: 'succeeds' }]);
    expect(await runCommand({ suite: 'demo', failOn: 'silent' }, ok.deps)).toBe(0);
    expect(ok.written.at(-1)!.controls).toMatchObject({ ran: true, trusted: true });
    const bad = harness(control, [{ removal: 'completes', zombie: 'enodev' }]);
    expect(await runCommand({ suite: 'demo' }, bad.deps)).toBe(3);
    expect(bad.written.at(-1)!.controls.detail).toMatch(/came out handled, expected silent/);
  });

  it('--json prints the summary as JSON', async () => {
    const h = harness(SUITE);
    await runCommand({ suite: 'demo', json: true, iterations: '2' }, h.deps);
    const j = JSON.parse(h.stdout()) as { cases: Array<{ id: string; iteration: number; verdict: string }> };
    expect(j.cases.map((c) => [c.id, c.iteration, c.verdict])).toEqual([
      ['demo/sim-unbind-chip-read', 1, 'handled'],
      ['demo/sim-unbind-chip-read', 2, 'handled'],
    ]);
  });
});

describe('list', () => {
  it('lists suites, cases, options and removal methods', () => {
    const dir = tmpDir('huci-list-test-');
    writeFileSync(path.join(dir, 'demo.yaml'), SUITE);
    const d = listData(loadSuites([], dir));
    expect(d.suites[0]!.cases[0]).toMatchObject({ id: 'demo/sim-unbind-chip-read', removal: 'sysfs-unbind', requires: ['CONFIG_DEMO'] });
    expect(d.images.map((i) => i.name)).toContain('debian-6.12');
  });
});

describe('--out that cannot hold reports', () => {
  const file = path.join(tmpDir('huci-out-file-'), 'a-file');
  writeFileSync(file, 'x');
  it.each([
    ['/proc/1', /--out \/proc\/1: cannot write reports in \/proc\/1\/reports: \/proc\/1 is on procfs/],
    ['/proc/1/deeper/still', /--out \/proc\/1\/deeper\/still: .*\/proc\/1 is on procfs/],
    ['/sys/kernel', /--out \/sys\/kernel: .*is on sysfs/],
    [file, /--out .*a-file: cannot write reports in .*a-file\/reports: .*a-file is not a directory/],
  ])('%s: one line, exit 2, nothing booted', async (out, msg) => {
    const h = harness(SUITE);
    const t0 = Date.now();
    const e = await runCommand({ suite: 'demo', out }, h.deps).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UsageError);
    expect((e as Error).message).toMatch(msg);
    expect((e as Error).message).not.toContain('\n');
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(h.sessions.booted).toHaveLength(0);
  });
});

describe('summaryTable', () => {
  it('marks untrusted controls', () => {
    const run = {
      subsystems: [{ subsystem: 'canary', image: 'kasan-6.12', verdict: 'handled', counts: { handled: 2 } }],
      controls: { ran: true, trusted: false, detail: 'CONTROLS FAILED: x' },
      boots: [],
      rates: [],
    } as unknown as RunResult;
    expect(summaryTable(run, '/r')).toMatch(/controls: NOT TRUSTED \(CONTROLS FAILED: x\)/);
  });
});

describe('calibration controls', () => {
  const suites = loadSuites(['canary', 'i2c', 'gpio', 'input']);
  const rows: { name: string; images: string[]; caseGlob?: string; want: string[] }[] = [
    {
      name: 'a KASAN run without controls gets the two read controls first',
      images: ['kasan-6.12'],
      caseGlob: 'i2c/*',
      want: ['kasan-6.12 canary/buggy-unbind-read', 'kasan-6.12 canary/fixed-unbind-read'],
    },
    { name: 'an image the canary cannot run on gets none', images: ['debian-6.12'], caseGlob: 'i2c/*', want: [] },
    { name: 'a run that selects a control itself gets no extra', images: ['kasan-6.12'], caseGlob: 'canary/fixed-*', want: [] },
    {
      name: "a suite's own control (EVIOCREVOKE) does not stand in for the canary",
      images: ['kasan-6.12'],
      caseGlob: 'input/uinput-revoke-*',
      want: ['kasan-6.12 canary/buggy-unbind-read', 'kasan-6.12 canary/fixed-unbind-read'],
    },
  ];
  it.each(rows)('$name', ({ images, caseGlob, want }) => {
    const selected = planCases(suites, { images, iterations: 1, ...(caseGlob ? { caseGlob } : {}) });
    expect(selected.length).toBeGreaterThan(0);
    expect(calibrationCases(selected).map((p) => `${p.image} ${p.c.id}`)).toEqual(want);
  });
});

describe('default --jobs', () => {
  it.each([
    { cpus: 2, mem: 24, want: 2 },
    { cpus: 16, mem: 8, want: 4 },
    { cpus: 1, mem: 64, want: 1 },
    { cpus: 8, mem: 2, want: 1 },
  ])('$cpus cores, $mem GiB → $want', ({ cpus, mem, want }) => expect(defaultJobs(cpus, mem)).toBe(want));
});
