// compareRuns: table-driven over small runs built from one template case.
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../errors.js';
import { compareRuns, formatComparison } from './compare.js';
import type { RunResult, Verdict } from '../model/run.js';
import { loadFixture } from './testing/fixtures.js';

type Row = [image: string, id: string, verdict: Verdict, titles?: string[], iteration?: number];

const template = loadFixture('run-two-images');
const tc = template.cases[0]!;

function mkRun(runId: string, rows: Row[], extra: Partial<RunResult> = {}): RunResult {
  const images = [...new Set(rows.map((r) => r[0]))];
  return {
    ...template,
    runId,
    images,
    subsystems: [],
    complete: true,
    controls: { ran: true, trusted: true, detail: 'ok' },
    cases: rows.map(([image, id, verdict, titles = [], iteration = 1]) => ({
      ...tc,
      image,
      id,
      subsystem: id.split('/')[0]!,
      verdict,
      iteration,
      findings: titles.map((title) => ({ ...template.cases.find((c) => c.findings.length)!.findings[0]!, title })),
    })),
    ...extra,
  };
}

const A = 'debian-6.12';
const K = 'kasan-6.12';
const UAF = 'KASAN: slab-use-after-free Read in lineevent_poll';
const GPF = 'general protection fault in lineevent_poll';

interface Expect {
  regressions?: string[];
  fixed?: string[];
  stillFailing?: string[];
  changed?: string[];
  newFindings?: string[];
  goneFindings?: string[];
  flaky?: string[];
  flakyFailures?: string[];
  onlyInNew?: string[];
  onlyInBase?: string[];
  exit: ExitCode;
  matchBy?: 'id' | 'image+id';
}

const ids = (xs: { id: string; image: string }[]): string[] => xs.map((x) => `${x.image}:${x.id}`);

