// Client of the guest agent (images/agent) over its stdin/stdout, usually an SSH channel.
// Requests carry ids and may be answered out of order; each has its own timeout. Kernel errors
// are replies ({ok:false, errno}), a timeout is a reply too ({errno:'ETIMEDOUT_HARNESS',
// timedOut:true}); only a dead stream (or a reply that breaks the protocol) rejects, with an
// InfraError carrying the last transcript lines. Every line in or out is kept with a host
// timestamp so the scenario engine can put it in the case's timeline.
import { StringDecoder } from 'node:string_decoder';
import type { Readable, Writable } from 'node:stream';
import { InfraError } from '../errors.js';
import { fastAccept } from '../util/fast-accept.js';
import {
  HARNESS_TIMEOUT,
  ReplySchemas,
  type AgentRequest,
  type IoctlRequest,
  type LoopOp,
  type OpenFlag,
  type Op,
  type PollEvent,
  type ReplyFor,
  type RequestFor,
  type TimedOutReply,
} from './agent-protocol.js';

export type TranscriptDir =
  | 'send' // request written to the agent
  | 'recv' // reply to a pending request
  | 'late' // reply that came after its request timed out
  | 'timeout' // the harness gave up waiting
  | 'noise' // a line that is not a reply we can match (not JSON, unknown id)
  | 'closed'; // the stream ended

export interface TranscriptEntry {
  seq: number;
  hostMs: number;
  dir: TranscriptDir;
  id: number | string | null;
  line: string;
}

export interface AgentClientOptions {
  /** Bound for requests that give none (default 10 s). */
  defaultTimeoutMs?: number;
  /** Transcript entries kept, oldest dropped first (default 100 000). */
  transcriptMax?: number;
  /** Longer transcript lines (a 1 MiB read) are cut to this many characters (default 4096). */
  transcriptLineMax?: number;
  /** Lines an InfraError carries (default 40). */
  errorTranscriptLines?: number;
  now?: () => number;
}

export interface RequestOptions {
  timeoutMs?: number;
}

interface Pending {
  id: number;
  op: Op;
  sentMs: number;
  /** performance.now() after which the request has timed out (the timer's clock, not opts.now) */
  deadline: number;
  timeoutMs: number;
  resolve: (r: unknown) => void;
  reject: (e: Error) => void;
}

export class AgentClient {
  readonly transcript: TranscriptEntry[] = [];
  private readonly pending = new Map<number, Pending>();
  /**
   * One timer for every pending request, due at the earliest deadline or before: a reply then
   * touches no timer (a timer per request was set and cleared a thousand times a run).
   */
  private timer: NodeJS.Timeout | null = null;
  private timerDue = Infinity;
  private readonly listeners = new Set<(e: TranscriptEntry) => void>();
  private readonly opts: Required<AgentClientOptions>;
  private readonly decoder = new StringDecoder('utf8');
  private buffered = '';
  private nextId = 1;
  private seq = 0;
  private deadReason: string | null = null;
  private shuttingDown = false;
  private readonly ended: Promise<void>;
  private markEnded!: () => void;

  constructor(
    private readonly stdin: Writable,
    stdout: Readable,
    opts: AgentClientOptions = {},
  ) {
    this.opts = {
      defaultTimeoutMs: opts.defaultTimeoutMs ?? 10_000,
      transcriptMax: opts.transcriptMax ?? 100_000,
      transcriptLineMax: opts.transcriptLineMax ?? 4096,
      errorTranscriptLines: opts.errorTranscriptLines ?? 40,
      now: opts.now ?? Date.now,
    };
    this.ended = new Promise((resolve) => (this.markEnded = resolve));
    stdout.on('data', (chunk: Buffer | string) => this.onData(chunk));
    stdout.on('end', () => this.die('agent stdout ended'));
    stdout.on('close', () => this.die('agent stdout closed'));
    stdout.on('error', (e) => this.die(`agent stdout error: ${e.message}`));
    // A closed stdin alone is not death: replies to requests already sent may still come.
    stdin.on('error', (e) => this.die(`agent stdin error: ${e.message}`));
  }

  /** Why the stream is dead, or null while it is alive. */
  get deadBecause(): string | null {
    return this.deadReason;
  }

