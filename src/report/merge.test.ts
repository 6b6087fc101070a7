// mergeRuns over the shards of run-two-images (testdata/merge/shardIof3.json: its cases split with
// `--shard I/3`): the merge gives back the unsharded run's cases, is independent of input order, and
// refuses overlapping or mismatched runs with one line naming both files.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { ConfigError, ExitCode, UsageError } from '../errors.js';
import { shardOf } from '../scenario/shard.js';
import { renderJunit } from './junit.js';
import { renderKcidb } from './kcidb.js';
import { mergedConsoles, mergedRunId, mergeRuns, runExitCode } from './merge.js';
import { caseImage, subsystemSummary } from './model.js';
import { parseRun } from './run-file.js';
import { RunResultSchema, type CaseResult, type RunResult, type Verdict } from '../model/run.js';
import { expectGolden, loadFixture, REPO, TESTDATA } from './testing/fixtures.js';

const MERGE = path.join(TESTDATA, 'merge');
const NAMES = ['shard1of3', 'shard2of3', 'shard3of3'] as const;
const file = (n: string): string => `reports/${n}/run.json`;
const shard = (n: (typeof NAMES)[number]): RunResult => RunResultSchema.parse(JSON.parse(readFileSync(path.join(MERGE, `${n}.json`), 'utf8')));
const shards = (): RunResult[] => NAMES.map(shard);
const FILES = NAMES.map(file);

const SCHEMA = path.resolve(REPO, '../shared/kcidb/v05_03.schema.json');
const HAVE_SCHEMA = existsSync(SCHEMA);

function permutations<T>(xs: readonly T[]): T[][] {
  if (xs.length <= 1) return [[...xs]];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
}

function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('did not throw');
}

const byKey = (a: CaseResult, b: CaseResult): number =>
  `${a.image}\u0000${a.subsystem}\u0000${a.id}`.localeCompare(`${b.image}\u0000${b.subsystem}\u0000${b.id}`) || a.iteration - b.iteration;

describe('the fixtures', () => {
  it('are the cases of run-two-images split by shardOf(id, 3), disjoint and complete', () => {
    const whole = loadFixture('run-two-images');
    const runs = shards();
    expect(runs.reduce((n, r) => n + r.cases.length, 0)).toBe(whole.cases.length);
    runs.forEach((r, i) => {
      expect(r.cases.length).toBeGreaterThan(0);
      for (const c of r.cases) expect(shardOf(c.id, 3), c.id).toBe(i + 1);
    });
  });
});

