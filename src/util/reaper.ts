// Every QEMU (and other long-lived child) registers here so that every exit path kills it:
// normal exit, thrown error, SIGINT/SIGTERM. Children are also started under
// `setpriv --pdeathsig KILL` (see vm/qemu-process.ts) so that even SIGKILL of node leaves no orphan.
import process from 'node:process';

type Killable = { pid?: number | undefined; kill(signal?: NodeJS.Signals | number): boolean };

const live = new Set<Killable>();
let installed = false;
const interruptHandlers = new Set<(signal: NodeJS.Signals) => void>();

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

/** Register a callback run on SIGINT/SIGTERM before the process exits (e.g. write partial reports). */
export function onInterrupt(handler: (signal: NodeJS.Signals) => void): () => void {
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
      for (const h of interruptHandlers) {
        try {
          h(sig);
        } catch {
          // a failing handler must not stop the others
        }
      }
      // If a handler scheduled async work (report write) it sets process.exitCode and exits itself.
      if (interruptHandlers.size === 0) process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
    });
  }
}
