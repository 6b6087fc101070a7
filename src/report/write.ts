// Writing a run's reports to disk: reports/<run-id>/{run.json,index.html,junit.xml,kcidb.json,results.ktap,
// consoles/,cases/<case>/} and the reports/latest symlink. Called again and again during a run, so
// a file that is there is replaced atomically (temp file + rename, no fsync: the harness may die,
// the machine is not ours to guard): a run that dies part-way leaves a complete, readable report of
// what was measured. Files are written synchronously (util/files.ts says why).
import fs from 'node:fs';
import { copyFile, mkdir, open, readFile, readlink, rename, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { InfraError, errorMessage } from '../errors.js';
import { tmpName, writeFileAtomicSync, writeNewFileSync } from '../util/files.js';
import { DEFAULT_FAIL_ON } from './fail-on.js';
import { renderHtml } from './html.js';
import { renderKtap } from './ktap.js';
import { renderJunit } from './junit.js';
import { renderKcidb, DEFAULT_KCIDB_ORIGIN } from './kcidb.js';
import { caseDirName, caseImage, slug } from './model.js';
import { RUN_FILE, parseRun } from './run-file.js';
import { runJsonParts, type CaseJsonMemo } from './run-json.js';
import { placeKernelFile, REPRO_DIR, reproducerOf } from './repro/render.js';
import type { CaseResult, RunResult, Verdict } from '../model/run.js';

export interface ConsoleInput {
  vm: string;
  image: string;
  /** the console text so far, or */
  text?: string;
  /** a console file to copy */
  file?: string;
}

export interface ReportOptions {
  /** KCIDB origin (default "hotunplug") */
  origin?: string;
  /** verdicts that fail (JUnit <failure>, KCIDB FAIL); default crashed,hung */
  failOn?: readonly Verdict[];
  /**
   * false: write run.json and the consoles only. A run persists as its cases come in, and
   * re-rendering every case dir, junit, kcidb and index.html each time grows as n²; the run loop
   * renders fully after the first case, every few minutes and at the end. Without render, run.json
   * is not re-validated and consoles are not copied (those already in the report stay listed).
   */
  render?: boolean;
  /** What earlier writes of the same run made; see ReportMemo. */
  memo?: ReportMemo;
}

/**
 * Kept across the many writes of one run's reports: what this process last wrote to each file (a
 * render that finds a file's new text equal to it skips the write without reading the file back),
 * and each case's run.json text.
 */
export interface ReportMemo {
  files: Map<string, string>;
  caseJson: CaseJsonMemo;
  /** The run dir `latest` was last pointed at by this process. */
  latest?: string;
}

export function newReportMemo(): ReportMemo {
  return { files: new Map(), caseJson: new WeakMap() };
}

export const REPORTS_DIR = 'reports';
const LATEST = 'latest';

/** Copies `from` over `to` atomically; false when `from` does not exist (yet: a VM that has not started). */
async function copyFileAtomic(from: string, to: string): Promise<boolean> {
  const tmp = tmpName(to);
  try {
    await copyFile(from, tmp);
    await rename(tmp, to);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && (e as NodeJS.ErrnoException).path === from) return false;
    await rm(tmp, { force: true }).catch(() => undefined);
    throw new InfraError(`cannot copy ${from} to ${to}: ${errorMessage(e)}`, [], { cause: e });
  }
}

/** True when `file` holds `data`; false too when there is no such file (no exception thrown for it). */
function sameContent(file: string, data: string): boolean {
  const st = fs.statSync(file, { throwIfNoEntry: false });
  if (st === undefined || st.size !== Buffer.byteLength(data)) return false;
  try {
    return fs.readFileSync(file, 'utf8') === data;
  } catch {
    return false;
  }
}

function timelineText(c: CaseResult): string {
  return `${c.timeline.map((e) => `+${e.relMs.toFixed(1).padStart(9)} ms  ${e.kind.padEnd(7)} ${e.label}${e.detail ? ` — ${e.detail}` : ''}`).join('\n')}\n`;
}

function reproScript(run: RunResult, c: CaseResult): string {
  const oneLine = (t: string): string => t.replace(/[\r\n]+/g, ' ');
  return `#!/bin/sh\n# ${oneLine(`${c.id} on ${caseImage(run, c)}, iteration ${c.iteration}: ${c.verdict} (run ${run.runId})`)}\nset -e\n${c.repro}\n`;
}

function findingsText(c: CaseResult): string {
  return c.findings.map((f) => `${f.title}\n${'='.repeat(Math.min(80, f.title.length))}\n${f.report}\n`).join('\n');
}

