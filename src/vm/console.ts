// The guest's serial console. QEMU writes it to `console.log` itself (a file chardev) and we follow
// the file every FOLLOW_MS while bytes come: a pipe would wake us for every few bytes the UART hands
// QEMU. Once a read finds nothing new, or ends a short burst at a line's end, we sleep on an inotify
// watch of the file instead: wake-ups are dear on a PVM host, and an idle console should cost none.
// Streams can be attached too (tests).
//  - `console.log`: the raw bytes, exactly as they came (the file stays in runDir after QEMU exits);
//  - `console.jsonl`: one {"lineNo","hostMs","text"} per line, so host timestamps survive the run;
//  - live lines (event 'line' and lines()) with host timestamps, '\r' stripped;
//  - a bounded in-memory tail for error messages and waitForLine.
// A panic cannot lose the last lines: once QEMU exited the file is read to its end (a stream to its
// EOF), and the partial last line is emitted.
// Our file writes are batched too: one per file every FLUSH_MS, not one per chunk and per line, and
// console.jsonl is written synchronously: a stream's write is a trip through libuv's thread pool and
// two more wake-ups.
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { InfraError, TimeoutError } from '../errors.js';

export interface ConsoleLine {
  text: string;
  /** Host wall clock (Date.now()) when the line's last byte arrived. */
  hostMs: number;
  /** 1-based. */
  lineNo: number;
}

/** How often a followed console file is read while bytes come (a line's host time is at most this late). */
export const FOLLOW_MS = 25;
/** Bytes in one follow read that mean a flood (an oops, a storm of messages): keep reading every FOLLOW_MS. */
const BURST_BYTES = 4096;
/** How often an idle followed file is read anyway: a watch that never fires must not freeze the console. */
export const IDLE_CHECK_MS = 1000;
/** The same once a watch of this file has fired: its file system gives inotify events, the look is a spare. */
export const IDLE_CHECK_PROVEN_MS = 10_000;

export interface ConsoleCaptureOptions {
  /** false: someone else (QEMU) writes `file`; follow() reads it. Default true: push()ed bytes are written to it. */
  writeRaw?: boolean;
  /** Where the per-line JSON goes; null: no such file. */
  linesFile?: string | null;
  /** Lines kept in memory for tail() and waitForLine(). */
  tailLines?: number;
  now?: () => number;
}

/** Longest a console byte waits in memory before it is written to the files. */
export const FLUSH_MS = 100;
/** Pending bytes that force a write before FLUSH_MS (a printk flood). */
const FLUSH_BYTES = 256 * 1024;

export class ConsoleCapture extends EventEmitter {
  readonly file: string;
  readonly linesFile: string | null;
  lineCount = 0;
  byteCount = 0;
  private readonly raw: fs.WriteStream | null;
  private followFd: number | null = null;
  private followPos = 0;
  private followTimer: NodeJS.Timeout | null = null;
  /** Set while the followed file is idle: an inotify watch that ends the idle. */
  private followWatch: fs.FSWatcher | null = null;
  private idleCheck: NodeJS.Timeout | null = null;
  /** A watch of the followed file has fired: the file system tells us of QEMU's writes. */
  private watchProven = false;
  /** when a watch event last read the file (now()) */
  private lastWatchReadMs = -Infinity;
  private lastFlushMs = 0;
  private readonly followBuf = Buffer.allocUnsafe(64 * 1024);
  /** console.jsonl's fd; null once closed or after a write failed */
  private jsonl: number | null;
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';
  private readonly ring: ConsoleLine[] = [];
  private readonly tailMax: number;
  private readonly now: () => number;
  private ended = false;
  private pendingRaw: Buffer[] = [];
  private pendingRawBytes = 0;
  private pendingJsonl = '';
  private flushTimer: NodeJS.Timeout | null = null;
  /** Resolves once the source ended and both files are flushed and closed. */
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;

  constructor(file: string, opts: ConsoleCaptureOptions = {}) {
    super();
    this.file = file;
    this.linesFile = opts.linesFile === undefined ? null : opts.linesFile;
    this.tailMax = opts.tailLines ?? 5000;
    this.now = opts.now ?? Date.now;
    this.raw = opts.writeRaw === false ? null : fs.createWriteStream(file, { flags: 'w' });
    this.jsonl = this.linesFile ? fs.openSync(this.linesFile, 'w') : null;
    // A write error on our own files is not the guest's fault; report it via 'error' listeners only.
    this.raw?.on('error', (e) => this.listenerCount('error') && this.emit('error', e));
    this.closed = new Promise((r) => (this.resolveClosed = r));
  }

  /** Read everything from `source` (QEMU's stdout) until it ends. */
  attach(source: Readable): this {
    source.on('data', (chunk: Buffer) => this.push(chunk));
    source.on('end', () => this.end());
    source.on('close', () => this.end());
    source.on('error', () => this.end());
    return this;
  }

  /**
   * Follows `file` as someone else (QEMU) appends to it: reads what is new every FOLLOW_MS.
   * The file must exist; end() reads the rest and ends the capture.
   */
  follow(): this {
    this.followFd = fs.openSync(this.file, 'r');
    this.followTimer = setTimeout(this.followTick, FOLLOW_MS);
    return this;
  }

