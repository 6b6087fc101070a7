// Merging the runs of shards (CI jobs that each ran `run --shard I/N`) into one run: one report, one
// JUnit file, one KCIDB submission. Pure: the same inputs, in any order, give the same merged run.
import { caseRates, flakyIn } from '../model/rates.js';
import { createHash } from 'node:crypto';
import { ConfigError, ExitCode, UsageError } from '../errors.js';
import { caseImage, runImages, slug } from './model.js';
import { VERDICTS, worstVerdict, type CaseRate, type CaseResult, type RunResult, type Verdict } from '../model/run.js';

export interface MergeOptions {
  /** where each run came from (same order as `runs`), named in errors and the merged run's command */
  files?: readonly string[];
  /** the merged run's `command` (default: hotunplug-ci merge <files>) */
  command?: string[];
}

/** A console of one shard as the merged run lists it. */
export interface MergedConsole {
  /** `<shard label>-<vm>` */
  vm: string;
  image: string;
  /** where writeRunReports puts it in the merged run directory */
  file: string;
  /** index into the `runs` given to mergeRuns, and the console's file relative to that run's directory */
  from: { run: number; file: string };
}

interface Input {
  run: RunResult;
  /** index in the caller's array */
  at: number;
  name: string;
  label: string;
}

const SHARD_SUFFIX = /-shard(\d+)of(\d+)$/;

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function time(s: string): number {
  const t = Date.parse(s);
  return Number.isNaN(t) ? Number.POSITIVE_INFINITY : t;
}

/** Inputs in a fixed order (shard N, shard I, runId) with a unique label each: `shardIofN` from the runId, else `runK`. */
function inputs(runs: readonly RunResult[], opts: MergeOptions): Input[] {
  if (runs.length === 0) throw new UsageError('merge: no runs to merge');
  const named = runs.map((run, at) => ({ run, at, name: opts.files?.[at] ?? `run ${run.runId}` }));
  const first = named[0]!;
  for (const i of named) {
    if (i.run.schemaVersion !== first.run.schemaVersion) {
      throw new ConfigError(
        i.name,
        'schemaVersion',
        `${i.run.schemaVersion} differs from ${first.name} (${first.run.schemaVersion}): cannot merge runs of different run.json versions`,
      );
    }
  }
  // shards in shard order (shard 3 may have started first), then other runs by id
  const pos = (r: RunResult): [number, number] => {
    const m = SHARD_SUFFIX.exec(r.runId);
    return m ? [Number(m[2]), Number(m[1])] : [Number.POSITIVE_INFINITY, 0];
  };
  const sorted = [...named].sort((a, b) => {
    const [pa, pb] = [pos(a.run), pos(b.run)];
    return pa[0] - pb[0] || pa[1] - pb[1] || cmp(a.run.runId, b.run.runId) || cmp(a.name, b.name);
  });
  for (let k = 1; k < sorted.length; k++) {
    const [a, b] = [sorted[k - 1]!, sorted[k]!];
    if (a.run.runId === b.run.runId) throw new ConfigError(b.name, 'runId', `the same run as ${a.name} (${b.run.runId}): give each shard once`);
  }
  const used = new Set<string>();
  return sorted.map((i, k) => {
    const m = SHARD_SUFFIX.exec(i.run.runId);
    let label = m ? `shard${Number(m[1])}of${Number(m[2])}` : `run${k + 1}`;
    if (used.has(label)) label = `run${k + 1}`;
    used.add(label);
    return { ...i, label };
  });
}

