// A booted guest ready for work: QEMU (Machine) + the agent (AgentClient) + SSH on demand. The
// agent talks over a virtio-serial port (agent.sock on the host): no SSH handshake per boot and no
// crypto per request. A kernel without virtio_console gets the agent on an SSH channel instead.
// Every path out of bootGuest either returns a session whose stop() kills QEMU, or kills QEMU
// itself before throwing.
import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BootError, InfraError, TimeoutError, errorMessage } from '../errors.js';
import { AgentClient } from '../guest/agent.js';
import { PROTOCOL_VERSION } from '../guest/agent-protocol.js';
import { SshGuest, createRunKey, placeRunKey, type SshKey } from '../guest/ssh.js';
import type { ImageArtifacts } from '../image/index.js';
import type { GuestStart } from '../model/run.js';
import { chooseAccelerator } from '../vm/accel.js';
import { freeLoopbackPort } from '../vm/free-port.js';
import { qemuVersion } from '../vm/host-tools.js';
import { Machine } from '../vm/machine.js';
import { agentPortIds, runFiles, type MachineSpecInput } from '../vm/machine-spec.js';
import { loadMachineState, saveMachineState } from '../vm/machine-state.js';
import { BOOT_TAIL_LINES, watchBoot } from './boot-watch.js';
import { SnapshotStore, snapshotKey, sshKeyMeta, type GuestSnapshot } from './guest-snapshots.js';

const AGENT_PATH = '/usr/bin/huci-agent';
/** what images/rootfs/init prints on the console once sshd listens (and the agent runs, if on its port) */
const READY_LINE = /^huci: ready\s*$/;
/** the virtio-serial port's name (init finds it by this name: huci.agent=) */
const AGENT_PORT_NAME = 'huci.agent';
/** what init prints when it started the agent on its port */
const AGENT_LINE = /^huci: agent on (\/dev\/\S+)\s*$/;

export interface BootOptions {
  image: ImageArtifacts;
  devices?: MachineSpecInput['devices'];
  chardevs?: MachineSpecInput['chardevs'];
  drives?: MachineSpecInput['drives'];
  spareRootPorts?: number;
  memMiB?: number;
  cpus?: number;
  /** extra kernel command-line words */
  append?: string[];
  /** bound for sshd to answer (TCG + KASAN boots are slow) */
  sshTimeoutMs?: number;
  /** where qmp.sock, console.log, the ssh key live; a fresh temp dir when omitted (removed on stop) */
  runDir?: string;
  onProgress?: (step: string) => void;
  /**
   * Start from the saved state of this machine when the image's cache has one (guest-snapshots.ts),
   * and save one after booting when it has none. Off: always boot, save nothing.
   */
  snapshots?: boolean;
}

interface BootTimings {
  /** ms from spawning QEMU until init said ready (sshd listens); a restore: until the state was loaded */
  readyMs: number;
  /** ms from spawning QEMU until the agent answered a ping (a restore: and the guest was refreshed) */
  agentReadyMs: number;
}

/** How the agent's requests travel: its virtio-serial port, or an SSH channel (fallback). */
type AgentTransport = 'virtio-serial' | 'ssh';

export interface GuestSession {
  readonly machine: Machine;
  /** An SSH connection to the guest, made on first use (and again after it was lost). */
  ssh(timeoutMs?: number): Promise<SshGuest>;
  readonly agent: AgentClient;
  readonly transport: AgentTransport;
  readonly accel: 'kvm' | 'tcg';
  readonly accelReason: string;
  readonly image: ImageArtifacts;
  readonly runDir: string;
  readonly timings: BootTimings;
  readonly start: GuestStart;
  readonly key: SshKey;
  /** kill QEMU and close channels; idempotent */
  stop(): Promise<void>;
}

/** Kernel words every guest gets: all printk levels on the console, hung tasks reported quickly. */
const GUEST_APPEND = ['ignore_loglevel', 'sysctl.kernel.hung_task_timeout_secs=20', 'net.ifnames=0'];

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
  if (slot) session.start.saved = await saveSnapshot(session, slot, progress);
  return session;
}

interface StartContext {
  opts: BootOptions;
  runDir: string;
  ownRunDir: boolean;
  accel: 'kvm' | 'tcg';
  accelReason: string;
  progress: (step: string) => void;
}

