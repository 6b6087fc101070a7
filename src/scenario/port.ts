// The engine's view of a running guest (and of how to get one). session-port.ts implements GuestPort
// with a GuestSession (src/scenario/vm-session.ts: Machine for QMP and console, the agent, SSH on
// demand); engine tests implement it with a scripted fake. Nothing here starts a process.
import type { AgentRequest } from '../guest/agent-protocol.js';
import type { GuestOp, OpResult } from '../guest/guest-ops.js';
import type { GuestStart, VmInfo } from '../model/run.js';
import type { DeviceDecl } from './suite-schema.js';

/** An agent request without its id (the client assigns ids). */
export type AgentCall = AgentRequest;

/**
 * An agent reply as the engine reads it: success fields vary per op. A request the agent did not
 * answer in time resolves (never rejects) with errno ETIMEDOUT_HARNESS and timedOut: true.
 */
export interface AgentAnswer {
  ok: boolean;
  errno: string | null;
  ms: number;
  timedOut?: boolean;
  [field: string]: unknown;
}

export interface PortConsoleLine {
  text: string;
  hostMs: number;
  lineNo: number;
}

/** The guest stopped answering (SSH connection lost, QEMU gone): the engine's "hung" evidence. */
export class GuestLostError extends Error {
  constructor(readonly reason: string) {
    super(`guest lost: ${reason}`);
    this.name = 'GuestLostError';
  }
}

/** How GuestPort.run runs an operation. */
export interface RunHow {
  /**
   * In a guest process of its own (a shell command the agent starts), never in the agent: a
   * removal's operation, whose task the blocked evidence finds among the agent's children.
   */
  ownProcess?: boolean;
}

/** One operation of GuestPort.runSeq. */
export interface SeqOp {
  op: GuestOp;
  timeoutMs: number;
  stopOnFailure: boolean;
  /** as RunHow's: a shell command of its own, never the agent's own operation */
  ownProcess?: boolean;
}

export interface GuestPort {
  readonly vm: VmInfo;
  /** One agent request. Never rejects for kernel errors; rejects with GuestLostError if the agent's channel is gone. */
  agent(call: AgentCall, timeoutMs: number): Promise<AgentAnswer>;
  /**
   * One domain operation in the guest (a sysfs write, a module load, a kernel-log marker…).
   * Resolves with timedOut on timeout; rejects with GuestLostError when the guest's channel is gone.
   */
  run(op: GuestOp, timeoutMs: number, how?: RunHow): Promise<OpResult>;
  /**
   * Operations one after the other in one request (a phase's plain set-up steps): a result for each
   * that ran, in order; it stops after a failed one that has stopOnFailure. Rejects as run() does.
   * A port without it runs them one by one.
   */
  runSeq?(ops: readonly SeqOp[]): Promise<OpResult[]>;
  /**
   * Whether the guest answers on a channel of its own (SSH), apart from the agent: a second opinion
   * when the agent is silent. false: no answer within timeoutMs; rejects with GuestLostError.
   */
  answersApart?(timeoutMs: number): Promise<boolean>;
  /** The image file behind a drive QEMU was started with (to plug its backend in again after a device_del took it). */
  driveFile?(driveId: string): string | undefined;
  /** A QMP command; rejects with the QMP error's text. */
  qmp(command: string, args: Record<string, unknown> | undefined, timeoutMs: number): Promise<unknown>;
  /**
   * Arms a wait for a QMP event (data matching `match`) *now* — call it before issuing the command
   * that causes the event. Resolves true when it arrives, false on timeout.
   */
  waitForQmpEvent(name: string, match: Record<string, unknown>, timeoutMs: number): Promise<boolean>;
  /** Live console lines from now on; returns the unsubscribe function. */
  onConsoleLine(cb: (line: PortConsoleLine) => void): () => void;
  /** The console file of this VM (for the run's consoles/). */
  readonly consoleFile: string | null;
  /** Booted or restored (real VMs; fakes leave it out). */
  readonly start?: GuestStart;
  /** Stops the VM (idempotent, bounded). */
  stop(): Promise<void>;
}

/** What a group of cases needs from the VM at boot. */
export interface VmConfig {
  image: string;
  /** kernel words the suite's guests boot with (suite `kernelArgs`) */
  kernelArgs: string[];
  devices: DeviceDecl[];
  /** empty pcie-root-ports for `device_add` of new PCI devices during preparation */
  spareRootPorts: number;
}

export interface BootHooks {
  /** where this boot's console will be, called before QEMU starts: a boot that fails keeps it */
  onConsole?(file: string): void;
}

export interface SessionFactory {
  /**
   * Boots a guest for `cfg` (image, devices at boot) and returns it once the agent answers. Rejects
   * with a BootError when the kernel fails to boot, an InfraError when the machinery does.
   */
  boot(cfg: VmConfig, hooks?: BootHooks): Promise<GuestPort>;
}

/** Console-report detection, injectable so engine tests can script findings. */
export interface DetectorPort {
  live(): LiveDetector;
  detect(log: string): FindingLike[];
}
interface LiveDetector {
  push(line: string, nowMs: number): FindingLike[];
  tick(nowMs: number): FindingLike[];
  flush(): FindingLike[];
  /** start line of the oldest report still being read (null: none open); StreamDetector has it */
  readonly oldestOpenLine?: number | null;
}
export interface FindingLike {
  kind: string;
  title: string;
  altTitles: string[];
  frame: string | null;
  startLine: number;
  endLine: number;
  report: string;
  corrupted: boolean;
  corruptedReason?: string;
  taint?: string;
  cpu?: number;
  pid?: number;
  comm?: string;
}

/**
 * Ends a sleep early (it resolves): a bound that lost its race must not keep the process alive.
 * Not an AbortSignal: the engine bounds several waits per case, and an EventTarget per bound cost
 * more than the rest of the bound.
 */
export class SleepCancel {
  #cancelled = false;
  #stop: (() => void) | undefined;
  get cancelled(): boolean {
    return this.#cancelled;
  }
  /** the clock's: how to end the sleep this cancels (one sleep per cancel) */
  onCancel(stop: () => void): void {
    if (this.#cancelled) stop();
    else this.#stop = stop;
  }
  cancel(): void {
    if (this.#cancelled) return;
    this.#cancelled = true;
    this.#stop?.();
    this.#stop = undefined;
  }
}

/** The clock and sleep the engine uses, injectable so tests need not wait. */
export interface Clock {
  now(): number;
  /** `cancel` ends the sleep early (it resolves) */
  sleep(ms: number, cancel?: SleepCancel): Promise<void>;
}
export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, cancel) =>
    new Promise((r) => {
      if (cancel?.cancelled) return r();
      const t = setTimeout(r, ms);
      cancel?.onCancel(() => (clearTimeout(t), r()));
    }),
};