/** Per subsystem and image: the worst verdict and the count of each (VERDICTS order). */
function summaries(cases: readonly CaseResult[], rates: readonly CaseRate[]): RunResult['subsystems'] {
  const by = new Map<string, { subsystem: string; image: string; verdicts: Verdict[] }>();
  for (const c of cases) {
    const image = c.image ?? '';
    const key = `${c.subsystem}\u0000${image}`;
    const e = by.get(key) ?? { subsystem: c.subsystem, image, verdicts: [] };
    e.verdicts.push(c.verdict);
    by.set(key, e);
  }
  return [...by.values()]
    .sort((a, b) => cmp(a.subsystem, b.subsystem) || cmp(a.image, b.image))
    .map((e) => {
      const counts: Record<string, number> = {};
      for (const v of VERDICTS) {
        const n = e.verdicts.filter((x) => x === v).length;
        if (n > 0) counts[v] = n;
      }
      return { subsystem: e.subsystem, image: e.image, verdict: worstVerdict(e.verdicts), counts, flaky: flakyIn(rates, e.subsystem, e.image) };
    });
}

/** Trusted only if every shard that ran controls trusted them; names the shards that did not. */
function controls(ins: readonly Input[]): RunResult['controls'] {
  const ran = ins.filter((i) => i.run.controls.ran);
  if (ran.length === 0) {
    return { ran: false, trusted: false, detail: `canary controls did not run in any of the ${ins.length} merged run(s): verdicts are not calibrated` };
  }
  const bad = ran.filter((i) => !i.run.controls.trusted);
  if (bad.length > 0) {
    return { ran: true, trusted: false, detail: bad.map((i) => `${i.label} (${i.name}): ${i.run.controls.detail}`).join('; ') };
  }
  return { ran: true, trusted: true, detail: ran.map((i) => `${i.label}: ${i.run.controls.detail}`).join('; ') };
}

function host(ins: readonly Input[]): RunResult['host'] {
  // shards on one machine (a local test) must not count it twice
  const byName = new Map<string, RunResult['host']>();
  for (const i of ins) {
    const h = i.run.host;
    const o = byName.get(h.hostname);
    byName.set(h.hostname, o ? { hostname: h.hostname, cpus: Math.max(o.cpus, h.cpus), memGiB: Math.max(o.memGiB, h.memGiB) } : h);
  }
  const hs = [...byName.values()].sort((a, b) => cmp(a.hostname, b.hostname));
  return {
    hostname: hs.map((h) => h.hostname).join(','),
    cpus: hs.reduce((n, h) => n + h.cpus, 0),
    memGiB: Math.round(hs.reduce((n, h) => n + h.memGiB, 0) * 10) / 10,
  };
}

function consolesOf(ins: readonly Input[]): MergedConsole[] {
  return ins.flatMap((i) =>
    i.run.consoles.map((c) => {
      const vm = `${i.label}-${c.vm}`;
      return { vm, image: c.image, file: `consoles/${slug(vm)}.log`, from: { run: i.at, file: c.file } };
    }),
  );
}

/** The consoles the merged run lists, with where each comes from (for copying them). */
export function mergedConsoles(runs: readonly RunResult[], opts: MergeOptions = {}): MergedConsole[] {
  return consolesOf(inputs(runs, opts));
}

/** Run id of a merge: earliest start, then a hash of the merged runs' ids (order-independent). */
export function mergedRunId(runs: readonly Pick<RunResult, 'runId' | 'startedAt'>[]): string {
  const ids = runs.map((r) => r.runId).sort(cmp);
  const start = [...runs].sort((a, b) => time(a.startedAt) - time(b.startedAt) || cmp(a.startedAt, b.startedAt))[0]?.startedAt ?? '';
  const hash = createHash('sha256').update(ids.join('\n')).digest('hex').slice(0, 10);
  return `${start.replace(/[:.]/g, '-')}-merged-${hash}`;
}

/**
 * Merges shard runs into one. Cases are ordered by image, subsystem, id, iteration, and each carries
 * its image explicitly. Refuses runs of different schema versions, the same run twice, and a case
 * (image, id, iteration) present in two runs — one-line ConfigError naming both.
 */