/** The machine's words for QEMU; `incoming`: it waits for a saved state instead of booting. */
function machineInput(ctx: StartContext, sshHostPort: number, key: SshKey | null, incoming: boolean): MachineSpecInput {
  const { opts } = ctx;
  return {
    kernel: opts.image.kernel,
    initrd: opts.image.initrd,
    // the caller's words after huci.agent=: a later one wins in init (tests name a missing port)
    append: [...GUEST_APPEND, ...opts.image.append, `huci.agent=${AGENT_PORT_NAME}`, ...(opts.append ?? []), ...(key ? [`huci.sshkey=${key.publicBlob}`] : [])],
    memMiB: opts.memMiB ?? 1024,
    cpus: opts.cpus ?? 1,
    accel: ctx.accel,
    runDir: ctx.runDir,
    sshHostPort,
    agentPort: AGENT_PORT_NAME,
    devices: opts.devices ?? [],
    chardevs: opts.chardevs ?? [],
    drives: opts.drives ?? [],
    spareRootPorts: opts.spareRootPorts ?? 0,
    incoming,
  };
}

/** QEMU started for `ctx`; t0 is when it was spawned. */
async function startMachine(ctx: StartContext, key: SshKey, incoming: boolean): Promise<{ machine: Machine; sshHostPort: number; t0: number }> {
  // The free port can be taken by someone else between our probe and QEMU's bind: try another.
  for (let attempt = 1; ; attempt++) {
    const sshHostPort = await freeLoopbackPort();
    const t0 = performance.now();
    try {
      return { machine: await Machine.start(machineInput(ctx, sshHostPort, key, incoming)), sshHostPort, t0 };
    } catch (e) {
      if (attempt >= 3 || !/host forwarding rule|hostfwd/i.test(errorMessage(e))) throw e;
    }
  }
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

/** The agent on its virtio-serial port, `sock` the port's host end. */
function agentOnPort(m: Machine, sock: net.Socket): AgentClient {
  // The guest closing its end (the agent died) leaves our socket open: end it, so pending and
  // later requests fail at once as they did when the agent's SSH channel closed.
  m.qmp.onEvent((ev) => {
    if (ev.event === 'VSERPORT_CHANGE' && ev.data?.id === agentPortIds.port && ev.data?.open === false) sock.destroy();
  });
  return new AgentClient(sock, sock);
}

/** Ping with a bound; a guest agent of another protocol is an image to rebuild. */
async function checkAgent(agent: AgentClient, m: Machine, image: ImageArtifacts): Promise<void> {
  const pong = await agent.ping({ timeoutMs: 20_000 });
  if (!pong.ok) {
    throw new TimeoutError(`the guest agent did not answer a ping (${pong.errno})`, 20, m.console.tail(20));
  }
  // an image built from other agent sources would misread requests rather than refuse them
  if (pong.protocol !== PROTOCOL_VERSION) {
    throw new InfraError(
      `the guest agent speaks protocol ${pong.protocol}, this host ${PROTOCOL_VERSION}: rebuild the image (hotunplug-ci image build ${image.name})`,
    );
  }
}

interface SessionParts {
  machine: Machine;
  agent: AgentClient;
  transport: AgentTransport;
  key: SshKey;
  sshHostPort: number;
  ssh: SshGuest | null;
  agentSocket: net.Socket | null;
  timings: BootTimings;
  start: GuestStart;
}

function makeSession(ctx: StartContext, p: SessionParts): GuestSession {
  const m = p.machine;
  let sshGuest: Promise<SshGuest> | null = p.ssh ? Promise.resolve(p.ssh) : null;
  let stopping: Promise<void> | null = null;
  return {
    machine: m,
    ssh: async (timeoutMs = 60_000) => {
      const current = sshGuest ? await sshGuest.catch(() => null) : null;
      if (current && current.lost === null) return current;
      // one connection at a time; a failed or lost one is tried again on the next call
      sshGuest = stopping
        ? Promise.reject(new InfraError('the guest session is stopping'))
        : SshGuest.connect({ port: p.sshHostPort, key: p.key, timeoutMs, consoleTail: () => m.console.tail(20), abort: m.exited });
      return sshGuest;
    },
    agent: p.agent,
    transport: p.transport,
    accel: ctx.accel,
    accelReason: ctx.accelReason,
    image: ctx.opts.image,
    runDir: ctx.runDir,
    key: p.key,
    timings: p.timings,
    start: p.start,
    stop: () =>
      (stopping ??= (async () => {
        void sshGuest?.then(
          (g) => g.close(),
          () => undefined,
        );
        p.agentSocket?.destroy();
        await m.stop();
        if (ctx.ownRunDir) await rm(ctx.runDir, { recursive: true, force: true }).catch(() => undefined);
      })()),
  };
}

interface SnapshotSlot {
  store: SnapshotStore;
  key: string;
  found: GuestSnapshot | null;
}

async function snapshotSlot(ctx: StartContext): Promise<SnapshotSlot> {
  const store = new SnapshotStore(join(ctx.opts.image.dir, 'snapshots'));
  const key = snapshotKey(machineInput(ctx, 1, null, false), await qemuVersion());
  return { store, key, found: store.find(key) };
}

/** The booted guest's state, saved for the next guest of this machine; a failure only costs speed. */
async function saveSnapshot(session: GuestSession, slot: SnapshotSlot, progress: (step: string) => void): Promise<NonNullable<GuestStart['saved']>> {
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
    // a guest left paused by a failed save is of no use
    await session.machine.qmp.execute('cont').catch(() => undefined);
    // QEMU refuses to migrate some devices (7.2: usb-serial): every VM of this machine boots
    const blocker = NOT_MIGRATABLE.exec(why);
    if (blocker) await slot.store.markUnsavable(slot.key, `QEMU cannot save this machine: ${blocker[0]}`).catch(() => undefined);
    return { failed: why };
  }
}

