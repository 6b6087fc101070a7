// The image layer's one lock, its one stale-temp rule and its one way to make a directory appear
// whole (buildAtomically). Builders (image assembly, the kernel build, source unpacks) write into
// `<final>.tmp-<pid>-<rand>` and rename when done; a lock file holds the builder's pid. A lock or a temp whose process is gone is left-over, and taken over or
// removed: a pid counts as alive only while it is a node process (a recycled pid of something else
// does not hold a lock). Our own pid holds it too: two builders in one run wait for each other.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
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

export interface AtomicDirOptions {
  /** The lock held while building; default `<final>.lock`. A builder that also shares a work dir (the kernel's object dir) locks that instead. */
  lock?: string;
  /** How long to wait for another live builder (default 30 min). */
  waitMs?: number;
  /** Called once when another live process holds the lock. */
  onWait?: (holderPid: number) => void;
  /** The error's words for a holder that outlasts waitMs. */
  busy?: (holderPid: number) => string;
  /** finalDir is usable: after waiting for another builder, nothing is built when it is (default: it exists). */
  done?: () => boolean;
}

/**
 * Runs `build(tmpDir)` and renames tmpDir to finalDir when it resolves. If it throws (or the process
 * dies), finalDir is untouched and tmpDir is removed (now, or by removeDeadTemps on the next start).
 * The lock makes concurrent builders wait instead of duplicating the work. Returns false if the
 * builder waited for made finalDir meanwhile.
 */
export async function buildAtomically(finalDir: string, build: (tmpDir: string) => Promise<void>, opts: AtomicDirOptions = {}): Promise<boolean> {
  const root = dirname(finalDir);
  await mkdir(root, { recursive: true });
  await removeDeadTemps(root);
  const waitMs = opts.waitMs ?? 30 * 60_000;
  const release = await acquireLock(opts.lock ?? `${finalDir}.lock`, {
    waitMs,
    ...(opts.onWait ? { onWait: opts.onWait } : {}),
    done: opts.done ?? (() => existsSync(finalDir)),
    busy: opts.busy ?? ((holder) => `another build (pid ${holder}) of ${finalDir} did not finish`),
  });
  if (!release) return false;
  const tmp = tempFor(finalDir);
  try {
    await mkdir(tmp);
    await build(tmp);
    await rm(finalDir, { recursive: true, force: true }); // a forced rebuild replaces the old one
    await rename(tmp, finalDir);
    return true;
  } finally {
    await rm(tmp, { recursive: true, force: true });
    await release();
  }
}
