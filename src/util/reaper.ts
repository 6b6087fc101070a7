// Every QEMU (and other long-lived child) registers here so that every exit path kills it:
// normal exit, thrown error, SIGINT/SIGTERM. Children are also started under
// `setpriv --pdeathsig KILL` (see vm/qemu-process.ts) so that even SIGKILL of node leaves no orphan.
import process from 'node:process';

type Killable = { pid?: number | undefined; kill(signal?: NodeJS.Signals | number): boolean };

const live = new Set<Killable>();
let installed = false;
/** A handler's last words (a partial report) may take this long before the process exits. */
const LAST_WORDS_MS = 5_000;
type InterruptHandler = (signal: NodeJS.Signals) => undefined | Promise<unknown>;
const interruptHandlers = new Set<InterruptHandler>();
/** How the process ends after an interrupt: the CLI's entry point sets it; by default the signal is re-raised. */
let exitAfterInterrupt: ((code: number) => void) | null = null;

export function setInterruptExit(exit: (code: number) => void): void {
  exitAfterInterrupt = exit;
}

export function track(child: Killable): () => void {
  install();
  live.add(child);
  return () => live.delete(child);
}

export function killAll(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

export function liveCount(): number {
  return live.size;
}

/**
 * Register a callback run on SIGINT/SIGTERM before the process exits (e.g. write partial reports);
 * a promise it returns is waited for, up to LAST_WORDS_MS.
 */
export function onInterrupt(handler: InterruptHandler): () => void {
  install();
  interruptHandlers.add(handler);
  return () => interruptHandlers.delete(handler);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      killAll();
      const words: Array<Promise<unknown>> = [];
      for (const h of interruptHandlers) {
        try {
          const w = h(sig);
          if (w) words.push(w.catch(() => undefined));
        } catch {
          // a failing handler must not stop the others
        }
      }
      const code = 128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1);
      const end = (): void => {
        if (exitAfterInterrupt) return exitAfterInterrupt(code);
        process.removeAllListeners(sig);
        process.kill(process.pid, sig);
      };
      if (words.length === 0) return end();
      setTimeout(end, LAST_WORDS_MS).unref();
      void Promise.all(words).then(end);
    });
  }
}
