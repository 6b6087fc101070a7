// A booted guest ready for work: QEMU (Machine) + the agent (AgentClient) + SSH on demand. The
// agent talks over a virtio-serial port (agent.sock on the host): no SSH handshake per boot and no
// crypto per request. A kernel without virtio_console gets the agent on an SSH channel instead.
// Every path out of bootGuest either returns a session whose stop() kills QEMU, or kills QEMU
// itself before throwing. What a boot and a restore share is in guest-start.ts; saving a ready
// guest and restoring it, in guest-restore.ts.
import { mkdtemp } from 'node:fs/promises';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BootError, InfraError, TimeoutError, errorMessage } from '../errors.js';
import { AgentClient } from '../guest/agent.js';
import { SshGuest, createRunKey } from '../guest/ssh.js';
import type { GuestStart } from '../model/run.js';
import { chooseAccelerator } from '../vm/accel.js';
import { runFiles } from '../vm/machine-spec.js';
import { BOOT_TAIL_LINES, watchBoot } from './boot-watch.js';
import { restoreGuest, saveSnapshot, snapshotSlot } from './guest-restore.js';
import {
  agentOnPort,
  checkAgent,
  connectUnix,
  makeSession,
  startMachine,
  type AgentTransport,
  type BootOptions,
  type GuestSession,
  type StartContext,
} from './guest-start.js';

export type { BootOptions, GuestSession } from './guest-start.js';

const AGENT_PATH = '/usr/bin/huci-agent';
/** what images/rootfs/init prints on the console once sshd listens (and the agent runs, if on its port) */
const READY_LINE = /^huci: ready\s*$/;
/** what init prints when it started the agent on its port */
const AGENT_LINE = /^huci: agent on (\/dev\/\S+)\s*$/;

export async function bootGuest(opts: BootOptions): Promise<GuestSession> {
  const ownRunDir = !opts.runDir;
  // short path: the QMP unix socket path must fit in 108 bytes
  const runDir = opts.runDir ?? (await mkdtemp(join(tmpdir(), 'huci-')));
  const progress = opts.onProgress ?? (() => undefined);
  const { accel, reason: accelReason } = await chooseAccelerator(opts.image.kernel);
  const ctx: StartContext = { opts, runDir, ownRunDir, accel, accelReason, progress };
  const slot = opts.snapshots ? await snapshotSlot(ctx) : null;
  let restoreFailed: string | undefined;
  if (slot?.found) {
    try {
      return await restoreGuest(ctx, slot.found);
    } catch (e) {
      restoreFailed = errorMessage(e);
      progress(`restoring the saved guest ${slot.key} failed (${restoreFailed}); booting instead`);
      await slot.store.drop(slot.key).catch(() => undefined);
    }
  }
  const session = await coldBoot(ctx, { how: 'boot', ...(slot ? { snapshot: slot.key } : {}), ...(restoreFailed ? { restoreFailed } : {}) });
  try {
    if (slot) session.start.saved = await saveSnapshot(session, slot, progress);
  } catch (e) {
    // the guest cannot run on (left paused): this start failed, its QEMU goes
    await session.stop().catch(() => undefined);
    throw e;
  }
  return session;
}