  /** Called for every transcript entry as it is recorded; returns an unsubscribe function. */
  onEntry(cb: (e: TranscriptEntry) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** A position in the transcript; entriesSince(mark) gives what happened after it. */
  mark(): number {
    return this.seq;
  }

  entriesSince(mark: number): TranscriptEntry[] {
    return this.transcript.filter((e) => e.seq >= mark);
  }

  /** Sends one request; resolves with its reply, a kernel error reply, or a timed-out reply. */
  request<R extends AgentRequest>(req: R, opts: RequestOptions = {}): Promise<ReplyFor<R['op']>> {
    // Not parsed against RequestSchema here: requests are typed where they are built, suite data was
    // checked when its suite loaded, every engine test holds them to the schema (testing/fake-guest),
    // and the agent refuses what it cannot read (EINVAL); a parse per request was a fifth of this
    // client's CPU in a run.
    if (this.deadReason !== null) return Promise.reject(this.deadError(`cannot send ${req.op}`));
    if (this.shuttingDown) return Promise.reject(new InfraError(`guest agent is shutting down: cannot send ${req.op}`, this.lastLines()));
    const id = this.nextId++;
    const line = JSON.stringify({ id, ...req });
    const timeoutMs = opts.timeoutMs ?? this.opts.defaultTimeoutMs;
    return new Promise((resolve, reject) => {
      const sentMs = this.opts.now();
      const deadline = performance.now() + timeoutMs;
      this.pending.set(id, { id, op: req.op, sentMs, deadline, timeoutMs, resolve: resolve as (r: unknown) => void, reject });
      if (deadline < this.timerDue) this.armTimer(deadline);
      this.record('send', id, line);
      this.stdin.write(`${line}\n`);
    });
  }

  ping(opts?: RequestOptions) {
    return this.request({ op: 'ping' }, opts);
  }

  open(path: string, flags: OpenFlag[] = ['O_RDONLY'], opts?: RequestOptions & { mode?: number }) {
    const req: RequestFor<'open'> = { op: 'open', path, flags };
    if (opts?.mode !== undefined) req.mode = opts.mode;
    return this.request(req, opts);
  }

  close(handle: number, opts?: RequestOptions) {
    return this.request({ op: 'close', handle }, opts);
  }

  read(handle: number, size = 4096, opts?: RequestOptions) {
    return this.request({ op: 'read', handle, size }, opts);
  }

  pread(handle: number, size: number, offset: number, opts?: RequestOptions) {
    return this.request({ op: 'pread', handle, size, offset }, opts);
  }

  mmap(handle: number, size: number, offset: number, opts?: RequestOptions) {
    return this.request({ op: 'mmap', handle, size, offset }, opts);
  }

  /** A string is sent as text (UTF-8), a Buffer as hex. */
  write(handle: number, data: string | Uint8Array, opts?: RequestOptions) {
    const req: RequestFor<'write'> =
      typeof data === 'string' ? { op: 'write', handle, text: data } : { op: 'write', handle, hex: Buffer.from(data).toString('hex') };
    return this.request(req, opts);
  }

  /** The harness waits pollTimeoutMs plus the default bound before giving up. */
  poll(handle: number, events: PollEvent[], pollTimeoutMs: number, opts?: RequestOptions) {
    return this.request({ op: 'poll', handle, events, timeoutMs: pollTimeoutMs }, { timeoutMs: opts?.timeoutMs ?? pollTimeoutMs + this.opts.defaultTimeoutMs });
  }

  /** ioctl(2) on a held fd: one call or calls in a row, encoded by the host (src/vocabulary). */
  ioctl(handle: number, request: IoctlRequest, opts?: RequestOptions): Promise<ReplyFor<'ioctl'>> {
    return this.request({ op: 'ioctl', handle, request }, opts);
  }

  spawn(handle: number, loop: LoopOp, opts?: RequestOptions & { intervalMs?: number }) {
    const req: RequestFor<'spawn'> = { op: 'spawn', handle, loop };
    if (opts?.intervalMs !== undefined) req.intervalMs = opts.intervalMs;
    return this.request(req, opts);
  }

  /** stopTimeoutMs bounds how long the agent waits for a blocked loop (default 2000 ms). */
  stop(loop: number, opts?: RequestOptions & { stopTimeoutMs?: number }) {
    const req: RequestFor<'stop'> = { op: 'stop', loop };
    if (opts?.stopTimeoutMs !== undefined) req.timeoutMs = opts.stopTimeoutMs;
    return this.request(req, { timeoutMs: opts?.timeoutMs ?? (opts?.stopTimeoutMs ?? 2000) + this.opts.defaultTimeoutMs });
  }

  loops(opts?: RequestOptions) {
    return this.request({ op: 'loops' }, opts);
  }

  /**
   * Ends the agent's stdin: it interrupts requests still running (they answer, typically EINTR),
   * stops its loops, closes its fds and exits. Resolves true once its stdout ended in time.
   */
  async shutdown(timeoutMs = 5000): Promise<boolean> {
    if (this.deadReason === null && !this.shuttingDown) this.stdin.end();
    this.shuttingDown = true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const done = await Promise.race([this.ended.then(() => true as const), timedOut]);
    clearTimeout(timer);
    return done;
  }

  private onData(chunk: Buffer | string): void {
    this.buffered += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    let nl: number;
    while ((nl = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, nl).replace(/\r$/, '');
      this.buffered = this.buffered.slice(nl + 1);
      if (line.trim()) this.onLine(line);
    }
  }

  private onLine(line: string): void {
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      this.record('noise', null, line);
      return;
    }
    // routed by its id alone: the reply is validated once, against the schema of the op it answers
    const id = typeof json === 'object' && json !== null && 'id' in json && Number.isInteger(json.id) ? (json.id as number) : null;
    const p = typeof id === 'number' ? this.pending.get(id) : undefined;
    if (!p) {
      this.record(typeof id === 'number' && id < this.nextId ? 'late' : 'noise', id, line);
      return;
    }
    this.pending.delete(p.id);
    this.record('recv', p.id, line);
    // most replies pass the fast test; the rest go to zod, which has the verdict and its words
    if (fastAccept(ReplySchemas[p.op])(json)) {
      p.resolve(json);
      return;
    }
    const reply = ReplySchemas[p.op].safeParse(json);
    if (reply.success) {
      p.resolve(reply.data);
    } else {
      const issue = reply.error.issues[0];
      p.reject(new InfraError(`guest agent reply to ${p.op} breaks the protocol at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`, this.lastLines()));
    }
  }

