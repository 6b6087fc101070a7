// One run, start to end, as both `run` and `repro` need it: the run loop over the planned cases, its
// reports written as it goes, and an interrupt that still writes what was measured. The
// commands decide what to run and print the outcome; this does the running.
import type { RunResult } from '../model/run.js';
import { onInterrupt } from '../util/reaper.js';
import type { SessionFactory } from './port.js';
import { runLoop, type RunLoopOptions } from './run-loop.js';

type Consoles = ReadonlyArray<{ vm: string; image: string; file: string }>;

export interface RunJob extends Omit<RunLoopOptions, 'write' | 'sessions'> {
  sessions: SessionFactory & { dispose?(): Promise<void> };
  /** writes the run's reports under their root; `full` renders every view; returns the run's report dir */
  writeReports(run: RunResult, consoles: Consoles, full: boolean): Promise<string>;
}

/**
 * How often, at most, run.json is written while a run goes on. The run loop hands over the run after
 * every case; a save rewrites the whole file, and on ext4 its rename over the last one starts that
 * file's write-back: per case that was the largest item of the orchestrator's CPU after its requests
 * (npm run bench). The newest state is written at the end, on an error and on SIGINT/SIGTERM.
 */
const SAVE_EVERY_MS = 2000;

/** Runs the job; resolves with the run and the directory its reports are in. */
export async function executeRun(job: RunJob, saveEveryMs = SAVE_EVERY_MS): Promise<{ run: RunResult; dir: string }> {
  let dir = '';
  let last: { run: () => RunResult; consoles: Consoles } | null = null;
  let savedAt = -Infinity;
  let saving: Promise<void> = Promise.resolve();
  let later: NodeJS.Timeout | null = null;
  // a save the timer made that failed: thrown into the run at its next write, or at its end
  let failed: { e: unknown } | null = null;
  const save = (full: boolean): Promise<void> => {
    if (later) clearTimeout(later);
    later = null;
    const { consoles } = last!;
    const run = last!.run();
    savedAt = Date.now();
    saving = saving.then(async () => {
      dir = await job.writeReports(run, consoles, full);
    });
    return saving;
  };
  // SIGINT/SIGTERM: QEMU is already killed by the reaper; render what was measured (the reaper
  // waits for it, bounded, then the process exits 128+n)
  let interrupted = false;
  const offInterrupt = onInterrupt((signal) => {
    interrupted = true;
    if (later) clearTimeout(later);
    later = null;
    if (!last) return;
    return job.writeReports({ ...last.run(), complete: false, interruption: `interrupted by ${signal}` }, last.consoles, true);
  });
  try {
    const run = await runLoop({
      ...job,
      write: async (r, consoles, w) => {
        if (interrupted) return; // the interrupt handler writes the last word
        if (failed) throw failed.e;
        last = { run: r, consoles };
        if (w.full || Date.now() - savedAt >= saveEveryMs) return save(w.full);
        later ??= setTimeout(
          () =>
            void save(false).catch((e: unknown) => {
              failed = { e };
            }),
          savedAt + saveEveryMs - Date.now(),
        );
      },
    });
    return { run, dir };
  } finally {
    offInterrupt();
    // a save still due (the run's last write is a full one and saves at once): the run failed
    // between saves, and what it measured since the last one is still written
    if (later) await save(false).catch(() => undefined);
    await job.sessions.dispose?.();
  }
}
