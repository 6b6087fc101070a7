// Watching a guest boot: its console goes through the crash detector from the first line, so a
// kernel report before the agent is ready fails the boot at once (when the report is complete),
// not when the boot's bound runs out; a guest that goes away fails it with the console tail.
import { BootError, InfraError } from '../errors.js';
import type { Finding } from '../detect/finding.js';
import { StreamDetector } from '../detect/stream.js';

/** The console as the watch reads it (ConsoleCapture has all of it). */
export interface WatchedConsole {
  /** lines already read (replayed first: QEMU starts before the watch does) */
  retained(): ReadonlyArray<{ text: string; hostMs: number; lineNo: number }>;
  on(event: 'line', cb: (l: { text: string; hostMs: number; lineNo: number }) => void): unknown;
  off(event: 'line', cb: (l: { text: string; hostMs: number; lineNo: number }) => void): unknown;
  tail(n: number): string[];
}

export interface BootWatch {
  /**
   * Resolves with the boot's failure when one is seen: a BootError (the kernel's), or an InfraError
   * when QEMU itself failed or was killed. Never rejects; never resolves once stopped.
   */
  readonly failed: Promise<BootError | InfraError>;
  /** Stops watching; an error for a report still open (it began before the agent was ready), else null. */
  stop(): BootError | null;
}

export interface BootWatchOptions {
  /** quiet time after which an open report counts as complete (the kernel's end markers end it sooner) */
  settleMs?: number;
  now?: () => number;
}

/** Console lines a boot error carries. */
export const BOOT_TAIL_LINES = 40;
const TICK_MS = 1000;
/** Arrival times kept: a report longer than this gets no reportHostMs. */
const MAX_KEPT = 5000;

export function watchBoot(console: WatchedConsole, exited: Promise<{ code: number | null; signal: string | null }>, opts: BootWatchOptions = {}): BootWatch {
  const now = opts.now ?? Date.now;
  const detector = new StreamDetector({ settleMs: opts.settleMs ?? 3000 });
  const seen: Finding[] = [];
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let resolveFailed!: (e: BootError | InfraError) => void;
  const failed = new Promise<BootError | InfraError>((r) => (resolveFailed = r));
  // when each line arrived, for the first report's: how long after it the boot failed is measured
  const arrived = new Map<number, number>();
  const crash = (): BootError => {
    const e = new BootError('crash', seen[0]!.title, console.tail(BOOT_TAIL_LINES), [...seen]);
    e.reportHostMs = arrived.get(seen[0]!.startLine) ?? null;
    return e;
  };

  const finish = (e: BootError | InfraError): void => {
    if (stopped) return;
    stop();
    resolveFailed(e);
  };
  const took = (found: Finding[]): void => {
    if (found.length === 0) return;
    seen.push(...found);
    finish(crash());
  };
  // a report without an end marker completes after settleMs of quiet: look while one is open only
  const armTick = (): void => {
    if (stopped || timer || detector.oldestOpenLine === null) return;
    timer = setTimeout(() => {
      timer = null;
      took(detector.tick(now()));
      armTick();
    }, TICK_MS);
    timer.unref();
  };
  const onLine = (l: { text: string; hostMs: number }): void => {
    if (stopped) return;
    // the detector numbers lines from its first; a report's start is at most MAX_KEPT lines back
    const n = detector.lines + 1;
    arrived.set(n, l.hostMs);
    arrived.delete(n - MAX_KEPT);
    took(detector.push(l.text, l.hostMs));
    armTick();
  };
  const stop = (): void => {
    stopped = true;
    console.off('line', onLine);
    if (timer) clearTimeout(timer);
    timer = null;
  };

  for (const l of console.retained()) if (!stopped) onLine(l);
  console.on('line', onLine);
  void exited.then((x) => {
    if (stopped) return;
    // the console is complete once QEMU exited: a report cut short by the exit still counts
    seen.push(...detector.flush());
    if (seen.length > 0) return finish(crash());
    // a guest that reboots or powers off ends QEMU (-no-reboot) with 0; a signal or QEMU's own
    // error is the machinery's
    if (x.code === 0) finish(new BootError('exited', 'guest went away while booting (reboot or power-off)', console.tail(BOOT_TAIL_LINES)));
    else
      finish(
        new InfraError(`QEMU ${x.signal ? `was killed by ${x.signal}` : `exited with code ${x.code}`} while the guest booted`, console.tail(BOOT_TAIL_LINES)),
      );
  });

  return {
    failed,
    stop: () => {
      if (stopped) return null;
      stop();
      seen.push(...detector.flush());
      return seen.length > 0 ? crash() : null;
    },
  };
}