export function mergeRuns(runs: readonly RunResult[], opts: MergeOptions = {}): RunResult {
  const ins = inputs(runs, opts);
  const seen = new Map<string, { name: string; at: number }>();
  const cases: CaseResult[] = [];
  for (const i of ins) {
    i.run.cases.forEach((c, j) => {
      const image = caseImage(i.run, c);
      const key = `${image}\u0000${c.id}\u0000${c.iteration}`;
      const other = seen.get(key);
      const what = `${c.id} on ${image}, iteration ${c.iteration}`;
      if (other?.name === i.name) throw new ConfigError(i.name, `cases[${j}]`, `${what}, is also cases[${other.at}] of this run`);
      if (other !== undefined) {
        throw new ConfigError(
          i.name,
          `cases[${j}]`,
          `${what}, is also in ${other.name}: the runs overlap (the same shard twice, or shards of different --shard N?)`,
        );
      }
      seen.set(key, { name: i.name, at: j });
      cases.push({ ...c, image });
    });
  }
  cases.sort((a, b) => cmp(a.image!, b.image!) || cmp(a.subsystem, b.subsystem) || cmp(a.id, b.id) || a.iteration - b.iteration);

  const complete = ins.every((i) => i.run.complete);
  const unfinished = ins.filter((i) => !i.run.complete);
  const finishes = ins.map((i) => i.run.finishedAt);
  const images = [...new Set(ins.flatMap((i) => runImages(i.run)))].sort(cmp);
  const suites = [...new Set(ins.flatMap((i) => i.run.suites))].sort(cmp);
  const rates = caseRates(cases, (c) => c.image ?? '');
  const merged: RunResult = {
    schemaVersion: ins[0]!.run.schemaVersion,
    tool: { name: 'hotunplug-ci', version: [...new Set(ins.map((i) => i.run.tool.version))].sort(cmp).join('+') },
    runId: mergedRunId(ins.map((i) => i.run)),
    startedAt: [...ins].sort((a, b) => time(a.run.startedAt) - time(b.run.startedAt) || cmp(a.run.startedAt, b.run.startedAt))[0]!.run.startedAt,
    finishedAt: complete && finishes.every((f): f is string => f !== null) ? [...finishes].sort((a, b) => time(b) - time(a) || cmp(b, a))[0]! : null,
    complete,
    ...(unfinished.length > 0
      ? { interruption: unfinished.map((i) => `${i.label} (${i.name}) did not finish${i.run.interruption ? `: ${i.run.interruption}` : ''}`).join('; ') }
      : {}),
    command: opts.command ?? ['hotunplug-ci', 'merge', ...ins.map((i) => i.name)],
    suites,
    images,
    host: host(ins),
    cases,
    subsystems: summaries(cases, rates),
    rates,
    controls: controls(ins),
    consoles: consolesOf(ins).map(({ vm, image, file }) => ({ vm, image, file })),
    // named as their consoles are (label-vm)
    boots: ins.flatMap((i) => i.run.boots.map((b) => ({ ...b, vm: `${i.label}-${b.vm}` }))),
  };
  return merged;
}

/**
 * Exit code of a finished run, as `run` decides it: untrusted controls → 3 (no verdict stands),
 * a verdict in failOn → 1 (control cases excepted: they are judged by run.controls, the buggy canary
 * is meant to crash) or a failed boot whose verdict is in failOn → 1, a VM the machinery could not
 * boot at all or a run that did not finish → 3, else 0.
 */
export function runExitCode(run: RunResult, failOn: readonly Verdict[], controlIds: ReadonlySet<string> = new Set()): ExitCode {
  if (run.controls.ran && !run.controls.trusted) return ExitCode.infra;
  if (run.cases.some((c) => !controlIds.has(c.id) && failOn.includes(c.verdict))) return ExitCode.failures;
  // a kernel that failed to boot is a finding even when a retry booted (crashed or hung, as a case)
  if (run.boots.some((b) => b.failure && failOn.includes(b.failure.verdict))) return ExitCode.failures;
  // a VM that never booted for the machinery's reasons: its cases were not measured
  if (run.boots.some((b) => b.gaveUp && b.failure?.kind === 'infra')) return ExitCode.infra;
  if (!run.complete) return ExitCode.infra;
  return ExitCode.ok;
}
