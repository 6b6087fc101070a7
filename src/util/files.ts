// Small file-system questions shared across layers.
import fs from 'node:fs';
import { access, chmod, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { InfraError, errorMessage } from '../errors.js';

/** Whether `file` exists (anything access(2) can see). */
export async function pathExists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

/** statfs(2) magic numbers of file systems that show the kernel's state and cannot hold our files. */
const PSEUDO_FS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, 'procfs'],
  [0x62656572, 'sysfs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0x62656570, 'configfs'],
  [0xcafe4a11, 'bpf'],
  [0x1cd1, 'devpts'],
  [0x6165676c, 'pstore'],
  [0xde5e81e4, 'efivarfs'],
]);

/**
 * Creates `dir` and its missing parents one level at a time, so a path that cannot exist fails with
 * the first level's error (recursive mkdir on procfs loops on EEXIST forever); refuses a directory
 * on a kernel pseudo file system. Throws an Error whose message names the path and what is wrong.
 */
export function makeDirFor(dir: string): void {
  const missing: string[] = [];
  let p = path.resolve(dir);
  while (!fs.existsSync(p)) {
    missing.push(p);
    const up = path.dirname(p);
    if (up === p) break;
    p = up;
  }
  const st = fs.statSync(p);
  if (!st.isDirectory()) throw new Error(`${p} is not a directory`);
  const pseudo = PSEUDO_FS.get(Number(fs.statfsSync(p).type));
  if (pseudo) throw new Error(`${p} is on ${pseudo}, which holds the kernel's state, not files`);
  for (const m of missing.reverse()) fs.mkdirSync(m);
}

let tmpCounter = 0;
/** A temp name beside `file` no other write of this process uses (two writers of one file do not collide). */
export function tmpName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${++tmpCounter}`);
}

/** Replaces `file` atomically with `data` (temp + fsync + rename): readers never see half of it. */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const tmp = tmpName(file);
  try {
    const fh = await open(tmp, 'w', mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await chmod(tmp, mode);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw new InfraError(`cannot write ${file}: ${errorMessage(e)}`, [], { cause: e });
  }
}

/**
 * Creates `file` with `data` when no file has that name, synchronously; false (nothing written) when
 * one has. For a report's files that did not exist yet: no temp file and rename, which a final
 * render of hundreds of new files paid for each.
 */
export function writeNewFileSync(file: string, data: string, mode = 0o644): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx', mode);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new InfraError(`cannot write ${file}: ${errorMessage(e)}`, [], { cause: e });
  }
  try {
    fs.writeFileSync(fd, data);
    // the mode open(2) gave is masked by the umask
    fs.fchmodSync(fd, mode);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
    throw new InfraError(`cannot write ${file}: ${errorMessage(e)}`, [], { cause: e });
  }
  fs.closeSync(fd);
  return true;
}

/**
 * Replaces `file` atomically with `data` (its parts written in order, not joined first), synchronously
 * and without fsync: for reports, which must survive the harness dying (the rename does that), not
 * the machine. Sync because each async fs call is a trip through libuv's thread pool and two
 * wake-ups, dear on a PVM host, and a report is hundreds of small files.
 */
export function writeFileAtomicSync(file: string, data: string | Uint8Array | readonly Uint8Array[], mode = 0o644): void {
  const tmp = tmpName(file);
  try {
    const fd = fs.openSync(tmp, 'w', mode);
    try {
      if (typeof data === 'string' || data instanceof Uint8Array) fs.writeFileSync(fd, data);
      else if (data.length > 0) fs.writevSync(fd, data as Uint8Array[]);
      // the mode open(2) gave is masked by the umask
      fs.fchmodSync(fd, mode);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new InfraError(`cannot write ${file}: ${errorMessage(e)}`, [], { cause: e });
  }
}
