// `hotunplug-ci repro RUN_DIR CASE`: run one case of an earlier run again, on the same image (or
// the same --kernel/--modules), and print the QEMU argv it used next to the original's.
import { UsageError } from '../../errors.js';
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
  if (image === CUSTOM_IMAGE) {
    // a user's kernel: take --kernel/--modules from the original command line
    const at = (flag: string): string | undefined => {
      const i = run.command.indexOf(flag);
      return i >= 0 ? run.command[i + 1] : undefined;
    };
    const kernel = at('--kernel');
    const modules = at('--modules');
    if (!kernel || !modules) throw new UsageError(`${file}: case ${caseId} ran on a user kernel but the run's command has no --kernel/--modules`);
    runOpts.kernel = kernel;
    runOpts.modules = modules;
  } else if (image) {
    runOpts.image = [image];
  }
  // the run it makes records the run command that does the same
  const argv = ['run', '--suite', runOpts.suite!, '--case', caseId, '--no-controls'];
  if (runOpts.kernel) argv.push('--kernel', runOpts.kernel, '--modules', runOpts.modules!);
  else if (image) argv.push('--image', image);
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