describe('mergeRuns', () => {
  const merged = mergeRuns(shards(), { files: FILES });

  it('matches the golden merged run.json and is a valid run', () => {
    expect(() => parseRun(merged, 'merged')).not.toThrow();
    expectGolden('merge-3-shards/run.json', `${JSON.stringify(merged, null, 2)}\n`);
  });

  it('gives back the unsharded run: same case executions, each with its image, ordered by image, subsystem, id, iteration', () => {
    const whole = loadFixture('run-two-images');
    const want = whole.cases.map((c) => ({ ...c, image: caseImage(whole, c) })).sort(byKey);
    expect(merged.cases).toEqual(want);
    expect(merged.cases.every((c) => typeof c.image === 'string')).toBe(true);
    expect(merged.images).toEqual(['debian-6.12', 'kasan-6.12']);
    expect(merged.suites).toEqual(['gpio', 'i2c', 'nvmem', 'usb-serial']);
  });

  it('recomputes subsystem summaries with the worst verdict of all shards', () => {
    const whole = loadFixture('run-two-images');
    expect(merged.subsystems.map((s) => `${s.subsystem}@${s.image}`)).toEqual([
      'gpio@debian-6.12',
      'gpio@kasan-6.12',
      'i2c@debian-6.12',
      'i2c@kasan-6.12',
      'nvmem@debian-6.12',
      'nvmem@kasan-6.12',
      'usb-serial@debian-6.12',
      'usb-serial@kasan-6.12',
    ]);
    for (const s of merged.subsystems) expect(s).toEqual(subsystemSummary(whole, s.subsystem, s.image));
    // gpio on kasan: handled in shard 3, crashed in shard 2
    expect(merged.subsystems.find((s) => s.subsystem === 'gpio' && s.image === 'kasan-6.12')).toMatchObject({
      verdict: 'crashed',
      counts: { handled: 1, crashed: 1 },
    });
    expect(merged.subsystems.find((s) => s.subsystem === 'gpio' && s.image === 'debian-6.12')).toMatchObject({
      verdict: 'silent',
      counts: { handled: 3, silent: 1 },
    });
  });

  it('is the same whatever order the shards are given in', () => {
    for (const order of permutations([0, 1, 2])) {
      const m = mergeRuns(
        order.map((i) => shards()[i]!),
        { files: order.map((i) => FILES[i]!) },
      );
      expect(m).toEqual(merged);
    }
  });

  it('derives the run id from the inputs: earliest start, hash of the shard run ids', () => {
    expect(merged.runId).toMatch(/^2026-11-21T18-29-58-000Z-merged-[0-9a-f]{10}$/);
    expect(mergedRunId(shards())).toBe(merged.runId);
    const again = shards();
    again[1] = { ...again[1]!, runId: `${again[1]!.runId}-retry` };
    expect(mergeRuns(again).runId).not.toBe(merged.runId);
    expect(merged.startedAt).toBe('2026-11-21T18:29:58.000Z');
    expect(merged.finishedAt).toBe('2026-11-21T18:32:40.100Z');
  });

  it('keeps every shard console under its shard label, and says where each comes from', () => {
    expect(merged.consoles).toEqual([
      { vm: 'shard1of3-vm1', image: 'debian-6.12', file: 'consoles/shard1of3-vm1.log' },
      { vm: 'shard1of3-vm2', image: 'kasan-6.12', file: 'consoles/shard1of3-vm2.log' },
      { vm: 'shard2of3-vm1', image: 'debian-6.12', file: 'consoles/shard2of3-vm1.log' },
      { vm: 'shard2of3-vm2', image: 'kasan-6.12', file: 'consoles/shard2of3-vm2.log' },
      { vm: 'shard3of3-vm1', image: 'debian-6.12', file: 'consoles/shard3of3-vm1.log' },
      { vm: 'shard3of3-vm2', image: 'kasan-6.12', file: 'consoles/shard3of3-vm2.log' },
    ]);
    // `from.run` indexes the caller's array, whatever order it was in
    const reversed = [...shards()].reverse();
    const cons = mergedConsoles(reversed);
    expect(cons.find((c) => c.vm === 'shard1of3-vm2')!.from).toEqual({ run: 2, file: 'consoles/vm2.log' });
  });

  it('counts a machine that ran two shards once', () => {
    expect(merged.host).toEqual({ hostname: 'ci-runner-1,ci-runner-2', cpus: 6, memGiB: 23.4 });
  });

  it('names runs without a shard suffix runK (in run id order), and a repeated suffix too', () => {
    const [a, b] = [shard('shard1of3'), shard('shard2of3')];
    const plain = mergeRuns([
      { ...b, runId: 'zeta' },
      { ...a, runId: 'alpha' },
    ]);
    expect(plain.consoles.map((c) => c.vm)).toEqual(['run1-vm1', 'run1-vm2', 'run2-vm1', 'run2-vm2']);
    expect(plain.cases.filter((c) => c.subsystem === 'usb-serial')).toHaveLength(4);
    const twice = mergeRuns([a, { ...b, runId: `other-pipeline-shard1of3` }]);
    expect(new Set(twice.consoles.map((c) => c.vm)).size).toBe(4);
    expect(twice.consoles.map((c) => c.vm)).toContain('shard1of3-vm1');
  });

  it('unions images and suites of shards that ran different selections', () => {
    const a = shard('shard1of3');
    const kasanOnly: RunResult = {
      ...shard('shard2of3'),
      images: ['kasan-6.12'],
      suites: ['gpio'],
      cases: shard('shard2of3').cases.filter((c) => c.image === 'kasan-6.12'),
    };
    const m = mergeRuns([{ ...a, images: ['debian-6.12'], suites: ['usb-serial'], cases: a.cases.filter((c) => c.vm?.image === 'debian-6.12') }, kasanOnly]);
    expect(m.images).toEqual(['debian-6.12', 'kasan-6.12']);
    expect(m.suites).toEqual(['gpio', 'usb-serial']);
    expect(m.cases.map((c) => `${c.image}:${c.id}`)).toEqual([
      'debian-6.12:usb-serial/ftdi-device_del-tty-read',
      'debian-6.12:usb-serial/pl2303-device_del-tty-ioctl',
      'kasan-6.12:gpio/sim-rmdir-lineevent-poll',
    ]);
  });

  type Ctl = RunResult['controls'];
  const NOT_RUN: Ctl = { ran: false, trusted: false, detail: 'canary controls did not run: verdicts are not calibrated' };
  const OK: Ctl = { ran: true, trusted: true, detail: '1 control(s) came out as expected' };
  const BAD: Ctl = { ran: true, trusted: false, detail: 'CONTROLS FAILED: canary/buggy came out handled, expected crashed' };
  it.each<[string, Ctl[], { ran: boolean; trusted: boolean }, RegExp]>([
    ['no shard ran controls', [NOT_RUN, NOT_RUN, NOT_RUN], { ran: false, trusted: false }, /did not run in any of the 3 merged run/],
    ['one shard ran them, trusted', [NOT_RUN, OK, NOT_RUN], { ran: true, trusted: true }, /^shard2of3: 1 control/],
    ['all ran, all trusted', [OK, OK, OK], { ran: true, trusted: true }, /^shard1of3: .*; shard2of3: .*; shard3of3: /],
    [
      'one shard not trusted',
      [OK, BAD, NOT_RUN],
      { ran: true, trusted: false },
      /^shard2of3 \(reports\/shard2of3\/run\.json\): CONTROLS FAILED: canary\/buggy/,
    ],
    ['two shards not trusted', [BAD, OK, BAD], { ran: true, trusted: false }, /^shard1of3 .*; shard3of3 \(reports\/shard3of3\/run\.json\): CONTROLS FAILED/],
  ])('controls: %s', (_n, ctls, want, detail) => {
    const m = mergeRuns(
      shards().map((r, i) => ({ ...r, controls: ctls[i]! })),
      { files: FILES },
    );
    expect(m.controls).toMatchObject(want);
    expect(m.controls.detail).toMatch(detail);
    if (!want.trusted || !want.ran) expect(m.controls.detail).not.toMatch(/shard\dof3: 1 control/);
  });

  it('is complete only if every shard is, and says which did not finish', () => {
    const runs = shards();
    runs[2] = { ...runs[2]!, complete: false, finishedAt: null, interruption: 'interrupted by SIGTERM after 3 of 6 cases' };
    const m = mergeRuns(runs, { files: FILES });
    expect(m.complete).toBe(false);
    expect(m.finishedAt).toBeNull();
    expect(m.interruption).toBe('shard3of3 (reports/shard3of3/run.json) did not finish: interrupted by SIGTERM after 3 of 6 cases');
    expect(merged.complete).toBe(true);
    expect(merged.interruption).toBeUndefined();
  });

  it('merges empty shards (a hash split can leave one empty) and a single run', () => {
    const empty: RunResult = { ...shard('shard1of3'), runId: 'x-shard4of4', cases: [], consoles: [] };
    const m = mergeRuns([empty, shard('shard2of3')]);
    expect(m.cases).toHaveLength(4);
    expect(mergeRuns([shard('shard3of3')]).cases).toHaveLength(6);
  });

  it.each<[string, () => RunResult[], RegExp]>([
    [
      'the same shard twice under another run id',
      () => [shard('shard1of3'), { ...shard('shard1of3'), runId: 'retry-shard1of3' }],
      /^reports\/b\/run\.json: cases\[0\]: usb-serial\/ftdi-device_del-tty-read on debian-6.12, iteration 1, is also in reports\/a\/run\.json: the runs overlap/,
    ],
    [
      'one overlapping case',
      () => {
        const [a, b] = [shard('shard1of3'), shard('shard2of3')];
        return [a, { ...b, cases: [...b.cases, { ...a.cases[1]!, image: 'debian-6.12' }] }];
      },
      /^reports\/b\/run\.json: cases\[4\]: usb-serial\/pl2303-device_del-tty-ioctl on debian-6.12, iteration 1, is also in reports\/a\/run\.json/,
    ],
    [
      'a case twice within one run',
      () => {
        const b = shard('shard2of3');
        return [shard('shard1of3'), { ...b, cases: [...b.cases, b.cases[0]!] }];
      },
      /^reports\/b\/run\.json: cases\[4\]: gpio\/sim-rmdir-lineevent-poll on debian-6.12, iteration 1, is also cases\[0\] of this run$/,
    ],
    [
      'the same run twice',
      () => [shard('shard2of3'), shard('shard2of3')],
      /^reports\/b\/run\.json: runId: the same run as reports\/a\/run\.json \(.*shard2of3\): give each shard once$/,
    ],
    [
      'different schemaVersion',
      () => [shard('shard1of3'), { ...shard('shard2of3'), schemaVersion: 2 as unknown as 1 }],
      /^reports\/b\/run\.json: schemaVersion: 2 differs from reports\/a\/run\.json \(1\): cannot merge runs of different run\.json versions$/,
    ],
  ])('refuses %s: one-line ConfigError naming the file(s)', (_n, mk, re) => {
    const e = thrown(() => mergeRuns(mk(), { files: ['reports/a/run.json', 'reports/b/run.json'] }));
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toMatch(re);
    expect(e.message).not.toContain('\n');
  });

  it('the same id on another image or iteration is not an overlap', () => {
    const a = shard('shard2of3');
    const onlyIt1 = { ...a, cases: a.cases.filter((c) => c.iteration === 1) };
    const laterIts = { ...a, runId: 'b', cases: a.cases.filter((c) => c.iteration > 1) };
    expect(mergeRuns([onlyIt1, laterIts]).cases).toHaveLength(4);
  });

  it('refuses nothing to merge', () => expect(thrown(() => mergeRuns([]))).toBeInstanceOf(UsageError));

  it.skipIf(!HAVE_SCHEMA)(
    `kcidb.json of the merged run is valid KCIDB v5.3 with one test per case execution${HAVE_SCHEMA ? '' : ` — skipped: ${SCHEMA} not found`}`,
    () => {
      const ajv = new Ajv({ strict: false, allErrors: true });
      (addFormats as unknown as (a: Ajv) => void)(ajv);
      const validate = ajv.compile(JSON.parse(readFileSync(SCHEMA, 'utf8')) as object);
      const data = renderKcidb(merged);
      expect(validate(data), JSON.stringify(validate.errors, null, 2)).toBe(true);
      expect(data.tests).toHaveLength(14);
      expect(new Set(data.tests.map((t) => t.id)).size).toBe(14);
      expect(data.checkouts.map((c) => c.id)).toEqual([`hotunplug:${merged.runId}:debian-6.12`, `hotunplug:${merged.runId}:kasan-6.12`]);
      // the same crash is the same issue whether it came through a shard or the merge
      const fromShard = renderKcidb(shard('shard2of3'));
      expect(data.issues.map((i) => i.id).sort()).toEqual(expect.arrayContaining(fromShard.issues.map((i) => i.id)));
    },
  );

  it("junit.xml of the merged run counts every shard's cases", () => {
    expect(renderJunit(merged)).toMatch(/<testsuites name="[^"]+" tests="12" failures="3"/);
  });
});

