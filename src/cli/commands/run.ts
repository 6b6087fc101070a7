// `hotunplug-ci run`: load suites (before anything boots), plan cases, run them on guests grouped by
// the VM they need, write reports after every case, print a per-subsystem summary, and exit by
// --fail-on / --baseline. The guest side is injectable (RunDeps) so tests drive it with fakes.
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import process from 'node:process';
import { UsageError } from '../../errors.js';
import { detect, StreamDetector } from '../../detect/index.js';
import {
  findImage,
  type ImageArtifacts,
  knownImagesLine,
  parseDotConfig,
  readKernelConfig,
  resolveImage,
  resolveImageDef,
  resolveUserKernel,
  type SourceImageDef,
} from '../../image/index.js';
import { checkBaseline } from '../../report/compare.js';
import { runExitCode } from '../../report/merge.js';
import { parseFailOn } from '../../report/fail-on.js';
import { VERDICT_SEVERITY, VERDICTS, type RunResult } from '../../model/run.js';
import { rateText } from '../../model/rates.js';
import { readRunFile } from '../../report/run-file.js';
import { newReportMemo, writeRunReports } from '../../report/write.js';
import { reproCommand } from '../../scenario/case-result.js';
import { defaultSuitesDir, type LoadedSuite, loadSuites } from '../../scenario/load-suites.js';
import type { DetectorPort, SessionFactory } from '../../scenario/port.js';
import { DEFAULT_BOOT_ATTEMPTS, planCases } from '../../scenario/run-loop.js';
import { executeRun, type RunJob } from '../../scenario/run-job.js';
import { CONTROL_SUITE, calibrationCases, newRunId } from '../../scenario/run-plan.js';
import { parseShard } from '../../scenario/shard.js';
import { toolVersion } from '../../version.js';
import { progressReporter } from '../progress.js';
import { checkWritable } from '../out-dir.js';
import { kernelSrcDef } from '../kernel-src.js';
import { userKernelGaps } from '../user-kernel.js';

export interface RunCommandOptions {
  suite?: string;
  image?: string[];
  kernel?: string;
  modules?: string;
  kernelSrc?: string;
  recipe?: string;
  fragment?: string[];
  case?: string;
  iterations?: string;
  /** --stress (true) or --stress N */
  stress?: boolean | string;
  out?: string;
  json?: boolean;
  baseline?: string;
  failOn?: string;
  jobs?: string;
  shard?: string;
  /** commander's --no-controls sets this to false */
  controls?: boolean;
  /** commander's --no-snapshots sets this to false */
  snapshots?: boolean;
  bootAttempts?: string;
}

/** A kernel that is not a catalog image: someone's bzImage and modules, or a tree we build. */
export type CustomKernel = { kernel: string; modules: string } | { tree: SourceImageDef; flags: string[] };

export interface RunDeps {
  /** boots guests; `custom` is set for --kernel/--modules and --kernel-src */
  sessions(opts: { custom: CustomKernel | null; onProgress: (s: string) => void; snapshots: boolean }): SessionFactory & { dispose?(): Promise<void> };
  /** parsed .config of an image (null: unknown) */
  kernelConfig(image: string, custom: CustomKernel | null): Promise<ReadonlyMap<string, string> | null>;
  writeReports(root: string, run: RunResult, consoles: ReadonlyArray<{ vm: string; image: string; file: string }>, full: boolean): Promise<string>;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  suitesDir: string;
  version: string;
}

export const CUSTOM_IMAGE = 'custom';
const DEFAULT_STRESS_WORKERS = 2;
/** iterations of each case under --stress when --iterations is not given: a race needs several runs, and ~60 s a case fits a nightly job */
const STRESS_ITERATIONS = 5;

/** --stress N: every case that declares no stress of its own gets N workers per op. */
function withStress(suites: LoadedSuite[], workers: number): LoadedSuite[] {
  if (workers === 0) return suites;
  return suites.map((s) => ({ ...s, cases: s.cases.map((c) => (c.stress.workers > 0 ? c : { ...c, stress: { ...c.stress, workers } })) }));
}
const detector: DetectorPort = { live: () => new StreamDetector(), detect };

/**
 * How long the removal's task must sit in one kernel wait before the removal counts as blocked
 * (engine.ts waitRemoval); longer than any removal of the catalog that completed by itself.
 */
const BLOCKED_EVIDENCE_MS = 1000;

function blockedEvidence(env: string | undefined): { blockedEvidenceMs?: number } {
  if (env === 'off') return {};
  if (env === undefined || env === '') return { blockedEvidenceMs: BLOCKED_EVIDENCE_MS };
  const ms = Number(env);
  if (!Number.isFinite(ms) || ms <= 0) throw new UsageError(`HUCI_BLOCKED_EVIDENCE_MS: "${env}" is neither a number of ms above 0 nor "off"`);
  return { blockedEvidenceMs: ms };
}

