// `hotunplug-ci bisect-step`: one step of `git bisect run`. Builds the tree at HEAD (incrementally, in
// its cached object dir), runs the case(s) --repeat times and exits in git bisect's language:
// 0 good, 1 bad (the finding seen), 125 skip (cannot judge this commit), 128 abort (usage errors;
// src/cli/main.ts maps thrown errors). Prints one line saying what it saw.
import { basename, join } from 'node:path';
import { BisectExit, InfraError, UsageError, errorMessage } from '../../errors.js';
import { FragmentUnmetError, type ImageArtifacts, resolveImageDef } from '../../image/index.js';
import { type BisectOutcome, judgeBisect } from '../../report/bisect.js';
import { parseFailOn } from '../../report/fail-on.js';
import { executeRun } from '../../scenario/run-job.js';
import { globToRegExp } from '../../util/glob.js';
import { cacheRoot } from '../../util/paths.js';
import { kernelSrcDef } from '../kernel-src.js';
import { defaultRunDeps, positiveInt, prepareRun, type RunCommandOptions, type RunDeps } from './run.js';

export interface BisectStepOptions {
  kernelSrc?: string;
  case?: string;
  suite?: string;
  repeat?: string;
  title?: string;
  verdict?: string;
  recipe?: string;
  fragment?: string[];
  out?: string;
  jobs?: string;
  /** commander's --no-controls sets this to false */
  controls?: boolean;
}

const EXIT: Record<BisectOutcome, number> = { good: BisectExit.good, bad: BisectExit.bad, skip: BisectExit.skip };

export async function bisectStep(opts: BisectStepOptions, deps: RunDeps = defaultRunDeps()): Promise<number> {
  if (!opts.case) throw new UsageError('--case GLOB is required: the case(s) whose finding is bisected (e.g. --case "gpio/sim-*")');
  const repeat = positiveInt(opts.repeat, '--repeat', 1);
  if (opts.title !== undefined && opts.title.trim() === '') throw new UsageError("--title: empty; give (part of) the finding's title");
  const verdicts = parseFailOn(opts.verdict, '--verdict');
  const kernelSrc = opts.kernelSrc ?? '.';
  const runOpts: RunCommandOptions = {
    suite: opts.suite ?? 'all',
    case: opts.case,
    iterations: String(repeat),
    kernelSrc,
    out: opts.out ?? join(cacheRoot(), 'bisect'),
    ...(opts.recipe ? { recipe: opts.recipe } : {}),
    ...(opts.fragment?.length ? { fragment: opts.fragment } : {}),
    ...(opts.jobs ? { jobs: opts.jobs } : {}),
    ...(opts.controls === false ? { controls: false } : {}),
  };
  // every flag and suite is checked before the build: a usage error aborts the bisection at once
  const argv = ['bisect-step', ...process.argv.slice(3)];
  const prepared = await prepareRun(runOpts, deps, argv);
  const def = kernelSrcDef({ kernelSrc, ...(opts.recipe ? { recipe: opts.recipe } : {}), ...(opts.fragment ? { fragment: opts.fragment } : {}) });
  const say = (outcome: BisectOutcome, commit: string, detail: string, extra: string): number => {
    prepared.progress.done(`bisect-step ${commit}: ${outcome}`);
    deps.stdout.write(`bisect-step ${commit}: ${outcome.toUpperCase()} — ${detail} [${extra}]\n`);
    return EXIT[outcome];
  };

  // a commit that does not build, or whose Kconfig drops an option we need, cannot be judged: skip it
  const buildStarted = Date.now();
  let art: ImageArtifacts;
  try {
    art = await resolveImageDef(def, { onProgress: (s) => prepared.progress.update(`build: ${s}`) });
  } catch (e) {
    if (!(e instanceof InfraError || e instanceof FragmentUnmetError)) throw e;
    const what =
      e instanceof FragmentUnmetError
        ? `Kconfig dropped what the recipe needs: ${e.missing.map((m) => `${m.name}=${m.wanted} (${basename(m.file)}:${m.line})`).join(', ')}`
        : `the build failed: ${errorMessage(e).split('\n')[0]}`;
    return say('skip', await headOf(kernelSrc), what, `build ${secs(Date.now() - buildStarted)}`);
  }
  const commit = art.manifest.git ? `${art.manifest.git.commitHash.slice(0, 12)}${art.manifest.git.dirty ? '+dirty' : ''}` : await headOf(kernelSrc);
  const build = buildLine(art, buildStarted);

  const runStarted = Date.now();
  const { run, dir } = await executeRun(prepared.job);
  const glob = globToRegExp(opts.case);
  const j = judgeBisect(run, { ...(opts.title ? { title: opts.title } : {}), verdicts, isTarget: (c) => glob.test(c.id) });
  return say(j.outcome, commit, j.detail, `${build}; run ${secs(Date.now() - runStarted)}; ${art.kernelRelease}; reports ${dir}`);
}

function buildLine(art: ImageArtifacts, started: number): string {
  if (Date.parse(art.manifest.builtAt) < started) return 'build cached';
  const k = art.manifest.kernelBuild;
  const kernel = !k ? '' : k.cached ? ', kernel cached' : `, ${k.objects ?? '?'} object(s) compiled`;
  return `build ${secs(Date.now() - started)}${kernel}`;
}

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** HEAD's short hash for the step's line when the build did not get as far as reading it. */
async function headOf(tree: string): Promise<string> {
  const { execa } = await import('execa');
  const r = await execa('git', ['-C', tree, 'rev-parse', '--short=12', 'HEAD'], { reject: false });
  return r.exitCode === 0 ? r.stdout.trim() : tree;
}
