// `hotunplug-ci compare BASE NEW`: regressions between two runs (run.json files or run directories).
// Exit 0 nothing failing, 1 regressions per --fail-on, 2 bad input, 3 the new run cannot be trusted.
import { compareRuns, formatComparison } from '../../report/compare.js';
import { parseFailOn } from '../../report/fail-on.js';
import { readRunFile } from '../../report/run-file.js';

export interface CompareOptions {
  failOn?: string;
  json?: boolean;
  stdout?: NodeJS.WritableStream;
}

export async function compare(base: string, next: string, opts: CompareOptions = {}): Promise<number> {
  const failOn = parseFailOn(opts.failOn);
  const b = await readRunFile(base);
  const n = await readRunFile(next);
  const cmp = compareRuns(b.run, n.run, { failOn });
  const out = opts.stdout ?? process.stdout;
  out.write(opts.json ? `${JSON.stringify({ ...cmp, files: { base: b.file, new: n.file } }, null, 2)}\n` : formatComparison(cmp));
  return cmp.exitCode;
}
