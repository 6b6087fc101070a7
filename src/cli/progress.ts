// Progress for long steps: an ora spinner on a TTY, plain timestamped lines on stderr otherwise
// (CI logs), never on stdout (which carries --json output).
import process from 'node:process';
import ora from 'ora';

export interface ProgressReporter {
  update(step: string): void;
  done(message: string): void;
  fail(message: string): void;
}

export function progressReporter(stream: NodeJS.WriteStream = process.stderr): ProgressReporter {
  if (stream.isTTY && !process.env.CI) {
    const spinner = ora({ stream, text: 'starting' }).start();
    return {
      update: (s) => void (spinner.text = s),
      done: (m) => void spinner.succeed(m),
      fail: (m) => void spinner.fail(m),
    };
  }
  const t0 = Date.now();
  const stamp = (): string => `[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s]`;
  return {
    update: (s) => void stream.write(`${stamp()} ${s}\n`),
    done: (m) => void stream.write(`${stamp()} ${m}\n`),
    fail: (m) => void stream.write(`${stamp()} failed: ${m}\n`),
  };
}
