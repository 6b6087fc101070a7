// Runs one resolved case against a guest through the port: prepare, hold fds, start in-flight loops,
// remove, probe the zombie fds, stop loops, close, measure a blocked removal, restore, settle,
// harvest the kernel log. It records what happened (CaseRecord + timeline); it never judges —
// src/classify does that from the record.
import { recordingPort } from './replay-recorder.js';
import { errorMessage } from '../errors.js';
import type { ReplayAction, TimelineEvent } from '../model/run.js';
import { probeAccepted } from '../classify/accept.js';
import type { CaseRecord, LoopOutcome, ProbeOutcome, RemovalOutcome } from '../classify/record.js';
import { SEQ_MAX, type GuestTask } from '../guest/agent-protocol.js';
import { describeOp, type GuestOp, type OpResult } from '../guest/guest-ops.js';
import { mergeKernelLog, sliceBetween } from './kernel-log.js';
import {
  GuestLostError,
  realClock,
  SleepCancel,
  type AgentAnswer,
  type AgentCall,
  type Clock,
  type DetectorPort,
  type FindingLike,
  type GuestPort,
  type RunHow,
} from './port.js';
import type { Holder, Loop, Probe, ResolvedCase } from './suite-schema.js';
import { HarnessFailure, oneResult, type KindContext, type Phase, type RemovalEnd } from './kinds/kind.js';
import { holderKindOf, removalKindOf, runStep, stepOne, type Step } from './kinds/registry.js';
import { vocabulary } from './load-suites.js';
import { agentCall } from '../vocabulary/load.js';
import { encode } from '../vocabulary/codec.js';
import { mapStrings } from '../vocabulary/substitute.js';
import { planOneOps, VAR } from './kinds/one-op-batch.js';

/** The agent's pid per guest, once a blocked wait asked for it: the same process for the guest's life. */
const agentPids = new WeakMap<GuestPort, number>();

/** The bound on writing a case marker into the kernel log. */
const MARK_MS = 3000;

export interface CaseContext {
  port: GuestPort;
  detector: DetectorPort;
  iteration: number;
  clock?: Clock;
  /**
   * How the case knows the console has everything it caused: 'flush' (default) writes its end
   * marker and waits to see it on the console, then a short grace; 'quiet' waits for a quiet
   * console (the older way, kept for the bench's side-by-side figures).
   */
  settle?: 'flush' | 'quiet';
  /**
   * Decide "blocked" before the removal's bound once the task doing it has been seen asleep in the
   * same kernel wait for this long (agent `tasks` samples); undefined: sit out the bound.
   */
  blockedEvidenceMs?: number;
}

export interface CaseRun {
  record: CaseRecord;
  startedAt: string;
  durationMs: number;
  timeline: TimelineEvent[];
  consoleExcerpt: string;
  findings: FindingLike[];
  /** the guest's state is unknown or damaged: the next case needs a fresh VM */
  needsRestart: boolean;
  /** what the case did to the guest, in order (the reproducer's script) */
  replay: ReplayAction[];
  /** the console's line number of the last line this case saw (0: none); later lines are not its */
  lastConsoleLineNo: number;
}

/** What every case's begin marker in the kernel log starts with (its tag follows). */
export const BEGIN_MARK = 'huci: begin ';

const AGENT_MS = 5000;
/** how often a pending removal's task is looked at, when blocked evidence is on */
const TASK_SAMPLE_MS = 200;
/** waits that end by themselves: a task sleeping in these is working, not waiting for the fds */
const TIMED_SLEEP = /^(?:msleep|usleep_range_state|hrtimer_nanosleep|do_nanosleep|schedule_hrtimeout_range(?:_clock)?|0)$/;
/**
 * After the end marker is seen on the console, reports the kernel prints asynchronously (RCU
 * callbacks, workqueues) may still come: this long. None of the catalog's did (README,
 * Performance); a later one is attributed by the run loop.
 */
export const LATE_GRACE_MS = 50;
const QUIET_MS = 1000;
/** console quiet that ends the settle window when no report is open in the detector */
const QUIET_IDLE_MS = 500;
const SETTLE_POLL_MS = 100;

export async function runCase(c: ResolvedCase, ctx: CaseContext): Promise<CaseRun> {
  return new CaseExecution(c, ctx).run();
}

/** A case the image cannot run: no guest involved. */
export function skippedRun(c: ResolvedCase, missing: string[], now = Date.now()): CaseRun {
  return {
    record: emptyRecord(c.id, missing),
    startedAt: new Date(now).toISOString(),
    durationMs: 0,
    timeline: [],
    consoleExcerpt: '',
    findings: [],
    needsRestart: false,
    replay: [],
    lastConsoleLineNo: 0,
  };
}

function emptyRecord(id: string, missing: string[] = []): CaseRecord {
  return {
    id,
    missingOptions: missing,
    harnessError: null,
    guestLost: null,
    consoleLinesSeen: 0,
    removal: null,
    probes: [],
    loops: [],
    restore: null,
    findings: [],
  };
}

