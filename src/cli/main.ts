// The one error boundary: commands throw typed errors (src/errors.ts) and return an exit code;
// only here do errors become one line on stderr and an exit code.
import process from 'node:process';
import { CommanderError } from 'commander';
import { HotunplugError, ExitCode, bisectExitFor, errorMessage } from '../errors.js';
import { buildProgram } from './program.js';
import { killAll, setInterruptExit } from '../util/reaper.js';

export async function main(argv: readonly string[]): Promise<number> {
  // SIGINT/SIGTERM end the process here, 128 + n, once the commands' last words are written
  setInterruptExit((code) => process.exit(code));
  // a reader that stops early (`map … | head`) is not an error of ours: stop quietly, as cat does
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    killAll();
    process.exit(ExitCode.ok);
  });
  const program = buildProgram();
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return program.getOptionValue('__exitCode') ?? process.exitCode ?? ExitCode.ok;
  } catch (e) {
    const code = reportError(e);
    return argv[0] === 'bisect-step' ? bisectExitFor(code) : code;
  } finally {
    killAll();
  }
}

export function reportError(e: unknown): number {
  if (e instanceof CommanderError) {
    // commander already printed its message (help, version, or the usage error)
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.exitCode === 0) return ExitCode.ok;
    return ExitCode.usage;
  }
  if (e instanceof HotunplugError) {
    process.stderr.write(`hotunplug-ci: ${oneLine(e.message)}\n`);
    if (process.env.HOTUNPLUG_DEBUG) process.stderr.write(`${e.stack ?? ''}\n`);
    return e.exitCode;
  }
  process.stderr.write(`hotunplug-ci: internal error: ${oneLine(errorMessage(e))}\n`);
  if (e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  return ExitCode.infra;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' | ');
}