function settleWay(env: string | undefined): { settle?: 'quiet' } {
  if (env === undefined || env === '' || env === 'flush') return {};
  if (env === 'quiet') return { settle: 'quiet' };
  throw new UsageError(`HUCI_SETTLE: "${env}" is neither "flush" nor "quiet"`);
}

export function defaultRunDeps(): RunDeps {
  const images = new Map<string, Promise<ImageArtifacts>>();
  // Whoever asks first (the kernel-option check, before any boot) starts the build: its progress
  // goes to the run's reporter, whichever caller that is.
  let report: ((s: string) => void) | null = null;
  const imageOf = (name: string, custom: CustomKernel | null): Promise<ImageArtifacts> => {
    let p = images.get(name);
    if (!p) {
      const onProgress = (s: string): void => report?.(`${name}: ${s}`);
      p = !custom
        ? resolveImage(name, { build: true, onProgress })
        : 'tree' in custom
          ? resolveImageDef(custom.tree, { onProgress })
          : resolveUserKernel({ ...custom, onProgress });
      images.set(name, p);
    }
    return p;
  };
  // what this process last wrote to each report file (keys are absolute paths, so runs do not mix)
  const memo = newReportMemo();
  return {
    sessions: ({ custom, onProgress: progress, snapshots }) => {
      report = progress;
      let real: (SessionFactory & { dispose(): Promise<void> }) | null = null;
      // loaded on first boot: a run whose cases are all skipped starts no QEMU at all
      const load = async (): Promise<SessionFactory & { dispose(): Promise<void> }> => {
        if (!real) {
          const { RealSessions } = await import('../../scenario/session-port.js');
          real = new RealSessions({ image: (name) => imageOf(name, custom), onProgress: progress, snapshots });
        }
        return real;
      };
      return {
        boot: async (cfg, hooks) => (await load()).boot(cfg, hooks),
        dispose: async () => void (await real?.dispose()),
      };
    },
    kernelConfig: async (image, custom) => {
      if (custom && !('tree' in custom)) {
        const src = await readKernelConfig({ kernel: custom.kernel, modulesDir: custom.modules });
        return src ? parseDotConfig(src.text) : null;
      }
      const a = await imageOf(image, custom);
      return a.config ? parseDotConfig(await readFile(a.config, 'utf8')) : null;
    },
    writeReports: async (root, run, consoles, full) =>
      (
        await writeRunReports(
          root,
          run,
          consoles.map((c) => ({ vm: c.vm, image: c.image, file: c.file })),
          { render: full, memo },
        )
      ).dir,
    stdout: process.stdout,
    stderr: process.stderr,
    suitesDir: defaultSuitesDir(),
    version: toolVersion(),
  };
}

export function positiveInt(v: string | undefined, flag: string, dflt: number): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new UsageError(`${flag} ${v}: expected a positive integer`);
  return Number(v);
}

/** A run the options describe, checked and planned, ready for executeRun. */
export interface PreparedRun {
  job: RunJob;
  progress: ReturnType<typeof progressReporter>;
  /** the exit code --fail-on gives a finished run (controls are judged by run.controls, not --fail-on) */
  exitCode(run: RunResult): number;
  failOn: ReturnType<typeof parseFailOn>;
}