class CaseExecution {
  private readonly clock: Clock;
  private readonly port: GuestPort;
  private readonly t0: number;
  private readonly timeline: TimelineEvent[] = [];
  /** while a request's steps are noted: the time the one being noted ended */
  private stepAtMs: number | undefined;
  /** the result of an operation that rode after a phase's last step (steps' `trail`) */
  private trailed: OpResult | undefined;
  private readonly vars = new Map<string, string>();
  private readonly handles = new Map<string, number>();
  private readonly loopIds: Array<{ decl: Loop; id: number; stress?: true }> = [];
  private consoleLines: string[] = [];
  /** lines before the begin marker showed on the console (the previous case's, once it shows) */
  private preamble: string[] = [];
  private begun = false;
  private lastLineNo = 0;
  /** resolves when this case's end marker shows on the console */
  private endSeen!: () => void;
  private readonly endShown = new Promise<void>((r) => (this.endSeen = r));
  /** Engine-clock time the last console line came in (settle measures quiet from it). */
  private lastLineMs = 0;
  private readonly record: CaseRecord;
  private readonly tag: string;
  /** set when the case is over: background polls stop */
  private finished = false;
  /** a restore step said this VM cannot serve another case */
  private retired = false;
  private readonly replay: ReplayAction[] = [];

  constructor(
    private readonly c: ResolvedCase,
    private readonly ctx: CaseContext,
  ) {
    this.clock = ctx.clock ?? realClock;
    this.t0 = this.clock.now();
    this.port = recordingPort(ctx.port, this.clock, this.t0, this.replay);
    this.record = emptyRecord(c.id);
    this.tag = `${c.id}#${ctx.iteration}@${this.t0}`;
  }

  private get beginMarker(): string {
    return `${BEGIN_MARK}${this.tag}`;
  }
  private get endMarker(): string {
    return `huci: end ${this.tag}`;
  }

  /** `atMs`: when it happened, when that was before now; else the step being noted's time, if any */
  private note(kind: TimelineEvent['kind'], label: string, detail?: string, atMs?: number): void {
    const hostMs = atMs ?? this.stepAtMs ?? this.clock.now();
    // an event noted after the fact (the steps of a request, told by its reply) goes where it happened
    let at = this.timeline.length;
    while (at > 0 && this.timeline[at - 1]!.hostMs > hostMs) at--;
    this.timeline.splice(at, 0, { hostMs, relMs: hostMs - this.t0, kind, label, ...(detail !== undefined ? { detail: detail.slice(0, 2000) } : {}) });
  }

