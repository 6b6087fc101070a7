// Regressions between two runs: pure functions over two RunResults, plus the text/JSON summaries the
// `compare` command and `run --baseline` print.
import { ExitCode } from '../errors.js';
import { DEFAULT_FAIL_ON } from './fail-on.js';
import { caseImage, flakyCases, runImages, type FlakyCase } from './model.js';
import { readRunFile } from './run-file.js';
import { VERDICT_SEVERITY, worstVerdict, type CaseResult, type RunResult, type Verdict } from '../model/run.js';
import { rateText } from '../model/rates.js';

export interface CompareOptions {
  failOn?: readonly Verdict[];
}

/** One case (image + id, all iterations) as seen in both runs; null where a run lacks it. */
interface CaseDelta {
  image: string;
  id: string;
  base: Verdict | null;
  new: Verdict | null;
  baseTitles: string[];
  newTitles: string[];
  /** "crashed 5/7, blocked 2/7" when a run ran the case more than once */
  baseRate?: string;
  newRate?: string;
}

/**
 * The rule that makes a difference a regression, with iterations: a failing verdict with a crash
 * title the base run never showed, or a failing verdict in at least half of the new runs where the
 * base run had it in none. A failing verdict in fewer than half of the new runs, and no new title,
 * is flaky: reported, not a regression (rerun with more --iterations to tell).
 */
const REGRESSION_RULE =
  'a regression is a failing verdict with a crash title the base never showed, or a failing verdict in at least half of the new runs where the base had none; fewer than half is flaky';

interface FindingDelta {
  image: string;
  id: string;
  title: string;
  verdict: Verdict | null;
}

export interface Comparison {
  base: { runId: string; images: string[] };
  new: { runId: string; images: string[] };
  failOn: Verdict[];
  /** cases are matched by image and id, or by id alone when each run has one, differently named, image */
  matchBy: 'image+id' | 'id';
  inBoth: number;
  /** new verdict fails (per failOn) and base did not, or it fails with a crash title base did not have */
  regressions: CaseDelta[];
  /** base verdict failed and new one is a kernel verdict that does not */
  fixed: CaseDelta[];
  /** failing in both with the same titles: known failures */
  stillFailing: CaseDelta[];
  /** every verdict change (regressions and fixed included) */
  changed: CaseDelta[];
  newFindings: FindingDelta[];
  goneFindings: FindingDelta[];
  /** verdict differs across iterations of one case within the new run */
  flaky: FlakyCase[];
  /** failing in some new runs (fewer than half) where the base had no failing run, no new title: not a regression */
  flakyFailures: CaseDelta[];
  onlyInNew: CaseDelta[];
  onlyInBase: CaseDelta[];
  /** why the new run's verdicts cannot be trusted (empty: they can) */
  untrusted: string[];
  exitCode: ExitCode;
}

interface Group {
  image: string;
  id: string;
  verdict: Verdict;
  titles: string[];
  verdicts: Verdict[];
}

function groups(run: RunResult, matchBy: Comparison['matchBy']): Map<string, Group> {
  const byKey = new Map<string, { image: string; id: string; cases: CaseResult[] }>();
  for (const c of run.cases) {
    const image = caseImage(run, c);
    const key = matchBy === 'id' ? c.id : `${image}\u0000${c.id}`;
    const g = byKey.get(key) ?? { image, id: c.id, cases: [] };
    g.cases.push(c);
    byKey.set(key, g);
  }
  const out = new Map<string, Group>();
  for (const [k, g] of byKey) {
    out.set(k, {
      image: g.image,
      id: g.id,
      verdict: worstVerdict(g.cases.map((c) => c.verdict)),
      titles: [...new Set(g.cases.flatMap((c) => c.findings.map((f) => f.title)))],
      verdicts: g.cases.map((c) => c.verdict),
    });
  }
  return out;
}

function untrustedReasons(run: RunResult): string[] {
  const out: string[] = [];
  if (!run.complete) out.push(`run ${run.runId} did not finish${run.interruption ? `: ${run.interruption}` : ''}`);
  if (!run.controls.trusted) out.push(`controls of run ${run.runId} not trusted: ${run.controls.detail}`);
  return out;
}

