// A small QMP client over a unix socket: greeting, qmp_capabilities, commands correlated by id,
// async events kept in a bounded backlog (so an event that beats its waiter is not lost), and a
// timestamped transcript of every line that every error carries.
import net from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import type { z } from 'zod';
import { classify, type QmpEvent, type QmpGreeting } from './messages.js';
import { QmpClosedError, QmpCommandError, QmpProtocolError, QmpTimeoutError } from './errors.js';

export interface QmpConnectOptions {
  /** Bound on connect + greeting + qmp_capabilities. */
  timeoutMs?: number;
  /** Default bound for execute(). */
  commandTimeoutMs?: number;
  /** Events kept for waitForEvent/events({replay}) — oldest dropped first. */
  eventBacklog?: number;
  /** Transcript lines kept — oldest dropped first. */
  transcriptMax?: number;
  now?: () => number;
}

export interface ExecuteOptions<T> {
  timeoutMs?: number;
  /** Validate the `return` value; a mismatch is a QmpProtocolError. */
  schema?: z.ZodType<T>;
}

interface Pending {
  id: string;
  command: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

interface EventWaiter {
  name: string;
  match: Record<string, unknown>;
  afterSeq: number;
  resolve: (e: QmpEvent) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

interface EventStream {
  queue: QmpEvent[];
  wake: (() => void) | null;
}

export class QmpClient {
  readonly socketPath: string;
  greeting: QmpGreeting | null = null;
  private readonly sock: net.Socket;
  private readonly now: () => number;
  private readonly commandTimeoutMs: number;
  private readonly backlogMax: number;
  private readonly transcriptMax: number;
  private readonly lines: string[] = [];
  private droppedLines = 0;
  private buf = '';
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private readonly backlog: { ev: QmpEvent; consumed: boolean }[] = [];
  private readonly waiters = new Set<EventWaiter>();
  private readonly streams = new Set<EventStream>();
  private readonly eventListeners = new Set<(ev: QmpEvent) => void>();
  private seq = 0;
  private greetingWaiter: { resolve: (g: QmpGreeting) => void; reject: (e: Error) => void } | null = null;
  private isClosed = false;
  private closeReason = 'QEMU closed the QMP connection (EOF)';
  /** Resolves when the connection has ended, for whatever reason. */
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;

  private constructor(socketPath: string, sock: net.Socket, opts: QmpConnectOptions) {
    this.socketPath = socketPath;
    this.sock = sock;
    this.now = opts.now ?? Date.now;
    this.commandTimeoutMs = opts.commandTimeoutMs ?? 30_000;
    this.backlogMax = opts.eventBacklog ?? 1000;
    this.transcriptMax = opts.transcriptMax ?? 20_000;
    this.closed = new Promise((r) => (this.resolveClosed = r));
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => this.onData(d));
    sock.on('error', (e) => {
      this.closeReason = `QMP socket error: ${e.message}`;
    });
    sock.on('close', () => this.onClose());
  }

