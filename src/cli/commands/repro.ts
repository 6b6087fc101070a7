// `hotunplug-ci repro RUN_DIR CASE`: run one case of an earlier run again, on the same image (or
// the same --kernel/--modules), and print the QEMU argv it used next to the original's.
import { UsageError } from '../../errors.js';
import { findImage } from '../../image/index.js';
import { readRunFile } from '../../report/run-file.js';
import { executeRun } from '../../scenario/run-job.js';
import { CUSTOM_IMAGE, defaultRunDeps, prepareRun, type RunCommandOptions, type RunDeps } from './run.js';

export interface ReproOptions {
  image?: string;
  iteration?: string;
  out?: string;
}

export async function repro(runDir: string, caseId: string, opts: ReproOptions, deps: RunDeps = defaultRunDeps()): Promise<number> {
  const { file, run } = await readRunFile(runDir);
  const matches = run.cases.filter((c) => c.id === caseId && (!opts.image || c.image === opts.image));
  if (matches.length === 0) {
    const ids = [...new Set(run.cases.map((c) => c.id))];
    throw new UsageError(
      `${file}: no case ${caseId}${opts.image ? ` on --image ${opts.image}` : ''} (it has ${ids.length}: ${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', …' : ''})`,
    );
  }
  const images = [...new Set(matches.map((c) => c.image ?? c.vm?.image))];
  if (images.length > 1) throw new UsageError(`${caseId} ran on ${images.join(' and ')} in ${file}: choose one with --image`);
  const original = matches[0]!;
  const runOpts: RunCommandOptions = { suite: original.subsystem, case: caseId, controls: false };
  if (opts.out) runOpts.out = opts.out;
  const image = images[0];
  // a kernel that is not a catalog image: take its flags from the original command line
  const at = (flag: string): string | undefined => {
    const i = run.command.indexOf(flag);
    return i >= 0 ? run.command[i + 1] : undefined;
  };
  const all = (flag: string): string[] => run.command.flatMap((a, i) => (a === flag && run.command[i + 1] !== undefined ? [run.command[i + 1]!] : []));
  const argv = ['run', '--suite', runOpts.suite!, '--case', caseId, '--no-controls'];
  if (at('--kernel-src') && image && !findImage(image)) {
    runOpts.kernelSrc = at('--kernel-src')!;
    argv.push('--kernel-src', runOpts.kernelSrc);
    const recipe = at('--recipe');
    if (recipe) {
      runOpts.recipe = recipe;
      argv.push('--recipe', recipe);
    }
    runOpts.fragment = all('--fragment');
    for (const f of runOpts.fragment) argv.push('--fragment', f);
  } else if (image === CUSTOM_IMAGE) {
    const kernel = at('--kernel');
    const modules = at('--modules');
    if (!kernel || !modules) throw new UsageError(`${file}: case ${caseId} ran on a user kernel but the run's command has no --kernel/--modules`);
    runOpts.kernel = kernel;
    runOpts.modules = modules;
    argv.push('--kernel', kernel, '--modules', modules);
  } else if (image) {
    runOpts.image = [image];
    argv.push('--image', image);
  }
  // the run it makes records the run command that does the same
  if (opts.out) argv.push('--out', opts.out);
  const prepared = await prepareRun(runOpts, deps, argv);
  const { run: again, dir } = await executeRun(prepared.job);
  prepared.progress.done(`${again.cases.length} case(s) run; reports in ${dir}`);
  const now = again.cases.find((c) => c.id === caseId);
  const shown = (a: readonly string[] | undefined): string => (a ? a.map((x) => (/^[\w./:=,@+-]+$/.test(x) ? x : `'${x}'`)).join(' ') : '(no VM)');
  deps.stdout.write(`repro of ${caseId} (${image}): ${original.verdict} then, ${now?.verdict ?? 'not run'} now\n`);
  deps.stdout.write(`QEMU argv now:    qemu-system-x86_64 ${shown(now?.vm?.qemuArgv)}\n`);
  deps.stdout.write(`QEMU argv then:   qemu-system-x86_64 ${shown(original.vm?.qemuArgv)}\n`);
  deps.stdout.write(`reports: ${dir}\n`);
  return prepared.exitCode(again);
}