const NOT_MIGRATABLE = /non-migratable device '[^']*'/;

/** Run the saved guest `snap` in a new QEMU; rejects (QEMU stopped) when it does not come back whole. */
async function restoreGuest(ctx: StartContext, snap: GuestSnapshot): Promise<GuestSession> {
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

// ioctl(2) RNDRESEEDCRNG, _IO('R', 0x07): the CRNG takes a new key from the input pool now
const RNDRESEEDCRNG = 0x5207;

/**
 * What a restored guest must not keep from the guest it was saved from: the wall clock (it stood
 * still while the state was on disk) and the CRNG's key (every guest restored from one state
 * would draw the same numbers). Then a line through /dev/kmsg must reach the console.
 */
async function refreshRestored(agent: AgentClient, m: Machine, snapshot: string): Promise<void> {
  const marker = `huci: restored ${snapshot}`;
  const seen = m.console.waitForLine(new RegExp(`${marker}$`), { timeoutMs: 5000 });
  seen.catch(() => undefined);
  // the shell (a fork and exec in a guest whose translated code is cold) runs while the CRNG is reseeded
  const clock = setGuestClock(agent, `echo '${marker}' > /dev/kmsg`);
  clock.catch(() => undefined);
  const fd = await agent.request({ op: 'open', path: '/dev/urandom', flags: ['O_WRONLY'] }, { timeoutMs: 5000 });
  if (!fd.ok) throw new InfraError(`opening /dev/urandom in the restored guest: ${fd.errno}`);
  try {
    const mixed = await agent.request({ op: 'write', handle: fd.handle, hex: randomBytes(64).toString('hex') }, { timeoutMs: 5000 });
    const reseeded = await agent.request({ op: 'ioctl', handle: fd.handle, request: { number: RNDRESEEDCRNG, arg: 0 } }, { timeoutMs: 5000 });
    if (!mixed.ok || !reseeded.ok) throw new InfraError(`reseeding the restored guest's CRNG: ${mixed.errno ?? reseeded.errno}`);
  } finally {
    await agent.request({ op: 'close', handle: fd.handle }, { timeoutMs: 5000 });
  }
  await clock;
  await seen;
}

/** The guest's wall clock set to the host's (to the second), then `then` in the same shell. */
async function setGuestClock(agent: AgentClient, then?: string): Promise<void> {
  const command = `date -u -s @${Math.round(Date.now() / 1000)} >/dev/null${then ? ` && ${then}` : ''}`;
  const r = await agent.request({ op: 'sh', command, timeoutMs: 5000 }, { timeoutMs: 6000 });
  if (!r.ok || r.code !== 0) throw new InfraError(`setting the guest's clock: ${r.ok ? `exit ${r.code}: ${r.stderr.trim()}` : r.errno}`);
}

/** A connected unix socket (QEMU's chardev server listens once QMP is up). */
function connectUnix(file: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ path: file });
    sock.once('connect', () => {
      sock.off('error', reject);
      // until the agent client listens: a reset when QEMU dies must not be an unhandled 'error'
      sock.on('error', () => undefined);
      resolve(sock);
    });
    sock.once('error', reject);
  });
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