  /** Connect, read the greeting, negotiate capabilities. One attempt: callers that race QEMU's startup retry. */
  static async connect(socketPath: string, opts: QmpConnectOptions = {}): Promise<QmpClient> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const sock = net.createConnection({ path: socketPath });
    const client = new QmpClient(socketPath, sock, opts);
    client.record('#', `connect ${socketPath}`);
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new QmpTimeoutError(`QMP handshake on ${socketPath} took over ${timeoutMs} ms`, timeoutMs, client.transcript, null));
      }, timeoutMs);
    });
    try {
      await Promise.race([
        new Promise<void>((resolve, reject) => {
          sock.once('connect', resolve);
          sock.once('error', (e) =>
            reject(new QmpClosedError(`cannot connect to QMP socket ${socketPath}: ${e.message}`, client.transcript, null, { cause: e })),
          );
        }),
        bound,
      ]);
      client.greeting = await Promise.race([client.waitGreeting(), bound]);
      await Promise.race([client.execute('qmp_capabilities', {}, { timeoutMs }), bound]);
      return client;
    } catch (e) {
      client.close();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Every line sent (>) and received (<), plus notes (#), each prefixed with an ISO timestamp. */
  get transcript(): string[] {
    return this.droppedLines ? [`(${this.droppedLines} earlier lines dropped)`, ...this.lines] : [...this.lines];
  }

  get connected(): boolean {
    return !this.isClosed;
  }

  /** Sequence number of the latest event received (0: none yet); see waitForEvent's afterSeq. */
  get eventSeq(): number {
    return this.seq;
  }

  execute<T = unknown>(command: string, args?: Record<string, unknown>, opts: ExecuteOptions<T> = {}): Promise<T> {
    const timeoutMs = opts.timeoutMs ?? this.commandTimeoutMs;
    if (this.isClosed) {
      return Promise.reject(new QmpClosedError(`QMP ${command}: ${this.closeReason}`, this.transcript, command));
    }
    const id = `huci-${this.nextId++}`;
    const msg = args && Object.keys(args).length > 0 ? { execute: command, arguments: args, id } : { execute: command, id };
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.record('#', `timeout after ${timeoutMs} ms waiting for ${id}`);
        reject(new QmpTimeoutError(`QMP ${command}: no reply within ${timeoutMs} ms`, timeoutMs, this.transcript, command));
      }, timeoutMs);
      this.pending.set(id, { id, command, resolve, reject, timer });
      this.send(msg);
    }).then((value) => {
      if (!opts.schema) return value as T;
      const parsed = opts.schema.safeParse(value);
      if (!parsed.success) {
        throw new QmpProtocolError(`QMP ${command}: unexpected reply: ${parsed.error.message}`, this.transcript, command);
      }
      return parsed.data;
    });
  }

  /**
   * The first event `name` whose data has every key of `match` (deep-equal), received after
   * `afterSeq` (default: any still in the backlog). A matched event is consumed: a later wait for
   * the same name/match needs a new event (e.g. the next DEVICE_DELETED of a re-plugged id).
   */
  waitForEvent(name: string, match: Record<string, unknown> = {}, timeoutMs = 30_000, opts: { afterSeq?: number } = {}): Promise<QmpEvent> {
    const afterSeq = opts.afterSeq ?? 0;
    for (const slot of this.backlog) {
      if (!slot.consumed && slot.ev.seq > afterSeq && matches(slot.ev, name, match)) {
        slot.consumed = true;
        return Promise.resolve(slot.ev);
      }
    }
    const what = `${name}${Object.keys(match).length ? ` ${JSON.stringify(match)}` : ''}`;
    if (this.isClosed) {
      return Promise.reject(new QmpClosedError(`waiting for QMP event ${what}: ${this.closeReason}`, this.transcript, null));
    }
    return new Promise((resolve, reject) => {
      const w: EventWaiter = {
        name,
        match,
        afterSeq,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(w);
          reject(new QmpTimeoutError(`no QMP event ${what} within ${timeoutMs} ms`, timeoutMs, this.transcript, null));
        }, timeoutMs),
      };
      this.waiters.add(w);
    });
  }

  /** Calls `cb` for every event from now on (it consumes nothing); returns an unsubscribe function. */
  onEvent(cb: (ev: QmpEvent) => void): () => void {
    this.eventListeners.add(cb);
    return () => void this.eventListeners.delete(cb);
  }

  /** Events as they arrive; with replay, the backlog first. Ends when the connection closes. */
  events(opts: { replay?: boolean } = {}): AsyncIterable<QmpEvent> {
    return {
      [Symbol.asyncIterator]: () => {
        const s: EventStream = { queue: opts.replay ? this.backlog.map((b) => b.ev) : [], wake: null };
        this.streams.add(s);
        return {
          next: async (): Promise<IteratorResult<QmpEvent>> => {
            while (s.queue.length === 0 && !this.isClosed) await new Promise<void>((r) => (s.wake = r));
            s.wake = null;
            const ev = s.queue.shift();
            if (ev) return { value: ev, done: false };
            this.streams.delete(s);
            return { value: undefined, done: true };
          },
          return: async (): Promise<IteratorResult<QmpEvent>> => {
            this.streams.delete(s);
            return { value: undefined, done: true };
          },
        };
      },
    };
  }

  /** Events still in the backlog (oldest first). */
  backlogEvents(): QmpEvent[] {
    return this.backlog.map((b) => b.ev);
  }

  close(): void {
    if (this.isClosed) return;
    this.closeReason = 'QMP connection closed by us';
    this.sock.destroy();
    this.onClose();
  }

  private send(msg: unknown): void {
    const line = JSON.stringify(msg);
    this.record('>', line);
    this.sock.write(`${line}\n`);
  }

  private record(dir: '>' | '<' | '#', line: string): void {
    this.lines.push(`${new Date(this.now()).toISOString()} ${dir} ${line}`);
    if (this.lines.length > this.transcriptMax) {
      const n = this.lines.length - this.transcriptMax;
      this.lines.splice(0, n);
      this.droppedLines += n;
    }
  }

  private waitGreeting(): Promise<QmpGreeting> {
    if (this.greeting) return Promise.resolve(this.greeting);
    return new Promise((resolve, reject) => {
      this.greetingWaiter = { resolve, reject };
      void this.closed.then(() => reject(new QmpClosedError(`QMP socket ${this.socketPath} closed before the greeting`, this.transcript, null)));
    });
  }

  private onData(d: string): void {
    this.buf += d;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).replace(/\r$/, '');
      this.buf = this.buf.slice(nl + 1);
      if (line.trim() !== '') this.onLine(line);
    }
  }

  private onLine(line: string): void {
    this.record('<', line);
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch {
      this.record('#', 'ignored: not JSON');
      return;
    }
    const m = classify(obj);
    if (!this.greeting && m?.kind !== 'greeting') {
      // Whatever listens there is not a QMP server (or not one we understand): fail fast.
      this.greetingWaiter?.reject(new QmpProtocolError(`${this.socketPath}: expected a QMP greeting, got: ${line.slice(0, 200)}`, this.transcript, null));
      this.greetingWaiter = null;
      return;
    }
    if (!m) {
      this.record('#', 'ignored: not a QMP message');
      return;
    }
    switch (m.kind) {
      case 'greeting':
        this.greeting = m.msg;
        this.greetingWaiter?.resolve(m.msg);
        this.greetingWaiter = null;
        return;
      case 'event':
        return this.deliverEvent({ ...m.msg, hostMs: this.now(), seq: ++this.seq });
      case 'return':
      case 'error': {
        const p = this.takePending(m.id);
        if (!p) {
          this.record('#', 'ignored: reply to no pending command');
          return;
        }
        clearTimeout(p.timer);
        if (m.kind === 'return') p.resolve(m.value);
        else p.reject(new QmpCommandError(p.command, m.class, m.desc, this.transcript));
      }
    }
  }

  /** A reply without id (QEMU could not parse a request) answers the oldest pending command. */
  private takePending(id: unknown): Pending | undefined {
    const key = typeof id === 'string' ? id : id === undefined ? this.pending.keys().next().value : undefined;
    if (key === undefined) return undefined;
    const p = this.pending.get(key);
    this.pending.delete(key);
    return p;
  }

  private deliverEvent(ev: QmpEvent): void {
    let consumed = false;
    for (const w of this.waiters) {
      if (ev.seq > w.afterSeq && matches(ev, w.name, w.match)) {
        this.waiters.delete(w);
        clearTimeout(w.timer);
        w.resolve(ev);
        consumed = true;
        break;
      }
    }
    this.backlog.push({ ev, consumed });
    if (this.backlog.length > this.backlogMax) this.backlog.splice(0, this.backlog.length - this.backlogMax);
    for (const s of this.streams) {
      s.queue.push(ev);
      s.wake?.();
    }
    for (const cb of this.eventListeners) cb(ev);
  }

  private onClose(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    if (this.buf.trim() !== '') this.record('<', `${this.buf} (unterminated at EOF)`);
    this.buf = '';
    this.record('#', this.closeReason);
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new QmpClosedError(`QMP ${p.command}: ${this.closeReason} before its reply`, this.transcript, p.command));
    }
    this.pending.clear();
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new QmpClosedError(`waiting for QMP event ${w.name}: ${this.closeReason}`, this.transcript, null));
    }
    this.waiters.clear();
    for (const s of this.streams) s.wake?.();
    this.resolveClosed();
  }
}

function matches(ev: QmpEvent, name: string, match: Record<string, unknown>): boolean {
  if (ev.event !== name) return false;
  for (const [k, v] of Object.entries(match)) if (!isDeepStrictEqual(ev.data?.[k], v)) return false;
  return true;
}

export type { QmpEvent };