  private readonly followTick = (): void => {
    this.followTimer = null;
    if (this.ended) return;
    const n = this.readNew();
    // one that ended at a line's end usually took the whole burst (a marker, a probe's messages):
    // sleep on the watch at once rather than after one more empty read
    if (n > 0 && this.moreComing(n)) {
      if (this.now() - this.lastFlushMs >= FLUSH_MS) this.flush();
      this.followTimer = setTimeout(this.followTick, FOLLOW_MS);
      return;
    }
    // idle: what is pending goes to the files now, then nothing runs until the file changes
    this.flush();
    try {
      this.followWatch = fs.watch(this.file, this.onWatchEvent);
      this.followWatch.on('error', () => this.wakeFollow());
    } catch {
      // no inotify (or no watch left): keep polling
      this.followTimer = setTimeout(this.followTick, FOLLOW_MS);
      return;
    }
    this.idleCheck = setTimeout(this.idleTick, this.idleCheckMs);
    // bytes written between the empty read and the watch would wait for the next write: look again
    if (this.readNew() > 0) this.wakeFollow();
  };

  /**
   * The idle file changed. A short burst that ends at a line's end (a marker, a probe's message) is
   * read here and the watch stays: one wake-up. A line still coming, a flood, or changes closer
   * together than FOLLOW_MS: read every FOLLOW_MS until quiet (the watch would wake us per write).
   */
  private readonly onWatchEvent = (): void => {
    const firstProof = !this.watchProven;
    this.watchProven = true;
    if (this.ended || this.followTimer || this.followWatch === null) return;
    if (firstProof && this.idleCheck) {
      // the spare look can wait longer now that the file system is known to tell us
      clearTimeout(this.idleCheck);
      this.idleCheck = setTimeout(this.idleTick, this.idleCheckMs);
    }
    const now = this.now();
    const soon = now - this.lastWatchReadMs < FOLLOW_MS;
    this.lastWatchReadMs = now;
    const n = this.readNew();
    if (soon || this.moreComing(n)) this.wakeFollow();
    else this.flush();
  };

  /** A read of n bytes that ended mid-line, or a flood, has more coming: look again soon. */
  private moreComing(n: number): boolean {
    return this.partial !== '' || n >= BURST_BYTES;
  }

  /** A slow look while idle, in case the file system gives no inotify events for QEMU's writes. */
  private readonly idleTick = (): void => {
    this.idleCheck = null;
    if (this.ended || this.followWatch === null) return;
    if (this.readNew() > 0) this.wakeFollow();
    else this.idleCheck = setTimeout(this.idleTick, this.idleCheckMs);
  };

  private get idleCheckMs(): number {
    return this.watchProven ? IDLE_CHECK_PROVEN_MS : IDLE_CHECK_MS;
  }

  /** The followed file changed: back to reading it every FOLLOW_MS (this read stamps the first lines). */
  private wakeFollow(): void {
    this.followWatch?.close();
    this.followWatch = null;
    if (this.idleCheck) clearTimeout(this.idleCheck);
    this.idleCheck = null;
    if (this.ended || this.followTimer) return;
    this.readNew();
    this.followTimer = setTimeout(this.followTick, FOLLOW_MS);
  }

  /** Reads what is new in the followed file; returns the byte count. */
  private readNew(): number {
    if (this.followFd === null || this.ended) return 0;
    let total = 0;
    for (;;) {
      let n: number;
      try {
        n = fs.readSync(this.followFd, this.followBuf, 0, this.followBuf.length, this.followPos);
      } catch {
        return total;
      }
      if (n <= 0) return total;
      this.followPos += n;
      total += n;
      this.push(Buffer.from(this.followBuf.subarray(0, n)));
      if (n < this.followBuf.length) return total;
    }
  }

  /** Feed bytes (attach() and follow() do this; tests call it directly). */
  push(chunk: Buffer): void {
    if (this.ended) return;
    if (this.raw) {
      this.pendingRaw.push(chunk);
      this.pendingRawBytes += chunk.length;
    }
    this.byteCount += chunk.length;
    const hostMs = this.now();
    const parts = (this.partial + this.decoder.write(chunk)).split('\n');
    this.partial = parts.pop() ?? '';
    for (const p of parts) this.emitLine(p, hostMs);
    if (this.pendingRawBytes + this.pendingJsonl.length >= FLUSH_BYTES) this.flush();
    // a followed file flushes from its own reads (followTick): no extra timer, no extra wake-up
    else if (!this.flushTimer && this.followFd === null) {
      this.flushTimer = setTimeout(() => this.flush(), FLUSH_MS);
      // end() flushes; a pending write must not keep the process alive on its own
      this.flushTimer.unref();
    }
  }