/** Renders index.html, junit.xml, kcidb.json, results.ktap and cases/ into `dir` from `run` (run.json not touched). */
export async function renderRunDir(dir: string, run: RunResult, opts: ReportOptions = {}): Promise<string[]> {
  const failOn = opts.failOn ?? DEFAULT_FAIL_ON;
  const written: string[] = [];
  /** case and reproducer dirs this render made: nothing in them to compare with */
  const made = new Set<string>();
  const put = (rel: string, data: string, mode?: number): void => {
    const file = path.join(dir, rel);
    // Called again and again during a run: files of earlier cases are unchanged, and skipping them
    // saves a write each (and, with opts.memo, reading them back).
    const known = opts.memo?.files.get(file);
    if (known === undefined) {
      // not written by this process: a new file (most of a final render), or one an earlier render left
      const fresh = made.has(path.dirname(file)) || !sameContent(file, data);
      if (fresh && !writeNewFileSync(file, data, mode)) writeFileAtomicSync(file, data, mode);
    } else if (known !== data) writeFileAtomicSync(file, data, mode);
    opts.memo?.files.set(file, data);
    written.push(rel);
  };
  const putBytes = (rel: string, data: Buffer): void => {
    const file = path.join(dir, rel);
    const key = `bytes:${data.toString('base64')}`;
    if (opts.memo?.files.get(file) !== key) writeFileAtomicSync(file, data);
    opts.memo?.files.set(file, key);
    written.push(rel);
  };
  const kcidb = renderKcidb(run, { origin: opts.origin ?? DEFAULT_KCIDB_ORIGIN, failOn });
  for (const c of run.cases) {
    const rel = path.join('cases', caseDirName(run, c));
    // mkdir says whether it made any dir; if it did, it made the deepest, the case's
    if (fs.mkdirSync(path.join(dir, rel), { recursive: true }) !== undefined) made.add(path.join(dir, rel));
    put(path.join(rel, 'case.json'), `${JSON.stringify(c, null, 2)}\n`);
    put(path.join(rel, 'timeline.txt'), timelineText(c));
    put(path.join(rel, 'console.txt'), c.consoleExcerpt.endsWith('\n') || c.consoleExcerpt === '' ? c.consoleExcerpt : `${c.consoleExcerpt}\n`);
    put(path.join(rel, 'repro.sh'), reproScript(run, c), 0o755);
    if (c.findings.length) put(path.join(rel, 'findings.txt'), findingsText(c));
    const repro = await reproducerOf(run, c, rel, caseImage(run, c));
    if (repro) {
      if (fs.mkdirSync(path.join(dir, rel, REPRO_DIR), { recursive: true }) !== undefined) made.add(path.join(dir, rel, REPRO_DIR));
      for (const f of repro.files) {
        if (typeof f.data === 'string') put(f.rel, f.data, f.mode);
        else putBytes(f.rel, f.data);
      }
      for (const k of repro.kernel) await placeKernelFile(dir, k);
    }
  }
  put('junit.xml', renderJunit(run, { failOn }));
  put('kcidb.json', `${JSON.stringify(kcidb, null, 2)}\n`);
  put('results.ktap', renderKtap(run, { failOn }));
  // index.html last: once it is there, everything it links to is too.
  put('index.html', renderHtml(run, { linkCaseFiles: true }));
  return written;
}

/** run.json as we write it names its start in its first lines: this much is read before the whole file. */
const HEAD_BYTES = 4096;
const STARTED_AT = /^ {2}"startedAt": ("[^"\\]*"),?$/m;

async function startedAtOf(dir: string): Promise<string | null> {
  const file = path.join(dir, RUN_FILE);
  try {
    // a long run's run.json is megabytes; reading and parsing it all for one field cost more than the rest of a small run's first save
    const fh = await open(file, 'r');
    let head: string;
    try {
      const buf = Buffer.alloc(HEAD_BYTES);
      head = buf.toString('utf8', 0, (await fh.read(buf, 0, HEAD_BYTES, 0)).bytesRead);
    } finally {
      await fh.close();
    }
    const m = STARTED_AT.exec(head);
    if (m) return JSON.parse(m[1]!) as string;
    const data = JSON.parse(await readFile(file, 'utf8')) as { startedAt?: unknown };
    return typeof data.startedAt === 'string' ? data.startedAt : null;
  } catch {
    return null;
  }
}

function newer(a: string, b: string): boolean {
  const ta = Date.parse(a);
  const tb = Date.parse(b);
  return Number.isNaN(ta) || Number.isNaN(tb) ? a > b : ta > tb;
}

