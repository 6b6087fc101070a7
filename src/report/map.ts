// The cross-subsystem map: for each subsystem and removal method (rows) on each kernel (columns),
// what happened to the held fds — the behaviour (classify/behaviour.ts), not only the verdict.
// Built from one or more runs (one per kernel, or merged shards); a case seen with different
// verdicts across the runs is marked flaky in its cell.
import { BEHAVIOUR_SEVERITY, caseBehaviour, type Behaviour, type BehaviourKind } from '../classify/behaviour.js';
import { worstVerdict, type CaseResult, type RunResult, type Verdict } from '../model/run.js';
import { byText } from '../util/compare.js';

interface MapCase {
  id: string;
  verdict: Verdict;
  behaviour: Behaviour;
  runId: string;
  repro: string;
}

export interface MapCell {
  subsystem: string;
  method: string;
  image: string;
  verdict: Verdict;
  /** the headline: the worst behaviour among the cell's cases */
  behaviour: Behaviour;
  /** what the cell says: "revokes ENODEV", "waits forever", "numb: ioctl:NVME_IOCTL_ID", a title */
  label: string;
  /** cases with the headline behaviour (every case, when all were handled), of all the cell's cases */
  headlineCount: number;
  /** cases that ran (not skipped, no harness error): what headlineCount is out of */
  ranCount: number;
  cases: MapCase[];
  /** case ids whose verdict differed between runs */
  flaky: string[];
}

export interface UnplugMap {
  images: string[];
  rows: { subsystem: string; method: string }[];
  cells: MapCell[];
  runs: string[];
}

/** The behaviours of a handled case, in the order a cell lists them. */
const HANDLED: readonly BehaviourKind[] = ['refuses', 'hangs-up', 'revokes'];

const imageOf = (c: CaseResult, run: RunResult): string => c.image ?? c.vm?.image ?? run.images[0] ?? '?';
const rank = (k: BehaviourKind): number => BEHAVIOUR_SEVERITY.indexOf(k);

export function buildMap(runs: readonly RunResult[]): UnplugMap {
  const byCell = new Map<string, { subsystem: string; method: string; image: string; cases: MapCase[] }>();
  const images: string[] = [];
  for (const run of runs) {
    for (const c of run.cases) {
      const image = imageOf(c, run);
      if (!images.includes(image)) images.push(image);
      const key = JSON.stringify([c.subsystem, c.method, image]);
      const cell = byCell.get(key) ?? { subsystem: c.subsystem, method: c.method, image, cases: [] };
      cell.cases.push({ id: c.id, verdict: c.verdict, behaviour: caseBehaviour(c), runId: run.runId, repro: c.repro });
      byCell.set(key, cell);
    }
  }
  const cells = [...byCell.values()].map((x): MapCell => {
    const ran = x.cases.filter((c) => c.behaviour.kind !== 'skipped' && c.behaviour.kind !== 'error');
    const pool = ran.length ? ran : x.cases;
    const headline = [...pool].sort((a, b) => rank(a.behaviour.kind) - rank(b.behaviour.kind))[0]!;
    const same = pool.filter((c) => c.behaviour.kind === headline.behaviour.kind);
    const verdicts = new Map<string, Set<Verdict>>();
    for (const c of x.cases) verdicts.set(c.id, (verdicts.get(c.id) ?? new Set()).add(c.verdict));
    // a handled cell names every handled behaviour in it (a tty hangs up, a printer revokes)
    const allHandled = pool.every((c) => HANDLED.includes(c.behaviour.kind));
    const label = allHandled
      ? HANDLED.filter((k) => pool.some((c) => c.behaviour.kind === k))
          .map((k) =>
            labelOf(
              k,
              pool.filter((c) => c.behaviour.kind === k).map((c) => c.behaviour),
            ),
          )
          .join(', ')
      : labelOf(
          headline.behaviour.kind,
          same.map((c) => c.behaviour),
        );
    return {
      subsystem: x.subsystem,
      method: x.method,
      image: x.image,
      verdict: worstVerdict(x.cases.map((c) => c.verdict)),
      behaviour: headline.behaviour,
      label,
      headlineCount: allHandled ? pool.length : same.length,
      ranCount: pool.length,
      cases: x.cases,
      flaky: [...verdicts].filter(([, v]) => v.size > 1).map(([id]) => id),
    };
  });
  const rows = [...new Map(cells.map((c) => [`${c.subsystem}\u0000${c.method}`, { subsystem: c.subsystem, method: c.method }])).values()].sort(
    (a, b) => byText(a.subsystem, b.subsystem) || byText(a.method, b.method),
  );
  return { images, rows, cells, runs: runs.map((r) => r.runId) };
}