  /** Writes what is pending to the files now. */
  flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.lastFlushMs = this.now();
    if (this.pendingRaw.length > 0 && this.raw) {
      this.raw.write(this.pendingRaw.length === 1 ? this.pendingRaw[0]! : Buffer.concat(this.pendingRaw, this.pendingRawBytes));
      this.pendingRaw = [];
      this.pendingRawBytes = 0;
    }
    if (this.pendingJsonl !== '') {
      if (this.jsonl !== null) {
        try {
          fs.writeSync(this.jsonl, this.pendingJsonl);
        } catch (e) {
          this.closeJsonl();
          if (this.listenerCount('error')) this.emit('error', e);
        }
      }
      this.pendingJsonl = '';
    }
  }

  /** Source ended: the unterminated last line (often the end of a panic) still counts. */
  end(): void {
    if (this.ended) return;
    if (this.followTimer) clearTimeout(this.followTimer);
    this.followTimer = null;
    this.followWatch?.close();
    this.followWatch = null;
    if (this.idleCheck) clearTimeout(this.idleCheck);
    this.idleCheck = null;
    if (this.followFd !== null) {
      // the followed file is complete (QEMU exited): what is left in it still counts
      this.readNew();
      fs.closeSync(this.followFd);
      this.followFd = null;
    }
    this.ended = true;
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    if (rest.replaceAll('\r', '') !== '') this.emitLine(rest, this.now());
    this.flush();
    this.emit('end');
    const done: Promise<void>[] = [];
    if (this.raw) done.push(new Promise<void>((r) => this.raw!.end(r)));
    this.closeJsonl();
    void Promise.all(done).then(() => this.resolveClosed());
  }

  private closeJsonl(): void {
    if (this.jsonl === null) return;
    const fd = this.jsonl;
    this.jsonl = null;
    try {
      fs.closeSync(fd);
    } catch {
      // nothing more will be written to it either way
    }
  }

  get isEnded(): boolean {
    return this.ended;
  }

  private emitLine(text: string, hostMs: number): void {
    const line: ConsoleLine = { text: text.replaceAll('\r', ''), hostMs, lineNo: ++this.lineCount };
    this.ring.push(line);
    // Trim in batches: a KASAN storm is many thousands of lines, and splicing per line is O(tail).
    if (this.ring.length > 2 * this.tailMax) this.ring.splice(0, this.ring.length - this.tailMax);
    if (this.jsonl !== null) this.pendingJsonl += `${JSON.stringify(line)}\n`;
    this.emit('line', line);
  }

  /** The last n lines (at most tailLines). */
  tail(n: number): string[] {
    if (n <= 0) return [];
    return this.retained()
      .slice(-Math.min(n, this.tailMax))
      .map((l) => l.text);
  }

  /** The last tailLines lines with their timestamps. */
  retained(): readonly ConsoleLine[] {
    return this.ring.length > this.tailMax ? this.ring.slice(-this.tailMax) : this.ring;
  }

  /** Live lines from now on; the iteration ends when the console ends. */
  lines(): AsyncIterable<ConsoleLine> {
    return {
      [Symbol.asyncIterator]: () => {
        const queue: ConsoleLine[] = [];
        let wake: (() => void) | null = null;
        let done = this.ended;
        const onLine = (l: ConsoleLine): void => {
          queue.push(l);
          wake?.();
        };
        const onEnd = (): void => {
          done = true;
          wake?.();
        };
        this.on('line', onLine);
        this.on('end', onEnd);
        const cleanup = (): void => {
          this.off('line', onLine);
          this.off('end', onEnd);
        };
        return {
          next: async (): Promise<IteratorResult<ConsoleLine>> => {
            while (queue.length === 0 && !done) await new Promise<void>((r) => (wake = r));
            wake = null;
            const l = queue.shift();
            if (l) return { value: l, done: false };
            cleanup();
            return { value: undefined, done: true };
          },
          return: async (): Promise<IteratorResult<ConsoleLine>> => {
            cleanup();
            return { value: undefined, done: true };
          },
        };
      },
    };
  }

  /**
   * The first line matching `re` with lineNo >= fromLine (default: any retained line, then live).
   * Rejects with TimeoutError, or InfraError if the console ends first; both carry the tail.
   */
  waitForLine(re: RegExp, opts: { timeoutMs: number; fromLine?: number }): Promise<ConsoleLine> {
    const from = opts.fromLine ?? 1;
    const hit = this.ring.find((l) => l.lineNo >= from && re.test(l.text));
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.off('line', onLine);
        this.off('end', onEnd);
      };
      const onLine = (l: ConsoleLine): void => {
        if (l.lineNo >= from && re.test(l.text)) {
          finish();
          resolve(l);
        }
      };
      const onEnd = (): void => {
        finish();
        reject(new InfraError(`console ended before a line matching ${re} appeared`, this.tail(40)));
      };
      const timer = setTimeout(() => {
        finish();
        reject(new TimeoutError(`no console line matching ${re} within ${opts.timeoutMs} ms`, opts.timeoutMs / 1000, this.tail(40)));
      }, opts.timeoutMs);
      if (this.ended) return onEnd();
      this.on('line', onLine);
      this.on('end', onEnd);
    });
  }
}

/** Read a console.jsonl back (e.g. for a report written after the run). */
export async function readConsoleLines(file: string): Promise<ConsoleLine[]> {
  const text = await fs.promises.readFile(file, 'utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as ConsoleLine);
}
