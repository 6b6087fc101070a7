// The image layer's one lock and its one stale-temp rule. Builders (image assembly, the kernel
// build, source unpacks) write into `<final>.tmp-<pid>[-<rand>]` and rename when done; a lock file
// holds the builder's pid. A lock or a temp whose process is gone is left-over, and taken over or
// removed: a pid counts as alive only while it is a node process (a recycled pid of something else
// does not hold a lock). Our own pid holds it too: two builders in one run wait for each other.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { open, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { TimeoutError } from '../errors.js';

const TEMP_RE = /\.tmp-(\d+)(?:-[0-9a-f]+)?$/;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Alive and one of our builders (a node process); without /proc the pid is trusted. */
function builderAlive(pid: number): boolean {
  if (!pid || !pidAlive(pid)) return false;
  try {
    return /node/.test(readFileSync(`/proc/${pid}/cmdline`, 'latin1'));
  } catch {
    return true;
  }
}

/** A temp name beside `final` that says whose it is. */
export function tempFor(final: string): string {
  return `${final}.tmp-${process.pid}-${createHash('sha1').update(String(Math.random())).digest('hex').slice(0, 8)}`;
}

/** Removes the temps in `dir` whose builder is gone, and locks (`*.lock`) it names; returns what went. */
export async function removeDeadTemps(dir: string, lockSuffix = '.lock'): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const removed: string[] = [];
  for (const entry of await readdir(dir)) {
    const path = join(dir, entry);
    const tmp = TEMP_RE.exec(entry);
    if (tmp && !builderAlive(Number(tmp[1]))) {
      await rm(path, { recursive: true, force: true });
      removed.push(path);
    } else if (entry.endsWith(lockSuffix) && !builderAlive(await lockHolder(path))) {
      await rm(path, { force: true });
      removed.push(path);
    }
  }
  return removed.sort();
}

async function lockHolder(lock: string): Promise<number> {
  return Number((await readFile(lock, 'utf8').catch(() => '')).trim());
}

export interface LockOptions {
  /** how long to wait for a live holder */
  waitMs: number;
  /** called once when a live holder makes us wait */
  onWait?: (holder: number) => void;
  /** true when what the lock guards was made by the holder we waited for: no need to take it */
  done?: () => boolean;
  /** the error's words for a holder that outlasts waitMs */
  busy: (holder: number) => string;
}

/**
 * Takes `lock` (O_EXCL, our pid inside), waiting for a live holder and taking over a dead one's.
 * Resolves with the release, or null when `done()` says the waited-for holder made the result.
 */
export async function acquireLock(lock: string, opts: LockOptions): Promise<(() => Promise<void>) | null> {
  const deadline = Date.now() + opts.waitMs;
  let told = false;
  for (;;) {
    try {
      const fh = await open(lock, 'wx');
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return () => rm(lock, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = await lockHolder(lock);
    if (!builderAlive(holder)) {
      await rm(lock, { force: true });
      continue;
    }
    if (!told) opts.onWait?.(holder);
    told = true;
    if (Date.now() >= deadline) throw new TimeoutError(opts.busy(holder), opts.waitMs / 1000);
    await new Promise((r) => setTimeout(r, Math.min(500, Math.max(0, deadline - Date.now()))));
    if (!existsSync(lock) && opts.done?.()) return null;
  }
}
