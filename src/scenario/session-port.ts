// The real GuestPort: a GuestSession (src/scenario/vm-session.ts: Machine + AgentClient + SSH on demand)
// seen through the engine's port, and a SessionFactory that boots one per VM configuration.
import { rmSync } from 'node:fs';
import { mkdtemp, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InfraError, errorMessage } from '../errors.js';
import type { ImageArtifacts } from '../image/index.js';
import { QmpClosedError, QmpTimeoutError } from '../vm/qmp/errors.js';
import type { ConsoleLine } from '../vm/console.js';
import type { QemuExitPort } from './run-loop.js';
import { bootGuest, type GuestSession } from './vm-session.js';
import {
  GuestLostError,
  type AgentAnswer,
  type AgentCall,
  type BootHooks,
  type GuestPort,
  type RunHow,
  type SeqOp,
  type SessionFactory,
  type VmConfig,
} from './port.js';
import { agentStepFor, type GuestOp, type OpResult } from '../guest/guest-ops.js';
import type { SeqResult, SeqStep } from '../guest/agent-protocol.js';
import { errnoFromMessage } from './errno.js';
import { machineDevices } from './vm-config.js';
import { runFiles } from '../vm/machine-spec.js';
import { bootArgv } from '../vm/qemu-argv.js';
import { checkoutOf } from '../image/index.js';

/** An OpResult from how the guest's shell command ended. */
function shellResult(r: { code: number | null; stdout: string; stderr: string; timedOut: boolean; ms: number }): OpResult {
  const ok = r.code === 0 && !r.timedOut;
  return {
    ok,
    errno: ok || r.timedOut ? null : (errnoFromMessage(r.stderr) ?? `EXIT${r.code}`),
    out: ok ? r.stdout : r.stderr,
    ms: r.ms,
    timedOut: r.timedOut,
  };
}

/** An OpResult from one step of a seq: a shell command's end, or a file op's outcome (found or read: `out`). */
function stepResult(r: SeqResult): OpResult {
  if (!r.ok) return { ok: false, errno: r.errno, out: r.error ?? r.errno, ms: r.ms, timedOut: false };
  if (r.op === 'sh') return shellResult(r);
  const out = r.op === 'find' ? r.found : r.op === 'klog' ? (r.log ?? '') : '';
  return { ok: true, errno: null, out, ms: r.ms, timedOut: false };
}

/** An OpResult for a request the agent refused, or that got no reply in time. */
function unanswered(r: { errno: string; error?: string | undefined; ms: number; timedOut?: boolean }): OpResult {
  return { ok: false, errno: null, out: r.error ?? r.errno, ms: r.ms, timedOut: r.timedOut === true };
}

export function portFromSession(s: GuestSession, image: string): GuestPort & QemuExitPort {
  const lost = (e: unknown): GuestLostError => new GuestLostError(errorMessage(e));
  /** QEMU gone: the guest is lost. QEMU still running: only our monitor connection broke (harness fault). */
  const qmpClosed = async (e: QmpClosedError): Promise<Error> => {
    const exited = s.machine.exitStatus ?? (await Promise.race([s.machine.exited, new Promise<null>((r) => setTimeout(() => r(null), 1000).unref())]));
    if (exited) return lost(e);
    return new InfraError(`the QMP connection to QEMU (pid ${s.machine.pid}) closed while QEMU still runs: ${errorMessage(e)}`);
  };
  /**
   * Steps in one request on the agent's channel (not an SSH exec channel each: a fraction of the
   * host CPU per operation, and a case runs a dozen). The agent bounds each step itself; the extra
   * second covers the reply's trip. Nothing ran (refused, or no reply in time): the first says why.
   */
  const runSteps = async (steps: Array<SeqStep & { timeoutMs: number; stopOnFailure: boolean }>, boundMs: number): Promise<OpResult[]> => {
    let r;
    try {
      r = await s.agent.request({ op: 'seq', steps }, { timeoutMs: boundMs + 1000 });
    } catch (e) {
      // as agent(): a dead channel is a lost guest; a request the protocol refuses is our bug
      if (e instanceof InfraError) throw lost(e);
      throw e;
    }
    return r.ok ? r.results.map(stepResult) : [unanswered(r)];
  };
  return {
    vm: {
      image,
      kernelRelease: s.image.kernelRelease,
      kernelVersion: s.image.kernelVersion,
      checkout: checkoutOf(s.image.manifest),
      accelerator: s.accel,
      // a restored guest's QEMU waited for a state: the reproducer boots the same machine instead
      qemuArgv: bootArgv(s.machine.argv),
    },
    consoleFile: s.machine.console.file,
    start: s.start,
    driveFile: (driveId) => s.machine.spec.drives.find((d) => d.id === driveId)?.file,
    async agent(call: AgentCall, timeoutMs: number): Promise<AgentAnswer> {
      try {
        return (await s.agent.request(call, { timeoutMs })) as AgentAnswer;
      } catch (e) {
        // a dead agent channel (InfraError) means the guest side is gone; a bad request is our bug
        if (e instanceof InfraError) throw lost(e);
        throw e;
      }
    },
    async run(op: GuestOp, timeoutMs: number, how?: RunHow): Promise<OpResult> {
      return (await runSteps([{ ...agentStepFor(op, how?.ownProcess), timeoutMs, stopOnFailure: false }], timeoutMs))[0]!;
    },
    runSeq: (ops: readonly SeqOp[]): Promise<OpResult[]> =>
      runSteps(
        ops.map((o) => ({ ...agentStepFor(o.op, o.ownProcess), timeoutMs: o.timeoutMs, stopOnFailure: o.stopOnFailure })),
        ops.reduce((sum, o) => sum + o.timeoutMs, 0),
      ),
    async answersApart(timeoutMs: number): Promise<boolean> {
      try {
        // connected on demand (the agent does not need SSH): the connect counts against timeoutMs
        const t0 = performance.now();
        const ssh = await s.ssh(timeoutMs);
        const r = await ssh.exec('true', { timeoutMs: Math.max(1000, timeoutMs - (performance.now() - t0)) });
        return !r.timedOut;
      } catch (e) {
        throw lost(e);
      }
    },
    async qmp(command: string, args: Record<string, unknown> | undefined, timeoutMs: number): Promise<unknown> {
      try {
        return await s.machine.qmp.execute(command, args, { timeoutMs });
      } catch (e) {
        if (e instanceof QmpClosedError) throw await qmpClosed(e);
        throw e;
      }
    },
    async waitForQmpEvent(name: string, match: Record<string, unknown>, timeoutMs: number): Promise<boolean> {
      try {
        await s.machine.qmp.waitForEvent(name, match, timeoutMs);
        return true;
      } catch (e) {
        // Closed resolves false too: the engine arms this wait before its command and attaches its
        // handler afterwards, so a rejection here would be unhandled; the command itself reports it.
        if (e instanceof QmpTimeoutError || e instanceof QmpClosedError) return false;
        throw e;
      }
    },
    onConsoleLine(cb: (l: ConsoleLine) => void): () => void {
      s.machine.console.on('line', cb);
      return () => void s.machine.console.off('line', cb);
    },
    async qemuKilled(waitMs: number): Promise<string | null> {
      // the SSH channel dies at once; QEMU's exit is recorded a moment later (console flushed)
      const status = s.machine.exitStatus ?? (await Promise.race([s.machine.exited, new Promise<null>((r) => setTimeout(() => r(null), waitMs).unref())]));
      if (!status?.signal) return null;
      // QEMU's own last words (an assertion) say whether the guest or QEMU is at fault
      const said = s.machine.stderr().trim().split('\n').filter(Boolean).slice(-2).join(' / ');
      return `QEMU (pid ${s.machine.pid}) was killed by ${status.signal}${said ? ` (stderr: ${said.slice(0, 300)})` : ''}`;
    },
    stop: () => s.stop(),
  };
}