  async run(): Promise<CaseRun> {
    const live = this.ctx.detector.live();
    const begin = this.beginMarker;
    const endMarker = this.endMarker;
    const unsubscribe = this.port.onConsoleLine((l) => {
      this.lastLineNo = Math.max(this.lastLineNo, l.lineNo);
      if (!this.begun) {
        // what the console still had from before this case is the previous case's
        if (!l.text.includes(begin)) {
          this.preamble.push(l.text);
          return;
        }
        this.begun = true;
      }
      this.consoleLines.push(l.text);
      this.lastLineMs = this.clock.now();
      if (l.text.includes(endMarker)) this.endSeen();
      for (const f of live.push(l.text, l.hostMs)) this.note('finding', f.title, f.kind);
    });
    let pendingRemoval: Promise<RemovalEnd> | null = null;
    const flushing = (this.ctx.settle ?? 'flush') === 'flush';
    const endMark: GuestOp = { op: 'mark', text: endMarker, dmesgFrom: begin };
    try {
      await this.steps(this.c.prepare, 'prepare', begin);
      for (const h of this.c.holders) await this.hold(h);
      for (const l of this.c.loops) await this.spawn(l);
      await this.spawnStress();
      if (this.loopIds.length > 0) await this.loopsInFlight();
      pendingRemoval = (await this.removeWhileHeld()).pending;
      const rmNow = this.record.removal!;
      if (rmNow.errno !== null && rmNow.refusedOk.includes(rmNow.errno)) {
        // nothing was removed: the fds are live, and a probe such as a blocking read would only wait
        this.note('step', 'probes skipped', `the removal was refused with ${rmNow.errno}`);
      } else {
        for (const p of this.c.probes) await this.probe(p);
      }
      await this.stopLoops();
      const closedAt = await this.closeAll();
      const rm = this.record.removal!;
      if (!rm.completed) {
        const end = await this.within(pendingRemoval!, this.c.removal.closeWaitMs);
        if (end?.lost) throw new GuestLostError(end.lost);
        if (end && !end.timedOut) {
          rm.completedAfterCloseMs = end.at - closedAt;
          this.note('step', 'removal completed after close', `${Math.round(rm.completedAfterCloseMs)} ms after the fds were closed`);
        } else {
          this.note('step', 'removal never completed', `not within ${this.c.removal.closeWaitMs} ms after the fds were closed`);
        }
      }
      // the end marker rides in the restore's last request when it can
      if (rm.completed || rm.completedAfterCloseMs !== null) await this.restore(flushing ? endMark : undefined);
    } catch (e) {
      if (e instanceof GuestLostError) {
        this.record.guestLost = e.reason;
        this.note('note', 'guest lost', e.reason);
      } else {
        this.record.harnessError = e instanceof HarnessFailure ? e.message : `internal: ${errorMessage(e)}`;
        this.note('note', 'harness error', this.record.harnessError);
        await this.cleanup();
      }
    }
    // The end marker the guest wrote is as good a sign of life as a ping, and the command that
    // writes it reads the case's kernel log, which ends at that marker: one round trip for three
    // (none of its own when it rode with the restore).
    const usable = (r: OpResult | undefined): OpResult | null => (r?.ok && !r.timedOut ? r : null);
    const ended =
      this.record.guestLost === null && flushing
        ? (usable(this.trailed) ??
          (await this.port.run(endMark, MARK_MS).then(
            (r) => usable(r),
            () => null,
          )))
        : null;
    if (this.record.guestLost === null && ended === null) {
      const lost = await this.alive();
      if (lost !== null) {
        this.record.guestLost = lost;
        this.note('note', 'guest not answering', lost);
      }
    }
    let dmesg: string[] = [];
    if (this.record.guestLost === null && flushing) {
      await (ended ? this.flush(live) : this.settle(live));
      dmesg = ended ? this.caseLog(ended.out) : await this.harvestDmesg();
    } else {
      await this.settle(live);
      if (this.record.guestLost === null) {
        await this.mark(endMarker).catch(() => undefined);
        dmesg = await this.harvestDmesg();
      }
    }
    this.finished = true;
    unsubscribe();
    if (!this.begun) {
      // the begin marker never showed on the console: keep all of it rather than none
      this.consoleLines = this.preamble;
      this.preamble = [];
    }
    for (const f of live.flush()) this.note('finding', f.title, f.kind);
    this.record.consoleLinesSeen = this.consoleLines.length;
    const merged = mergeKernelLog(this.consoleLines, dmesg);
    const excerpt = merged.join('\n');
    const findings = this.ctx.detector.detect(excerpt);
    this.record.findings = findings.map((f) => ({ kind: f.kind, title: f.title }));
    const needsRestart =
      this.record.guestLost !== null ||
      this.record.harnessError !== null ||
      findings.length > 0 ||
      !this.record.restore?.ok ||
      this.retired ||
      (pendingRemoval !== null && this.record.removal !== null && !this.record.removal.completed && this.record.removal.completedAfterCloseMs === null);
    return {
      record: this.record,
      startedAt: new Date(this.t0).toISOString(),
      durationMs: this.clock.now() - this.t0,
      timeline: this.timeline,
      consoleExcerpt: excerpt,
      findings,
      needsRestart,
      replay: this.replay,
      lastConsoleLineNo: this.lastLineNo,
    };
  }

  // ---- guest access ----

  private async agent(call: AgentCall, label: string, timeoutMs = AGENT_MS): Promise<AgentAnswer> {
    const r = await this.port.agent(call, timeoutMs);
    const what = r.ok ? 'ok' : r.timedOut ? `no reply within ${timeoutMs} ms` : (r.errno ?? 'failed');
    this.note('agent', label, `${what} (${r.ms.toFixed(1)} ms)`);
    return r;
  }

  private async guest(op: GuestOp, timeoutMs: number, label: string, how?: RunHow): Promise<OpResult> {
    const r = await this.port.run(op, timeoutMs, how);
    this.noteOp(op, r, label);
    return r;
  }

  private noteOp(op: GuestOp, r: OpResult, label: string): void {
    const what = r.timedOut ? 'timed out' : r.ok ? 'ok' : `failed${r.errno ? ` (${r.errno})` : ''}`;
    this.note('shell', label, `${describeOp(op)} → ${what}${!r.ok && r.out.trim() ? `: ${r.out.trim()}` : ''}`);
  }

  /** null when the guest answers (agent ping, else SSH), otherwise why not. */
  private async alive(): Promise<string | null> {
    try {
      const ping = await this.port.agent({ op: 'ping' }, 3000);
      if (ping.ok) return null;
    } catch (e) {
      if (!(e instanceof GuestLostError)) throw e;
    }
    try {
      // apart from the agent's channel: a silent agent in a live guest is not a lost guest
      const answered = this.port.answersApart ? await this.port.answersApart(8000) : !(await this.port.run({ op: 'sh', command: 'true' }, 8000)).timedOut;
      return answered ? null : 'neither the agent nor SSH answered within 8 s';
    } catch (e) {
      if (e instanceof GuestLostError) return e.reason;
      throw e;
    }
  }

  /** A marker in the kernel log (console and dmesg) that delimits this case. */
  private mark(text: string): Promise<OpResult> {
    // one guest command, not open/write/close on the agent (three round trips); the begin marker
    // usually rides in the first set-up request, the end marker reads the case's log
    return this.port.run({ op: 'mark', text }, MARK_MS);
  }

