// Runs the host tools an image build needs (apt-get, dpkg-deb, depmod, cpio…). A failure becomes an
// InfraError carrying the command and the tail of its output; a missing tool names its package.
import { execa } from 'execa';
import { InfraError, MissingDependencyError } from '../errors.js';

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
export function missingTool(cmd: string): MissingDependencyError {
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
  const result = await execa(cmd, args, {
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
/** The compiler's identity in cache keys (kernel build and image inputs alike): `gcc --version`'s first line. */
export function compilerIdentity(): Promise<string> {
  compiler ??= run('gcc', ['--version']).then((out) => out.split('\n')[0] ?? 'gcc');
  // a failure (no gcc) is not remembered: the caller reports it, a later call may find gcc installed
  compiler.catch(() => (compiler = null));
  return compiler;
}

/** Runs a bash pipeline with pipefail (cpio | gzip), so a failure anywhere fails the whole. */
export function runPipeline(script: string, opts: RunOptions = {}): Promise<string> {
  return run('bash', ['-euo', 'pipefail', '-c', script], opts);
}