export interface RealSessionOptions {
  /** the image's artifacts (resolves and builds the image when needed) */
  image(name: string): Promise<ImageArtifacts>;
  onProgress?: (step: string) => void;
  memMiB?: number;
  /** kernel words every guest of these sessions gets, after the suite's */
  append?: string[];
  /** start guests from saved ready states, saving them after a boot (vm-session.ts) */
  snapshots?: boolean;
}

/** Boots real guests; keeps each VM's run dir (console.log) until dispose() so reports can copy it. */
export class RealSessions implements SessionFactory {
  private readonly dirs: string[] = [];
  // SIGINT/SIGTERM end the process from the reaper (src/util/reaper.ts) without dispose(): the
  // run dirs (console copies already in the reports) go on the way out, synchronously
  // and at dispose(), synchronously too: fs.promises' rm walks a dir in a thread-pool trip per file
  // (~80 for a run's VMs), two wake-ups each, where the run is over and has nothing else to do
  private readonly onExit = (): void => {
    for (const d of this.dirs.splice(0)) {
      try {
        rmSync(d, { recursive: true, force: true });
      } catch {
        // a run dir left in $TMPDIR, nothing else
      }
    }
  };
  constructor(private readonly opts: RealSessionOptions) {}

  async boot(cfg: VmConfig, hooks: BootHooks = {}): Promise<GuestPort> {
    const image = await this.opts.image(cfg.image);
    // short path: the QMP unix socket path must fit in 108 bytes
    const runDir = await mkdtemp(path.join(tmpdir(), 'huci-run-'));
    if (this.dirs.length === 0) process.on('exit', this.onExit);
    this.dirs.push(runDir);
    hooks.onConsole?.(path.join(runDir, runFiles.console));
    const m = machineDevices(cfg.devices);
    const drives = [];
    for (const d of m.drives) {
      const file = path.join(runDir, `${d.id}.img`);
      const fh = await open(file, 'w');
      await fh.truncate(d.sizeMiB * 2 ** 20);
      await fh.close();
      drives.push({ id: d.id, file, format: 'raw' as const });
    }
    const session = await bootGuest({
      image,
      devices: m.devices,
      chardevs: m.chardevs,
      drives,
      spareRootPorts: cfg.spareRootPorts,
      append: [...cfg.kernelArgs, ...(this.opts.append ?? [])],
      memMiB: this.opts.memMiB ?? 1536,
      sshTimeoutMs: 240_000,
      runDir,
      snapshots: this.opts.snapshots ?? false,
      ...(this.opts.onProgress ? { onProgress: this.opts.onProgress } : {}),
    });
    const port = portFromSession(session, cfg.image);
    // the drives' files live in runDir, gone after the run: a reproducer makes them again
    if (m.drives.length > 0) port.vm.drives = m.drives.map((d) => ({ file: `${d.id}.img`, sizeMiB: d.sizeMiB }));
    return port;
  }

  async dispose(): Promise<void> {
    process.off('exit', this.onExit);
    this.onExit();
  }
}
