// Running the host tools an image build needs: one tool→package list, one error shape (the command
// and the tail of its output; a missing tool names the package that installs it), two ways to run.
// `run` is for quick tools (apt-get, dpkg-deb, depmod, cpio…) and returns their stdout. `runLong` is
// for long-lived ones (make, tar): it streams lines as they come and runs in its own process group
// under `setpriv --pdeathsig KILL`, registered with the reaper as the whole group, so Ctrl-C or an
// error kills every cc1, not just make.
import { loadExeca } from '../util/execa.js';
import { realpathSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { InfraError, MissingDependencyError } from '../errors.js';
import { keptWhileSame } from '../util/kept-while-same.js';
import { track } from '../util/reaper.js';
import { findInPath } from '../vm/host-tools.js';

export type BuildLog = (line: string) => void;

/** Debian package that provides each tool an image build shells out to (for the install hint). */
const TOOL_PACKAGES: Record<string, string> = {
  'apt-get': 'apt',
  'apt-cache': 'apt',
  'dpkg-deb': 'dpkg',
  'dpkg-query': 'dpkg',
  depmod: 'kmod',
  cpio: 'cpio',
  xz: 'xz-utils',
  zstd: 'zstd',
  gzip: 'gzip',
  tar: 'tar xz-utils',
  make: 'make',
  gcc: 'gcc',
  bash: 'bash',
  dropbearkey: 'dropbear-bin',
  ldd: 'libc-bin',
};

/** The error for a host tool that is not installed, with the line that installs it. */
function missingTool(cmd: string): MissingDependencyError {
  return new MissingDependencyError(`host tool ${cmd}`, `apt-get install -y ${TOOL_PACKAGES[cmd] ?? cmd}`);
}

export interface RunOptions {
  cwd?: string;
  log?: BuildLog;
  input?: string;
  env?: Record<string, string>;
}

export async function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  const shown = [cmd, ...args].join(' ');
  opts.log?.(`$ ${shown}`);
  const result = await (await loadExeca())(cmd, args, {
    cwd: opts.cwd,
    reject: false,
    all: true,
    stdin: opts.input === undefined ? 'ignore' : 'pipe',
    input: opts.input,
    env: opts.env,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (result.exitCode === 0) return result.stdout;
  const missing = (result as { code?: string }).code === 'ENOENT';
  if (missing) throw missingTool(cmd);
  const all = String(result.all ?? '');
  opts.log?.(all);
  const tail = all.split('\n').filter(Boolean).slice(-8);
  throw new InfraError(`${shown} failed (${result.signal ?? `exit ${result.exitCode}`}): ${tail.at(-1) ?? 'no output'}`, [shown, ...tail]);
}

let compiler: Promise<string> | null = null;
/**
 * The compiler's identity in cache keys (kernel build and image inputs alike): `gcc --version`'s
 * first line. Kept in the cache by the gcc binary's path, inode, size and mtime: asking gcc costs a
 * process (and loading execa) at every start, while a new gcc is a new file.
 */
export function compilerIdentity(): Promise<string> {
  if (!compiler) {
    const gcc = findInPath('gcc');
    const ask = async (): Promise<string> => (await run('gcc', ['--version'])).split('\n')[0] ?? 'gcc';
    // the file it runs as (symlinks followed: /usr/bin/gcc → gcc-12) is what a new gcc changes
    compiler = gcc ? keptWhileSame('compiler', realpathSync(gcc), 'gcc --version', ask) : ask();
  }
  // a failure (no gcc) is not remembered: the caller reports it, a later call may find gcc installed
  compiler.catch(() => (compiler = null));
  return compiler;
}

/** Runs a bash pipeline with pipefail (cpio | gzip), so a failure anywhere fails the whole. */
export function runPipeline(script: string, opts: RunOptions = {}): Promise<string> {
  return run('bash', ['-euo', 'pipefail', '-c', script], opts);
}

export interface ExecOptions {
  cwd?: string;
  log?: BuildLog | undefined;
  /** Each output line (stdout and stderr interleaved) as it arrives. */
  onLine?: (line: string) => void;
}

/** Run to completion; stdout on success, InfraError with the output's tail on failure. */
export async function runLong(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<string> {
  const shown = [cmd, ...args].join(' ');
  opts.log?.(`$ ${shown}${opts.cwd ? `   (in ${opts.cwd})` : ''}`);
  const child = (await loadExeca())('setpriv', ['--pdeathsig', 'KILL', '--', cmd, ...args], {
    cwd: opts.cwd,
    reject: false,
    stdin: 'ignore',
    detached: true, // own process group, killed as a whole below
    buffer: false, // make prints megabytes; lines are consumed below as they come
  });
  const untrack = track({
    get pid() {
      return child.pid;
    },
    kill: (signal) => killGroup(child.pid, signal),
  });
  const tail: string[] = [];
  const stdout: string[] = [];
  // The first compiler/kbuild error, kept apart: with -jN other jobs keep printing after it.
  let firstError: string | null = null;
  const consume = (stream: NodeJS.ReadableStream | null, keep: boolean): Promise<void> =>
    new Promise((done) => {
      if (!stream) return done();
      const rl = createInterface({ input: stream, crlfDelay: Infinity });
      rl.on('line', (line) => {
        if (keep) stdout.push(line);
        if (firstError === null && ERROR_LINE.test(line) && !MAKE_STARS.test(line)) firstError = line;
        tail.push(line);
        if (tail.length > 40) tail.shift();
        opts.log?.(line);
        opts.onLine?.(line);
      });
      rl.on('close', done);
    });
  let result;
  try {
    [result] = await Promise.all([child, consume(child.stdout, true), consume(child.stderr, false)]);
  } finally {
    untrack();
  }
  if (result.exitCode === 0) return stdout.join('\n');
  if (tail.some((l) => /setpriv: failed to execute|No such file or directory/.test(l) && l.includes(cmd)) && result.exitCode === 127) {
    throw missingTool(cmd);
  }
  const why = result.signal ?? `exit ${result.exitCode}`;
  const last = firstError ?? [...tail].reverse().find((l) => MAKE_STARS.test(l)) ?? tail.at(-1) ?? 'no output';
  throw new InfraError(`${cmd} ${args.slice(0, 4).join(' ')}${args.length > 4 ? ' …' : ''} failed (${why}): ${last}`, [shown, ...tail.slice(-12)]);
}

const ERROR_LINE = /(^|\s)(fatal )?error:|^ERROR: /i;
const MAKE_STARS = /^make(\[\d+\])?: \*\*\*/;

function killGroup(pid: number | undefined, signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
  if (!pid) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}