/** Points reports/latest at `name` unless it already points at a run that started later. */
export async function updateLatest(reportsDir: string, name: string, startedAt: string): Promise<boolean> {
  const link = path.join(reportsDir, LATEST);
  let current: string | null = null;
  try {
    current = await readlink(link);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EINVAL') throw new InfraError(`${link} exists and is not a symlink; move it away`);
    if (code !== 'ENOENT') throw new InfraError(`cannot read ${link}: ${errorMessage(e)}`);
  }
  if (current === name) return true;
  if (current !== null) {
    const other = await startedAtOf(path.resolve(reportsDir, current));
    if (other !== null && newer(other, startedAt)) return false;
  }
  const tmp = tmpName(link);
  try {
    await symlink(name, tmp);
    await rename(tmp, link);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw new InfraError(`cannot update ${link}: ${errorMessage(e)}`, [], { cause: e });
  }
  return true;
}

export interface WrittenReports {
  dir: string;
  files: string[];
  run: RunResult;
  latest: boolean;
}

/**
 * Writes everything for `run` into `<root>/reports/<run-id>/` and moves `<root>/reports/latest` to it.
 * `consoles` are stored as consoles/<vm>.log and listed in run.json's `consoles`.
 * Safe to call repeatedly while the run goes on (set run.complete=false until the end).
 */
export async function writeRunReports(root: string, run: RunResult, consoles: readonly ConsoleInput[] = [], opts: ReportOptions = {}): Promise<WrittenReports> {
  const render = opts.render !== false;
  let valid: RunResult = run;
  // Validated on every render, not on each per-case save: the parse grows with the run.
  if (render) {
    try {
      valid = parseRun(run, `${RUN_FILE} of run ${run.runId}`);
    } catch (e) {
      // the engine built an invalid run: our bug, not the user's input
      throw new InfraError(`internal: refusing to write an invalid ${errorMessage(e)}`, [], { cause: e });
    }
  }
  const name = slug(valid.runId);
  const reportsDir = path.join(root, REPORTS_DIR);
  const dir = path.join(reportsDir, name);
  if (!render && opts.memo?.latest === dir) return saveRunJson(dir, valid, consoles, opts.memo);
  try {
    await mkdir(path.join(dir, 'consoles'), { recursive: true });
  } catch (e) {
    throw new InfraError(`cannot create ${dir}: ${errorMessage(e)}`, [], { cause: e });
  }
  const files: string[] = [];
  if (render) {
    const listed = new Map(valid.consoles.map((c) => [c.vm, c] as const));
    for (const con of consoles) {
      const rel = consoleRel(con.vm);
      const target = path.join(dir, rel);
      if (con.text !== undefined) writeFileAtomicSync(target, con.text);
      else if (con.file === undefined || !(await copyFileAtomic(con.file, target))) continue;
      files.push(rel);
      listed.set(con.vm, { vm: con.vm, image: con.image, file: rel });
    }
    valid = { ...valid, consoles: [...listed.values()] };
  } else valid = withCopiedConsoles(dir, valid, consoles);
  writeFileAtomicSync(path.join(dir, RUN_FILE), runJsonParts(valid, opts.memo?.caseJson));
  files.push(RUN_FILE);
  if (render) files.push(...(await renderRunDir(dir, valid, opts)));
  const latest = await updateLatest(reportsDir, name, valid.startedAt);
  if (opts.memo) opts.memo.latest = latest ? dir : undefined;
  return { dir, files, run: valid, latest };
}

/**
 * run.json alone into a report dir an earlier write of this process made and pointed `latest` at:
 * synchronous (see writeFileAtomicSync). Consoles already copied stay listed; the rest come with
 * the next render.
 */
function saveRunJson(dir: string, run: RunResult, consoles: readonly ConsoleInput[], memo: ReportMemo): WrittenReports {
  const valid = withCopiedConsoles(dir, run, consoles);
  writeFileAtomicSync(path.join(dir, RUN_FILE), runJsonParts(valid, memo.caseJson));
  return { dir, files: [RUN_FILE], run: valid, latest: true };
}

const consoleRel = (vm: string): string => path.join('consoles', `${slug(vm)}.log`);

/** `run` listing the consoles a render already copied into `dir`; the rest are copied at the next render. */
function withCopiedConsoles(dir: string, run: RunResult, consoles: readonly ConsoleInput[]): RunResult {
  const listed = new Map(run.consoles.map((c) => [c.vm, c] as const));
  for (const con of consoles) {
    const rel = consoleRel(con.vm);
    if (fs.existsSync(path.join(dir, rel))) listed.set(con.vm, { vm: con.vm, image: con.image, file: rel });
  }
  return { ...run, consoles: [...listed.values()] };
}
