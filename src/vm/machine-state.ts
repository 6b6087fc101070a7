// A guest's whole machine state in a file, through QEMU's migration stream (QEMU 7.2 has no
// `file:` URI; `exec:cat` is as fast here). Save: pause, stream, optionally go on running. Load: a
// QEMU started with `incoming` (machine-spec.ts) takes the stream and runs the guest from there.
import { rename, rm } from 'node:fs/promises';
import { InfraError, errorMessage } from '../errors.js';
import type { QmpClient } from './qmp/client.js';

/** The migration stream's status, as query-migrate reports it. */
interface MigrateInfo {
  status?: string;
  'error-desc'?: string;
  ram?: { transferred?: number; total?: number };
}

export interface SavedState {
  /** bytes in the state file */
  bytes: number;
  /** ms from pause to the file being complete */
  ms: number;
}

// QEMU 7.2 caps a migration at 32 MiB/s unless told otherwise; a file is not a network
const UNLIMITED_BYTES_PER_S = 2 ** 40;

/**
 * Pause the guest and write its state to `file`, a name no other save uses (atomically: a crash
 * leaves no partial file under that name). With
 * `resume` the guest runs on afterwards, as if nothing happened; else it stays paused.
 */
export async function saveMachineState(qmp: QmpClient, file: string, opts: { resume: boolean; timeoutMs?: number }): Promise<SavedState> {
  const tmp = `${file}.tmp`;
  const t0 = performance.now();
  try {
    await qmp.execute('migrate-set-parameters', { 'max-bandwidth': UNLIMITED_BYTES_PER_S });
    await withEvents(qmp);
    await qmp.execute('stop');
    const ended = migrationEnd(qmp, opts.timeoutMs ?? 60_000);
    ended.catch(() => undefined);
    await qmp.execute('migrate', { uri: `exec:cat > ${shellQuote(tmp)}` });
    const info = await ended;
    await rename(tmp, file);
    const ms = performance.now() - t0;
    if (opts.resume) await resumeAfterSave(qmp);
    return { bytes: info.ram?.transferred ?? 0, ms };
  } catch (e) {
    await rm(tmp, { force: true });
    throw new InfraError(`saving the machine state to ${file}: ${errorMessage(e)}`, [], { cause: e });
  }
}

// QEMU sends the stream's "completed" before its run state leaves finish-migrate: a `cont` in
// between is refused, and a guest left paused looks hung to every case after it
const NOT_FINALIZED = /Migration is not finalized yet/;
const RESUME_RETRY_MS = 10;

/** `cont` after a save, again while QEMU says the migration is not finalized (bounded). */
export async function resumeAfterSave(qmp: QmpClient, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      await qmp.execute('cont');
      return;
    } catch (e) {
      if (!NOT_FINALIZED.test(errorMessage(e)) || performance.now() >= deadline) throw e;
    }
    await new Promise((r) => setTimeout(r, RESUME_RETRY_MS));
  }
}

/**
 * Feed `file` to a QEMU waiting for it (started with `incoming`); resolves once the guest runs.
 * A stream QEMU cannot load makes it exit: the caller sees that as the machine's exit.
 */
export async function loadMachineState(qmp: QmpClient, file: string, opts: { timeoutMs?: number } = {}): Promise<void> {
  await withEvents(qmp);
  const ended = migrationEnd(qmp, opts.timeoutMs ?? 30_000);
  ended.catch(() => undefined);
  await qmp.execute('migrate-incoming', { uri: `exec:cat ${shellQuote(file)}` });
  await ended;
  // the stream carries the run state it was saved in: a guest saved paused comes back paused
  const status = (await qmp.execute('query-status')) as { status?: string };
  if (status.status !== 'running') await qmp.execute('cont');
}

/** QEMU says when the stream's status changes (MIGRATION events) instead of being asked in a loop. */
async function withEvents(qmp: QmpClient): Promise<void> {
  await qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] });
}

/** The stream's end, from its MIGRATION events; query-migrate then says how it went. */
function migrationEnd(qmp: QmpClient, timeoutMs: number): Promise<MigrateInfo> {
  return new Promise<void>((resolve, reject) => {
    const settle = (err?: Error): void => {
      clearTimeout(timer);
      off();
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => settle(new InfraError(`the migration stream did not complete within ${timeoutMs} ms`)), timeoutMs);
    const off = qmp.onEvent((ev) => {
      const status = (ev.data as { status?: string } | undefined)?.status;
      if (ev.event === 'MIGRATION' && status && END_STATES.has(status)) settle();
    });
    // QEMU exits when it cannot load a stream: no event comes, and no timer is left behind
    void qmp.closed.then(() => settle(new InfraError('QEMU closed its QMP connection during the migration')));
  }).then(async () => {
    const info = (await qmp.execute('query-migrate')) as MigrateInfo;
    if (info.status !== 'completed')
      throw new InfraError(`the migration stream ${info.status ?? 'ended'}${info['error-desc'] ? `: ${info['error-desc']}` : ''}`);
    return info;
  });
}

const END_STATES = new Set(['completed', 'failed', 'cancelled']);

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`;
}