  private sub(s: string): string {
    return s.replace(VAR, (_, name: string) => {
      const v = this.vars.get(name);
      if (v === undefined) throw new HarnessFailure(`variable \${${name}} is not discovered (have: ${[...this.vars.keys()].join(', ') || 'none'})`);
      return v;
    });
  }

  // ---- steps ----

  /** What a step or removal kind may do through this case. */
  private kindContext(phase: Phase): KindContext {
    return {
      phase,
      port: this.port,
      clock: this.clock,
      sub: (str) => this.sub(str),
      subArgs: (v) => this.subArgs(v),
      // a removal's operations in a process of their own: the blocked evidence watches its task
      guest: (op, timeoutMs) => this.guest(op, timeoutMs, `${phase}: ${op.op}`, phase === 'removal' ? { ownProcess: true } : undefined),
      seq: this.port.runSeq
        ? async (ops, each) => {
            const sentMs = this.clock.now();
            const results = await this.port.runSeq!(phase === 'removal' ? ops.map((o) => ({ ...o, ownProcess: true })) : ops);
            this.atStepTimes(phase, ops, results, sentMs, this.clock.now(), (r, _o, k) => each(r, k));
            return results;
          }
        : undefined,
      agent: (call, label, timeoutMs) => this.agent(call, label, timeoutMs),
      note: (kind, label, detail) => this.note(kind, label, detail),
      device: (id) => this.c.devices.find((d) => d.id === id),
      setVar: (name, value) => void this.vars.set(name, value),
      handle: (name) => this.handleOf(name, phase),
      hold: (name, handle, fd) => this.held(name, handle, fd),
      release: (name) => void this.handles.delete(name),
      ioctlRequest: (request, args) => this.ioctlRequest(request as Probe['request'], args),
      structHex: (struct, value) => this.structHex(struct, value),
      // names were checked against the vocabulary when the suite loaded
      constant: (v) => (typeof v === 'number' ? v : vocabulary().constants.get(v)!),
      lostIfSilent: () => this.lostIfSilent(),
      finished: () => this.finished,
      retireVm: (why) => {
        this.retired = true;
        this.note('note', 'VM retired after this case', why);
      },
    };
  }

  /**
   * A phase's steps in order. Consecutive steps that are each one guest operation go to the guest
   * in one request (a round trip, not one each; the guest stops at a failed step that is not
   * optional). `marker`: the case's begin marker, written first (in the first request when it can).
   * `trail`: an operation for after the last step (the case's end marker, which reads the case's
   * log), in the last request when the steps' last one goes in a request and all of them ran; its
   * result is `trailed` (else it is not done: the caller does it alone).
   */
  private async steps(list: readonly Step[], phase: 'prepare' | 'restore', marker?: string, trail?: GuestOp): Promise<void> {
    const ctx = this.kindContext(phase);
    let lead = marker;
    for (let i = 0; i < list.length; ) {
      // the markers are the request's operations too
      const max = SEQ_MAX - (lead === undefined ? 0 : 1) - (trail === undefined ? 0 : 1);
      const seq = this.port.runSeq ? planOneOps(list, i, ctx, max, stepOne, (s) => s.timeoutMs ?? this.c.timeouts.stepMs) : [];
      const last = trail !== undefined && seq.length > 0 && i + seq.length === list.length;
      // the markers' results are not judged (as when they go alone)
      const ops = [
        ...(lead === undefined ? [] : [{ op: { op: 'mark', text: lead } as const, timeoutMs: MARK_MS, stopOnFailure: false }]),
        ...seq.map((x) => ({ op: x.op, timeoutMs: x.timeoutMs, stopOnFailure: !x.step.optional })),
        ...(last ? [{ op: trail, timeoutMs: MARK_MS, stopOnFailure: false }] : []),
      ];
      if (seq.length === 0 || ops.length < 2) {
        if (lead !== undefined) await this.mark(lead);
        lead = undefined;
        await this.step(list[i]!, phase);
        i++;
        continue;
      }
      const sentMs = this.clock.now();
      const results = await this.port.runSeq!(ops);
      const replyMs = this.clock.now();
      if (lead !== undefined) {
        const marker = lead;
        lead = undefined;
        // a request that ran nothing (no reply in time, or refused) answers once for all: the
        // marker goes alone and the steps again, as they can
        if (results.length < 2) {
          await this.mark(marker);
          continue;
        }
        results.shift();
      }
      if (results.length === 0) throw new HarnessFailure(`${phase}: the guest ran none of ${seq.length} steps`);
      const trailed = last && results.length > seq.length ? results.pop() : undefined;
      this.trailed = trailed;
      this.atStepTimes(phase, seq, results, sentMs, replyMs - (trailed?.ms ?? 0), (r, { step, one, op, timeoutMs }) => {
        const res = oneResult(one, step, op, r, ctx, timeoutMs);
        if (!res.ok && !step.optional) throw new HarnessFailure(res.message);
      });
      i += results.length;
    }
    if (lead !== undefined) await this.mark(lead);
  }

