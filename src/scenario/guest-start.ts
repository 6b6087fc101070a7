// What every guest start shares, booted or restored: QEMU's words for the machine, starting it,
// the agent on its port, the ping that checks it, and the session a caller gets (GuestSession).
// vm-session.ts boots; guest-restore.ts saves a ready guest and restores it.
import { rm } from 'node:fs/promises';
import net from 'node:net';
import { InfraError, TimeoutError, errorMessage } from '../errors.js';
import { AgentClient } from '../guest/agent.js';
import { PROTOCOL_VERSION } from '../guest/agent-protocol.js';
import { SshGuest, type SshKey } from '../guest/ssh.js';
import type { ImageArtifacts } from '../image/index.js';
import type { GuestStart } from '../model/run.js';
import { freeLoopbackPort } from '../vm/free-port.js';
import { Machine } from '../vm/machine.js';
import { agentPortIds, type MachineSpecInput } from '../vm/machine-spec.js';

/** the virtio-serial port's name (init finds it by this name: huci.agent=) */
const AGENT_PORT_NAME = 'huci.agent';

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
export type AgentTransport = 'virtio-serial' | 'ssh';

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

export interface StartContext {
  opts: BootOptions;
  runDir: string;
  ownRunDir: boolean;
  accel: 'kvm' | 'tcg';
  accelReason: string;
  progress: (step: string) => void;
}

/** The machine's words for QEMU; `incoming`: it waits for a saved state instead of booting. */
export function machineInput(ctx: StartContext, sshHostPort: number, key: SshKey | null, incoming: boolean): MachineSpecInput {
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
export async function startMachine(ctx: StartContext, key: SshKey, incoming: boolean): Promise<{ machine: Machine; sshHostPort: number; t0: number }> {
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

/** The agent on its virtio-serial port, `sock` the port's host end. */
export function agentOnPort(m: Machine, sock: net.Socket): AgentClient {
  // The guest closing its end (the agent died) leaves our socket open: end it, so pending and
  // later requests fail at once as they did when the agent's SSH channel closed.
  m.qmp.onEvent((ev) => {
    if (ev.event === 'VSERPORT_CHANGE' && ev.data?.id === agentPortIds.port && ev.data?.open === false) sock.destroy();
  });
  return new AgentClient(sock, sock);
}

/** Ping with a bound; a guest agent of another protocol is an image to rebuild. */
export async function checkAgent(agent: AgentClient, m: Machine, image: ImageArtifacts): Promise<void> {
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

export interface SessionParts {
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

export function makeSession(ctx: StartContext, p: SessionParts): GuestSession {
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

/** The guest's wall clock set to the host's (the agent's `refresh`: no shell). */
export async function setGuestClock(agent: AgentClient): Promise<void> {
  const r = await agent.request({ op: 'refresh', unixMs: Date.now() }, { timeoutMs: 5000 });
  if (!r.ok) throw new InfraError(`setting the guest's clock: ${r.errno}${r.error ? `: ${r.error}` : ''}`);
}

/** A connected unix socket (QEMU's chardev server listens once QMP is up). */
export function connectUnix(file: string): Promise<net.Socket> {
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
