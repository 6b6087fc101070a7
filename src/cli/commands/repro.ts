// `hotunplug-ci repro RUN_DIR CASE`: run one case of an earlier run again, on the same image (or
// the same --kernel/--modules), and print the QEMU argv it used next to the original's.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import process from 'node:process';
import { UsageError } from '../../errors.js';
import { RunResultSchema } from '../../model/run.js';
import { RUN_FILE, readRunFile } from '../../report/run-file.js';
import { LATEST, REPORTS_DIR } from '../../report/write.js';
import { CUSTOM_IMAGE, runCommand, type RunCommandOptions } from './run.js';

export interface ReproOptions {
  image?: string;
  iteration?: string;
  out?: string;
}

export async function repro(runDir: string, caseId: string, opts: ReproOptions): Promise<number> {
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
  const code = await runCommand(runOpts);
  const latest = path.join(opts.out ?? process.cwd(), REPORTS_DIR, LATEST, RUN_FILE);
  const again = RunResultSchema.parse(JSON.parse(await readFile(latest, 'utf8')));
  const now = again.cases.find((c) => c.id === caseId);
  const argv = (a: readonly string[] | undefined): string => (a ? a.map((x) => (/^[\w./:=,@+-]+$/.test(x) ? x : `'${x}'`)).join(' ') : '(no VM)');
  process.stdout.write(`\nrepro of ${caseId} (${image}): ${original.verdict} then, ${now?.verdict ?? 'not run'} now\n`);
  process.stdout.write(`QEMU argv now:    qemu-system-x86_64 ${argv(now?.vm?.qemuArgv)}\n`);
  process.stdout.write(`QEMU argv then:   qemu-system-x86_64 ${argv(original.vm?.qemuArgv)}\n`);
  return code;
}