  /**
   * The results of operations that went in one request, each noted (and handed to `each`, which may
   * note too) when it ended: `endMs` (the reply's time, less what the guest did after them) less
   * the guest's time for the operations after it.
   */
  private atStepTimes<P extends { op: GuestOp }>(
    phase: Phase,
    ops: readonly P[],
    results: readonly OpResult[],
    sentMs: number,
    endMs: number,
    each: (r: OpResult, planned: P, k: number) => void,
  ): void {
    this.note('step', `${phase}: ${results.length} steps in one request`, undefined, sentMs);
    let after = results.reduce((sum, r) => sum + r.ms, 0);
    try {
      for (const [k, r] of results.entries()) {
        after -= r.ms;
        this.stepAtMs = Math.max(sentMs, endMs - after);
        this.noteOp(ops[k]!.op, r, `${phase}: ${ops[k]!.op.op}`);
        each(r, ops[k]!, k);
      }
    } finally {
      this.stepAtMs = undefined;
    }
  }

  private async step(s: Step, phase: 'prepare' | 'restore'): Promise<void> {
    const r = await runStep(s, this.kindContext(phase), s.timeoutMs ?? this.c.timeouts.stepMs);
    if (!r.ok && !s.optional) throw new HarnessFailure(r.message);
  }

  private handleOf(name: string, phase: string): number {
    const h = this.handles.get(name);
    if (h === undefined) throw new HarnessFailure(`${phase}: no fd named ${name} is held`);
    return h;
  }

  /** A vocabulary struct's bytes, "${var}" filled in. */
  private structHex(struct: string, value: unknown): string {
    return encode({ kind: 'struct', name: struct }, this.subArgs(value), vocabulary().codec).bytes.toString('hex');
  }

  // ---- fds ----

  /** One place for a held fd: its handle, and its guest number as ${NAME_fd} for an ioctl that takes an fd (VFIO_GROUP_SET_CONTAINER). */
  private held(name: string, handle: number, fd: number | undefined): void {
    this.handles.set(name, handle);
    if (fd !== undefined) this.vars.set(`${name}_fd`, String(fd));
  }

  private async hold(h: Holder): Promise<void> {
    const { call, what, after } = holderKindOf(h).call(h, this.kindContext('prepare'));
    const r = await this.agent(call, `hold ${h.name}: ${what}`);
    if (r.timedOut) await this.lostIfSilent();
    if (!r.ok || typeof r.handle !== 'number') {
      throw new HarnessFailure(`holder ${h.name}: ${what} failed: ${r.errno ?? 'no handle in the reply'}${typeof r.error === 'string' ? ` (${r.error})` : ''}`);
    }
    // held from here on, so it is closed with the others if a later call fails
    this.held(h.name, r.handle, typeof r.fd === 'number' ? r.fd : undefined);
    for (const next of after?.(r.handle) ?? []) {
      const x = await this.agent(next.call, `hold ${h.name}: ${next.what}`);
      if (x.timedOut) await this.lostIfSilent();
      if (!x.ok) throw new HarnessFailure(`holder ${h.name}: ${next.what} failed: ${x.errno}${typeof x.error === 'string' ? ` (${x.error})` : ''}`);
    }
  }

  /** "${var}" substituted in every string of a suite's ioctl args. */
  private subArgs(v: unknown): unknown {
    return mapStrings(v, (str) => this.sub(str));
  }

  /** What the agent runs for a suite's ioctl: the vocabulary encodes a named one; {raw} is a bare number. */
  private ioctlRequest(request: Probe['request'], args: unknown): unknown {
    if (request === undefined) return { number: 0 };
    if (typeof request !== 'string')
      return { number: request.raw, ...(request.arg !== undefined ? { arg: request.arg } : {}), ...(request.size !== undefined ? { size: request.size } : {}) };
    return agentCall(vocabulary(), request, this.subArgs(args)).request;
  }

  private opCall(o: Probe | Loop): Record<string, unknown> {
    switch (o.op) {
      case 'read':
        return { op: 'read', size: o.size ?? 4096 };
      case 'pread':
        return { op: 'pread', size: o.size ?? 4096, offset: o.offset ?? 0 };
      case 'write':
        return o.hex !== undefined ? { op: 'write', hex: o.hex } : { op: 'write', text: o.text ?? 'x' };
      case 'poll':
        return { op: 'poll', events: o.events ?? ['POLLIN'], timeoutMs: o.timeoutMs ?? 0 };
      case 'ioctl':
        return { op: 'ioctl', request: this.ioctlRequest(o.request, o.args) };
      case 'mmap':
        return { op: 'mmap', size: o.size ?? 4096, offset: o.offset ?? 0 };
    }
  }