  private armTimer(due: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = setTimeout(this.onTimer, Math.max(0, due - performance.now()));
    // a pending request's stream holds the process open; the timer alone must not
    this.timer.unref();
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    this.timerDue = Infinity;
    const now = performance.now();
    let next = Infinity;
    // deleting the entry being visited is safe in a Map's iteration
    for (const p of this.pending.values()) {
      if (p.deadline <= now) this.timeOut(p);
      else next = Math.min(next, p.deadline);
    }
    if (next < Infinity) this.armTimer(next);
  };

  private timeOut(p: Pending): void {
    this.pending.delete(p.id);
    const reply: TimedOutReply = {
      id: p.id,
      ok: false,
      errno: HARNESS_TIMEOUT,
      timedOut: true,
      ms: this.opts.now() - p.sentMs,
      error: `no reply to ${p.op} within ${p.timeoutMs} ms`,
    };
    this.record('timeout', p.id, JSON.stringify(reply));
    p.resolve(reply);
  }

  private die(reason: string): void {
    if (this.deadReason !== null) return;
    this.deadReason = reason;
    const rest = this.decoder.end() + this.buffered;
    if (rest.trim()) this.onLine(rest);
    this.buffered = '';
    this.record('closed', null, reason);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerDue = Infinity;
    for (const p of this.pending.values()) p.reject(this.deadError(`${p.op} (id ${p.id}) got no reply`));
    this.pending.clear();
    this.markEnded();
  }

  private deadError(what: string): InfraError {
    return new InfraError(`guest agent stream is dead (${this.deadReason}): ${what}`, this.lastLines());
  }

  private lastLines(): string[] {
    return this.transcript.slice(-this.opts.errorTranscriptLines).map((e) => `${new Date(e.hostMs).toISOString()} ${e.dir} ${e.line}`);
  }

  private record(dir: TranscriptDir, id: number | string | null, line: string): void {
    const max = this.opts.transcriptLineMax;
    if (line.length > max) line = `${line.slice(0, max)}…(+${line.length - max} chars)`;
    const e: TranscriptEntry = { seq: this.seq++, hostMs: this.opts.now(), dir, id, line };
    this.transcript.push(e);
    if (this.transcript.length > this.opts.transcriptMax) this.transcript.splice(0, this.transcript.length - this.opts.transcriptMax);
    for (const cb of this.listeners) cb(e);
  }
}

/** The bytes of a read/pread reply. */
export function replyBytes(r: { hex: string }): Buffer {
  return Buffer.from(r.hex, 'hex');
}
