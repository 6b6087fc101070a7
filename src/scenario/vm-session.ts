// A booted guest ready for work: QEMU (Machine) + sshd reached (SshGuest) + the agent running on
// a long-lived SSH channel (AgentClient). Every path out of bootGuest either returns a session
// whose stop() kills QEMU, or kills QEMU itself before throwing.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InfraError, TimeoutError, errorMessage } from '../errors.js';
import { AgentClient } from '../guest/agent.js';
import { SshGuest, createRunKey, type SshKey } from '../guest/ssh.js';
import type { ImageArtifacts } from '../image/resolve.js';
import { chooseAccelerator } from '../vm/accel.js';
import { freeLoopbackPort } from '../vm/free-port.js';
import { Machine } from '../vm/machine.js';
import type { MachineSpecInput } from '../vm/machine-spec.js';

export const AGENT_PATH = '/usr/bin/huci-agent';
/** what images/rootfs/init prints on the console once sshd listens */
const READY_LINE = /^huci: ready\s*$/;

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
}

export interface BootTimings {
  /** ms from spawning QEMU until sshd answered */
  sshReadyMs: number;
  /** ms from spawning QEMU until the agent answered a ping */
  agentReadyMs: number;
}

export interface GuestSession {
  readonly machine: Machine;
  readonly ssh: SshGuest;
  readonly agent: AgentClient;
  readonly accel: 'kvm' | 'tcg';
  readonly accelReason: string;
  readonly image: ImageArtifacts;
  readonly runDir: string;
  readonly timings: BootTimings;
  readonly key: SshKey;
  /** kill QEMU and close channels; idempotent */
  stop(): Promise<void>;
}

/** Kernel words every guest gets: all printk levels on the console, hung tasks reported quickly. */
export const GUEST_APPEND = ['ignore_loglevel', 'sysctl.kernel.hung_task_timeout_secs=20', 'net.ifnames=0'];

export async function bootGuest(opts: BootOptions): Promise<GuestSession> {
  const ownRunDir = !opts.runDir;
  // short path: the QMP unix socket path must fit in 108 bytes
  const runDir = opts.runDir ?? (await mkdtemp(join(tmpdir(), 'huci-')));
  const progress = opts.onProgress ?? (() => undefined);
  const key = await createRunKey(runDir);
  const { accel, reason: accelReason } = await chooseAccelerator(opts.image.kernel);
  progress(`starting QEMU (${accel}) for ${opts.image.name}`);
  let t0 = performance.now();
  let machine: Machine | null = null;
  let sshHostPort = 0;
  // The free port can be taken by someone else between our probe and QEMU's bind: try another.
  for (let attempt = 1; !machine; attempt++) {
    sshHostPort = await freeLoopbackPort();
    t0 = performance.now();
    try {
      machine = await Machine.start({
        kernel: opts.image.kernel,
        initrd: opts.image.initrd,
        append: [...GUEST_APPEND, ...opts.image.append, ...(opts.append ?? []), `huci.sshkey=${key.publicBlob}`],
        memMiB: opts.memMiB ?? 1024,
        cpus: opts.cpus ?? 1,
        accel,
        runDir,
        sshHostPort,
        devices: opts.devices ?? [],
        chardevs: opts.chardevs ?? [],
        drives: opts.drives ?? [],
        spareRootPorts: opts.spareRootPorts ?? 0,
      });
    } catch (e) {
      if (attempt >= 3 || !/host forwarding rule|hostfwd/i.test(errorMessage(e))) throw e;
    }
  }
  let ssh: SshGuest | null = null;
  try {
    // Knock only once init says :22 listens: an SSH attempt made while the guest's eth0/sshd is not
    // up yet stalls in slirp's SYN retransmits (measured: ready→sshd 1.5–3 s late under TCG).
    // Not seeing the line (a console that does not work) falls through to plain retries.
    const sshTimeoutMs = opts.sshTimeoutMs ?? 90_000;
    progress('waiting for the guest (huci: ready)');
    await machine.console.waitForLine(READY_LINE, { timeoutMs: sshTimeoutMs }).catch(() => undefined);
    progress('waiting for sshd');
    const m = machine;
    ssh = await connectInRounds(
      { port: sshHostPort, key, timeoutMs: sshTimeoutMs, consoleTail: () => m.console.tail(20), abort: m.exited },
      () => m.exitStatus !== null && m.exitStatus !== undefined,
    );
    const sshReadyMs = performance.now() - t0;
    progress('starting the agent');
    const channel = await ssh.channel(AGENT_PATH);
    const agent = new AgentClient(channel, channel);
    const pong = await agent.ping({ timeoutMs: 20_000 });
    if (!pong.ok) {
      throw new TimeoutError(`the guest agent did not answer a ping (${pong.errno})`, 20, machine.console.tail(20));
    }
    const agentReadyMs = performance.now() - t0;
    const sshGuest = ssh;
    let stopping: Promise<void> | null = null;
    return {
      machine,
      ssh: sshGuest,
      agent,
      accel,
      accelReason,
      image: opts.image,
      runDir,
      key,
      timings: { sshReadyMs, agentReadyMs },
      stop: () =>
        (stopping ??= (async () => {
          sshGuest.close();
          await machine.stop();
          if (ownRunDir) await rm(runDir, { recursive: true, force: true }).catch(() => undefined);
        })()),
    };
  } catch (e) {
    ssh?.close();
    await machine.stop();
    if (e instanceof InfraError) throw e;
    throw new InfraError(`booting ${opts.image.name}: ${errorMessage(e)}`, machine.console.tail(20), { cause: e });
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
