// One run, start to end, as both `run` and `repro` need it: the run loop over the planned cases, its
// reports written after every case, and an interrupt that still writes what was measured. The
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

/** Runs the job; resolves with the run and the directory its reports are in. */
export async function executeRun(job: RunJob): Promise<{ run: RunResult; dir: string }> {
  let dir = '';
  let last: { run: RunResult; consoles: Consoles } | null = null;
  // SIGINT/SIGTERM: QEMU is already killed by the reaper; render what was measured (the reaper
  // waits for it, bounded, then the process exits 128+n)
  let interrupted = false;
  const offInterrupt = onInterrupt((signal) => {
    interrupted = true;
    if (!last) return;
    return job.writeReports({ ...last.run, complete: false, interruption: `interrupted by ${signal}` }, last.consoles, true);
  });
  try {
    const run = await runLoop({
      ...job,
      write: async (r, consoles, w) => {
        if (interrupted) return; // the interrupt handler writes the last word
        last = { run: r, consoles };
        dir = await job.writeReports(r, consoles, w.full);
      },
    });
    return { run, dir };
  } finally {
    offInterrupt();
    await job.sessions.dispose?.();
  }
}
