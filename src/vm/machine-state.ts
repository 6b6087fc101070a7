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

const POLL_MS = 5;
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
    await qmp.execute('stop');
    await qmp.execute('migrate', { uri: `exec:cat > ${shellQuote(tmp)}` });
    const info = await migrationEnd(qmp, opts.timeoutMs ?? 60_000);
    await rename(tmp, file);
    const ms = performance.now() - t0;
    if (opts.resume) await qmp.execute('cont');
    return { bytes: info.ram?.transferred ?? 0, ms };
  } catch (e) {
    await rm(tmp, { force: true });
    throw new InfraError(`saving the machine state to ${file}: ${errorMessage(e)}`, [], { cause: e });
  }
}

/**
 * Feed `file` to a QEMU waiting for it (started with `incoming`); resolves once the guest runs.
 * A stream QEMU cannot load makes it exit: the caller sees that as the machine's exit.
 */
export async function loadMachineState(qmp: QmpClient, file: string, opts: { timeoutMs?: number } = {}): Promise<void> {
  await qmp.execute('migrate-incoming', { uri: `exec:cat ${shellQuote(file)}` });
  await migrationEnd(qmp, opts.timeoutMs ?? 30_000);
  // the stream carries the run state it was saved in: a guest saved paused comes back paused
  const status = (await qmp.execute('query-status')) as { status?: string };
  if (status.status !== 'running') await qmp.execute('cont');
}

async function migrationEnd(qmp: QmpClient, timeoutMs: number): Promise<MigrateInfo> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const info = (await qmp.execute('query-migrate')) as MigrateInfo;
    if (info.status === 'completed') return info;
    if (info.status === 'failed' || info.status === 'cancelled') {
      throw new InfraError(`the migration stream ${info.status}${info['error-desc'] ? `: ${info['error-desc']}` : ''}`);
    }
    if (performance.now() > deadline) throw new InfraError(`the migration stream did not complete within ${timeoutMs} ms (status ${info.status ?? 'none'})`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`;
}
