// Runs one resolved case against a guest through the port: prepare, hold fds, start in-flight loops,
// remove, probe the zombie fds, stop loops, close, measure a blocked removal, restore, settle,
// harvest the kernel log. It records what happened (CaseRecord + timeline); it never judges —
// src/classify does that from the record.
import { errorMessage } from '../errors.js';
import type { TimelineEvent } from '../report/run-schema.js';
import { probeAccepted } from '../classify/accept.js';
import type { CaseRecord, LoopOutcome, ProbeOutcome, RemovalOutcome } from '../classify/record.js';
import { errnoFromMessage } from './errno.js';
import { mergeKernelLog, sliceBetween } from './kernel-log.js';
import { GuestLostError, realClock, type AgentAnswer, type AgentCall, type Clock, type DetectorPort, type FindingLike, type GuestPort } from './port.js';
import { removalMethodOf, type DeviceDecl, type Discover, type Holder, type Loop, type Probe, type ResolvedCase, type Step } from './suite-schema.js';
import { deviceAddArgs } from './vm-config.js';
import { vocabulary } from './load-suites.js';
import { agentCall } from '../vocabulary/load.js';
import { encode } from '../vocabulary/codec.js';
import { mapStrings } from '../vocabulary/substitute.js';

export interface CaseContext {
  port: GuestPort;
  detector: DetectorPort;
  iteration: number;
  clock?: Clock;
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
}

/** The harness could not do what the case asked (not a kernel verdict). */
export class HarnessFailure extends Error {}

interface RemovalEnd {
  at: number;
  ok: boolean;
  errno: string | null;
  detail?: string;
  lost?: string;
  timedOut?: boolean;
}

const AGENT_MS = 5000;
const QUIET_MS = 1000;
/** console quiet that ends the settle window when no report is open in the detector */
const QUIET_IDLE_MS = 500;
const SETTLE_POLL_MS = 100;
/** awk: the lines from the last one containing $B on (none when it is absent) */
const DMESG_FROM_BEGIN = 'index($0, ENVIRON["B"]) { buf = ""; keep = 1 } keep { buf = buf $0 "\\n" } END { printf "%s", buf }';
const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

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
  };
}

function emptyRecord(id: string, missing: string[] = []): CaseRecord {
  return { id, missingOptions: missing, harnessError: null, guestLost: null, consoleLinesSeen: 0, removal: null, probes: [], loops: [], restore: null, findings: [] };
}

class CaseExecution {
  private readonly clock: Clock;
  private readonly port: GuestPort;
  private readonly t0: number;
  private readonly timeline: TimelineEvent[] = [];
  private readonly vars = new Map<string, string>();
  private readonly handles = new Map<string, number>();
  private readonly loopIds: Array<{ decl: Loop; id: number }> = [];
  private readonly consoleLines: string[] = [];
  /** Engine-clock time the last console line came in (settle measures quiet from it). */
  private lastLineMs = 0;
  private readonly record: CaseRecord;
  private readonly tag: string;
  /** set when the case is over: background polls stop */
  private finished = false;

  constructor(
    private readonly c: ResolvedCase,
    private readonly ctx: CaseContext,
  ) {
    this.clock = ctx.clock ?? realClock;
    this.port = ctx.port;
    this.t0 = this.clock.now();
    this.record = emptyRecord(c.id);
    this.tag = `${c.id}#${ctx.iteration}@${this.t0}`;
  }

  private note(kind: TimelineEvent['kind'], label: string, detail?: string): void {
    const hostMs = this.clock.now();
    this.timeline.push({ hostMs, relMs: hostMs - this.t0, kind, label, ...(detail !== undefined ? { detail: detail.slice(0, 2000) } : {}) });
  }

