// Rates over iterations: how often each case came out with each verdict and each title, which cases
// are flaky. Shared by the run loop, merge and the reports; pure.
import { type CaseRate, type CaseResult, type Verdict, worstVerdict } from './run.js';

const HARNESS: readonly Verdict[] = ['error', 'skipped'];

/** One rate per (image, case id) that ran more than once, in the order the cases first ran. */
export function caseRates(cases: readonly CaseResult[], imageOf: (c: CaseResult) => string): CaseRate[] {
  const groups = new Map<string, { id: string; image: string; runs: CaseResult[] }>();
  for (const c of cases) {
    const image = imageOf(c);
    const key = `${image}\u0000${c.id}`;
    const g = groups.get(key) ?? { id: c.id, image, runs: [] };
    g.runs.push(c);
    groups.set(key, g);
  }
  const out: CaseRate[] = [];
  for (const g of groups.values()) {
    if (g.runs.length < 2) continue;
    const verdicts: Record<string, number> = {};
    const titles: Record<string, number> = {};
    for (const c of g.runs) {
      verdicts[c.verdict] = (verdicts[c.verdict] ?? 0) + 1;
      for (const t of new Set(c.findings.map((f) => f.title))) titles[t] = (titles[t] ?? 0) + 1;
    }
    const kernel = Object.keys(verdicts).filter((v) => !HARNESS.includes(v as Verdict));
    out.push({ id: g.id, image: g.image, runs: g.runs.length, verdicts, titles, worst: worstVerdict(g.runs.map((c) => c.verdict)), flaky: kernel.length > 1 });
  }
  return out;
}

/** "crashed 5/7, blocked 2/7", most severe first */
export function rateText(r: Pick<CaseRate, 'verdicts' | 'runs'>, order: readonly Verdict[]): string {
  return order
    .filter((v) => r.verdicts[v])
    .map((v) => `${v} ${r.verdicts[v]}/${r.runs}`)
    .join(', ');
}

/** Ids of a subsystem's flaky cases on one image (case ids are `<subsystem>/<name>`). */
export function flakyIn(rates: readonly CaseRate[], subsystem: string, image: string): string[] {
  return rates.filter((r) => r.flaky && r.image === image && r.id.startsWith(`${subsystem}/`)).map((r) => r.id);
}