  private async spawn(l: Loop): Promise<void> {
    const handle = this.handles.get(l.on)!;
    const r = await this.agent({ op: 'spawn', handle, loop: this.opCall(l) } as AgentCall, `loop ${l.op} on ${l.on}`);
    if (!r.ok || typeof r.loop !== 'number') throw new HarnessFailure(`loop ${l.op} on ${l.on} did not start: ${r.errno ?? 'no loop id'}`);
    this.loopIds.push({ decl: l, id: r.loop });
  }

  /**
   * Stress workers (case `stress:` or run --stress): `workers` agent threads per op calling into the
   * target fd in a tight loop, and as many opening and closing its node, from now until after the probes.
   */
  private async spawnStress(): Promise<void> {
    const { workers, ops, reopen } = this.c.stress;
    if (workers === 0) return;
    const handle = this.handles.get(this.c.probes[0]!.on)!;
    const start = async (loop: Record<string, unknown>, decl: Loop, h: number): Promise<void> => {
      const r = await this.agent({ op: 'spawn', handle: h, loop, intervalMs: 0 } as AgentCall, `stress ${decl.op} on ${decl.on}`);
      if (!r.ok || typeof r.loop !== 'number') throw new HarnessFailure(`stress worker ${decl.op} on ${decl.on} did not start: ${r.errno ?? 'no loop id'}`);
      this.loopIds.push({ decl, id: r.loop, stress: true });
    };
    for (let w = 0; w < workers; w++) {
      for (const l of ops) await start(this.opCall(l), l, handle);
      if (reopen) {
        const path = this.sub(reopen.path);
        await start({ op: 'reopen', path, flags: reopen.flags }, { on: this.c.probes[0]!.on, op: 'reopen' } as unknown as Loop, handle);
      }
    }
  }

  /** Bounded wait until every loop is really calling into its fd (a blocked reader: has been for a while). */
  private async loopsInFlight(): Promise<void> {
    const until = this.clock.now() + 3000;
    for (;;) {
      const r = await this.port.agent({ op: 'loops' }, AGENT_MS);
      const stats = Array.isArray(r.loops) ? (r.loops as Array<{ loop: number; iterations: number; elapsedMs: number; running: boolean }>) : [];
      const ready = this.loopIds.every(({ id, decl }) => {
        const s = stats.find((x) => x.loop === id);
        return s?.running && (decl.expectWake ? s.elapsedMs >= 200 : s.iterations > 0);
      });
      if (ready || this.clock.now() >= until) {
        this.note(
          'agent',
          'loops in flight',
          ready ? 'all loops running' : `not all loops running: ${JSON.stringify(stats.map((s) => [s.loop, s.iterations]))}`,
        );
        return;
      }
      await this.clock.sleep(100);
    }
  }

  private async probe(p: Probe): Promise<void> {
    const handle = this.handles.get(p.on)!;
    const call = { ...this.opCall(p), handle } as AgentCall;
    const label = p.op === 'ioctl' ? `ioctl:${typeof p.request === 'string' ? p.request : `0x${(p.request?.raw ?? 0).toString(16)}`}` : p.op;
    const r = await this.agent(call, `probe ${label} on ${p.on}`, this.c.timeouts.probeMs + (p.timeoutMs ?? 0));
    const out: ProbeOutcome = {
      op: label,
      fd: p.on,
      ok: r.ok,
      errno: r.ok ? null : r.errno,
      ms: r.ms,
      timedOut: r.timedOut === true,
      accepted: false,
      ...(Array.isArray(r.revents) ? { revents: r.revents as string[] } : {}),
      ...(typeof r.n === 'number' ? { bytes: r.n } : {}),
      ...(typeof r.fault === 'string' ? { fault: r.fault } : {}),
    };
    out.accepted = probeAccepted(p.accept, { ...out, op: p.op });
    this.record.probes.push(out);
    if (out.timedOut) await this.lostIfSilent();
  }

  private async lostIfSilent(): Promise<void> {
    const lost = await this.alive();
    if (lost !== null) throw new GuestLostError(lost);
  }

  private async stopLoops(): Promise<void> {
    for (const { decl, id, stress } of this.loopIds.splice(0)) {
      const r = await this.agent({ op: 'stop', loop: id, timeoutMs: 3000 }, `stop loop ${decl.op} on ${decl.on}`, 8000);
      const out: LoopOutcome = {
        fd: decl.on,
        op: decl.op,
        iterations: typeof r.iterations === 'number' ? r.iterations : 0,
        counts: (r.counts as Record<string, number> | undefined) ?? {},
        ...(decl.expectWake ? { expectWake: [...decl.expectWake.errno, ...decl.expectWake.revents] } : {}),
        ...(r.stuck === true || r.timedOut ? { stuck: true } : {}),
        ...(stress ? { stress: true } : {}),
      };
      this.record.loops.push(out);
    }
  }

  /** Closes every held fd, last held first; returns when the first close was issued. */
  private async closeAll(): Promise<number> {
    const at = this.clock.now();
    for (const [name, handle] of [...this.handles].reverse()) {
      await this.agent({ op: 'close', handle }, `close ${name}`);
      this.handles.delete(name);
    }
    return at;
  }

