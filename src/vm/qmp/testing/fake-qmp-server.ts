// A scripted QMP server on a unix socket, for tests of the client: each connection runs `script`,
// which sends lines and awaits the client's requests. Also replays real QEMU transcripts.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export class FakeConn {
  private buf = '';
  private readonly queue: string[] = [];
  private wake: (() => void) | null = null;
  private ended = false;

  constructor(readonly sock: net.Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buf += d;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        this.queue.push(this.buf.slice(0, nl));
        this.buf = this.buf.slice(nl + 1);
      }
      this.wake?.();
    });
    sock.on('close', () => {
      this.ended = true;
      this.wake?.();
    });
    sock.on('error', () => {});
  }

  /** Send an object (as QEMU does: JSON + CRLF) or a raw line. */
  send(msg: unknown, eol = '\r\n'): void {
    this.sock.write(`${typeof msg === 'string' ? msg : JSON.stringify(msg)}${eol}`);
  }

  /** The client's next request, parsed; null if the client hung up. */
  async recv(): Promise<{ execute: string; arguments?: Record<string, unknown>; id?: unknown } | null> {
    while (this.queue.length === 0 && !this.ended) await new Promise<void>((r) => (this.wake = r));
    const line = this.queue.shift();
    return line === undefined ? null : JSON.parse(line);
  }

  greet(caps: string[] = ['oob']): void {
    this.send({ QMP: { version: { qemu: { micro: 22, minor: 2, major: 7 }, package: 'fake' }, capabilities: caps } });
  }

  /** Greeting + answer qmp_capabilities: what every QEMU does first. */
  async handshake(): Promise<void> {
    this.greet();
    const req = await this.recv();
    if (req?.execute !== 'qmp_capabilities') throw new Error(`expected qmp_capabilities, got ${JSON.stringify(req)}`);
    this.send({ return: {}, id: req.id });
  }

  event(name: string, data?: Record<string, unknown>): void {
    this.send({ timestamp: { seconds: 1700000000, microseconds: 1 }, event: name, ...(data ? { data } : {}) });
  }

  end(): void {
    this.sock.end();
  }
}

export class FakeQmpServer {
  readonly errors: unknown[] = [];
  private constructor(
    readonly path: string,
    private readonly server: net.Server,
  ) {}

  static async start(dir: string, script: (c: FakeConn) => Promise<void>): Promise<FakeQmpServer> {
    const sockPath = path.join(dir, `qmp-${process.pid}-${Math.random().toString(36).slice(2)}.sock`);
    const server = net.createServer();
    const fake = new FakeQmpServer(sockPath, server);
    server.on('connection', (s) => {
      script(new FakeConn(s)).catch((e: unknown) => {
        fake.errors.push(e);
        s.destroy();
      });
    });
    await new Promise<void>((r) => server.listen(sockPath, r));
    return fake;
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** A recorded transcript line: ISO time, direction, payload. */
export interface TranscriptEntry {
  dir: '>' | '<' | '#';
  line: string;
}

export function readTranscript(file: string): TranscriptEntry[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => /^\S+ [<>#] /.test(l))
    .map((l) => {
      const m = /^\S+ ([<>#]) (.*)$/.exec(l)!;
      return { dir: m[1] as TranscriptEntry['dir'], line: m[2]! };
    });
}

/**
 * Play QEMU's side of a recorded transcript: send the recorded '<' lines, and for each recorded
 * '>' line wait for the client's request, check it is the same command, and re-id the replies.
 */
export function replayScript(entries: TranscriptEntry[]): (c: FakeConn) => Promise<void> {
  return async (c) => {
    let currentId: unknown;
    for (const e of entries) {
      if (e.dir === '>') {
        const want = JSON.parse(e.line) as { execute: string; arguments?: unknown };
        const got = await c.recv();
        if (!got || got.execute !== want.execute || JSON.stringify(got.arguments) !== JSON.stringify(want.arguments)) {
          throw new Error(`replay: expected ${e.line}, got ${JSON.stringify(got)}`);
        }
        currentId = got.id;
      } else if (e.dir === '<') {
        const msg = JSON.parse(e.line) as Record<string, unknown>;
        if ('id' in msg) msg.id = currentId;
        c.send(msg);
      }
    }
    c.end();
  };
}
