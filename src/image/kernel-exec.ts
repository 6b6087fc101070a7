// Running the image layer's long-lived host commands (make, tar), beside run.ts's quick ones and
// with its tool list. make spawns compilers, so it runs in its own process group under `setpriv
// --pdeathsig KILL`, registered with the reaper as the whole group: Ctrl-C or an error kills every
// cc1, not just make.
import { execa } from 'execa';
import { createInterface } from 'node:readline';
import { InfraError } from '../errors.js';
import { missingTool } from './run.js';
import { track } from '../util/reaper.js';

export type KernelLog = (line: string) => void;

export interface ExecOptions {
  cwd?: string;
  log?: KernelLog | undefined;
  /** Each output line (stdout and stderr interleaved) as it arrives. */
  onLine?: (line: string) => void;
}

/** Run to completion; stdout on success, InfraError with the output's tail on failure. */
export async function kernelExec(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<string> {
  const shown = [cmd, ...args].join(' ');
  opts.log?.(`$ ${shown}${opts.cwd ? `   (in ${opts.cwd})` : ''}`);
  const child = execa('setpriv', ['--pdeathsig', 'KILL', '--', cmd, ...args], {
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