const table: [string, Row[], Row[], Verdict[] | undefined, Expect][] = [
  [
    'identical runs',
    [
      [A, 'gpio/a', 'handled'],
      [A, 'i2c/b', 'blocked'],
    ],
    [
      [A, 'gpio/a', 'handled'],
      [A, 'i2c/b', 'blocked'],
    ],
    undefined,
    { exit: ExitCode.ok },
  ],
  [
    'handled → crashed is a regression with a new finding',
    [[A, 'gpio/a', 'handled']],
    [[A, 'gpio/a', 'crashed', [UAF]]],
    undefined,
    { regressions: [`${A}:gpio/a`], changed: [`${A}:gpio/a`], newFindings: [UAF], exit: ExitCode.failures },
  ],
  [
    'crashed → handled is fixed',
    [[A, 'gpio/a', 'crashed', [UAF]]],
    [[A, 'gpio/a', 'handled']],
    undefined,
    { fixed: [`${A}:gpio/a`], changed: [`${A}:gpio/a`], goneFindings: [UAF], exit: ExitCode.ok },
  ],
  [
    'crashed in both with the same title: still failing, exit 0',
    [[A, 'gpio/a', 'crashed', [UAF]]],
    [[A, 'gpio/a', 'crashed', [UAF]]],
    undefined,
    { stillFailing: [`${A}:gpio/a`], exit: ExitCode.ok },
  ],
  [
    'crashed in both with a new title: regression',
    [[A, 'gpio/a', 'crashed', [UAF]]],
    [[A, 'gpio/a', 'crashed', [GPF]]],
    undefined,
    { regressions: [`${A}:gpio/a`], newFindings: [GPF], goneFindings: [UAF], exit: ExitCode.failures },
  ],
  [
    'handled → blocked is a change, not a failure by default',
    [[A, 'i2c/b', 'handled']],
    [[A, 'i2c/b', 'blocked']],
    undefined,
    { changed: [`${A}:i2c/b`], exit: ExitCode.ok },
  ],
  [
    'handled → blocked fails with --fail-on blocked',
    [[A, 'i2c/b', 'handled']],
    [[A, 'i2c/b', 'blocked']],
    ['crashed', 'hung', 'blocked'],
    { regressions: [`${A}:i2c/b`], changed: [`${A}:i2c/b`], exit: ExitCode.failures },
  ],
  ['hung → error is not fixed (unknown)', [[A, 'usb/c', 'hung']], [[A, 'usb/c', 'error']], undefined, { changed: [`${A}:usb/c`], exit: ExitCode.ok }],
  [
    'a new case that crashes is a regression',
    [[A, 'gpio/a', 'handled']],
    [
      [A, 'gpio/a', 'handled'],
      [A, 'gpio/n', 'crashed', [UAF]],
    ],
    undefined,
    { regressions: [`${A}:gpio/n`], onlyInNew: [`${A}:gpio/n`], newFindings: [UAF], exit: ExitCode.failures },
  ],
  [
    'a case gone from the new run',
    [
      [A, 'gpio/a', 'handled'],
      [A, 'gpio/old', 'crashed', [UAF]],
    ],
    [[A, 'gpio/a', 'handled']],
    undefined,
    { onlyInBase: [`${A}:gpio/old`], exit: ExitCode.ok },
  ],
  [
    'a failing verdict in fewer than half of the new runs, no new title: flaky, not a regression',
    [
      [A, 'gpio/a', 'handled', [], 1],
      [A, 'gpio/a', 'handled', [], 2],
    ],
    [
      [A, 'gpio/a', 'handled', [], 1],
      [A, 'gpio/a', 'hung', [], 2],
      [A, 'gpio/a', 'handled', [], 3],
    ],
    undefined,
    { flakyFailures: [`${A}:gpio/a`], changed: [`${A}:gpio/a`], flaky: [`${A}:gpio/a`], exit: ExitCode.ok },
  ],
  [
    'a failing verdict in half of the new runs or more: a regression',
    [[A, 'gpio/a', 'handled', [], 1]],
    [
      [A, 'gpio/a', 'hung', [], 1],
      [A, 'gpio/a', 'handled', [], 2],
    ],
    undefined,
    { regressions: [`${A}:gpio/a`], changed: [`${A}:gpio/a`], flaky: [`${A}:gpio/a`], exit: ExitCode.failures },
  ],
  [
    'a crash title the base never showed is a regression even in one run of seven',
    [
      [A, 'gpio/a', 'crashed', ['WARNING in free_irq'], 1],
      [A, 'gpio/a', 'blocked', [], 2],
    ],
    [
      [A, 'gpio/a', 'blocked', [], 1],
      [A, 'gpio/a', 'blocked', [], 2],
      [A, 'gpio/a', 'crashed', [UAF], 3],
      [A, 'gpio/a', 'blocked', [], 4],
      [A, 'gpio/a', 'blocked', [], 5],
      [A, 'gpio/a', 'blocked', [], 6],
      [A, 'gpio/a', 'blocked', [], 7],
    ],
    undefined,
    { regressions: [`${A}:gpio/a`], flaky: [`${A}:gpio/a`], newFindings: [UAF], goneFindings: ['WARNING in free_irq'], exit: ExitCode.failures },
  ],
  [
    'the same title at another rate is still failing, not a regression (crashed 1/2 → 5/7)',
    [
      [A, 'gpio/a', 'crashed', [UAF], 1],
      [A, 'gpio/a', 'blocked', [], 2],
    ],
    [
      [A, 'gpio/a', 'crashed', [UAF], 1],
      [A, 'gpio/a', 'crashed', [UAF], 2],
      [A, 'gpio/a', 'blocked', [], 3],
      [A, 'gpio/a', 'crashed', [UAF], 4],
      [A, 'gpio/a', 'crashed', [UAF], 5],
      [A, 'gpio/a', 'blocked', [], 6],
      [A, 'gpio/a', 'crashed', [UAF], 7],
    ],
    undefined,
    { stillFailing: [`${A}:gpio/a`], flaky: [`${A}:gpio/a`], exit: ExitCode.ok },
  ],
  [
    'same id on two images is matched per image',
    [
      [A, 'gpio/a', 'handled'],
      [K, 'gpio/a', 'crashed', [UAF]],
    ],
    [
      [A, 'gpio/a', 'crashed', [UAF]],
      [K, 'gpio/a', 'crashed', [UAF]],
    ],
    undefined,
    { regressions: [`${A}:gpio/a`], changed: [`${A}:gpio/a`], stillFailing: [`${K}:gpio/a`], newFindings: [UAF], exit: ExitCode.failures, matchBy: 'image+id' },
  ],
  [
    'one image each, differently named: matched by id (kernel A vs kernel B)',
    [[A, 'gpio/a', 'handled']],
    [[K, 'gpio/a', 'crashed', [UAF]]],
    undefined,
    { regressions: [`${K}:gpio/a`], changed: [`${K}:gpio/a`], newFindings: [UAF], exit: ExitCode.failures, matchBy: 'id' },
  ],
];

