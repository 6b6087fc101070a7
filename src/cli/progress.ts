// Progress for long steps: an ora spinner on a TTY, plain timestamped lines on stderr otherwise
// (CI logs), never on stdout (which carries --json output). A CI log must show life: a step that
// prints nothing new for HEARTBEAT_MS gets its line again, with how long it has been running.
import process from 'node:process';
import { spinner as ora } from '../util/spinner.js';

export interface ProgressReporter {
  update(step: string): void;
  done(message: string): void;
  fail(message: string): void;
}

/** Longest a non-TTY log goes without a line while something is in progress. */
const HEARTBEAT_MS = 30_000;

export interface ProgressOptions {
  heartbeatMs?: number;
  now?: () => number;
}

export function progressReporter(stream: NodeJS.WriteStream = process.stderr, opts: ProgressOptions = {}): ProgressReporter {
  // a terminal of no width (a pty nobody sized) makes ora clear "Infinity" lines on every frame
  if (stream.isTTY && (stream.columns ?? 0) > 0 && !process.env.CI && ora) {
    const spinner = ora({ stream, text: 'starting' }).start();
    return {
      update: (s) => void (spinner.text = s),
      done: (m) => void spinner.succeed(m),
      fail: (m) => void spinner.fail(m),
    };
  }
  const now = opts.now ?? Date.now;
  const every = opts.heartbeatMs ?? HEARTBEAT_MS;
  const t0 = now();
  const stamp = (): string => `[${((now() - t0) / 1000).toFixed(1).padStart(6)} s]`;
  let last = '';
  let lastAt = t0;
  let since = t0;
  let timer: NodeJS.Timeout | null = null;
  const write = (text: string): void => {
    stream.write(`${stamp()} ${text}\n`);
    lastAt = now();
  };
  const beat = (): void => {
    timer = null;
    if (now() - lastAt >= every) write(`${last} (still at it, ${Math.round((now() - since) / 1000)} s)`);
    arm();
  };
  const arm = (): void => {
    if (timer) return;
    timer = setTimeout(beat, Math.max(1, every - (now() - lastAt)));
    // the beat never keeps a finished command alive
    timer.unref();
  };
  const end = (text: string): void => {
    if (timer) clearTimeout(timer);
    timer = null;
    write(text);
  };
  return {
    update: (s) => {
      if (s !== last) since = now();
      last = s;
      write(s);
      arm();
    },
    done: (m) => end(m),
    fail: (m) => end(`failed: ${m}`),
  };
}
