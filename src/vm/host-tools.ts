// Finding the host binaries the VM layer runs; a missing one names the Debian package to install.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { MissingDependencyError } from '../errors.js';
import { keptWhileSame } from '../util/kept-while-same.js';

const execFileAsync = promisify(execFile);

export function findInPath(name: string, envPath = process.env.PATH ?? ''): string | null {
  if (name.includes('/')) return isExecutable(name) ? name : null;
  for (const dir of envPath.split(':')) {
    if (!dir) continue;
    const p = path.join(dir, name);
    if (isExecutable(p)) return p;
  }
  return null;
}

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** qemu-system-x86_64 (HOTUNPLUG_QEMU overrides the binary). */
export function qemuBinary(): string {
  const name = process.env.HOTUNPLUG_QEMU || 'qemu-system-x86_64';
  const found = findInPath(name);
  if (!found) throw new MissingDependencyError(name, 'apt-get install -y qemu-system-x86');
  return found;
}

export function setprivBinary(): string {
  const found = findInPath('setpriv');
  if (!found) throw new MissingDependencyError('setpriv', 'apt-get install -y util-linux');
  return found;
}

/**
 * `qemu-system-x86_64 --version`'s first line (a saved machine state loads only into the QEMU that
 * wrote it), kept in the cache while the binary is the same file: a run's start spawns no QEMU for it.
 */
export function qemuVersion(): Promise<string> {
  if (!qemuVersionMemo) {
    // found and resolved once a process, not at every call
    const bin = qemuBinary();
    const ask = (): Promise<string> => execFileAsync(bin, ['--version']).then(({ stdout }) => stdout.split('\n')[0]?.trim() ?? '');
    qemuVersionMemo = keptWhileSame('qemu-version', fs.realpathSync(bin), '--version', ask);
  }
  qemuVersionMemo.catch(() => (qemuVersionMemo = null));
  return qemuVersionMemo;
}
let qemuVersionMemo: Promise<string> | null = null;
