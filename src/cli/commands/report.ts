// `hotunplug-ci report RUN_DIR`: re-renders index.html, junit.xml, kcidb.json, results.ktap and cases/ from run.json.
import path from 'node:path';
import { parseFailOn } from '../../report/fail-on.js';
import { readRunFile } from '../../report/run-file.js';
import { renderRunDir } from '../../report/write.js';

export interface ReportOptions {
  origin?: string;
  failOn?: string;
  stdout?: NodeJS.WritableStream;
}

export async function report(runDir: string, opts: ReportOptions = {}): Promise<number> {
  const failOn = parseFailOn(opts.failOn);
  const { file, run } = await readRunFile(runDir);
  const dir = path.dirname(file);
  const written = await renderRunDir(dir, run, { failOn, ...(opts.origin !== undefined ? { origin: opts.origin } : {}) });
  const cases = new Set(written.filter((f) => f.startsWith(`cases${path.sep}`)).map((f) => f.split(path.sep)[1])).size;
  (opts.stdout ?? process.stdout).write(
    `${path.join(dir, 'index.html')}\n  wrote index.html, junit.xml, kcidb.json, results.ktap and ${cases} case directories (${run.cases.length} case executions, run ${run.complete ? 'complete' : 'INCOMPLETE'})\n`,
  );
  return 0;
}
