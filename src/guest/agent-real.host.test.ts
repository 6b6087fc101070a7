// The real huci-agent binary on the host, over child_process pipes: files, character devices,
// FIFOs and a pty stand in for guest devices; the assertions are on errno names, bytes and counts.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { unlinkSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InfraError } from '../errors.js';
import { buildAgent } from '../image/agent-binary.js';
import { AgentClient, replyBytes } from './agent.js';
import { PROTOCOL_VERSION, type LoopStats, type OpenFlag, type SuccessFor } from './agent-protocol.js';
import { agentCall, loadVocabulary } from '../vocabulary/load.js';

const vocab = loadVocabulary();
const call = (name: string, args?: unknown) => agentCall(vocab, name, args).request;

let binary: string;
let dir: string;
const children: ChildProcessWithoutNullStreams[] = [];
const stderrOf = new Map<ChildProcessWithoutNullStreams, string>();

beforeAll(async () => {
  // HUCI_AGENT_BIN runs the suite against another build (e.g. one with -fsanitize=address,undefined).
  binary = process.env.HUCI_AGENT_BIN || (await buildAgent());
  dir = await mkdtemp(join(tmpdir(), 'huci-agent-'));
  await writeFile(join(dir, 'hello.txt'), 'hello\n');
  await writeFile(join(dir, 'empty'), '');
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

afterEach(() => {
  const stderr = children.map((c) => stderrOf.get(c) ?? '').join('');
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  stderrOf.clear();
  // the agent never writes stderr; anything there is a sanitizer report or a crash
  expect(stderr).toBe('');
});

function track(child: ChildProcessWithoutNullStreams): ChildProcessWithoutNullStreams {
  children.push(child);
  stderrOf.set(child, '');
  child.stderr.on('data', (c: Buffer) => stderrOf.set(child, stderrOf.get(child) + c.toString()));
  return child;
}

function startAgent(opts: ConstructorParameters<typeof AgentClient>[2] = {}) {
  const child = track(spawn(binary, [], { stdio: ['pipe', 'pipe', 'pipe'] }));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, client: new AgentClient(child.stdin, child.stdout, opts), exited };
}

function fifo(name: string): string {
  const p = join(dir, name);
  execFileSync('mkfifo', [p]);
  return p;
}

/** Opens a path and returns the handle, failing the test with the agent's reply otherwise. */
async function openOk(c: AgentClient, path: string, flags: OpenFlag[]): Promise<number> {
  const r = await c.open(path, flags);
  if (!r.ok) throw new Error(`open ${path}: ${JSON.stringify(r)}`);
  return r.handle;
}

function ok<T extends { ok: boolean }>(r: T): Extract<T, { ok: true }> {
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r)}`);
  return r as Extract<T, { ok: true }>;
}

async function waitForLoop(c: AgentClient, loop: number, pred: (s: LoopStats) => boolean): Promise<LoopStats> {
  for (let i = 0; i < 500; i++) {
    const s = ok(await c.loops()).loops.find((l) => l.loop === loop);
    if (s && pred(s)) return s;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`loop ${loop} never reached the expected state`);
}

describe('huci-agent: operations on files and character devices', () => {
  const cases: Array<{
    name: string;
    path: () => string;
    flags: OpenFlag[];
    run: (c: AgentClient, h: number) => Promise<{ ok: boolean; errno: string | null } & Record<string, unknown>>;
    expect: Record<string, unknown>;
  }> = [
    {
      name: 'read a regular file',
      path: () => join(dir, 'hello.txt'),
      flags: ['O_RDONLY'],
      run: (c, h) => c.read(h, 100),
      expect: { ok: true, errno: null, n: 6, hex: '68656c6c6f0a' },
    },
    {
      name: 'pread from an offset',
      path: () => join(dir, 'hello.txt'),
      flags: ['O_RDONLY'],
      run: (c, h) => c.pread(h, 3, 1),
      expect: { ok: true, n: 3, hex: '656c6c' },
    },
    {
      name: 'pread past the end is EOF',
      path: () => join(dir, 'hello.txt'),
      flags: ['O_RDONLY'],
      run: (c, h) => c.pread(h, 3, 100),
      expect: { ok: true, n: 0, hex: '' },
    },
    {
      name: 'write to a read-only fd',
      path: () => join(dir, 'hello.txt'),
      flags: ['O_RDONLY'],
      run: (c, h) => c.write(h, 'x'),
      expect: { ok: false, errno: 'EBADF', error: 'Bad file descriptor' },
    },
    { name: 'read from a write-only fd', path: () => '/dev/null', flags: ['O_WRONLY'], run: (c, h) => c.read(h, 1), expect: { ok: false, errno: 'EBADF' } },
    { name: 'read /dev/null', path: () => '/dev/null', flags: ['O_RDONLY'], run: (c, h) => c.read(h, 16), expect: { ok: true, n: 0, hex: '' } },
    {
      name: 'write bytes to /dev/null',
      path: () => '/dev/null',
      flags: ['O_WRONLY'],
      run: (c, h) => c.write(h, Buffer.from([0, 1, 2, 255])),
      expect: { ok: true, n: 4 },
    },
    { name: 'read /dev/zero', path: () => '/dev/zero', flags: ['O_RDONLY'], run: (c, h) => c.read(h, 8), expect: { ok: true, n: 8, hex: '0000000000000000' } },
    { name: 'read a directory', path: () => dir, flags: ['O_RDONLY', 'O_DIRECTORY'], run: (c, h) => c.read(h, 8), expect: { ok: false, errno: 'EISDIR' } },
    {
      name: 'mmap /dev/zero reads its first byte',
      path: () => '/dev/zero',
      flags: ['O_RDONLY'],
      run: (c, h) => c.mmap(h, 4096, 0),
      expect: { ok: true, n: 4096, fault: null },
    },
    {
      // pages past the end of a file: the mapping works, its first read raises SIGBUS (as a revoked device's)
      name: 'mmap an empty file faults with SIGBUS on first read',
      path: () => join(dir, 'empty'),
      flags: ['O_RDONLY'],
      run: (c, h) => c.mmap(h, 4096, 0),
      expect: { ok: true, n: 4096, fault: 'SIGBUS' },
    },
    { name: 'mmap a FIFO', path: () => fifo('mmap.fifo'), flags: ['O_RDWR'], run: (c, h) => c.mmap(h, 4096, 0), expect: { ok: false, errno: 'ENODEV' } },
    { name: 'pread a FIFO', path: () => fifo('pread.fifo'), flags: ['O_RDWR'], run: (c, h) => c.pread(h, 1, 0), expect: { ok: false, errno: 'ESPIPE' } },
    {
      name: 'TCGETS on a file',
      path: () => join(dir, 'hello.txt'),
      flags: ['O_RDONLY'],
      run: (c, h) => c.ioctl(h, call('TCGETS')),
      expect: { ok: false, errno: 'ENOTTY' },
    },
    {
      name: 'GPIO chip info on a file',
      path: () => join(dir, 'hello.txt'),
      flags: ['O_RDONLY'],
      run: (c, h) => c.ioctl(h, call('GPIO_GET_CHIPINFO_IOCTL')),
      expect: { ok: false, errno: 'ENOTTY' },
    },
    {
      name: 'GPIO v2 line request on /dev/null',
      path: () => '/dev/null',
      flags: ['O_RDWR'],
      run: (c, h) => c.ioctl(h, call('GPIO_V2_GET_LINE_IOCTL', { offsets: [0, 3], num_lines: 2, config: { flags: ['INPUT', 'EDGE_RISING'] } })),
      expect: { ok: false, errno: 'ENOTTY' },
    },
    {
      name: 'GPIO v2 set values on /dev/null',
      path: () => '/dev/null',
      flags: ['O_RDWR'],
      run: (c, h) => c.ioctl(h, call('GPIO_V2_LINE_SET_VALUES_IOCTL', { bits: 1, mask: 3 })),
      expect: { ok: false, errno: 'ENOTTY' },
    },
    {
      name: 'GPIO v1 line event on /dev/null',
      path: () => '/dev/null',
      flags: ['O_RDWR'],
      run: (c, h) => c.ioctl(h, call('GPIO_GET_LINEEVENT_IOCTL', { lineoffset: 1, eventflags: ['FALLING_EDGE'] })),
      expect: { ok: false, errno: 'ENOTTY' },
    },
    {
      name: 'a sequence stops at its first failing step (I2C_SLAVE on a file)',
      path: () => join(dir, 'hello.txt'),
      flags: ['O_RDWR'],
      run: (c, h) => c.ioctl(h, call('I2C_SMBUS_READ_BYTE', { addr: 0x50 })),
      expect: { ok: false, errno: 'ENOTTY', stage: 0 },
    },
    {
      name: 'I2C_FUNCS on /dev/null',
      path: () => '/dev/null',
      flags: ['O_RDONLY'],
      run: (c, h) => c.ioctl(h, call('I2C_FUNCS')),
      expect: { ok: false, errno: 'ENOTTY' },
    },
    {
      name: 'a bare number with a buffer (FIONREAD on a file)',
      path: () => join(dir, 'hello.txt'),
      flags: ['O_RDONLY'],
      run: (c, h) => c.ioctl(h, { number: 0x541b, size: 4 }),
      expect: { ok: true, ret: 0, hex: '06000000' },
    },
    {
      name: 'a bare number the file does not know',
      path: () => join(dir, 'hello.txt'),
      flags: ['O_RDONLY'],
      run: (c, h) => c.ioctl(h, { number: 0xb401, size: 68 }),
      expect: { ok: false, errno: 'ENOTTY' },
    },
  ];

  it.each(cases)('$name', async ({ path, flags, run, expect: want }) => {
    const { client } = startAgent();
    const h = await openOk(client, path(), flags);
    const r = await run(client, h);
    expect(r).toMatchObject(want);
    expect(typeof r.ms).toBe('number');
    expect(await client.close(h)).toMatchObject({ ok: true, deferred: false });
    expect(await client.close(h)).toMatchObject({ ok: false, errno: 'EBADF', error: `no open handle ${h}` });
  });

  it.each([
    { path: '/nonexistent/huci', flags: ['O_RDONLY'] as OpenFlag[], errno: 'ENOENT' },
    { path: '/tmp', flags: ['O_RDWR'] as OpenFlag[], errno: 'EISDIR' },
    { path: '/dev/null', flags: ['O_RDONLY', 'O_DIRECTORY'] as OpenFlag[], errno: 'ENOTDIR' },
  ])('open $path $flags → $errno', async ({ path, flags, errno }) => {
    const { client } = startAgent();
    expect(await client.open(path, flags)).toMatchObject({ ok: false, errno });
  });

  it('TCGETS on a pty master decodes termios', async () => {
    const { client } = startAgent();
    const h = await openOk(client, '/dev/ptmx', ['O_RDWR', 'O_NOCTTY']);
    const tcgets = agentCall(vocab, 'TCGETS', undefined);
    const r = ok(await client.ioctl(h, tcgets.request));
    const t = tcgets.decode(r.hex) as { c_cflag: number; c_lflag: number };
    // a fresh pty has CREAD (0o200) and a CS8 character size (0o60) set; ICANON (2) in lflag
    expect(t.c_cflag & 0o200).toBe(0o200);
    expect(t.c_cflag & 0o60).toBe(0o60);
    expect(t.c_lflag & 2).toBe(2);
    const raw = ok(await client.ioctl(h, { number: 0x5401, size: 60 }));
    expect(raw.ret).toBe(0);
    expect(Buffer.from(raw.hex ?? '', 'hex').readUInt32LE(8)).toBe(t.c_cflag);
  });
});

describe('huci-agent: sockets', () => {
  // sockaddr_in 127.0.0.1, port 0: a UDP socket bound on loopback sends nothing anywhere
  const loopback = Buffer.from(`020000007f000001${'00'.repeat(8)}`, 'hex').toString('hex');
  it('socket + bind + setsockopt on host-encoded bytes gives a handle', async () => {
    const { client } = startAgent();
    // SOL_SOCKET (1), SO_RCVBUF (8): an int
    const r = await client.request(
      {
        op: 'socket',
        domain: 2,
        type: 2,
        protocol: 0,
        calls: [
          { call: 'setsockopt', level: 1, name: 8, hex: '00100000' },
          { call: 'bind', hex: loopback },
        ],
      },
      { timeoutMs: 5000 },
    );
    expect(r).toMatchObject({ ok: true, handle: expect.any(Number) });
    const h = (r as { handle: number }).handle;
    expect(await client.request({ op: 'poll', handle: h, events: ['POLLOUT'], timeoutMs: 0 }, { timeoutMs: 5000 })).toMatchObject({
      ok: true,
      revents: ['POLLOUT'],
    });
    expect(await client.close(h)).toMatchObject({ ok: true });
  });

  it.each([
    [
      'a call the kernel refuses names it',
      { domain: 1, type: 1, protocol: 0, calls: [{ call: 'connect' as const, hex: Buffer.from('\x01\x00/nonexistent/huci.sock\0').toString('hex') }] },
      { ok: false, errno: 'ENOENT', error: 'connect' },
    ],
    ['socket(2) itself', { domain: 4242, type: 2, protocol: 0 }, { ok: false, errno: 'EAFNOSUPPORT', error: 'socket' }],
  ])('%s', async (_what, req, want) => {
    const { client } = startAgent();
    expect(await client.request({ op: 'socket', ...req }, { timeoutMs: 5000 })).toMatchObject(want);
  });
});

describe('huci-agent: poll', () => {
  it('reports POLLIN with data, then POLLHUP once the writer is gone', async () => {
    const { client } = startAgent();
    const path = fifo('poll.fifo');
    const rd = await openOk(client, path, ['O_RDONLY', 'O_NONBLOCK']);
    const wr = await openOk(client, path, ['O_WRONLY']);
    expect(await client.poll(rd, ['POLLIN'], 0)).toMatchObject({ ok: true, ready: 0, revents: [] });
    expect(await client.write(wr, 'xy')).toMatchObject({ ok: true, n: 2 });
    expect(await client.poll(rd, ['POLLIN'], 1000)).toMatchObject({ ok: true, ready: 1, revents: ['POLLIN'] });
    expect(await client.read(rd, 10)).toMatchObject({ ok: true, n: 2, hex: '7879' });
    expect(await client.read(rd, 10)).toMatchObject({ ok: false, errno: 'EAGAIN' });
    ok(await client.close(wr));
    expect(await client.poll(rd, ['POLLIN'], 1000)).toMatchObject({ ok: true, ready: 1, revents: ['POLLHUP'] });
    expect(await client.read(rd, 10)).toMatchObject({ ok: true, n: 0 });
  });

  it('a poll that times out in the kernel returns ready 0 after its timeout', async () => {
    const { client } = startAgent();
    const h = await openOk(client, fifo('poll-timeout.fifo'), ['O_RDWR']);
    const r = ok(await client.poll(h, ['POLLIN', 'POLLPRI'], 150));
    expect(r).toMatchObject({ ready: 0, revents: [] });
    expect(r.ms).toBeGreaterThanOrEqual(140);
  });
});

describe('huci-agent: robustness', () => {
  /** Raw lines straight into the agent after it opened /dev/null as handle 1; all replies, in arrival order. */
  async function rawExchange(lines: string[]): Promise<Array<Record<string, unknown>>> {
    const child = track(spawn(binary, [], { stdio: ['pipe', 'pipe', 'pipe'] }));
    let out = '';
    let opened: () => void;
    const openReply = new Promise<void>((resolve) => (opened = resolve));
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('"id":0,')) opened();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.stdin.write('{"id":0,"op":"open","path":"/dev/null","flags":["O_RDWR"]}\n');
    await openReply;
    child.stdin.end(lines.map((l) => `${l}\n`).join(''));
    expect(await exited).toBe(0);
    const replies = out
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(replies[0]).toMatchObject({ id: 0, ok: true, handle: 1 });
    return replies.slice(1);
  }

  it('answers every malformed line with EINVAL and keeps going', async () => {
    const table: Array<[string, Record<string, unknown>]> = [
      ['{bad', { id: null, errno: 'EINVAL', error: 'invalid JSON at byte 1: expected object key' }],
      ['[1,2]', { id: null, errno: 'EINVAL', error: 'request must be a JSON object' }],
      ['{"id":1,"op":"nope"}', { id: 1, errno: 'EINVAL', error: 'unknown op nope' }],
      ['{"id":2,"op":"read"}', { id: 2, errno: 'EINVAL', error: 'this op needs a numeric handle' }],
      ['{"id":3,"op":"read","handle":77}', { id: 3, errno: 'EBADF', error: 'no open handle 77' }],
      ['{"id":4,"op":"open","path":"/x","flags":["O_BOGUS"]}', { id: 4, errno: 'EINVAL', error: 'unknown name in flags: O_BOGUS' }],
      ['{"id":5,"op":"open","path":"/tmp/\\u00e9\\ud83d\\ude00-none"}', { id: 5, errno: 'ENOENT' }],
      ['{"id":6,"op":"stop","loop":99}', { id: 6, errno: 'EINVAL', error: 'no loop 99' }],
      [
        '{"id":7,"op":"spawn","handle":1,"loop":{"op":"open"}}',
        { id: 7, errno: 'EINVAL', error: 'loop.op must be read, write, pread, poll, ioctl, mmap or reopen' },
      ],
      ['{"id":71,"op":"spawn","handle":1,"loop":{"op":"reopen"}}', { id: 71, errno: 'EINVAL', error: 'a reopen loop needs loop.path' }],
      ['{"id":8,"op":"open","path":"/dev/null"} trailing', { id: null, errno: 'EINVAL', error: 'invalid JSON at byte 40: trailing characters' }],
      ['{"id":"s","op":"ping","x":"\\"\\n"}', { id: 's', ok: true, errno: null, protocol: PROTOCOL_VERSION }],
      ['{"id":9,"op":"open","path":"/dev/null"}', { id: 9, ok: true, handle: 2 }],
      ['{"id":10,"op":"write","handle":1,"hex":"abc"}', { id: 10, errno: 'EINVAL', error: 'hex must be an even-length hex string' }],
      ['{"id":11,"op":"ioctl","handle":1,"request":"NOT_AN_IOCTL"}', { id: 11, errno: 'EINVAL', error: 'request must be an object {number, arg?|hex?}' }],
      [
        '{"id":12,"op":"ioctl","handle":1,"request":{"number":1,"hex":"00","relocs":[[0,0]]}}',
        { id: 12, errno: 'EINVAL', error: 'request.relocs must be a list of up to 16 [at, to] offsets inside the buffer' },
      ],
      [
        '{"id":13,"op":"ioctl","handle":1,"request":{"number":1,"hex":"00","fdAt":0}}',
        { id: 13, errno: 'EINVAL', error: 'request.fdAt must be the offset of a 32-bit field of the buffer' },
      ],
      ['{"id":14,"op":"poll","handle":1,"events":["POLLWHAT"]}', { id: 14, errno: 'EINVAL', error: 'unknown name in events: POLLWHAT' }],
      ['{"id":15,"op":"read","handle":1,"size":2000000}', { id: 15, errno: 'EINVAL' }],
      [
        '{"id":16,"op":"ioctl","handle":1,"request":{"number":21505,"hex":"zz"}}',
        { id: 16, errno: 'EINVAL', error: 'request.hex must be an even-length hex string' },
      ],
      ['{"id":17,"op":"sh"}', { id: 17, errno: 'EINVAL', error: 'sh needs a string command' }],
      ['{"id":18,"op":"sh","command":"true","timeoutMs":-1}', { id: 18, errno: 'EINVAL', error: 'timeoutMs must be a non-negative number' }],
    ];
    const replies = await rawExchange(table.map(([l]) => l));
    expect(replies).toHaveLength(table.length);
    for (const [line, want] of table) {
      const id = want.id;
      const candidates = replies.filter((r) => r.id === id && (id !== null || r.error === want.error));
      expect(candidates, line).toHaveLength(1);
      expect(candidates[0], line).toMatchObject({ ok: false, ...want });
    }
  });

  it('on EOF interrupts blocked requests (they answer EINTR), stops loops and exits 0', async () => {
    const { client, exited } = startAgent();
    const h = await openOk(client, fifo('eof.fifo'), ['O_RDWR']);
    ok(await client.spawn(h, { op: 'read', size: 1 }));
    const pending = client.read(h, 1, { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    expect(await client.shutdown(5000)).toBe(true);
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(await exited).toBe(0);
    expect(await pending).toMatchObject({ ok: false, errno: 'EINTR' });
    await expect(client.ping()).rejects.toBeInstanceOf(InfraError);
    expect(client.deadBecause).toMatch(/agent stdout (ended|closed)/);
  });

  it('a killed agent rejects pending requests with the transcript', async () => {
    const { client, child } = startAgent();
    const h = await openOk(client, fifo('kill.fifo'), ['O_RDWR']);
    const pending = client.read(h, 1, { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGKILL');
    const err = await pending.catch((e) => e);
    expect(err).toBeInstanceOf(InfraError);
    expect((err as InfraError).transcript.join('\n')).toContain(`"op":"read","handle":${h}`);
  });
});

describe('huci-agent: concurrency and loops', () => {
  it('a read blocked on an empty FIFO does not block a ping; it returns when data arrives', async () => {
    const { client } = startAgent();
    const path = fifo('blocked.fifo');
    const rd = await openOk(client, path, ['O_RDWR']);
    const blocked = client.read(rd, 16, { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 50));
    const ping = ok(await client.ping({ timeoutMs: 2000 }));
    expect(ping.pid).toBeGreaterThan(1);
    expect(ping.ms).toBeLessThan(500);
    const wr = await openOk(client, path, ['O_WRONLY']);
    ok(await client.write(wr, 'late'));
    const r = ok(await blocked);
    expect(replyBytes(r).toString()).toBe('late');
    expect(r.ms).toBeGreaterThanOrEqual(50);
  });

  it('answers 300 concurrent mixed requests, each with its own data', async () => {
    const { client } = startAgent();
    const zero = await openOk(client, '/dev/zero', ['O_RDONLY']);
    const file = await openOk(client, join(dir, 'hello.txt'), ['O_RDONLY']);
    const jobs = Array.from({ length: 300 }, (_, i) => {
      if (i % 3 === 0) return client.ping().then((r) => expect(r).toMatchObject({ ok: true, protocol: PROTOCOL_VERSION }));
      if (i % 3 === 1) return client.read(zero, i).then((r) => expect(r).toMatchObject({ ok: true, n: i, hex: '00'.repeat(i) }));
      return client.pread(file, 2, i % 5).then((r) => expect(replyBytes(ok(r)).toString()).toBe('hello\n'.slice(i % 5, (i % 5) + 2)));
    });
    await Promise.all(jobs);
    expect(client.transcript.filter((e) => e.dir === 'recv')).toHaveLength(302);
  });

  it('keeps issuing fresh handles and loops over a long session', async () => {
    const { client } = startAgent();
    let last = 0;
    for (let i = 0; i < 600; i += 50) {
      const opened = await Promise.all(Array.from({ length: 50 }, () => openOk(client, '/dev/null', ['O_RDONLY'])));
      await Promise.all(opened.map((h) => client.close(h).then(ok)));
      last = Math.max(last, ...opened);
    }
    expect(last).toBe(600);
    const h = await openOk(client, '/dev/zero', ['O_RDONLY']);
    const ids = await Promise.all(Array.from({ length: 100 }, () => client.spawn(h, { op: 'read', size: 1 }, { intervalMs: 20 }).then((r) => ok(r).loop)));
    expect(new Set(ids).size).toBe(100);
    expect(Math.max(...ids)).toBe(100);
    const stops = await Promise.all(ids.map((id) => client.stop(id).then(ok)));
    expect(stops.every((s) => s.running === false && s.iterations >= 1 && s.counts.OK === s.iterations)).toBe(true);
  });

  it('carries a 1 MiB read in one reply line', async () => {
    const { client } = startAgent();
    const zero = await openOk(client, '/dev/zero', ['O_RDONLY']);
    const r = ok(await client.read(zero, 1 << 20));
    expect(r.n).toBe(1 << 20);
    expect(replyBytes(r).equals(Buffer.alloc(1 << 20))).toBe(true);
    // the transcript keeps a bounded copy of the line
    const recv = client.transcript.filter((e) => e.dir === 'recv').at(-1)!;
    expect(recv.line).toMatch(/^\{"id":2,"ok":true,.*…\(\+\d+ chars\)$/);
    expect(recv.line.length).toBeLessThan(4200);
  });

  it('close while a read holds the fd is deferred until the read returns', async () => {
    const { client } = startAgent();
    const path = fifo('deferred.fifo');
    const rd = await openOk(client, path, ['O_RDWR']);
    const wr = await openOk(client, path, ['O_WRONLY']);
    const blocked = client.read(rd, 4, { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 50));
    expect(await client.close(rd)).toMatchObject({ ok: true, deferred: true });
    expect(await client.read(rd, 1)).toMatchObject({ ok: false, errno: 'EBADF', error: `no open handle ${rd}` });
    ok(await client.write(wr, 'z'));
    expect(await blocked).toMatchObject({ ok: true, n: 1, hex: '7a' });
  });

  it('counts a loop of reads on a FIFO and stops it', async () => {
    const { client } = startAgent();
    const path = fifo('loop.fifo');
    const rd = await openOk(client, path, ['O_RDWR']);
    const wr = await openOk(client, path, ['O_WRONLY']);
    const { loop } = ok(await client.spawn(rd, { op: 'read', size: 1 }));
    ok(await client.write(wr, 'abcde'));
    const running = await waitForLoop(client, loop, (s) => s.iterations === 5);
    expect(running).toMatchObject({ running: true, counts: { OK: 5 }, op: 'read', handle: rd });
    const stopped = ok(await client.stop(loop));
    expect(stopped).toMatchObject({
      loop,
      running: false,
      iterations: 5,
      counts: { OK: 5 },
      interrupted: true,
      stuck: false,
    });
    expect(stopped.transitions.map((t) => [t.key, t.iteration])).toEqual([['OK', 1]]);
    // a stopped loop stays listed with its final counts
    expect(ok(await client.loops()).loops).toEqual([expect.objectContaining({ loop, running: false, iterations: 5 })]);
    expect(await client.stop(loop)).toMatchObject({ ok: true, iterations: 5, stuck: false });
  });

  it('a reopen loop (a stress worker) opens and closes its path in a tight loop, and tallies ENOENT once the path is gone', async () => {
    const { client } = startAgent();
    const path = fifo('reopen.fifo');
    const rd = await openOk(client, path, ['O_RDWR']);
    const { loop } = ok(await client.spawn(rd, { op: 'reopen', path, flags: ['O_RDWR'] }, { intervalMs: 0 }));
    await waitForLoop(client, loop, (s) => (s.counts.OK ?? 0) >= 10);
    unlinkSync(path);
    await waitForLoop(client, loop, (s) => (s.counts.ENOENT ?? 0) >= 10);
    const stopped = ok(await client.stop(loop));
    expect(stopped).toMatchObject({ op: 'reopen', running: false, stuck: false });
    expect(stopped.transitions.map((t) => t.key).slice(0, 2)).toEqual(['OK', 'ENOENT']);
    // the held fd is untouched by its node going
    expect(await client.close(rd)).toMatchObject({ ok: true });
  });

  it('stop of a loop blocked in read returns promptly', async () => {
    const { client } = startAgent();
    const rd = await openOk(client, fifo('stop-blocked.fifo'), ['O_RDWR']);
    const { loop } = ok(await client.spawn(rd, { op: 'read', size: 64 }));
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    const r = ok(await client.stop(loop));
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(r.ms).toBeLessThan(500);
    expect(r).toMatchObject({ iterations: 0, counts: {}, interrupted: true, stuck: false, running: false });
  });

  it('counts EOF, errno names and poll timeouts separately and records transitions', async () => {
    const { client } = startAgent();
    const nul = await openOk(client, '/dev/null', ['O_RDONLY']);
    const wo = await openOk(client, '/dev/null', ['O_WRONLY']);
    const pipe = await openOk(client, fifo('loop-poll.fifo'), ['O_RDWR']);
    const eof = ok(await client.spawn(nul, { op: 'read', size: 8 }, { intervalMs: 1 }));
    const ebadf = ok(await client.spawn(wo, { op: 'read', size: 8 }, { intervalMs: 1 }));
    const polls = ok(await client.spawn(pipe, { op: 'poll', events: ['POLLIN'], timeoutMs: 0 }, { intervalMs: 1 }));
    for (const l of [eof, ebadf, polls]) await waitForLoop(client, l.loop, (s) => s.iterations >= 3);
    const [a, b, c] = await Promise.all([eof, ebadf, polls].map((l) => client.stop(l.loop)));
    const counts = [a, b, c].map((r) => ok(r!)).map((r) => [r.counts, r.iterations] as const);
    expect(Object.keys(counts[0]![0])).toEqual(['EOF']);
    expect(counts[0]![0].EOF).toBe(counts[0]![1]);
    expect(Object.keys(counts[1]![0])).toEqual(['EBADF']);
    expect(Object.keys(counts[2]![0])).toEqual(['TIMEOUT']);
  });

  it('records the change from OK to an error when the handle goes away under a loop', async () => {
    const { client } = startAgent();
    const h = await openOk(client, '/dev/zero', ['O_RDONLY']);
    const { loop } = ok(await client.spawn(h, { op: 'read', size: 4 }, { intervalMs: 2 }));
    await waitForLoop(client, loop, (s) => s.iterations >= 3);
    ok(await client.close(h));
    await waitForLoop(client, loop, (s) => (s.counts.EBADF ?? 0) >= 3);
    const r: SuccessFor<'stop'> = ok(await client.stop(loop));
    expect(r.transitions.map((t) => t.key)).toEqual(['OK', 'EBADF']);
    const [first, second] = r.transitions;
    expect(second!.iteration).toBe(r.counts.OK! + 1);
    expect(second!.ms).toBeGreaterThan(first!.ms);
    expect(r.counts.OK! + r.counts.EBADF!).toBe(r.iterations);
  });

  it('keeps the latest transition when results flap more than 32 times', async () => {
    const { client } = startAgent();
    const path = fifo('flap.fifo');
    const rd = await openOk(client, path, ['O_RDWR', 'O_NONBLOCK']);
    const wr = await openOk(client, path, ['O_WRONLY']);
    const { loop } = ok(await client.spawn(rd, { op: 'poll', events: ['POLLIN'], timeoutMs: 0 }, { intervalMs: 1 }));
    // its first result before the first write (on a busy host the write could come first)
    await waitForLoop(client, loop, (s) => s.transitions.length > 0);
    for (let i = 0; i < 25; i++) {
      ok(await client.write(wr, 'x'));
      await waitForLoop(client, loop, (s) => s.transitions.at(-1)?.key === 'POLLIN');
      ok(await client.read(rd, 1));
      await waitForLoop(client, loop, (s) => s.transitions.at(-1)?.key === 'TIMEOUT');
    }
    ok(await client.close(rd));
    await waitForLoop(client, loop, (s) => (s.counts.EBADF ?? 0) > 0);
    const r = ok(await client.stop(loop));
    expect(r.transitions).toHaveLength(32);
    expect(r.transitions.at(-1)!.key).toBe('EBADF');
    expect(r.transitions.at(-1)!.iteration).toBe(r.iterations - r.counts.EBADF! + 1);
    expect(r.transitions.slice(0, 4).map((t) => t.key)).toEqual(['TIMEOUT', 'POLLIN', 'TIMEOUT', 'POLLIN']);
    // 52 changes (TIMEOUT, 25 × POLLIN+TIMEOUT, EBADF); 32 kept
    expect(r.transitionsDropped).toBe(52 - 32);
  });

  it('a request without a reply in time resolves with timedOut, then the late reply is recorded', async () => {
    const { client } = startAgent();
    const path = fifo('timeout.fifo');
    const rd = await openOk(client, path, ['O_RDWR']);
    const r = await client.read(rd, 4, { timeoutMs: 200 });
    expect(r).toMatchObject({ ok: false, errno: 'ETIMEDOUT_HARNESS', timedOut: true });
    expect(r.ms).toBeGreaterThanOrEqual(195);
    ok(await client.write(rd, 'ok'));
    for (let i = 0; i < 100 && !client.transcript.some((e) => e.dir === 'late'); i++) await new Promise((res) => setTimeout(res, 10));
    const late = client.transcript.find((e) => e.dir === 'late');
    expect(JSON.parse(late!.line)).toMatchObject({ ok: true, n: 2, hex: '6f6b' });
  });
});

describe('huci-agent: tasks (who waits in the kernel, and where)', () => {
  it("lists the agent's shell commands while they run, with their state and wait", async () => {
    const { client } = startAgent();
    const pid = ok(await client.ping()).pid;
    const running = client.request({ op: 'sh', command: 'sleep 1; true' }, { timeoutMs: 10_000 });
    let mine: Array<{ comm: string; ppid: number; state: string }> = [];
    for (let i = 0; i < 50 && mine.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      mine = ok(await client.request({ op: 'tasks' })).tasks.filter((t) => t.ppid === pid);
    }
    expect(mine).toEqual([expect.objectContaining({ comm: 'sh', ppid: pid, state: expect.stringMatching(/^[RSD]$/) })]);
    expect(await running).toMatchObject({ ok: true, code: 0 });
    expect(ok(await client.request({ op: 'tasks' })).tasks.filter((t) => t.ppid === pid && t.state !== 'Z')).toEqual([]);
  });
});

describe('huci-agent: sh (shell commands on the agent channel)', () => {
  type Sh = SuccessFor<'sh'>;
  const table: Array<{ name: string; command: string; timeoutMs?: number; expect: Partial<Sh> }> = [
    {
      name: 'exit status, stdout and stderr apart',
      command: 'echo out; echo err >&2; exit 3',
      expect: { code: 3, signal: null, stdout: 'out\n', stderr: 'err\n', timedOut: false },
    },
    { name: 'stdin is /dev/null', command: 'cat; echo done', expect: { code: 0, stdout: 'done\n' } },
    { name: 'a command killed by a signal', command: 'kill -TERM $$', expect: { code: null, signal: 'TERM', timedOut: false } },
    {
      name: 'quotes, backslashes, control characters and UTF-8 survive',
      command: "printf 'a\"b\\\\c\\t\\001─\\n'",
      expect: { code: 0, stdout: 'a"b\\c\t\u0001─\n' },
    },
    { name: 'a deadline kills the command', command: 'echo started; sleep 30', timeoutMs: 300, expect: { stdout: 'started\n', timedOut: true } },
    {
      name: 'a background child holding the output does not hold the reply',
      command: '(sleep 30 &); echo bg',
      expect: { code: 0, stdout: 'bg\n', timedOut: false },
    },
  ];
  for (const t of table) {
    it(t.name, async () => {
      const { client } = startAgent();
      const started = Date.now();
      const r = await client.request({ op: 'sh', command: t.command, ...(t.timeoutMs === undefined ? {} : { timeoutMs: t.timeoutMs }) }, { timeoutMs: 10_000 });
      expect(r).toMatchObject({ ok: true, ...t.expect });
      expect(Date.now() - started).toBeLessThan(5000);
    });
  }

  it('the command holds none of the fds the agent holds (only 0-2, and ls its own)', async () => {
    const { client } = startAgent();
    const held = await openOk(client, join(dir, 'hello.txt'), ['O_RDONLY']);
    expect(held).toBeGreaterThan(0);
    const r = await client.request({ op: 'sh', command: 'ls /proc/$$/fd' }, { timeoutMs: 10_000 });
    expect(r).toMatchObject({ ok: true, code: 0 });
    expect(r.ok && r.stdout.trim().split('\n').sort()).toEqual(['0', '1', '2']);
  });

  it('a blocked command does not delay other requests; it answers when unblocked', async () => {
    const { client } = startAgent();
    const f = fifo('sh-block');
    const blocked = client.request({ op: 'sh', command: `cat ${f}` }, { timeoutMs: 10_000 });
    expect(await client.ping()).toMatchObject({ ok: true });
    const writer = await client.request({ op: 'sh', command: `echo through > ${f}` }, { timeoutMs: 10_000 });
    expect(writer).toMatchObject({ ok: true, code: 0 });
    expect(await blocked).toMatchObject({ ok: true, code: 0, stdout: 'through\n' });
  });

  it('caps each stream at 8 MiB and says so', async () => {
    const { client } = startAgent();
    const r = await client.request({ op: 'sh', command: 'head -c 9000000 /dev/zero | tr "\\0" x' }, { timeoutMs: 20_000 });
    expect(r).toMatchObject({ ok: true, code: 0, truncated: true });
    expect(r.ok && r.stdout.length).toBe(8 << 20);
  });

  it('refuses a request without a command (EINVAL, no process)', async () => {
    const { client } = startAgent();
    // the client sends requests as typed: the agent itself refuses one it cannot read
    const r = await client.request({ op: 'sh' } as never, { timeoutMs: 5000 });
    expect(r).toMatchObject({ ok: false, errno: 'EINVAL', error: expect.stringMatching(/command/) });
  });

  it('seq runs commands one after the other in one request; it goes on after a failure that may fail and stops at one that may not', async () => {
    const { client } = startAgent();
    const r = ok(
      await client.request(
        {
          op: 'seq',
          steps: [
            { op: 'sh', command: 'echo one', stopOnFailure: true },
            { op: 'sh', command: 'echo two >&2; exit 3', stopOnFailure: false },
            { op: 'sh', command: 'sleep 5', timeoutMs: 100, stopOnFailure: true },
            { op: 'sh', command: 'echo never' },
          ],
        },
        { timeoutMs: 10_000 },
      ),
    );
    expect(r.results).toEqual([
      expect.objectContaining({ op: 'sh', ok: true, code: 0, stdout: 'one\n', timedOut: false }),
      expect.objectContaining({ op: 'sh', ok: true, code: 3, stderr: 'two\n', timedOut: false }),
      expect.objectContaining({ op: 'sh', ok: true, code: null, timedOut: true }),
    ]);
    expect(r.results[2]!.ms).toBeGreaterThanOrEqual(90);
    expect(r.results[2]!.ms).toBeLessThan(2000);
    for (const steps of [
      [],
      [{ command: 'true' }],
      [{ op: 'sh', cmd: 'true' }],
      [{ op: 'open', path: '/dev/null' }],
      [{ op: 'sh', command: 'true', stopOnFailure: 1 }],
      Array.from({ length: 17 }, () => ({ op: 'sh', command: 'true' })),
    ]) {
      const refused = await client.request({ op: 'seq', steps } as never, { timeoutMs: 5000 });
      expect(refused).toMatchObject({ ok: false, errno: 'EINVAL' });
    }
  });
});

describe('huci-agent: file operations (set-up steps and markers without a shell)', () => {
  it('writefile writes the text and a newline as echo > does (created, truncated); a missing directory is ENOENT naming the path', async () => {
    const { client } = startAgent();
    const p = join(dir, 'written');
    await writeFile(p, 'a much longer old content\n');
    ok(await client.request({ op: 'writefile', path: p, text: '1' }, { timeoutMs: 5000 }));
    expect(await readFile(p, 'utf8')).toBe('1\n');
    const missing = join(dir, 'no-such-dir', 'x');
    expect(await client.request({ op: 'writefile', path: missing, text: '1' }, { timeoutMs: 5000 })).toMatchObject({
      ok: false,
      errno: 'ENOENT',
      error: `open ${missing}: No such file or directory`,
    });
  });

  it.each([
    ['mkdir makes a directory', [{ op: 'mkdir', name: 'd' }], [null]],
    [
      'mkdir of one that exists is EEXIST',
      [
        { op: 'mkdir', name: 'd' },
        { op: 'mkdir', name: 'd' },
      ],
      [null, 'EEXIST'],
    ],
    [
      'rmdir removes it again',
      [
        { op: 'mkdir', name: 'd' },
        { op: 'rmdir', name: 'd' },
        { op: 'rmdir', name: 'd' },
      ],
      [null, null, 'ENOENT'],
    ],
    [
      'rmdir of a directory with something in it is ENOTEMPTY',
      [
        { op: 'mkdir', name: 'd' },
        { op: 'mkdir', name: 'd/e' },
        { op: 'rmdir', name: 'd' },
      ],
      [null, null, 'ENOTEMPTY'],
    ],
  ] as const)('%s', async (_name, calls, errnos) => {
    const { client } = startAgent();
    const base = await mkdtemp(join(dir, 'dirs-'));
    const got = [];
    for (const c of calls) got.push((await client.request({ op: c.op, path: join(base, c.name) }, { timeoutMs: 5000 })).errno);
    expect(got).toEqual(errnos);
  });

  it("find: a file's content (its trailing newlines dropped), the first match of a glob in order, the directory of the one whose content equals", async () => {
    const { client } = startAgent();
    const base = await mkdtemp(join(dir, 'find-'));
    for (const [d, name] of [
      ['b', 'beta'],
      ['a', 'alpha'],
      ['c', 'gamma'],
    ] as const) {
      await mkdir(join(base, d));
      await writeFile(join(base, d, 'name'), `${name}\n\n`);
    }
    const find = async (args: Record<string, unknown>) => client.request({ op: 'find', ...args } as never, { timeoutMs: 5000 });
    expect(await find({ file: join(base, 'b', 'name') })).toMatchObject({ ok: true, found: 'beta' });
    expect(await find({ glob: join(base, '*', 'name') })).toMatchObject({ ok: true, found: join(base, 'a', 'name') });
    expect(await find({ glob: join(base, '*', 'name'), contentEquals: 'gamma' })).toMatchObject({ ok: true, found: join(base, 'c') });
    expect(await find({ glob: join(base, '[ab]') })).toMatchObject({ ok: true, found: join(base, 'a') });
    for (const bad of [{}, { glob: 'x', file: 'y' }, { file: 'y', contentEquals: 'z' }, { glob: 'x', waitMs: -1 }]) {
      expect(await find(bad)).toMatchObject({ ok: false, errno: 'EINVAL' });
    }
  });

  it('find waits for a path that appears later, and gives up with ENOENT at its bound', async () => {
    const { client } = startAgent();
    const base = await mkdtemp(join(dir, 'wait-'));
    setTimeout(() => void writeFile(join(base, 'late0'), 'x'), 150);
    const r = await client.request({ op: 'find', glob: join(base, 'late*'), waitMs: 5000 }, { timeoutMs: 10_000 });
    expect(r).toMatchObject({ ok: true, found: join(base, 'late0') });
    expect(r.ms).toBeGreaterThanOrEqual(100);
    const none = await client.request({ op: 'find', glob: join(base, 'never*'), waitMs: 200 }, { timeoutMs: 10_000 });
    expect(none).toMatchObject({ ok: false, errno: 'ENOENT', error: expect.stringMatching(/nothing matched .*never\* within 200 ms/) });
    expect(none.ms).toBeGreaterThanOrEqual(190);
    expect(none.ms).toBeLessThan(2000);
  });

  it("refresh: sets the wall clock and reseeds the CRNG (here the host's own, as root: the clock to what it already is); refuses what it cannot use", async () => {
    const { client } = startAgent();
    const before = Date.now();
    const r = await client.request({ op: 'refresh', unixMs: Date.now(), seedHex: 'ab'.repeat(64) }, { timeoutMs: 5000 });
    expect(r).toMatchObject({ ok: true, errno: null });
    expect(Math.abs(Date.now() - before)).toBeLessThan(2000);
    expect(await client.request({ op: 'refresh', seedHex: '00ff' }, { timeoutMs: 5000 })).toMatchObject({ ok: true });
    for (const bad of [{}, { unixMs: -1 }, { seedHex: 'xyz' }, { seedHex: 5 }]) {
      expect(await client.request({ op: 'refresh', ...bad } as never, { timeoutMs: 5000 })).toMatchObject({ ok: false, errno: 'EINVAL' });
    }
  });

  it('find with a node directory: a name found in "sysfs" counts once it is a node in that directory too', async () => {
    const { client } = startAgent();
    const sys = await mkdtemp(join(dir, 'sys-'));
    const dev = await mkdtemp(join(dir, 'dev-'));
    await mkdir(join(sys, 'hidraw3'));
    await writeFile(join(sys, 'chip_name'), 'gpiochip2\n');
    // devtmpfs makes the node after the sysfs entry exists
    setTimeout(() => void writeFile(join(dev, 'hidraw3'), ''), 150);
    const late = await client.request({ op: 'find', glob: join(sys, 'hidraw*'), node: dev, waitMs: 5000 }, { timeoutMs: 10_000 });
    expect(late).toMatchObject({ ok: true, found: join(sys, 'hidraw3') });
    expect(late.ms).toBeGreaterThanOrEqual(100);
    const none = await client.request({ op: 'find', file: join(sys, 'chip_name'), node: dev, waitMs: 200 }, { timeoutMs: 10_000 });
    expect(none).toMatchObject({
      ok: false,
      errno: 'ENOENT',
      error: `${join(sys, 'chip_name')} matched but its node ${join(dev, 'gpiochip2')} did not appear within 200 ms`,
    });
    await writeFile(join(dev, 'gpiochip2'), '');
    expect(await client.request({ op: 'find', file: join(sys, 'chip_name'), node: dev }, { timeoutMs: 10_000 })).toMatchObject({
      ok: true,
      found: 'gpiochip2',
    });
    expect(await client.request({ op: 'find', glob: join(sys, 'x'), node: '' } as never, { timeoutMs: 10_000 })).toMatchObject({ ok: false, errno: 'EINVAL' });
  });

  it('seq runs file operations and commands together, each result with its op, and stops at a failed one that may not fail', async () => {
    const { client } = startAgent();
    const base = await mkdtemp(join(dir, 'seq-'));
    const d = join(base, 'd');
    const r = ok(
      await client.request(
        {
          op: 'seq',
          steps: [
            { op: 'mkdir', path: d, stopOnFailure: true },
            { op: 'writefile', path: join(d, 'f'), text: 'x y', stopOnFailure: true },
            { op: 'find', file: join(d, 'f'), stopOnFailure: true },
            { op: 'sh', command: `cat ${join(d, 'f')}`, stopOnFailure: true },
            { op: 'rmdir', path: d, stopOnFailure: false },
            { op: 'mkdir', path: d, stopOnFailure: true },
            { op: 'sh', command: 'echo never' },
          ],
        },
        { timeoutMs: 10_000 },
      ),
    );
    expect(r.results.map((x) => [x.op, x.errno])).toEqual([
      ['mkdir', null],
      ['writefile', null],
      ['find', null],
      ['sh', null],
      ['rmdir', 'ENOTEMPTY'],
      ['mkdir', 'EEXIST'],
    ]);
    expect(r.results[2]).toMatchObject({ found: 'x y' });
    expect(r.results[3]).toMatchObject({ stdout: 'x y\n' });
    expect(r.results[4]).toMatchObject({ ok: false, error: `rmdir ${d}: Directory not empty` });
  });

  // the host's own kernel log stands in for the guest's: one line written to it
  it.skipIf(process.getuid?.() !== 0)(
    'klog writes a line to the kernel log and reads the log as dmesg prints it from the last line containing a text on',
    async () => {
      const { client } = startAgent();
      const mark = `huci-agent-test ${process.pid}-${Date.now()}`;
      const r = await client.request({ op: 'klog', mark, from: mark }, { timeoutMs: 5000 });
      expect(r).toMatchObject({ ok: true, log: expect.stringMatching(new RegExp(`^\\[[ 0-9.]+\\] ${mark}\n$`)) });
      expect(await client.request({ op: 'klog', from: `${mark} never written` }, { timeoutMs: 5000 })).toMatchObject({ ok: true, log: '' });
      expect(await client.request({ op: 'klog' } as never, { timeoutMs: 5000 })).toMatchObject({ ok: false, errno: 'EINVAL' });
    },
  );
});