/** Checks everything the user gave (before any image is resolved or QEMU started) and plans the run. */
export async function prepareRun(opts: RunCommandOptions, deps: RunDeps, argv: readonly string[]): Promise<PreparedRun> {
  if (!opts.suite) throw new UsageError('--suite LIST is required (e.g. --suite gpio,i2c; see `hotunplug-ci list`)');
  if (Boolean(opts.kernel) !== Boolean(opts.modules)) throw new UsageError('--kernel and --modules go together');
  const kernelChoices = [opts.image?.length ? '--image' : '', opts.kernel ? '--kernel/--modules' : '', opts.kernelSrc ? '--kernel-src' : ''].filter(Boolean);
  if (kernelChoices.length > 1) throw new UsageError(`give one of --image, --kernel/--modules and --kernel-src, not ${kernelChoices.join(' and ')}`);
  if (!opts.kernelSrc && (opts.recipe || opts.fragment?.length)) throw new UsageError('--recipe and --fragment go with --kernel-src');
  // the bench's side-by-side figures of the older ways (not user options): the settle by console
  // quiet, and a blocked removal waited out to its bound (HUCI_BLOCKED_EVIDENCE_MS=off)
  const olderWays = { ...settleWay(process.env.HUCI_SETTLE), ...blockedEvidence(process.env.HUCI_BLOCKED_EVIDENCE_MS) };
  const stressWorkers =
    opts.stress === undefined || opts.stress === false ? 0 : opts.stress === true ? DEFAULT_STRESS_WORKERS : positiveInt(opts.stress, '--stress', 2);
  if (stressWorkers > 8) throw new UsageError(`--stress ${stressWorkers}: at most 8 workers per op`);
  // a race shows in some runs only: under stress a case runs several times unless told otherwise
  const iterations = positiveInt(opts.iterations, '--iterations', stressWorkers > 0 ? STRESS_ITERATIONS : 1);
  const jobs = positiveInt(opts.jobs, '--jobs', defaultJobs());
  const bootAttempts = positiveInt(opts.bootAttempts, '--boot-attempts', DEFAULT_BOOT_ATTEMPTS);
  const shard = parseShard(opts.shard);
  const failOn = parseFailOn(opts.failOn);
  const names = opts.suite
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const suites = withStress(loadSuites(names.includes('all') ? [] : names, deps.suitesDir), stressWorkers);
  const custom = customKernel(opts);
  if (custom && !('tree' in custom)) for (const line of await userKernelGaps(custom.kernel, custom.modules)) deps.stderr.write(`${line}\n`);
  const cliImages = custom ? [customName(custom)] : [...new Set(opts.image ?? [])];
  for (const img of cliImages) {
    if (!custom && !findImage(img)) throw new UsageError(`--image ${img}: no such image (known: ${knownImagesLine()})`);
  }
  const selected = planCases(suites, { images: cliImages, iterations, ...(opts.case ? { caseGlob: opts.case } : {}), ...(shard ? { shard } : {}) });
  if (selected.length === 0) {
    throw new UsageError(
      `no case to run${opts.case ? `: --case ${opts.case} matches none of ${suites.map((s) => s.name).join(', ')}` : ''}${shard ? ` in shard ${opts.shard}` : ''}`,
    );
  }
  // a tree built with the canary modules calibrates like the image whose recipe it follows
  const calibrated = custom && 'tree' in custom && custom.tree.extraModules.some((d) => d.endsWith('canary')) ? [customName(custom)] : [];
  const calibration = opts.controls === false || shard ? [] : calibrationCases(selected, deps.suitesDir, calibrated);
  const plan = [...calibration, ...selected];
  const suitesRun =
    calibration.length > 0 && !suites.some((s) => s.name === CONTROL_SUITE) ? [...loadSuites([CONTROL_SUITE], deps.suitesDir), ...suites] : suites;
  const root = opts.out ?? process.cwd();
  await checkWritable(root, opts.out !== undefined ? '--out' : 'the current directory');
  // a bad baseline must fail now, not after an hour of guests
  if (opts.baseline) await readRunFile(opts.baseline);
  const images = [...new Set(plan.map((p) => p.image))];
  const progress = progressReporter(deps.stderr as NodeJS.WriteStream);
  if (calibration.length > 0) {
    progress.update(`calibrating with ${calibration.map((p) => p.c.id).join(', ')} on ${[...new Set(calibration.map((p) => p.image))].join(', ')}`);
  }
  const job: RunJob = {
    suites: suitesRun,
    plan,
    // a tree being built (bisect) is a new image each step: a saved guest would never be restored
    sessions: deps.sessions({ custom, onProgress: (s) => progress.update(s), snapshots: opts.snapshots !== false && !(custom && 'tree' in custom) }),
    detector,
    kernelConfig: (image) => deps.kernelConfig(image, custom),
    writeReports: (r, consoles, full) => deps.writeReports(root, r, consoles, full),
    runId: newRunId(
      suites.map((s) => s.name),
      shard,
    ),
    command: ['hotunplug-ci', ...argv],
    images,
    jobs,
    bootAttempts,
    ...olderWays,
    version: deps.version,
    repro: (c, image) => reproCommand(c, image, custom ? customFlags(custom) : undefined),
    onCase: (r, done, total) => progress.update(`[${done}/${total}] ${r.id} (${r.image}): ${r.verdict} — ${r.reason}`),
    onNote: (t) => progress.update(t),
  };
  const controls = new Set(plan.filter((p) => p.c.control).map((p) => p.c.id));
  return { job, progress, failOn, exitCode: (run) => runExitCode(run, failOn, controls) };
}