describe('compareRuns', () => {
  it.each(table)('%s', (_name, baseRows, newRows, failOn, want) => {
    const cmp = compareRuns(mkRun('base', baseRows), mkRun('new', newRows), failOn ? { failOn } : {});
    expect(ids(cmp.regressions)).toEqual(want.regressions ?? []);
    expect(ids(cmp.fixed)).toEqual(want.fixed ?? []);
    expect(ids(cmp.stillFailing)).toEqual(want.stillFailing ?? []);
    expect(ids(cmp.changed)).toEqual(want.changed ?? []);
    expect(cmp.newFindings.map((f) => f.title)).toEqual(want.newFindings ?? []);
    expect(cmp.goneFindings.map((f) => f.title)).toEqual(want.goneFindings ?? []);
    expect(ids(cmp.flaky)).toEqual(want.flaky ?? []);
    expect(ids(cmp.flakyFailures)).toEqual(want.flakyFailures ?? []);
    expect(ids(cmp.onlyInNew)).toEqual(want.onlyInNew ?? []);
    expect(ids(cmp.onlyInBase)).toEqual(want.onlyInBase ?? []);
    expect(cmp.exitCode).toBe(want.exit);
    if (want.matchBy) expect(cmp.matchBy).toBe(want.matchBy);
    // the summary names every regression
    const text = formatComparison(cmp);
    for (const r of cmp.regressions) expect(text).toContain(r.id);
  });

  it.each<[string, Partial<RunResult>, ExitCode]>([
    ['a new run that died part-way cannot be trusted: exit 3', { complete: false, interruption: 'SIGTERM' }, ExitCode.infra],
    ['failed controls: exit 3', { controls: { ran: true, trusted: false, detail: 'canary did not crash' } }, ExitCode.infra],
  ])('%s', (_n, extra, code) => {
    const cmp = compareRuns(mkRun('b', [[A, 'gpio/a', 'handled']]), mkRun('n', [[A, 'gpio/a', 'handled']], extra));
    expect(cmp.exitCode).toBe(code);
    expect(formatComparison(cmp)).toContain('NEW RUN NOT TRUSTED');
  });

  it('a regression outranks an untrusted run: exit 1', () => {
    const cmp = compareRuns(mkRun('b', [[A, 'gpio/a', 'handled']]), mkRun('n', [[A, 'gpio/a', 'crashed', [UAF]]], { complete: false }));
    expect(cmp.exitCode).toBe(ExitCode.failures);
  });

  it('the golden fixture against itself: no regressions, the flaky case reported', () => {
    const run = loadFixture('run-two-images');
    const cmp = compareRuns(run, run);
    expect(cmp.regressions).toEqual([]);
    expect(cmp.stillFailing.map((d) => d.id).sort()).toEqual([
      'gpio/sim-rmdir-lineevent-poll',
      'usb-serial/ftdi-device_del-tty-read',
      'usb-serial/ftdi-device_del-tty-read',
    ]);
    expect(cmp.flaky.map((f) => f.verdicts)).toEqual([['handled', 'silent', 'handled']]);
    expect(cmp.exitCode).toBe(ExitCode.ok);
  });
});