export function compareRuns(base: RunResult, next: RunResult, opts: CompareOptions = {}): Comparison {
  const failOn = [...(opts.failOn ?? DEFAULT_FAIL_ON)];
  const bImages = runImages(base);
  const nImages = runImages(next);
  const sameImages = bImages.length === nImages.length && bImages.every((i) => nImages.includes(i));
  const matchBy: Comparison['matchBy'] = !sameImages && bImages.length === 1 && nImages.length === 1 ? 'id' : 'image+id';
  const b = groups(base, matchBy);
  const n = groups(next, matchBy);
  const fails = (v: Verdict | null): boolean => v !== null && failOn.includes(v);
  const kernelVerdict = (v: Verdict | null): boolean => v !== null && v !== 'error' && v !== 'skipped';

  const cmp: Comparison = {
    base: { runId: base.runId, images: bImages },
    new: { runId: next.runId, images: nImages },
    failOn,
    matchBy,
    inBoth: 0,
    regressions: [],
    fixed: [],
    stillFailing: [],
    changed: [],
    newFindings: [],
    goneFindings: [],
    flaky: flakyCases(next),
    flakyFailures: [],
    onlyInNew: [],
    onlyInBase: [],
    untrusted: untrustedReasons(next),
    exitCode: ExitCode.ok,
  };
  for (const [key, ng] of n) {
    const bg = b.get(key) ?? null;
    const d: CaseDelta = {
      image: ng.image,
      id: ng.id,
      base: bg?.verdict ?? null,
      new: ng.verdict,
      baseTitles: bg?.titles ?? [],
      newTitles: ng.titles,
      ...(bg && bg.verdicts.length > 1 ? { baseRate: rateOf(bg.verdicts) } : {}),
      ...(ng.verdicts.length > 1 ? { newRate: rateOf(ng.verdicts) } : {}),
    };
    if (bg === null) cmp.onlyInNew.push(d);
    else cmp.inBoth++;
    const freshTitles = ng.titles.filter((t) => !d.baseTitles.includes(t));
    for (const title of freshTitles) cmp.newFindings.push({ image: ng.image, id: ng.id, title, verdict: ng.verdict });
    if (bg !== null && bg.verdict !== ng.verdict) cmp.changed.push(d);
    if (fails(ng.verdict)) {
      const failingRuns = ng.verdicts.filter(fails).length;
      if (freshTitles.length > 0) cmp.regressions.push(d);
      else if (fails(d.base)) cmp.stillFailing.push(d);
      else if (failingRuns * 2 >= ng.verdicts.length) cmp.regressions.push(d);
      else cmp.flakyFailures.push(d);
    } else if (bg !== null && fails(bg.verdict) && kernelVerdict(ng.verdict)) {
      cmp.fixed.push(d);
    }
    if (bg !== null && kernelVerdict(ng.verdict)) {
      for (const title of bg.titles.filter((t) => !ng.titles.includes(t))) cmp.goneFindings.push({ image: ng.image, id: ng.id, title, verdict: ng.verdict });
    }
  }
  for (const [key, bg] of b) {
    if (!n.has(key)) cmp.onlyInBase.push({ image: bg.image, id: bg.id, base: bg.verdict, new: null, baseTitles: bg.titles, newTitles: [] });
  }
  cmp.exitCode = cmp.regressions.length > 0 ? ExitCode.failures : cmp.untrusted.length > 0 ? ExitCode.infra : ExitCode.ok;
  return cmp;
}

function rateOf(verdicts: readonly Verdict[]): string {
  const counts: Record<string, number> = {};
  for (const v of verdicts) counts[v] = (counts[v] ?? 0) + 1;
  return rateText({ verdicts: counts, runs: verdicts.length }, VERDICT_SEVERITY);
}

function where(d: { image: string; id: string }, c: Comparison): string {
  return c.matchBy === 'id' ? d.id : `${d.id} on ${d.image}`;
}

function arrow(d: CaseDelta): string {
  return `${d.baseRate ?? d.base ?? '(absent)'} → ${d.newRate ?? d.new ?? '(absent)'}`;
}

/** A readable multi-line summary. */
export function formatComparison(c: Comparison): string {
  const lines: string[] = [];
  lines.push(`compare ${c.base.runId} [${c.base.images.join(', ')}] → ${c.new.runId} [${c.new.images.join(', ')}]; failing verdicts: ${c.failOn.join(', ')}`);
  lines.push(`  ${c.inBoth} cases in both runs, ${c.onlyInNew.length} only in the new run, ${c.onlyInBase.length} only in the base run`);
  const section = <T>(title: string, items: T[], fmt: (t: T) => string): void => {
    if (items.length === 0) return;
    lines.push('', `${title} (${items.length}):`);
    for (const it of items) lines.push(`  ${fmt(it)}`);
  };
  section('REGRESSIONS', c.regressions, (d) => `${where(d, c)}: ${arrow(d)}${d.newTitles.length ? ` — ${d.newTitles.join('; ')}` : ''}`);
  section('New findings', c.newFindings, (f) => `${where(f, c)}: ${f.title}`);
  section('Fixed', c.fixed, (d) => `${where(d, c)}: ${arrow(d)}`);
  section('Findings gone', c.goneFindings, (f) => `${where(f, c)}: ${f.title}`);
  section('Still failing (in the base run too)', c.stillFailing, (d) => `${where(d, c)}: ${d.new}${d.newTitles.length ? ` — ${d.newTitles.join('; ')}` : ''}`);
  const otherChanges = c.changed.filter((d) => !c.regressions.includes(d) && !c.fixed.includes(d));
  section('Other verdict changes', otherChanges, (d) => `${where(d, c)}: ${arrow(d)}`);
  section('Flaky failures (fewer than half of the new runs; not regressions)', c.flakyFailures, (d) => `${where(d, c)}: ${arrow(d)}`);
  section('Flaky in the new run', c.flaky, (f) => `${f.id} on ${f.image}: ${f.verdicts.join(' → ')}`);
  section(
    'Only in the new run',
    c.onlyInNew.filter((d) => !c.regressions.includes(d)),
    (d) => `${where(d, c)}: ${d.new}`,
  );
  section('Only in the base run', c.onlyInBase, (d) => `${where(d, c)}: ${d.base}`);
  section('NEW RUN NOT TRUSTED', c.untrusted, (s) => s);
  lines.push('', `rule: ${REGRESSION_RULE}`);
  lines.push(
    c.exitCode === ExitCode.failures
      ? `result: ${c.regressions.length} regression(s) → exit 1`
      : c.exitCode === ExitCode.infra
        ? 'result: no regressions, but the new run cannot be trusted → exit 3'
        : 'result: no regressions → exit 0',
  );
  return `${lines.join('\n')}\n`;
}

/** For `run --baseline FILE`: compares the finished run against a baseline run.json (or run dir). */
export async function checkBaseline(
  baseline: string,
  next: RunResult,
  opts: CompareOptions = {},
): Promise<{ comparison: Comparison; text: string; exitCode: ExitCode }> {
  const { run: base } = await readRunFile(baseline);
  const comparison = compareRuns(base, next, opts);
  return { comparison, text: formatComparison(comparison), exitCode: comparison.exitCode };
}