export async function runCommand(opts: RunCommandOptions, deps: RunDeps = defaultRunDeps()): Promise<number> {
  const { job, progress, failOn, exitCode } = await prepareRun(opts, deps, ['run', ...process.argv.slice(3)]);
  const { run, dir } = await executeRun(job);
  progress.done(`${run.cases.length} case(s) run; reports in ${dir}`);
  if (opts.json) {
    deps.stdout.write(`${JSON.stringify(summaryJson(run, dir), null, 2)}\n`);
  } else {
    deps.stdout.write(summaryTable(run, dir));
  }
  if (run.controls.ran && !run.controls.trusted) {
    deps.stderr.write(`\n!!! ${run.controls.detail}\n!!! The canary controls did not come out as expected: no verdict of this run can be trusted.\n\n`);
  }
  if (opts.baseline) {
    const b = await checkBaseline(opts.baseline, run, { failOn });
    (opts.json ? deps.stderr : deps.stdout).write(b.text);
    return b.exitCode;
  }
  // controls are judged by run.controls, not --fail-on: the buggy canary is meant to crash
  return exitCode(run);
}

function customKernel(opts: RunCommandOptions): CustomKernel | null {
  if (opts.kernel && opts.modules) return { kernel: opts.kernel, modules: opts.modules };
  if (!opts.kernelSrc) return null;
  const tree = kernelSrcDef({
    kernelSrc: opts.kernelSrc,
    ...(opts.recipe ? { recipe: opts.recipe } : {}),
    ...(opts.fragment ? { fragment: opts.fragment } : {}),
  });
  const flags = ['--kernel-src', opts.kernelSrc, ...(opts.recipe ? ['--recipe', opts.recipe] : []), ...(opts.fragment ?? []).flatMap((f) => ['--fragment', f])];
  return { tree, flags };
}

function customName(custom: CustomKernel): string {
  return 'tree' in custom ? custom.tree.name : CUSTOM_IMAGE;
}

/** The command-line flags that name a custom kernel again (repro lines). */
function customFlags(custom: CustomKernel): string[] {
  return 'tree' in custom ? custom.flags : ['--kernel', custom.kernel, '--modules', custom.modules];
}

/**
 * VMs at once when --jobs is not given: one TCG vCPU keeps one host core busy, and a guest takes
 * ~1.5 GiB with QEMU's own overhead; leave a core's worth of memory for the rest.
 */
export function defaultJobs(cpus = os.cpus().length, memGiB = os.totalmem() / 2 ** 30): number {
  return Math.max(1, Math.min(cpus, Math.floor((memGiB - 1) / 1.5)));
}

export function summaryJson(run: RunResult, dir: string): unknown {
  return {
    runId: run.runId,
    dir,
    complete: run.complete,
    controls: run.controls,
    boots: run.boots.map((b) => ({
      vm: b.vm,
      image: b.image,
      attempt: b.attempt,
      ok: b.ok,
      ms: b.ms,
      ...(b.failure ? { failure: { kind: b.failure.kind, verdict: b.failure.verdict, title: b.failure.title } } : {}),
      gaveUp: b.gaveUp,
    })),
    subsystems: run.subsystems,
    cases: run.cases.map((c) => ({ id: c.id, image: c.image, iteration: c.iteration, verdict: c.verdict, reason: c.reason })),
  };
}

/** One row per subsystem and image: worst verdict and the count of each verdict. */
export function summaryTable(run: RunResult, dir: string): string {
  const head = ['subsystem', 'image', 'verdict', ...VERDICTS];
  const rows = run.subsystems.map((s) => [s.subsystem, s.image, s.verdict.toUpperCase(), ...VERDICTS.map((v) => String(s.counts[v] ?? 0))]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]): string =>
    r
      .map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  const lines = [fmt(head), fmt(widths.map((w) => '-'.repeat(w))), ...rows.map(fmt)];
  const flaky = run.rates.filter((r) => r.flaky);
  if (flaky.length > 0) {
    lines.push('', `flaky (verdict varied across iterations): ${flaky.length}`);
    for (const r of flaky) {
      const titles = Object.entries(r.titles).map(([t, n]) => `${t} ${n}/${r.runs}`);
      lines.push(`  ${r.id} on ${r.image}: ${rateText(r, VERDICT_SEVERITY)}${titles.length ? ` — ${titles.join('; ')}` : ''}`);
    }
  }
  lines.push('', `controls: ${run.controls.ran ? (run.controls.trusted ? 'trusted' : 'NOT TRUSTED') : 'not run'} (${run.controls.detail})`);
  const failed = run.boots.filter((b) => b.failure);
  if (failed.length > 0) {
    lines.push(`boots: ${run.boots.length}, ${failed.length} failed:`);
    for (const b of failed)
      lines.push(`  ${b.vm} (attempt ${b.attempt} of ${b.attempts}${b.gaveUp ? ', gave up' : ''}): ${b.failure!.verdict.toUpperCase()} ${b.failure!.title}`);
  }
  lines.push(`reports: ${dir}`);
  return `${lines.join('\n')}\n`;
}