/** The cell's words for its headline behaviour, from every case that shares it. */
function labelOf(kind: BehaviourKind, all: readonly Behaviour[]): string {
  const first = all[0]!;
  switch (kind) {
    case 'revokes': {
      const errnos = [...new Set(all.flatMap((b) => b.errnos ?? []))].sort();
      return `revokes ${errnos.join('/') || '(poll only)'}`;
    }
    case 'hangs-up':
      return 'hangs up';
    case 'refuses':
      return `refuses ${first.detail}`;
    case 'waits': {
      const worst = Math.max(...all.map((b) => b.afterCloseMs ?? Number.POSITIVE_INFINITY));
      return Number.isFinite(worst) ? `waits (until close+${worst} ms)` : 'waits forever';
    }
    case 'numb':
    case 'silent':
      return `${kind}: ${first.detail}`;
    case 'crashes':
      return first.detail;
    case 'hangs':
      return 'hangs';
    case 'error':
    case 'skipped':
      return kind;
  }
}

export function findCell(map: UnplugMap, subsystem: string, method: string, image: string): MapCell | undefined {
  return map.cells.find((c) => c.subsystem === subsystem && c.method === method && c.image === image);
}

/** A cell's text in the table: its label, how many of its cases share it, and a flaky mark. */
export function cellText(c: MapCell): string {
  const part = c.headlineCount < c.ranCount ? ` (${c.headlineCount}/${c.ranCount})` : '';
  return `${c.label}${part}${c.flaky.length ? ' ~flaky' : ''}`;
}

/** The map as a terminal table, then every cell that is not handled with its cases and repro commands. */
export function renderMapText(map: UnplugMap, opts: { maxWidth?: number } = {}): string {
  const max = opts.maxWidth ?? 48;
  const text = (r: UnplugMap['rows'][number], img: string): string => {
    const c = findCell(map, r.subsystem, r.method, img);
    return c ? cellText(c) : '—';
  };
  const widths = map.images.map((img) => Math.min(max, Math.max(img.length, ...map.rows.map((r) => text(r, img).length))));
  const fit = (s: string, w: number): string => (s.length > w ? `${s.slice(0, w - 1)}…` : s).padEnd(w);
  const head = Math.max(20, ...map.rows.map((r) => r.subsystem.length + r.method.length + 1));
  const lines = [`${'subsystem / removal'.padEnd(head)}  ${map.images.map((img, i) => fit(img, widths[i]!)).join('  ')}`.trimEnd()];
  for (const r of map.rows) {
    const cells = map.images.map((img, i) => fit(text(r, img), widths[i]!));
    lines.push(`${`${r.subsystem} ${r.method}`.padEnd(head)}  ${cells.join('  ')}`.trimEnd());
  }
  const notHandled = map.cells.filter((c) => c.verdict !== 'handled' && c.verdict !== 'skipped');
  if (notHandled.length) {
    lines.push('', 'not handled:');
    for (const c of notHandled) {
      lines.push(`  ${c.subsystem} ${c.method} on ${c.image}: ${c.label}`);
      for (const k of c.cases.filter((x) => x.verdict !== 'handled' && x.verdict !== 'skipped')) {
        lines.push(`    ${k.id} ${k.verdict}: ${k.behaviour.detail}`);
        if (k.repro) lines.push(`      ${k.repro}`);
      }
    }
  }
  return `${lines.join('\n')}\n`;
}