describe('runExitCode', () => {
  const base = mergeRuns(shards());
  const only = (verdict: Verdict): RunResult => ({ ...base, cases: base.cases.map((c) => ({ ...c, verdict })) });
  it.each<[string, RunResult, Verdict[], ExitCode]>([
    ['crashed and hung cases, default fail-on', base, ['crashed', 'hung'], ExitCode.failures],
    ['all handled', only('handled'), ['crashed', 'hung'], ExitCode.ok],
    ['blocked, not in fail-on', only('blocked'), ['crashed', 'hung'], ExitCode.ok],
    ['blocked, in fail-on', only('blocked'), ['crashed', 'hung', 'blocked'], ExitCode.failures],
    ['all handled but a shard did not finish', { ...only('handled'), complete: false }, ['crashed', 'hung'], ExitCode.infra],
    ['failures in an unfinished run still fail', { ...base, complete: false }, ['crashed', 'hung'], ExitCode.failures],
    ['controls not trusted', { ...only('handled'), controls: { ran: true, trusted: false, detail: 'x' } }, ['crashed', 'hung'], ExitCode.infra],
    ['controls not trusted outrank failures', { ...base, controls: { ran: true, trusted: false, detail: 'x' } }, ['crashed', 'hung'], ExitCode.infra],
    ['controls never ran', { ...only('handled'), controls: { ran: false, trusted: false, detail: 'x' } }, ['crashed', 'hung'], ExitCode.ok],
  ])('%s → %i', (_n, run, failOn, want) => expect(runExitCode(run, failOn)).toBe(want));

  it('control cases do not count toward failOn (the buggy canary is meant to crash)', () => {
    const crashing = [...new Set(base.cases.filter((c) => c.verdict === 'crashed' || c.verdict === 'hung').map((c) => c.id))];
    expect(crashing.length).toBeGreaterThan(0);
    expect(runExitCode(base, ['crashed', 'hung'], new Set(crashing))).toBe(ExitCode.ok);
    expect(runExitCode(base, ['crashed', 'hung'], new Set(crashing.slice(1)))).toBe(ExitCode.failures);
  });
});