  /** After a harness failure: leave no loop running and no fd held (best effort). */
  private async cleanup(): Promise<void> {
    try {
      await this.stopLoops();
      await this.closeAll();
    } catch {
      // the case already failed; the run loop restarts the VM
    }
  }

  // ---- removal ----

  /** Issues the removal and waits for it up to its timeout; `pending` settles when it finally completes. */
  private async removeWhileHeld(): Promise<{ pending: Promise<RemovalEnd> }> {
    const r = this.c.removal;
    const kind = removalKindOf(r);
    const outcome: RemovalOutcome = {
      // the case's name for it (configfs, unbind…), which reasons and reports show; the kind is in the timeline
      method: this.c.method,
      issued: false,
      completed: false,
      ms: null,
      timeoutMs: r.timeoutMs,
      completedAfterCloseMs: null,
      errno: null,
      refusedOk: r.refused,
    };
    this.record.removal = outcome;
    const horizon = r.timeoutMs + r.closeWaitMs + 120_000;
    const t = this.clock.now();
    this.note('step', `removal: ${kind.key}`, kind.label(r));
    let { pending } = await kind.issue(r, this.kindContext('removal'), horizon);
    if (r.gone !== undefined) {
      const path = this.sub(r.gone);
      pending = pending.then((end) => (end.ok && !end.lost ? this.whenGone(path, horizon, end) : end));
    }
    outcome.issued = true;
    const { end, evidence } = await this.waitRemoval(pending, r.timeoutMs, kind.key === 'qmp-device-del');
    if (evidence) {
      outcome.blockedIn = evidence;
      this.note('step', 'removal blocked', `${evidence.task} asleep in ${evidence.wait} for ${Math.round(evidence.ms)} ms`);
    }
    if (end?.lost) throw new GuestLostError(end.lost);
    if (end && !end.timedOut) {
      outcome.completed = true;
      outcome.ms = end.at - t;
      outcome.errno = end.errno;
      if (end.detail) outcome.detail = end.detail;
      this.note('step', `removal ${end.ok ? 'completed' : `failed: ${end.errno}`}`, `${Math.round(outcome.ms)} ms${end.detail ? `: ${end.detail}` : ''}`);
    } else {
      this.note('step', 'removal still pending', `not complete within ${r.timeoutMs} ms while fds are held`);
    }
    return { pending };
  }

  /**
   * The removal's end within its bound; with blocked evidence on, sooner "not yet" once the task
   * doing it (the agent's shell command; for a QMP removal, a kernel thread in D state) has sat in
   * the same kernel wait for blockedEvidenceMs.
   */
  private async waitRemoval(
    pending: Promise<RemovalEnd>,
    boundMs: number,
    kernelThread: boolean,
  ): Promise<{ end: RemovalEnd | undefined; evidence?: NonNullable<RemovalOutcome['blockedIn']> }> {
    const need = this.ctx.blockedEvidenceMs;
    if (need === undefined) return { end: await this.within(pending, boundMs) };
    const deadline = this.clock.now() + boundMs;
    let agentPid = agentPids.get(this.ctx.port) ?? null;
    const seen = new Map<string, { first: number; last: number; task: string; wait: string }>();
    for (;;) {
      const left = deadline - this.clock.now();
      if (left <= 0) return { end: undefined };
      const end = await this.within(pending, Math.min(TASK_SAMPLE_MS, left));
      if (end) return { end };
      if (agentPid === null) {
        const ping = await this.port.agent({ op: 'ping' }, AGENT_MS);
        agentPid = ping.ok && typeof ping.pid === 'number' ? ping.pid : -1;
        if (agentPid > 0) agentPids.set(this.ctx.port, agentPid);
      }
      const r = await this.port.agent({ op: 'tasks' }, AGENT_MS);
      if (!r.ok || !Array.isArray(r.tasks)) return { end: await this.within(pending, Math.max(0, deadline - this.clock.now())) };
      const now = this.clock.now();
      const current = new Set<string>();
      for (const t of r.tasks as GuestTask[]) {
        const mine = kernelThread ? t.state === 'D' && t.ppid === 2 : t.ppid === agentPid;
        if (!mine || t.state === 'R' || TIMED_SLEEP.test(t.wchan)) continue;
        const key = `${t.pid}|${t.wchan}|${t.stack}`;
        current.add(key);
        const e = seen.get(key) ?? { first: now, last: now, task: `${t.comm} (pid ${t.pid})`, wait: t.stack ? `${t.wchan} [${t.stack}]` : t.wchan };
        e.last = now;
        seen.set(key, e);
      }
      for (const k of [...seen.keys()]) if (!current.has(k)) seen.delete(k);
      const found = [...seen.values()].find((e) => e.last - e.first >= need);
      if (found) return { end: undefined, evidence: { task: found.task, wait: found.wait, ms: found.last - found.first } };
    }
  }

