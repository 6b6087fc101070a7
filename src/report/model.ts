// Views over a RunResult that every report shares: which image a case ran on, how cases group into
// subsystems and iterations, which are flaky. Pure functions; no I/O.
import { flakyIn } from '../model/rates.js';
import { worstVerdict, type CaseResult, type RunResult, type SubsystemSummary, type Verdict } from '../model/run.js';

/** Image a case ran on: its own field, else its VM's, else the run's only/first image. */
export function caseImage(run: Pick<RunResult, 'images'>, c: CaseResult): string {
  return c.image ?? c.vm?.image ?? run.images[0] ?? 'unknown';
}

/** The case id without its `<subsystem>/` prefix. */
export function caseName(c: Pick<CaseResult, 'id' | 'subsystem'>): string {
  const prefix = `${c.subsystem}/`;
  return c.id.startsWith(prefix) ? c.id.slice(prefix.length) : c.id;
}

/** What the per-case views below need from all of a run's cases, made in one pass over them. */
interface CasesIndex {
  /** the cases' count and the run's images when it was made: a push or other images make it anew */
  n: number;
  images: readonly string[];
  /** runImages' answer */
  allImages: readonly string[];
  /** cases by image and id (iterationKey) */
  iterations: Map<string, number>;
}

/**
 * By cases array: a report renders each case's dir name, iterations and the run's images, and a scan
 * of every case for each was quadratic in the run (a catalog's final render spent ~60 ms on it). A
 * run's snapshot copies its cases array and never changes it after, so an index made for the array
 * holds; the count and images are checked anyway for callers that build a run by hand.
 */
const indexes = new WeakMap<readonly CaseResult[], CasesIndex>();

const iterationKey = (image: string, id: string): string => `${image}\u0000${id}`;

function casesIndex(run: Pick<RunResult, 'images' | 'cases'>): CasesIndex {
  const known = indexes.get(run.cases);
  if (known !== undefined && known.n === run.cases.length && known.images === run.images) return known;
  const seen = new Set(run.images);
  const allImages = [...run.images];
  const iterations = new Map<string, number>();
  for (const c of run.cases) {
    const img = caseImage(run, c);
    if (!seen.has(img)) {
      seen.add(img);
      allImages.push(img);
    }
    const k = iterationKey(img, c.id);
    iterations.set(k, (iterations.get(k) ?? 0) + 1);
  }
  const index = { n: run.cases.length, images: run.images, allImages, iterations };
  indexes.set(run.cases, index);
  return index;
}

/** Images of the run in run order, plus any image only named by cases (a run that died early). */
export function runImages(run: RunResult): string[] {
  return [...casesIndex(run).allImages];
}

/** Subsystems in order of first appearance (cases first, then summaries without cases). */
export function runSubsystems(run: RunResult): string[] {
  const out = new Set<string>();
  for (const c of run.cases) out.add(c.subsystem);
  for (const s of run.subsystems) out.add(s.subsystem);
  return [...out];
}

/** A file-system- and id-safe slug: keeps [A-Za-z0-9._-], everything else becomes '_'. */
export function slug(s: string): string {
  const t = s.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '_');
  return t === '' ? '_' : t;
}

/** Directory name of a case under cases/ in the report directory. */
export function caseDirName(run: RunResult, c: CaseResult): string {
  const multiImage = casesIndex(run).allImages.length > 1;
  const parts = [multiImage ? slug(caseImage(run, c)) : null, slug(c.id.replace(/\//g, '.')), iterationsOf(run, c) > 1 ? `it${c.iteration}` : null];
  return parts.filter((p): p is string => p !== null).join('--');
}

/** How many iterations of this case (same image and id) the run holds. */
export function iterationsOf(run: RunResult, c: CaseResult): number {
  return casesIndex(run).iterations.get(iterationKey(caseImage(run, c), c.id)) ?? 0;
}

/** Summary for one subsystem on one image: the engine's if it wrote one, else the worst case verdict. */
export function subsystemSummary(run: RunResult, subsystem: string, image: string): SubsystemSummary | null {
  const given = run.subsystems.find((s) => s.subsystem === subsystem && s.image === image);
  if (given) return given;
  const cases = run.cases.filter((c) => c.subsystem === subsystem && caseImage(run, c) === image);
  if (cases.length === 0) return null;
  const counts: Record<string, number> = {};
  for (const c of cases) counts[c.verdict] = (counts[c.verdict] ?? 0) + 1;
  const flaky = flakyIn(run.rates, subsystem, image);
  return { subsystem, image, verdict: worstVerdict(cases.map((c) => c.verdict)), counts, flaky };
}

/** Verdict of a subsystem across all images (worst). */
export function subsystemVerdict(run: RunResult, subsystem: string): Verdict {
  const vs: Verdict[] = [];
  for (const img of runImages(run)) {
    const s = subsystemSummary(run, subsystem, img);
    if (s) vs.push(s.verdict);
  }
  return worstVerdict(vs);
}

export interface FlakyCase {
  image: string;
  id: string;
  /** verdict per iteration, in iteration order */
  verdicts: Verdict[];
}

/** Cases whose verdict differs across iterations (same image and id) within one run. */
export function flakyCases(run: RunResult): FlakyCase[] {
  const groups = new Map<string, { image: string; id: string; byIter: CaseResult[] }>();
  for (const c of run.cases) {
    const image = caseImage(run, c);
    const k = `${image}\u0000${c.id}`;
    const g = groups.get(k) ?? { image, id: c.id, byIter: [] };
    g.byIter.push(c);
    groups.set(k, g);
  }
  const out: FlakyCase[] = [];
  for (const g of groups.values()) {
    const verdicts = g.byIter.sort((a, b) => a.iteration - b.iteration).map((c) => c.verdict);
    if (new Set(verdicts).size > 1) out.push({ image: g.image, id: g.id, verdicts });
  }
  return out;
}

/** Distinct finding titles, in order of first appearance. */
export function findingTitles(c: CaseResult): string[] {
  return [...new Set(c.findings.map((f) => f.title))];
}

/** Headline of a case for one-line summaries: first finding title, else the reason. */
export function caseHeadline(c: CaseResult): string {
  return c.findings[0]?.title ?? c.reason;
}

/** True when the controls (canaries) ran and did not come out as expected, or never ran. */
export function controlsUntrusted(run: RunResult): boolean {
  return !run.controls.trusted;
}

/** Which 1-based excerpt lines belong to findings: by line numbers when the excerpt's position is
 * known, else by matching the findings' report lines against the excerpt's lines. */
export function findingLinesInExcerpt(c: CaseResult): Set<number> {
  const lines = c.consoleExcerpt.split('\n');
  const hit = new Set<number>();
  if (c.consoleExcerptFirstLine !== undefined) {
    const first = c.consoleExcerptFirstLine;
    for (const f of c.findings) {
      for (let ln = Math.max(f.startLine, first); ln <= f.endLine; ln++) {
        const i = ln - first + 1;
        if (i >= 1 && i <= lines.length) hit.add(i);
      }
    }
    return hit;
  }
  const reportLines = new Set<string>();
  for (const f of c.findings) for (const l of f.report.split('\n')) if (l.trim() !== '') reportLines.add(stripTimestamp(l));
  lines.forEach((l, i) => {
    if (l.trim() !== '' && reportLines.has(stripTimestamp(l))) hit.add(i + 1);
  });
  return hit;
}

function stripTimestamp(l: string): string {
  return l.replace(/^\s*\[\s*\d+\.\d+\](\[\s*[CT]\d+\])?\s?/, '').trimEnd();
}
