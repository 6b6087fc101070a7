// What a bisection step saw in a run: good, bad (the finding) or skip (the commit cannot be judged).
// `git bisect run` reads 0 as good, 1–127 but 125 as bad, 125 as skip, and anything else as abort.
import type { CaseResult, RunResult, Verdict } from '../model/run.js';

export type BisectOutcome = 'good' | 'bad' | 'skip';

export interface BisectCriteria {
  /** the finding: a title (substring of a finding's title or alternative title) … */
  title?: string;
  /** … or, without a title, a case coming out with one of these verdicts */
  verdicts: readonly Verdict[];
  /** which cases are the bisected ones (the others, e.g. canary controls, only calibrate) */
  isTarget(c: CaseResult): boolean;
}

export interface BisectJudgement {
  outcome: BisectOutcome;
  /** one line: what decided it */
  detail: string;
}

/**
 * Bad when the finding shows in any target case of any iteration; otherwise skip when the run could
 * not have shown it (controls untrusted, a target case errored or was skipped, none ran); else good.
 */
export function judgeBisect(run: RunResult, k: BisectCriteria): BisectJudgement {
  const targets = run.cases.filter(k.isTarget);
  const hits = targets.filter((c) => matches(c, k));
  const n = new Set(targets.map((c) => c.iteration)).size;
  if (hits.length > 0) {
    const what = k.title ? `"${hits[0]!.findings.find((f) => titleMatches(f, k.title!))!.title}"` : hits[0]!.verdict;
    const runs = new Set(hits.map((c) => `${c.id}#${c.iteration}`)).size;
    return { outcome: 'bad', detail: `${what} in ${hits[0]!.id} (${runs} of ${targets.length} case run(s), ${n} iteration(s))` };
  }
  if (run.controls.ran && !run.controls.trusted) return { outcome: 'skip', detail: `controls not trusted: ${run.controls.detail}` };
  if (!run.complete) return { outcome: 'skip', detail: `the run did not finish${run.interruption ? `: ${run.interruption}` : ''}` };
  if (targets.length === 0) return { outcome: 'skip', detail: 'no case ran (a boot that never came up?)' };
  const unjudged = targets.filter((c) => c.verdict === 'error' || c.verdict === 'skipped');
  if (unjudged.length > 0) return { outcome: 'skip', detail: `${unjudged[0]!.id} ${unjudged[0]!.verdict}: ${unjudged[0]!.reason}` };
  const verdicts = [...new Set(targets.map((c) => c.verdict))].join(', ');
  return { outcome: 'good', detail: `${targets.length} case run(s): ${verdicts}${k.title ? `, no "${k.title}"` : ''}` };
}

function matches(c: CaseResult, k: BisectCriteria): boolean {
  if (k.title) return c.findings.some((f) => titleMatches(f, k.title!));
  return k.verdicts.includes(c.verdict);
}

function titleMatches(f: CaseResult['findings'][number], title: string): boolean {
  return [f.title, ...f.altTitles].some((t) => t.includes(title));
}