  /** The removal's end once `path` no longer exists in the guest (the guest's side of it has run). */
  private async whenGone(path: string, horizonMs: number, end: RemovalEnd): Promise<RemovalEnd> {
    const r = await this.port.run({ op: 'gone', path }, horizonMs).catch((e: unknown) => ({ lost: e instanceof GuestLostError ? e.reason : errorMessage(e) }));
    if ('lost' in r) return { ...end, ok: false, lost: r.lost };
    this.note('step', `removal: ${path} gone`);
    return { ...end, at: this.clock.now(), ...(r.timedOut ? { timedOut: true } : {}) };
  }

  private async within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
    let timer = false;
    // cancelled when p wins: a pending 15 s bound would otherwise hold the CLI open after the run
    const cancel = new SleepCancel();
    const sleep = this.clock.sleep(ms, cancel).then(() => {
      timer = !cancel.cancelled;
      return undefined;
    });
    try {
      const r = await Promise.race([p, sleep]);
      return timer ? undefined : r;
    } finally {
      cancel.cancel();
    }
  }

  // ---- restore, settle, harvest ----

  /** `trail`: done after the restore's steps in their last request when it can be (`trailed`). */
  private async restore(trail?: GuestOp): Promise<void> {
    try {
      await this.steps(this.c.restore, 'restore', undefined, trail);
      this.record.restore = { ok: true };
    } catch (e) {
      if (e instanceof GuestLostError) throw e;
      this.record.restore = { ok: false, detail: errorMessage(e) };
      this.note('note', 'restore failed', errorMessage(e));
    }
  }

  /**
   * A report that lands just after the case still belongs to it: wait for a quiet console (bounded
   * by settleMs). The quiet needed is short when the detector has no report open (nothing is being
   * printed), the full QUIET_MS while one is, or when the detector cannot say.
   */
  private async settle(live: ReturnType<DetectorPort['live']>): Promise<void> {
    const end = this.clock.now() + this.c.timeouts.settleMs;
    let quietSince = this.clock.now();
    while (this.clock.now() < end) {
      // Sleep until the console could have been quiet long enough, not in fixed polls: each
      // wake-up costs CPU (~0.2 ms on PVM hosts). Lines that came meanwhile move quietSince on.
      const idleNow = live.oldestOpenLine === null ? QUIET_IDLE_MS : QUIET_MS;
      await this.clock.sleep(Math.max(SETTLE_POLL_MS, Math.min(end, quietSince + idleNow) - this.clock.now()));
      this.noteCompleted(live);
      quietSince = Math.max(quietSince, this.lastLineMs);
      const idle = live.oldestOpenLine === null ? QUIET_IDLE_MS : QUIET_MS;
      if (this.clock.now() - quietSince >= idle) break;
    }
    this.note('step', 'settled');
  }

  /**
   * Everything the case caused has reached the console once its end marker (written after the
   * probes, the close and the restore) shows there; then a short grace for asynchronous reports,
   * and a report still open is waited for until it completes or goes quiet (bounded by settleMs).
   */
  private async flush(live: ReturnType<DetectorPort['live']>): Promise<void> {
    const t0 = this.clock.now();
    const end = t0 + this.c.timeouts.settleMs;
    const seen =
      (await this.within(
        this.endShown.then(() => true),
        this.c.timeouts.settleMs,
      )) ?? false;
    const shownMs = this.clock.now() - t0;
    const grace = Math.min(LATE_GRACE_MS, Math.max(0, end - this.clock.now()));
    if (grace > 0) await this.clock.sleep(grace);
    this.noteCompleted(live);
    while (live.oldestOpenLine !== null && this.clock.now() < end) {
      await this.clock.sleep(Math.max(SETTLE_POLL_MS, Math.min(end, this.lastLineMs + QUIET_MS) - this.clock.now()));
      this.noteCompleted(live);
      if (this.clock.now() - this.lastLineMs >= QUIET_MS) break;
    }
    this.note(
      'step',
      'settled',
      seen ? `end marker on the console after ${Math.round(shownMs)} ms` : `end marker not seen on the console within ${this.c.timeouts.settleMs} ms`,
    );
  }

  /** Reports the detector completes by now (a quiet one times out) go on the timeline. */
  private noteCompleted(live: ReturnType<DetectorPort['live']>): void {
    for (const f of live.tick(this.clock.now())) this.note('finding', f.title, f.kind);
  }

  private async harvestDmesg(): Promise<string[]> {
    try {
      // Only this case's part leaves the guest (from the last begin marker on): the whole log,
      // every boot message and every earlier case, was most of what a case read back.
      const r = await this.port.run({ op: 'dmesgFrom', marker: this.beginMarker }, 15000);
      return r.ok ? this.caseLog(r.out) : [];
    } catch {
      return [];
    }
  }

  /** The case's lines of a kernel log read from its begin marker on. */
  private caseLog(out: string): string[] {
    const slice = sliceBetween(out.split('\n'), this.beginMarker, this.endMarker);
    this.note('shell', 'dmesg harvested', slice ? `${slice.length} lines in the case` : 'begin marker not found; console only');
    return slice ?? [];
  }
}
