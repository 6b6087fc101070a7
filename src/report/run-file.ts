// Reading run.json: a path to the file or to the run directory holding it; bad input becomes one
// ConfigError naming the file and the zod path.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import { ConfigError, errorMessage } from '../errors.js';
import { RunResultSchema, type RunResult } from '../model/run.js';
import { fastAccept } from '../util/fast-accept.js';

export const RUN_FILE = 'run.json';

/** `dir` → `dir/run.json`; a file path is returned as is. Missing → ConfigError. */
export async function resolveRunFile(p: string): Promise<string> {
  let st;
  try {
    st = await stat(p);
  } catch {
    throw new ConfigError(p, '', 'no such file or directory');
  }
  if (!st.isDirectory()) return p;
  const file = path.join(p, RUN_FILE);
  try {
    await stat(file);
  } catch {
    throw new ConfigError(file, '', `no ${RUN_FILE} in this directory`);
  }
  return file;
}

function zodPath(issue: z.core.$ZodIssue): string {
  return issue.path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`)).join('');
}

/** Validates parsed JSON as a RunResult; `file` names it in the error. */
export function parseRun(data: unknown, file: string): RunResult {
  // a run as this version writes it (every render of a run in progress): no zod walk of it all
  if (fastAccept(RunResultSchema)(data)) return data as RunResult;
  const r = RunResultSchema.safeParse(data);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  if (!issue) throw new ConfigError(file, '', 'not a valid run.json');
  const more = r.error.issues.length > 1 ? ` (and ${r.error.issues.length - 1} more problems)` : '';
  throw new ConfigError(file, zodPath(issue) || '(root)', `${issue.message}${more}`);
}

export async function readRunFile(p: string): Promise<{ file: string; run: RunResult }> {
  const file = await resolveRunFile(p);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, '', `cannot read: ${errorMessage(e)}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(file, '', `not JSON: ${errorMessage(e)}`);
  }
  return { file, run: parseRun(data, file) };
}