  async run(): Promise<CaseRun> {
    const live = this.ctx.detector.live();
    const unsubscribe = this.port.onConsoleLine((l) => {
      this.consoleLines.push(l.text);
      this.lastLineMs = this.clock.now();
      for (const f of live.push(l.text, l.hostMs)) this.note('finding', f.title, f.kind);
    });
    let pendingRemoval: Promise<RemovalEnd> | null = null;
    try {
      await this.mark(`huci: begin ${this.tag}`);
      for (const s of this.c.prepare) await this.step(s, 'prepare');
      for (const h of this.c.holders) await this.hold(h);
      for (const l of this.c.loops) await this.spawn(l);
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
      if (rm.completed || rm.completedAfterCloseMs !== null) await this.restore();
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
    if (this.record.guestLost === null) {
      const lost = await this.alive();
      if (lost !== null) {
        this.record.guestLost = lost;
        this.note('note', 'guest not answering', lost);
      }
    }
    await this.settle(live);
    let dmesg: string[] = [];
    if (this.record.guestLost === null) {
      await this.mark(`huci: end ${this.tag}`).catch(() => undefined);
      dmesg = await this.harvestDmesg();
    }
    this.finished = true;
    unsubscribe();
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
      (pendingRemoval !== null && this.record.removal !== null && !this.record.removal.completed && this.record.removal.completedAfterCloseMs === null);
    return {
      record: this.record,
      startedAt: new Date(this.t0).toISOString(),
      durationMs: this.clock.now() - this.t0,
      timeline: this.timeline,
      consoleExcerpt: excerpt,
      findings,
      needsRestart,
    };
  }

  // ---- guest access ----

  private async agent(call: AgentCall, label: string, timeoutMs = AGENT_MS): Promise<AgentAnswer> {
    const r = await this.port.agent(call, timeoutMs);
    const what = r.ok ? 'ok' : r.timedOut ? `no reply within ${timeoutMs} ms` : r.errno ?? 'failed';
    this.note('agent', label, `${what} (${r.ms.toFixed(1)} ms)`);
    return r;
  }

  private async shell(cmd: string, timeoutMs: number, label: string): Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }> {
    const r = await this.port.exec(cmd, timeoutMs);
    this.note('shell', label, `${cmd} → ${r.timedOut ? 'timed out' : `exit ${r.code}`}${r.stderr.trim() ? `: ${r.stderr.trim()}` : ''}`);
    return r;
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
      const r = await (this.port.execApart ?? this.port.exec).call(this.port, 'true', 8000);
      return r.timedOut ? 'neither the agent nor SSH answered within 8 s' : null;
    } catch (e) {
      if (e instanceof GuestLostError) return e.reason;
      throw e;
    }
  }

  /** A marker in the kernel log (console and dmesg) that delimits this case. */
  private async mark(text: string): Promise<void> {
    // one guest command, not open/write/close on the agent: three round trips per marker, two
    // markers per case; printf's newline ends the printk record
    await this.port.exec(`printf '%s\\n' ${shq(text)} > /dev/kmsg`, 3000);
  }

  private sub(s: string): string {
    return s.replace(/\$\{([a-z][a-z0-9_]*)\}/g, (_, name: string) => {
      const v = this.vars.get(name);
      if (v === undefined) throw new HarnessFailure(`variable \${${name}} is not discovered (have: ${[...this.vars.keys()].join(', ') || 'none'})`);
      return v;
    });
  }

  // ---- steps ----

  private async step(s: Step, phase: 'prepare' | 'restore'): Promise<void> {
    const timeoutMs = s.timeoutMs ?? this.c.timeouts.stepMs;
    if (s.device_add !== undefined) {
      const decl = typeof s.device_add === 'string' ? this.c.devices.find((d) => d.id === s.device_add) : s.device_add;
      if (!decl) throw new HarnessFailure(`${phase}: device_add of unknown device ${String(s.device_add)}`);
      await this.deviceAdd(decl, phase, s.optional, timeoutMs);
      return;
    }
    if (s.discover) {
      await this.discover(s.discover, phase);
      return;
    }
    if (s.hold || s.ioctl || s.send) {
      await this.agentStep(s, phase, timeoutMs);
      return;
    }
    const cmd = this.stepCommand(s);
    const r = await this.shell(cmd, timeoutMs, `${phase}: ${stepKind(s)}`);
    if ((r.code !== 0 || r.timedOut) && !s.optional) {
      throw new HarnessFailure(`${phase} step "${cmd}" ${r.timedOut ? `timed out after ${timeoutMs} ms` : `failed (exit ${r.code})`}${r.stderr.trim() ? `: ${r.stderr.trim()}` : ''}`);
    }
  }

  /** A step through the agent: hold an fd for the case, or an ioctl / a struct written on a held one. */
  private async agentStep(s: Step, phase: 'prepare' | 'restore', timeoutMs: number): Promise<void> {
    let call: AgentCall;
    let label: string;
    if (s.hold) {
      const path = this.sub(s.hold.open.path);
      call = { op: 'open', path, flags: s.hold.open.flags };
      label = `${phase}: hold ${s.hold.name} (${path})`;
    } else if (s.ioctl) {
      call = { op: 'ioctl', handle: this.handleOf(s.ioctl.on, phase), request: this.ioctlRequest(s.ioctl.request, s.ioctl.args) } as AgentCall;
      label = `${phase}: ioctl ${typeof s.ioctl.request === 'string' ? s.ioctl.request : `raw ${s.ioctl.request.raw}`} on ${s.ioctl.on}`;
    } else {
      const send = s.send!;
      call = { op: 'write', handle: this.handleOf(send.on, phase), hex: this.structHex(send.struct, send.value) };
      label = `${phase}: send ${send.struct} to ${send.on}`;
    }
    const r = await this.agent(call, label, timeoutMs);
    if (r.timedOut) await this.lostIfSilent();
    if (!r.ok) {
      if (s.optional) return;
      throw new HarnessFailure(`${label} failed: ${r.errno}${typeof r.error === 'string' ? ` (${r.error})` : ''}`);
    }
    if (s.hold && typeof r.handle === 'number') this.handles.set(s.hold.name, r.handle);
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

  private stepCommand(s: Step): string {
    if (s.modprobe !== undefined) {
      const params = Object.entries(s.params ?? {}).map(([k, v]) => `${k}=${shq(this.sub(String(v)))}`);
      return ['modprobe', shq(this.sub(s.modprobe)), ...params].join(' ');
    }
    if (s.rmmod !== undefined) return `rmmod ${shq(this.sub(s.rmmod))}`;
    if (s.mkdir !== undefined) return `mkdir ${shq(this.sub(s.mkdir))}`;
    if (s.rmdir !== undefined) return `rmdir ${shq(this.sub(s.rmdir))}`;
    if (s.write !== undefined) return `echo ${shq(this.sub(String(s.write.value)))} > ${shq(this.sub(s.write.path))}`;
    if (s.new_device !== undefined) {
      const d = s.new_device;
      return `echo ${shq(`${this.sub(d.name)} 0x${d.addr.toString(16)}`)} > ${shq(`/sys/bus/i2c/devices/${this.sub(d.adapter)}/new_device`)}`;
    }
    if (s.delete_device !== undefined) {
      const d = s.delete_device;
      return `echo 0x${d.addr.toString(16)} > ${shq(`/sys/bus/i2c/devices/${this.sub(d.adapter)}/delete_device`)}`;
    }
    if (s.shell !== undefined) return this.sub(s.shell);
    throw new HarnessFailure(`step without a kind: ${JSON.stringify(s)}`);
  }

  private async deviceAdd(decl: DeviceDecl, phase: string, optional: boolean, timeoutMs: number): Promise<void> {
    const args = deviceAddArgs(decl);
    const until = this.clock.now() + timeoutMs;
    for (;;) {
      try {
        await this.port.qmp('device_add', args, timeoutMs);
        this.note('qmp', `${phase}: device_add ${decl.id}`, JSON.stringify(args));
        return;
      } catch (e) {
        if (e instanceof GuestLostError) throw e;
        // QEMU frees a removed device's backends (chardev, id) a little after the guest ejected it
        if (/is in use|Duplicate (ID|device)|already exists/i.test(errorMessage(e)) && this.clock.now() < until) {
          await this.clock.sleep(250);
          continue;
        }
        this.note('qmp', `${phase}: device_add ${decl.id} failed`, errorMessage(e));
        if (!optional) throw new HarnessFailure(`${phase}: device_add ${decl.id} failed: ${errorMessage(e)}`);
        return;
      }
    }
  }

  /** Finds a value in the guest, waiting (bounded) for it to appear: device nodes come and go asynchronously. */
  private async discover(d: Discover, phase: string): Promise<void> {
    const secs = Math.max(1, Math.ceil(d.timeoutMs / 1000));
    const wait = (test: string): string =>
      `end=$(( $(date +%s) + ${secs} )); while :; do ${test} [ "$(date +%s)" -ge "$end" ] && exit 1; sleep 0.1; done`;
    let cmd: string;
    if (d.file !== undefined) {
      const f = shq(this.sub(d.file));
      cmd = wait(`if [ -e ${f} ]; then cat ${f}; exit 0; fi;`);
    } else {
      // the glob stays unquoted so the guest shell expands it
      const glob = this.sub(d.glob!).replace(/[^A-Za-z0-9_./*?:\[\]-]/g, (ch) => `\\${ch}`);
      const want = d.contentEquals !== undefined ? `[ "$(cat "$f" 2>/dev/null)" = ${shq(d.contentEquals)} ] || continue; f=$(dirname "$f");` : '';
      cmd = wait(`for f in ${glob}; do [ -e "$f" ] || continue; ${want} echo "$f"; exit 0; done;`);
    }
    const r = await this.shell(cmd, d.timeoutMs + 10000, `${phase}: discover ${d.var}`);
    const out = r.stdout.trim().split('\n')[0] ?? '';
    if (r.code !== 0 || out === '') {
      throw new HarnessFailure(`${phase}: discover ${d.var}: nothing matched ${d.file ?? d.glob}${d.contentEquals !== undefined ? ` with content "${d.contentEquals}"` : ''} within ${d.timeoutMs} ms`);
    }
    const value = d.file !== undefined || d.take === 'path' ? out : out.slice(out.lastIndexOf('/') + 1);
    this.vars.set(d.var, value);
    this.note('step', `${phase}: ${d.var} = ${value}`);
  }

  // ---- fds ----

  private async hold(h: Holder): Promise<void> {
    let r: AgentAnswer;
    let what: string;
    if (h.open) {
      const path = this.sub(h.open.path);
      what = `open ${path}`;
      r = await this.agent({ op: 'open', path, flags: h.open.flags }, `hold ${h.name}: ${what}`);
    } else {
      const io = h.ioctl!;
      const on = this.handles.get(io.on)!;
      what = `ioctl ${typeof io.request === 'string' ? io.request : `raw ${io.request.raw}`} on ${io.on}`;
      r = await this.agent({ op: 'ioctl', handle: on, request: this.ioctlRequest(io.request, io.args) } as AgentCall, `hold ${h.name}: ${what}`);
    }
    if (r.timedOut) await this.lostIfSilent();
    if (!r.ok || typeof r.handle !== 'number') {
      throw new HarnessFailure(`holder ${h.name}: ${what} failed: ${r.errno ?? 'no handle in the reply'}${typeof r.error === 'string' ? ` (${r.error})` : ''}`);
    }
    this.handles.set(h.name, r.handle);
  }

  /** "${var}" substituted in every string of a suite's ioctl args. */
  private subArgs(v: unknown): unknown {
    return mapStrings(v, (str) => this.sub(str));
  }

  /** What the agent runs for a suite's ioctl: the vocabulary encodes a named one; {raw} is a bare number. */
  private ioctlRequest(request: Probe['request'], args: unknown): unknown {
    if (request === undefined) return { number: 0 };
    if (typeof request !== 'string') return { number: request.raw, ...(request.arg !== undefined ? { arg: request.arg } : {}), ...(request.size !== undefined ? { size: request.size } : {}) };
    return agentCall(vocabulary(), request, this.subArgs(args)).request;
  }

  private opCall(o: Probe | Loop): Record<string, unknown> {
    switch (o.op) {
      case 'read':
        return { op: 'read', size: o.size ?? 4096 };
      case 'pread':
        return { op: 'pread', size: o.size ?? 4096, offset: o.offset ?? 0 };
      case 'write':
        return { op: 'write', text: o.text ?? 'x' };
      case 'poll':
        return { op: 'poll', events: o.events ?? ['POLLIN'], timeoutMs: o.timeoutMs ?? 0 };
      case 'ioctl':
        return { op: 'ioctl', request: this.ioctlRequest(o.request, o.args) };
    }
  }

  private async spawn(l: Loop): Promise<void> {
    const handle = this.handles.get(l.on)!;
    const r = await this.agent({ op: 'spawn', handle, loop: this.opCall(l) } as AgentCall, `loop ${l.op} on ${l.on}`);
    if (!r.ok || typeof r.loop !== 'number') throw new HarnessFailure(`loop ${l.op} on ${l.on} did not start: ${r.errno ?? 'no loop id'}`);
    this.loopIds.push({ decl: l, id: r.loop });
  }

  /** Bounded wait until every loop is really calling into its fd (a blocked reader: has been for a while). */
  private async loopsInFlight(): Promise<void> {
    const until = this.clock.now() + 3000;
    for (;;) {
      const r = await this.port.agent({ op: 'loops' }, AGENT_MS);
      const stats = Array.isArray(r.loops) ? (r.loops as Array<{ loop: number; iterations: number; elapsedMs: number; running: boolean }>) : [];
      const ready = this.loopIds.every(({ id, decl }) => {
        const s = stats.find((x) => x.loop === id);
        return s !== undefined && s.running && (decl.expectWake ? s.elapsedMs >= 200 : s.iterations > 0);
      });
      if (ready || this.clock.now() >= until) {
        this.note('agent', 'loops in flight', ready ? 'all loops running' : `not all loops running: ${JSON.stringify(stats.map((s) => [s.loop, s.iterations]))}`);
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
    for (const { decl, id } of this.loopIds.splice(0)) {
      const r = await this.agent({ op: 'stop', loop: id, timeoutMs: 3000 }, `stop loop ${decl.op} on ${decl.on}`, 8000);
      const out: LoopOutcome = {
        fd: decl.on,
        op: decl.op,
        iterations: typeof r.iterations === 'number' ? r.iterations : 0,
        counts: (r.counts as Record<string, number> | undefined) ?? {},
        ...(decl.expectWake ? { expectWake: decl.expectWake.errno } : {}),
        ...(r.stuck === true || r.timedOut ? { stuck: true } : {}),
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
    const method = removalMethodOf(r);
    const outcome: RemovalOutcome = {
      method,
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
    let pending: Promise<RemovalEnd>;
    const t = this.clock.now();
    if (r['qmp-device-del']) {
      const id = r['qmp-device-del'].device;
      const deleted = this.port.waitForQmpEvent('DEVICE_DELETED', { device: id }, horizon);
      try {
        await this.port.qmp('device_del', { id }, 10_000);
      } catch (e) {
        void deleted.catch(() => undefined);
        if (e instanceof GuestLostError) throw e;
        throw new HarnessFailure(`device_del ${id} failed: ${errorMessage(e)}`);
      }
      this.note('qmp', `removal: device_del ${id}`);
      // QEMU 7.2 never emits DEVICE_DELETED for some devices (qemu-xhci) although the guest ejected
      // them and they left /machine/peripheral: that counts as completed too.
      const event = deleted.then(
        (ok): RemovalEnd => ({ at: this.clock.now(), ok, errno: null, ...(ok ? {} : { timedOut: true }) }),
        (e: unknown): RemovalEnd => ({ at: this.clock.now(), ok: false, errno: null, lost: errorMessage(e) }),
      );
      pending = Promise.race([event, this.leftPeripherals(id, horizon)]);
    } else if (r.ioctl || r.send || r.close) {
      // through an fd the agent holds: done when the call returns (a destroy may block in the kernel)
      const on = (r.ioctl ?? r.send ?? r.close)!.on;
      const handle = this.handleOf(on, 'removal');
      const call: AgentCall = r.ioctl
        ? ({ op: 'ioctl', handle, request: this.ioctlRequest(r.ioctl.request, r.ioctl.args) } as AgentCall)
        : r.send
          ? { op: 'write', handle, hex: this.structHex(r.send.struct, r.send.value) }
          : { op: 'close', handle };
      if (r.close) this.handles.delete(on);
      this.note('agent', `removal: ${method} on ${on}`);
      pending = this.port.agent(call, horizon).then(
        (a): RemovalEnd => ({ at: this.clock.now(), ok: a.ok, errno: a.ok ? null : a.errno, ...(a.timedOut ? { timedOut: true } : {}) }),
        (e: unknown): RemovalEnd => ({ at: this.clock.now(), ok: false, errno: null, lost: e instanceof GuestLostError ? e.reason : errorMessage(e) }),
      );
    } else {
      const cmd = this.removalCommand();
      this.note('shell', `removal: ${method}`, cmd);
      // Issued asynchronously: an unbind may block in the kernel until the fds close.
      pending = this.port.exec(cmd, horizon).then(
        (x) => ({
          at: this.clock.now(),
          ok: x.code === 0 && !x.timedOut,
          errno: x.code === 0 || x.timedOut ? null : errnoFromMessage(x.stderr) ?? `EXIT${x.code}`,
          detail: x.stderr.trim() || undefined,
          ...(x.timedOut ? { timedOut: true } : {}),
        }),
        (e: unknown) => ({ at: this.clock.now(), ok: false, errno: null, lost: e instanceof GuestLostError ? e.reason : errorMessage(e) }),
      );
    }
    if (r.gone !== undefined) {
      const path = this.sub(r.gone);
      pending = pending.then((end) => (end.ok && !end.lost ? this.whenGone(path, horizon, end) : end));
    }
    outcome.issued = true;
    const end = await this.within(pending, r.timeoutMs);
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

  /** Resolves once `id` is no longer a child of /machine/peripheral (polled; stops when the case ends). */
  private async leftPeripherals(id: string, horizonMs: number): Promise<RemovalEnd> {
    const until = this.clock.now() + horizonMs;
    while (!this.finished && this.clock.now() < until) {
      await this.clock.sleep(100);
      if (this.finished) break;
      try {
        const list = (await this.port.qmp('qom-list', { path: '/machine/peripheral' }, 5000)) as Array<{ name: string }>;
        if (Array.isArray(list) && !list.some((p) => p.name === id)) {
          return { at: this.clock.now(), ok: true, errno: null, detail: `${id} left /machine/peripheral without a DEVICE_DELETED event` };
        }
      } catch (e) {
        if (e instanceof GuestLostError) return { at: this.clock.now(), ok: false, errno: null, lost: e.reason };
      }
    }
    return new Promise<RemovalEnd>(() => undefined);
  }

  private removalCommand(): string {
    const r = this.c.removal;
    if (r['sysfs-unbind']) return `echo ${shq(this.sub(r['sysfs-unbind'].device))} > ${shq(`${this.sub(r['sysfs-unbind'].driver)}/unbind`)}`;
    if (r['sysfs-remove']) return `echo 1 > ${shq(`${this.sub(r['sysfs-remove'].device)}/remove`)}`;
    if (r.rmmod) return `rmmod ${shq(this.sub(r.rmmod.module))}`;
    if (r.configfs) {
      const dir = shq(this.sub(r.configfs.dir));
      // gpio-sim: take the chip down, then remove lines, banks and the chip directory
      return `echo 0 > ${dir}/live && for b in ${dir}/*/; do for l in "$b"line*/; do [ -d "$l" ] && rmdir "$l"; done; rmdir "$b" || exit 1; done && rmdir ${dir}`;
    }
    if (r['i2c-delete-device']) {
      const d = r['i2c-delete-device'];
      return `echo 0x${d.addr.toString(16)} > ${shq(`/sys/bus/i2c/devices/${this.sub(d.adapter)}/delete_device`)}`;
    }
    throw new HarnessFailure('removal without a method');
  }

  /** The removal's end once `path` no longer exists in the guest (the guest's side of it has run). */
  private async whenGone(path: string, horizonMs: number, end: RemovalEnd): Promise<RemovalEnd> {
    const r = await this.port
      .exec(`while [ -e ${shq(path)} ]; do sleep 0.02; done`, horizonMs)
      .catch((e: unknown) => ({ lost: e instanceof GuestLostError ? e.reason : errorMessage(e), timedOut: false }));
    if ('lost' in r) return { ...end, ok: false, lost: r.lost };
    this.note('step', `removal: ${path} gone`);
    return { ...end, at: this.clock.now(), ...(r.timedOut ? { timedOut: true } : {}) };
  }

  private async within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
    let timer = false;
    // cancelled when p wins: a pending 15 s bound would otherwise hold the CLI open after the run
    const ac = new AbortController();
    const sleep = this.clock.sleep(ms, ac.signal).then(() => {
      timer = !ac.signal.aborted;
      return undefined;
    });
    try {
      const r = await Promise.race([p, sleep]);
      return timer ? undefined : r;
    } finally {
      ac.abort();
    }
  }

  // ---- restore, settle, harvest ----

  private async restore(): Promise<void> {
    try {
      for (const s of this.c.restore) await this.step(s, 'restore');
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
      for (const f of live.tick(this.clock.now())) this.note('finding', f.title, f.kind);
      quietSince = Math.max(quietSince, this.lastLineMs);
      const idle = live.oldestOpenLine === null ? QUIET_IDLE_MS : QUIET_MS;
      if (this.clock.now() - quietSince >= idle) break;
    }
    this.note('step', 'settled');
  }

  private async harvestDmesg(): Promise<string[]> {
    try {
      // Only this case's part leaves the guest (from the last begin marker on): the whole log,
      // every boot message and every earlier case, was most of what a case read back.
      const r = await this.port.exec(`dmesg | B=${shq(`huci: begin ${this.tag}`)} awk ${shq(DMESG_FROM_BEGIN)}`, 15000);
      if (r.code !== 0) return [];
      const lines = r.stdout.split('\n');
      const slice = sliceBetween(lines, `huci: begin ${this.tag}`, `huci: end ${this.tag}`);
      this.note('shell', 'dmesg harvested', slice ? `${slice.length} lines in the case` : 'begin marker not found; console only');
      return slice ?? [];
    } catch {
      return [];
    }
  }
}

function stepKind(s: Step): string {
  for (const k of ['modprobe', 'rmmod', 'mkdir', 'rmdir', 'write', 'new_device', 'delete_device', 'shell'] as const) {
    const v = s[k];
    // the timeline's detail carries the command with variables filled in
    if (v !== undefined) return typeof v === 'string' && k !== 'shell' ? `${k} ${v}` : k;
  }
  return 'step';
}