async function coldBoot(ctx: StartContext, start: GuestStart): Promise<GuestSession> {
  const { opts, runDir, accel, progress } = ctx;
  const key = await createRunKey(runDir);
  progress(`starting QEMU (${accel}) for ${opts.image.name}`);
  const { machine, sshHostPort, t0 } = await startMachine(ctx, key, false);
  const m = machine;
  // from the first console line: a kernel report before the agent is ready fails the boot at once
  const watch = watchBoot(m.console, m.exited);
  const failure = watch.failed.then((e) => Promise.reject(e));
  failure.catch(() => undefined);
  const guarded = <T>(p: Promise<T>): Promise<T> => Promise.race([p, failure]);
  let ssh: SshGuest | null = null;
  let portSocket: net.Socket | null = null;
  let agentDevice: string | null = null;
  const offAgentLine = ((): (() => void) => {
    const onLine = (l: { text: string }): void => {
      agentDevice ??= AGENT_LINE.exec(l.text)?.[1] ?? null;
    };
    m.console.on('line', onLine);
    return () => void m.console.off('line', onLine);
  })();
  const sshTimeoutMs = opts.sshTimeoutMs ?? 90_000;
  try {
    // The host end is connected before the guest boots: a port without one reads EOF in the guest,
    // and the agent would take that for the end of its input.
    portSocket = await guarded(connectUnix(join(runDir, runFiles.agentSocket)).catch(() => null));
    progress('waiting for the guest (huci: ready)');
    // Init says ready once :22 listens and (with its port) the agent runs. Not seeing the line (a
    // console that does not work) falls through to SSH retries; a console that ended (QEMU gone)
    // waits for the watch's verdict on why.
    await guarded(
      m.console.waitForLine(READY_LINE, { timeoutMs: sshTimeoutMs }).catch(async () => {
        if (m.console.isEnded) await failure;
      }),
    );
    const readyMs = performance.now() - t0;
    let agent: AgentClient;
    let transport: AgentTransport;
    if (portSocket && agentDevice !== null) {
      progress(`agent on ${agentDevice}`);
      const sock = portSocket;
      agent = agentOnPort(m, sock);
      transport = 'virtio-serial';
    } else {
      portSocket?.destroy();
      progress('waiting for sshd');
      // what is left of the boot's bound (a guest that never said ready has used it up), with a
      // floor for sshd to answer a guest whose console is silent
      const timeoutMs = Math.max(sshTimeoutMs - readyMs, Math.min(sshTimeoutMs, 5_000));
      ssh = await guarded(
        connectInRounds(
          { port: sshHostPort, key, timeoutMs, consoleTail: () => m.console.tail(20), abort: m.exited },
          () => m.exitStatus !== null && m.exitStatus !== undefined,
        ),
      );
      progress('starting the agent');
      const channel = await guarded(ssh.channel(AGENT_PATH));
      agent = new AgentClient(channel, channel);
      transport = 'ssh';
    }
    offAgentLine();
    await guarded(checkAgent(agent, m, opts.image));
    // a report that began before the agent was ready still fails the boot
    const late = watch.stop();
    if (late) throw late;
    const agentReadyMs = performance.now() - t0;
    return makeSession(ctx, { machine: m, agent, transport, key, sshHostPort, ssh, agentSocket: portSocket, timings: { readyMs, agentReadyMs }, start });
  } catch (e) {
    offAgentLine();
    // what the watch knows beats what timed out meanwhile (a crash makes the ping time out, too)
    const seen = watch.stop();
    ssh?.close();
    portSocket?.destroy();
    // the run dir stays: its console.log is the evidence
    await m.stop();
    const withConsole = (b: BootError): BootError => {
      b.message = `${b.message} (console: ${m.console.file})`;
      return b;
    };
    if (e instanceof BootError) throw withConsole(e);
    if (seen) throw withConsole(seen);
    if (e instanceof TimeoutError) {
      // the title is one short line; the console tail travels beside it
      const why = e.message.replace(/;? console tail:.*$/s, '');
      const title =
        m.console.lineCount === 0 ? 'no output from the guest while booting' : `guest not ready within ${Math.round(sshTimeoutMs / 1000)} s: ${why}`;
      throw withConsole(new BootError('timeout', title, m.console.tail(BOOT_TAIL_LINES)));
    }
    if (e instanceof InfraError) throw e;
    throw new InfraError(`booting ${opts.image.name}: ${errorMessage(e)}`, m.console.tail(20), { cause: e });
  }
}

type ConnectOptions = Parameters<typeof SshGuest.connect>[0];
const SSH_ROUND_MS = 20_000;

/**
 * SshGuest.connect in bounded rounds until `deadline`. A round whose handshake neither fails nor
 * succeeds is abandoned (closed if it connects later) and another starts: seen with two guests
 * booting at once under load, one boot waited forever with no socket left open.
 */
async function connectInRounds(opts: ConnectOptions, gone: () => boolean): Promise<SshGuest> {
  const deadline = performance.now() + opts.timeoutMs;
  for (let first = true; ; first = false) {
    const budget = first ? Math.min(SSH_ROUND_MS, opts.timeoutMs) : Math.max(1000, Math.min(SSH_ROUND_MS, deadline - performance.now()));
    const round = SshGuest.connect({ ...opts, timeoutMs: budget });
    let timer: NodeJS.Timeout | undefined;
    // a round ends by itself within budget + one attempt's handshake bound (5 s) + its back-off
    const stuck = new Promise<null>((r) => (timer = setTimeout(() => r(null), budget + 7_000)));
    try {
      const guest = await Promise.race([round, stuck]);
      if (guest) return guest;
      void round.then(
        (g) => g.close(),
        () => undefined,
      );
      if (gone() || performance.now() >= deadline) {
        throw new TimeoutError(`sshd on 127.0.0.1:${opts.port}: no SSH handshake completed`, (budget + 7_000) / 1000, opts.consoleTail?.() ?? []);
      }
    } catch (e) {
      if (gone() || performance.now() >= deadline) throw e;
    } finally {
      clearTimeout(timer);
    }
  }
}
