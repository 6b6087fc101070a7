// What a step kind and a removal kind are: the suite fields it owns (its schema), and what it does
// on the guest through the domain operations of a KindContext. The engine knows no kind by name;
// kinds/registry.ts lists them. How a kind's operations behave in engine tests is the fake guest's
// model of those operations (src/scenario/testing/fake-guest.ts), one per operation, not per kind.
import type { z } from 'zod';
import { describeOp, type GuestOp, type OpResult } from '../../guest/guest-ops.js';
import { GuestLostError, type AgentAnswer, type AgentCall, type Clock, type GuestPort, type SeqOp } from '../port.js';
import type { DeviceDecl } from '../suite-atoms.js';
import type { TimelineEvent } from '../../model/run.js';

/** The harness could not do what the case asked (not a kernel verdict). */
export class HarnessFailure extends Error {}

export type Phase = 'prepare' | 'restore' | 'removal';

/** What the engine lends a kind while it runs. */
export interface KindContext {
  readonly phase: Phase;
  readonly port: GuestPort;
  readonly clock: Clock;
  /** "${var}" filled in (HarnessFailure for a variable nothing discovered) */
  sub(s: string): string;
  /** the same in every string of a structured value (ioctl args, struct values) */
  subArgs(v: unknown): unknown;
  /** one domain operation on the guest, noted in the timeline */
  guest(op: GuestOp, timeoutMs: number): Promise<OpResult>;
  /**
   * Operations one after the other in one request (GuestPort.runSeq), each noted in the timeline
   * when it ended and handed to `each` then; in the removal phase each in a guest process of its
   * own, as `guest` runs it. Absent when the port has no such request.
   */
  seq?(ops: readonly SeqOp[], each: (r: OpResult, k: number) => void): Promise<OpResult[]>;
  /** one agent request, noted in the timeline */
  agent(call: AgentCall, label: string, timeoutMs: number): Promise<AgentAnswer>;
  note(kind: TimelineEvent['kind'], label: string, detail?: string): void;
  /** a device the case declares (for device_add by id) */
  device(id: string): DeviceDecl | undefined;
  setVar(name: string, value: string): void;
  /** the agent handle of a held fd (HarnessFailure when nothing of that name is held) */
  handle(name: string): number;
  /** held for the whole case; its guest fd number (when known) becomes ${NAME_fd} */
  hold(name: string, handle: number, fd?: number): void;
  release(name: string): void;
  /** what the agent runs for a suite's ioctl request */
  ioctlRequest(request: unknown, args: unknown): unknown;
  /** a vocabulary struct's bytes as hex, "${var}" filled in */
  structHex(struct: string, value: unknown): string;
  /** a number, or a vocabulary constant's value by name */
  constant(v: number | string): number;
  /** throws GuestLostError when neither the agent nor SSH answers */
  lostIfSilent(): Promise<void>;
  /** the case is over: background polls stop */
  finished(): boolean;
  /** this VM is not reused after the case (why: for the timeline) */
  retireVm(why: string): void;
}

/** How a step went: a failed step fails the case unless the suite marks it optional. */
export type StepResult = { ok: true } | { ok: false; message: string; errno?: string | null };

/** The value a kind sees: its own fields of the step or removal object. */
type FieldsOf<F extends z.ZodRawShape> = z.infer<z.ZodObject<F>>;

export interface StepKind<F extends z.ZodRawShape> {
  /** the suite key that selects this kind */
  readonly key: string;
  /** its fields in the step object (usually just `key`; modprobe also owns `params`) */
  readonly fields: F;
  /** the timeline's name for the step */
  label(step: FieldsOf<F>): string;
  run(step: FieldsOf<F>, ctx: KindContext, timeoutMs: number): Promise<StepResult>;
  /** Set by opStepKind: the step is one guest operation, which the engine may send with its neighbours (GuestPort.runSeq). */
  one?: OneOp<FieldsOf<F>>;
}

