// `hotunplug-ci merge DIR…`: merges the runs of CI shards (`run --shard I/N`) into one run with one
// report (html, junit, kcidb) and the shards' consoles, under <out>/reports/<merged-run-id>/.
// Exit 0 nothing failing, 1 failures per --fail-on (control cases excepted, as in `run`), 2 bad
// input, 3 a shard did not finish or its controls are not trusted.
import { readFile, realpath } from 'node:fs/promises';
import { pathExists } from '../../util/files.js';
import path from 'node:path';
import process from 'node:process';
import { ConfigError, errorMessage } from '../../errors.js';
import { parseFailOn } from '../../report/fail-on.js';
import { mergedConsoles, mergeRuns, runExitCode } from '../../report/merge.js';
import { parseRun, resolveRunFile } from '../../report/run-file.js';
import type { RunResult } from '../../model/run.js';
import { writeRunReports } from '../../report/write.js';
import { defaultSuitesDir, loadSuites } from '../../scenario/load-suites.js';
import { summaryJson, summaryTable } from './run.js';
import { checkWritable } from '../out-dir.js';

export interface MergeCommandOptions {
  out?: string;
  json?: boolean;
  failOn?: string;
  origin?: string;
  /** suites defining which cases are controls (default: this checkout's suites/) */
  suitesDir?: string;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

interface ShardFile {
  file: string;
  run: RunResult;
}

/** Reads each run.json; a schemaVersion that differs from the first file's is named before validation,
 * since a reader of one version cannot validate the other. The same run reached twice (a glob over
 * reports/* also matches reports/latest, which CI artifact uploads may turn into a copy) is merged once. */
async function readShards(dirs: readonly string[], note: (line: string) => void): Promise<ShardFile[]> {
  const out: ShardFile[] = [];
  const seen = new Map<string, string>();
  let first: { file: string; version: unknown } | null = null;
  for (const d of dirs) {
    const file = await resolveRunFile(d);
    const real = await realpath(file).catch(() => file);
    const again = seen.get(real);
    if (again !== undefined) {
      note(`${file} is ${again} again; merged once`);
      continue;
    }
    seen.set(real, file);
    let data: unknown;
    try {
      data = JSON.parse(await readFile(file, 'utf8'));
    } catch (e) {
      throw new ConfigError(file, '', e instanceof SyntaxError ? `not JSON: ${e.message}` : `cannot read: ${errorMessage(e)}`);
    }
    const version = (data as { schemaVersion?: unknown } | null)?.schemaVersion;
    if (first === null) first = { file, version };
    else if (version !== first.version) {
      throw new ConfigError(
        file,
        'schemaVersion',
        `${JSON.stringify(version)} differs from ${first.file} (${JSON.stringify(first.version)}): cannot merge runs of different run.json versions`,
      );
    }
    const run = parseRun(data, file);
    const copy = out.find((o) => o.run.runId === run.runId && JSON.stringify(o.run) === JSON.stringify(run));
    if (copy) {
      note(`${file} is a copy of ${copy.file} (run ${run.runId}); merged once`);
      continue;
    }
    out.push({ file, run });
  }
  return out;
}

export async function merge(dirs: readonly string[], opts: MergeCommandOptions = {}): Promise<number> {
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  const failOn = parseFailOn(opts.failOn);
  const shards = await readShards(dirs, (line) => stderr.write(`hotunplug-ci: merge: ${line}\n`));
  const files = shards.map((s) => s.file);
  const runs = shards.map((s) => s.run);
  const merged = mergeRuns(runs, { files });

  // consoles are copied from each shard's directory; one that is gone is reported, not fatal
  const consoles = [];
  const missing = new Set<string>();
  for (const c of mergedConsoles(runs, { files })) {
    const src = path.resolve(path.dirname(files[c.from.run]!), c.from.file);
    if (await pathExists(src)) consoles.push({ vm: c.vm, image: c.image, file: src });
    else {
      missing.add(c.vm);
      stderr.write(`hotunplug-ci: merge: ${src}: console of ${c.vm} not found, not copied\n`);
    }
  }
  const run: RunResult = { ...merged, consoles: merged.consoles.filter((c) => !missing.has(c.vm)) };

  const root = opts.out ?? process.cwd();
  // after the shards were read and merged: bad input must leave nothing behind
  await checkWritable(root, opts.out !== undefined ? '--out' : 'the current directory');
  const written = await writeRunReports(root, run, consoles, { failOn, ...(opts.origin !== undefined ? { origin: opts.origin } : {}) });
  if (opts.json) {
    const inputs = shards.map((s) => ({ file: s.file, runId: s.run.runId, cases: s.run.cases.length, complete: s.run.complete, controls: s.run.controls }));
    stdout.write(`${JSON.stringify({ ...(summaryJson(written.run, written.dir) as object), inputs }, null, 2)}\n`);
  } else {
    stdout.write(`merged ${runs.length} run(s), ${run.cases.length} case execution(s)${run.complete ? '' : ' — INCOMPLETE'}\n\n`);
    stdout.write(summaryTable(written.run, written.dir));
  }
  if (run.controls.ran && !run.controls.trusted) {
    stderr.write(`\n!!! ${run.controls.detail}\n!!! The canary controls did not come out as expected: no verdict of this run can be trusted.\n\n`);
  }
  if (!run.complete) stderr.write(`hotunplug-ci: merge: ${run.interruption ?? 'a shard did not finish'}\n`);
  return runExitCode(run, failOn, controlIds(opts.suitesDir ?? defaultSuitesDir(), run, stderr));
}

/** Ids of control (canary) cases, from this checkout's suites: run.json does not mark them, and `run`
 * does not count them toward --fail-on. Unreadable suites → none (stricter, with a note). */
function controlIds(dir: string, run: RunResult, stderr: NodeJS.WritableStream): Set<string> {
  const ran = new Set(run.cases.map((c) => c.id));
  try {
    return new Set(
      loadSuites([], dir)
        .flatMap((s) => s.cases)
        .filter((c) => c.control && ran.has(c.id))
        .map((c) => c.id),
    );
  } catch (e) {
    stderr.write(`hotunplug-ci: merge: cannot read the suites (${errorMessage(e)}); control cases count toward --fail-on\n`);
    return new Set();
  }
}
