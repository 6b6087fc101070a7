// A ready guest saved and started again: the first VM of a machine (image + devices + kernel words)
// boots and its state is saved into the image's cache (guest-snapshots.ts); every later VM of the
// machine loads it, and gets what it must not share with the saved guest refreshed (clock, CRNG).
import { randomBytes } from 'node:crypto';
import { copyFile } from 'node:fs/promises';
import type net from 'node:net';
import { join } from 'node:path';
import { InfraError, errorMessage } from '../errors.js';
import type { AgentClient } from '../guest/agent.js';
import { placeRunKey } from '../guest/ssh.js';
import type { GuestStart } from '../model/run.js';
import { qemuVersion } from '../vm/host-tools.js';
import type { Machine } from '../vm/machine.js';
import { runFiles } from '../vm/machine-spec.js';
import { loadMachineState, resumeAfterSave, saveMachineState } from '../vm/machine-state.js';
import { watchBoot } from './boot-watch.js';
import { SnapshotStore, snapshotKey, sshKeyMeta, type GuestSnapshot } from './guest-snapshots.js';
import {
  agentOnPort,
  checkAgent,
  connectUnix,
  machineInput,
  makeSession,
  setGuestClock,
  startMachine,
  type GuestSession,
  type StartContext,
} from './guest-start.js';

export interface SnapshotSlot {
  store: SnapshotStore;
  key: string;
  found: GuestSnapshot | null;
}

export async function snapshotSlot(ctx: StartContext): Promise<SnapshotSlot> {
  const store = new SnapshotStore(join(ctx.opts.image.dir, 'snapshots'));
  const key = snapshotKey(machineInput(ctx, 1, null, false), await qemuVersion());
  return { store, key, found: store.find(key) };
}

/** The booted guest's state, saved for the next guest of this machine; a failure only costs speed. */
export async function saveSnapshot(session: GuestSession, slot: SnapshotSlot, progress: (step: string) => void): Promise<NonNullable<GuestStart['saved']>> {
  const refused = slot.store.unsavable(slot.key);
  if (refused) return { failed: refused };
  try {
    progress(`saving the ready guest as ${slot.key}`);
    const file = await slot.store.newStateFile(slot.key);
    const saved = await saveMachineState(session.machine.qmp, file, { resume: true });
    const meta = await slot.store.commit(slot.key, file, {
      qemu: await qemuVersion(),
      savedAt: new Date().toISOString(),
      saveMs: Math.round(saved.ms),
      bootMs: Math.round(session.timings.agentReadyMs),
      sshKey: sshKeyMeta(session.key),
    });
    // the guest's clock stood still while it was paused
    await setGuestClock(session.agent);
    return { ms: Math.round(saved.ms), bytes: meta.meta.bytes };
  } catch (e) {
    const why = errorMessage(e);
    progress(`saving the guest failed: ${why}`);
    // a guest left paused by a failed save is of no use: it runs again, or this start fails
    await resumeAfterSave(session.machine.qmp).catch(() => undefined);
    const status = (await session.machine.qmp.execute('query-status').catch(() => null)) as { status?: string } | null;
    if (status?.status !== 'running') throw new InfraError(`the guest stays ${status?.status ?? 'unknown'} after a failed save (${why})`);
    // QEMU refuses to migrate some devices (7.2: usb-serial): every VM of this machine boots
    const blocker = NOT_MIGRATABLE.exec(why);
    if (blocker) await slot.store.markUnsavable(slot.key, `QEMU cannot save this machine: ${blocker[0]}`).catch(() => undefined);
    return { failed: why };
  }
}

const NOT_MIGRATABLE = /non-migratable device '[^']*'/;

/** Run the saved guest `snap` in a new QEMU; rejects (QEMU stopped) when it does not come back whole. */
export async function restoreGuest(ctx: StartContext, snap: GuestSnapshot): Promise<GuestSession> {
  const { opts, runDir, accel, progress } = ctx;
  progress(`restoring the saved guest ${snap.meta.key} (${accel}) for ${opts.image.name}`);
  const key = await placeRunKey(runDir, snap.meta.sshKey);
  const { machine: m, sshHostPort, t0 } = await startMachine(ctx, key, true);
  let sock: net.Socket | null = null;
  // a kernel report or QEMU going away while the guest comes back fails the restore, as a boot
  const watch = watchBoot(m.console, m.exited);
  const gone = watch.failed.then((e) => Promise.reject(e));
  gone.catch(() => undefined);
  try {
    // the port's host end before the state: the guest must find its host connected
    sock = await connectUnix(join(runDir, runFiles.agentSocket));
    await Promise.race([loadMachineState(m.qmp, snap.stateFile), gone]);
    const readyMs = performance.now() - t0;
    const agent = agentOnPort(m, sock);
    // the saved guest's agent passed the protocol check when it was saved (the key holds the
    // image's inputs): the ping and the refresh need not wait for each other
    await Promise.race([Promise.all([checkAgent(agent, m, opts.image), refreshRestored(agent, m, snap.meta.key)]), gone]);
    const late = watch.stop();
    if (late) throw late;
    const agentReadyMs = performance.now() - t0;
    return makeSession(ctx, {
      machine: m,
      agent,
      transport: 'virtio-serial',
      key,
      sshHostPort,
      ssh: null,
      agentSocket: sock,
      timings: { readyMs, agentReadyMs },
      start: { how: 'restore', snapshot: snap.meta.key, loadedMs: Math.round(readyMs), readyMs: Math.round(agentReadyMs) },
    });
  } catch (e) {
    const seen = watch.stop();
    sock?.destroy();
    await m.stop();
    // the guest that boots instead writes console.log afresh: this one's console is the evidence
    const kept = join(runDir, RESTORE_FAILED_CONSOLE);
    await copyFile(m.console.file, kept).catch(() => undefined);
    const said = m.stderr().trim().split('\n').filter(Boolean).slice(-2).join(' / ');
    const why = errorMessage(seen ?? e);
    throw new InfraError(`${why}${said ? ` (QEMU: ${said.slice(0, 300)})` : ''} (console: ${kept})`, m.console.tail(20), { cause: e });
  }
}

const RESTORE_FAILED_CONSOLE = 'console.restore-failed.log';

/**
 * What a restored guest must not keep from the guest it was saved from: the wall clock (it stood
 * still while the state was on disk) and the CRNG's key (every guest restored from one state
 * would draw the same numbers): the agent's `refresh`, one request with the line through
 * /dev/kmsg that must then reach the console.
 */
async function refreshRestored(agent: AgentClient, m: Machine, snapshot: string): Promise<void> {
  const marker = `huci: restored ${snapshot}`;
  const seen = m.console.waitForLine(new RegExp(`${marker}$`), { timeoutMs: 5000 });
  seen.catch(() => undefined);
  const r = await agent.request(
    {
      op: 'seq',
      steps: [
        { op: 'refresh', unixMs: Date.now(), seedHex: randomBytes(64).toString('hex'), stopOnFailure: true },
        { op: 'klog', mark: marker },
      ],
    },
    { timeoutMs: 5000 },
  );
  const failing = (why: string): InfraError => new InfraError(`refreshing the restored guest (its clock and CRNG): ${why}`);
  if (!r.ok) throw failing(r.errno);
  for (const x of r.results) if (!x.ok) throw failing(`${x.op}: ${x.error ?? x.errno}`);
  if (r.results.length < 2) throw failing('not every step ran');
  await seen;
}
