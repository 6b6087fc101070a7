// `hotunplug-ci report RUN_DIR`: re-renders index.html, junit.xml, kcidb.json, results.ktap and cases/ from run.json;
// with --submit, posts kcidb.json to the KCIDB REST endpoint in KCIDB_REST.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseKcidbRest, submitKcidb, type SubmitOptions } from '../../report/kcidb-submit.js';
import { parseFailOn } from '../../report/fail-on.js';
import { readRunFile } from '../../report/run-file.js';
import { renderRunDir } from '../../report/write.js';

export interface ReportOptions {
  origin?: string;
  failOn?: string;
  submit?: boolean;
  stdout?: NodeJS.WritableStream;
  env?: NodeJS.ProcessEnv;
  /** tests: a fetch and a quick backoff */
  submitOptions?: SubmitOptions;
}

export async function report(runDir: string, opts: ReportOptions = {}): Promise<number> {
  const failOn = parseFailOn(opts.failOn);
  // a bad KCIDB_REST is said before anything is written
  const endpoint = opts.submit ? parseKcidbRest((opts.env ?? process.env).KCIDB_REST) : null;
  const { file, run } = await readRunFile(runDir);
  const dir = path.dirname(file);
  const written = await renderRunDir(dir, run, { failOn, ...(opts.origin !== undefined ? { origin: opts.origin } : {}) });
  const cases = new Set(written.filter((f) => f.startsWith(`cases${path.sep}`)).map((f) => f.split(path.sep)[1])).size;
  (opts.stdout ?? process.stdout).write(
    `${path.join(dir, 'index.html')}\n  wrote index.html, junit.xml, kcidb.json, results.ktap and ${cases} case directories (${run.cases.length} case executions, run ${run.complete ? 'complete' : 'INCOMPLETE'})\n`,
  );
  if (endpoint) {
    const out = opts.stdout ?? process.stdout;
    const doc = JSON.parse(await readFile(path.join(dir, 'kcidb.json'), 'utf8')) as unknown;
    const r = await submitKcidb(doc, endpoint, { onRetry: (l) => out.write(`  ${l}\n`), ...opts.submitOptions });
    out.write(`  submitted kcidb.json to ${endpoint.url}: HTTP ${r.status}${r.attempts > 1 ? ` after ${r.attempts} attempts` : ''}\n`);
  }
  return 0;
}