/** A step that is one guest operation. */
export interface OneOp<S> {
  /** the operation, "${var}" filled in (HarnessFailure for a variable nothing discovered yet) */
  op(step: S, ctx: KindContext): GuestOp;
  /** the operation's bound, from the step's (default: the step's) */
  timeoutMs?(step: S, stepTimeoutMs: number): number;
  /** what the operation's result makes of the step (default: it succeeded or failed with it) */
  result?(step: S, r: OpResult, ctx: KindContext, timeoutMs: number): StepResult;
  /** the variable the step sets: a step that uses it must wait for its result */
  sets?(step: S): string;
}

/** A step kind, its callbacks typed from its fields. */
export const stepKind = <F extends z.ZodRawShape>(k: StepKind<F>): StepKind<F> => k;

/** A step kind that is one guest operation: `run` does what `one` says, and so may the engine for several at once. */
export const opStepKind = <F extends z.ZodRawShape>(k: Omit<StepKind<F>, 'run' | 'one'> & { one: OneOp<FieldsOf<F>> }): StepKind<F> => ({
  ...k,
  run: async (s, ctx, stepTimeoutMs) => {
    const op = k.one.op(s, ctx);
    const timeoutMs = k.one.timeoutMs?.(s, stepTimeoutMs) ?? stepTimeoutMs;
    return oneResult(k.one, s, op, await ctx.guest(op, timeoutMs), ctx, timeoutMs);
  },
});

/** A one-operation step's result from its operation's. */
export function oneResult<S>(one: OneOp<S>, step: S, op: GuestOp, r: OpResult, ctx: KindContext, timeoutMs: number): StepResult {
  return one.result ? one.result(step, r, ctx, timeoutMs) : opStepResult(ctx.phase, op, r, timeoutMs);
}

/** When a removal ended (engine-clock ms), and how. */
export interface RemovalEnd {
  at: number;
  ok: boolean;
  errno: string | null;
  detail?: string;
  /** the guest stopped answering meanwhile */
  lost?: string;
  timedOut?: boolean;
}

export interface RemovalKind<F extends z.ZodRawShape> {
  readonly key: string;
  readonly fields: F;
  label(removal: FieldsOf<F>): string;
  /**
   * Issues the removal; resolves once issued, with `pending` that settles when it completes (an
   * unbind may block in the kernel until the fds close). Throws HarnessFailure when it cannot be issued.
   */
  issue(removal: FieldsOf<F>, ctx: KindContext, horizonMs: number): Promise<{ pending: Promise<RemovalEnd> }>;
}

/** A removal kind, its callbacks typed from its fields. */
export const removalKind = <F extends z.ZodRawShape>(k: RemovalKind<F>): RemovalKind<F> => k;

/** The end of a removal that is one guest operation (or a step's result) issued now. */
export function endOf(ctx: KindContext, pending: Promise<OpResult>): Promise<RemovalEnd> {
  return pending.then(
    (x): RemovalEnd => ({
      at: ctx.clock.now(),
      ok: x.ok,
      errno: x.ok || x.timedOut ? null : (x.errno ?? 'EIO'),
      ...(x.ok || !x.out.trim() ? {} : { detail: x.out.trim() }),
      ...(x.timedOut ? { timedOut: true } : {}),
    }),
    (e: unknown): RemovalEnd => ({ at: ctx.clock.now(), ok: false, errno: null, lost: lostReason(e) }),
  );
}

export function lostReason(e: unknown): string {
  return e instanceof GuestLostError ? e.reason : e instanceof Error ? e.message : String(e);
}

/** A step's result from its one operation's. */
function opStepResult(phase: Phase, op: GuestOp, r: OpResult, timeoutMs: number): StepResult {
  if (r.ok) return { ok: true };
  const why = r.timedOut ? `timed out after ${timeoutMs} ms` : `failed${r.errno ? ` (${r.errno})` : ''}`;
  return { ok: false, errno: r.errno, message: `${phase} step "${describeOp(op)}" ${why}${r.out.trim() ? `: ${r.out.trim()}` : ''}` };
}
