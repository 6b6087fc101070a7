// A value worked out from a file (a binary's --version, dpkg's database), kept in the cache under
// the file's identity: the next start reads it instead of running a process. A changed file (new
// inode, size or mtime) or a different question is asked again.
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from './files.js';
import { cacheRoot } from './paths.js';

/** `compute()`'s answer, kept in <cache>/<name>.json while `file` stays the same file; a throw is not kept. */
export async function keptWhileSame<T>(name: string, file: string, question: string, compute: () => Promise<T>): Promise<T> {
  let key: string;
  try {
    const st = statSync(file);
    key = `${file}:${st.ino}:${st.size}:${st.mtimeMs}:${question}`;
  } catch {
    return compute();
  }
  const memo = join(cacheRoot(), `${name}.json`);
  try {
    const kept = JSON.parse(readFileSync(memo, 'utf8')) as { key?: unknown; value?: T };
    if (kept.key === key && kept.value !== undefined) return kept.value;
  } catch {
    // none kept yet, or unreadable: work it out
  }
  const value = await compute();
  try {
    mkdirSync(cacheRoot(), { recursive: true });
    writeFileAtomicSync(memo, `${JSON.stringify({ key, value })}\n`);
  } catch {
    // a cache we cannot write costs the same work next time, nothing else
  }
  return value;
}
