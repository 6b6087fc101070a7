// AgentClient against a scripted fake agent (two PassThrough streams): id correlation, out-of-order
// replies, timeouts, protocol violations, stream death. The real binary is exercised in agent-real.test.ts.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { InfraError } from '../errors.js';
import { AgentClient } from './agent.js';
import type { AgentRequest } from './agent-protocol.js';

function fakeAgent(opts: ConstructorParameters<typeof AgentClient>[2] = {}) {
  const toAgent = new PassThrough();
  const fromAgent = new PassThrough();
  const received: Array<{ id: number } & AgentRequest> = [];
  let waiters: Array<() => void> = [];
  let partial = '';
  toAgent.on('data', (c: Buffer) => {
    partial += c.toString();
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      received.push(JSON.parse(partial.slice(0, nl)));
      partial = partial.slice(nl + 1);
    }
    for (const w of waiters) w();
    waiters = [];
  });
  const client = new AgentClient(toAgent, fromAgent, opts);
  return {
    client,
    received,
    reply: (obj: object) => fromAgent.write(`${JSON.stringify(obj)}\n`),
    raw: (s: string) => fromAgent.write(s),
    end: () => fromAgent.end(),
    async nextRequests(n: number) {
      while (received.length < n) await new Promise<void>((r) => waiters.push(r));
      return received.slice(0, n);
    },
  };
}

describe('AgentClient with a fake agent', () => {
  it('matches out-of-order replies by id', async () => {
    const f = fakeAgent();
    const a = f.client.open('/dev/gpiochip0', ['O_RDWR']);
    const b = f.client.ping();
    const [ra, rb] = await f.nextRequests(2);
    expect(ra).toEqual({ id: 1, op: 'open', path: '/dev/gpiochip0', flags: ['O_RDWR'] });
    expect(rb).toEqual({ id: 2, op: 'ping' });
    f.reply({ id: 2, ok: true, errno: null, ms: 0.1, pid: 42, protocol: 1 });
    f.reply({ id: 1, ok: false, errno: 'ENODEV', ms: 3.5, error: 'No such device' });
    expect(await b).toEqual({ id: 2, ok: true, errno: null, ms: 0.1, pid: 42, protocol: 1 });
    expect(await a).toEqual({ id: 1, ok: false, errno: 'ENODEV', ms: 3.5, error: 'No such device' });
    expect(f.client.transcript.map((e) => [e.dir, e.id])).toEqual([
      ['send', 1],
      ['send', 2],
      ['recv', 2],
      ['recv', 1],
    ]);
  });

  it('reassembles replies split across chunks and skips noise lines', async () => {
    const f = fakeAgent();
    const p = f.client.read(3, 2);
    await f.nextRequests(1);
    f.raw('motd: welcome\n{"id":1,"ok":true,"err');
    f.raw('no":null,"ms":1,"n":2,"hex":"c3a9"}\n');
    expect(await p).toMatchObject({ ok: true, n: 2, hex: 'c3a9' });
    expect(f.client.transcript.filter((e) => e.dir === 'noise').map((e) => e.line)).toEqual(['motd: welcome']);
  });

  it('resolves a timed-out request with ETIMEDOUT_HARNESS and records the late reply', async () => {
    const f = fakeAgent();
    const t0 = Date.now();
    const r = await f.client.read(1, 16, { timeoutMs: 50 });
    expect(r).toMatchObject({ id: 1, ok: false, errno: 'ETIMEDOUT_HARNESS', timedOut: true });
    expect(r.ms).toBeGreaterThanOrEqual(45);
    expect(Date.now() - t0).toBeLessThan(2000);
    f.reply({ id: 1, ok: true, errno: null, ms: 70, n: 0, hex: '' });
    await new Promise((res) => setImmediate(res));
    expect(f.client.transcript.map((e) => e.dir)).toEqual(['send', 'timeout', 'late']);
  });

  it('times out each pending request at its own bound, whatever came and went before it', async () => {
    const f = fakeAgent();
    const t0 = performance.now();
    const long = f.client.read(1, 16, { timeoutMs: 400 });
    const answered = f.client.read(2, 16, { timeoutMs: 60 });
    const short = f.client.read(3, 16, { timeoutMs: 80 });
    await f.nextRequests(3);
    f.reply({ id: 2, ok: true, errno: null, ms: 1, n: 0, hex: '' });
    expect(await answered).toMatchObject({ ok: true });
    expect(await short).toMatchObject({ id: 3, timedOut: true });
    const shortAt = performance.now() - t0;
    expect(await long).toMatchObject({ id: 1, timedOut: true });
    const longAt = performance.now() - t0;
    expect(shortAt).toBeGreaterThanOrEqual(75);
    expect(shortAt).toBeLessThan(350);
    expect(longAt).toBeGreaterThanOrEqual(395);
    expect(f.client.transcript.filter((e) => e.dir === 'timeout').map((e) => e.id)).toEqual([3, 1]);
  });

  it('waits poll timeout plus the default bound before giving up on a poll', async () => {
    const f = fakeAgent({ defaultTimeoutMs: 30 });
    const p = f.client.poll(1, ['POLLIN'], 60);
    await new Promise((res) => setTimeout(res, 50));
    f.reply({ id: 1, ok: true, errno: null, ms: 60, ready: 0, revents: [] });
    expect(await p).toMatchObject({ ok: true, ready: 0, revents: [] });
  });

  it('rejects a reply that breaks the protocol with InfraError and the transcript', async () => {
    const f = fakeAgent();
    const p = f.client.open('/dev/null');
    await f.nextRequests(1);
    f.reply({ id: 1, ok: true, errno: null, ms: 1, handle: 'three' });
    const err = await p.catch((e) => e);
    expect(err).toBeInstanceOf(InfraError);
    expect(err.message).toMatch(/reply to open breaks the protocol at handle/);
    expect((err as InfraError).transcript.some((l) => l.includes('"handle":"three"'))).toBe(true);
  });

  it('rejects pending and later requests when the stream ends', async () => {
    const f = fakeAgent();
    const p = f.client.read(1);
    await f.nextRequests(1);
    f.end();
    const err = await p.catch((e) => e);
    expect(err).toBeInstanceOf(InfraError);
    expect(err.message).toMatch(/stream is dead \(agent stdout ended\): read \(id 1\) got no reply/);
    expect((err as InfraError).transcript.at(-2)).toMatch(/ send \{"id":1,"op":"read","handle":1,"size":4096\}$/);
    await expect(f.client.ping()).rejects.toBeInstanceOf(InfraError);
    expect(f.client.deadBecause).toBe('agent stdout ended');
  });

  it('sends a request as typed: the agent, not the client, refuses what it cannot read', async () => {
    const f = fakeAgent();
    const p = f.client.request({ op: 'open', path: '' });
    await f.nextRequests(1);
    expect(f.received).toEqual([{ id: 1, op: 'open', path: '' }]);
    f.reply({ id: 1, ok: false, errno: 'EINVAL', ms: 0, error: 'open needs a path' });
    expect(await p).toMatchObject({ ok: false, errno: 'EINVAL' });
  });

  it('marks let a caller take the entries of one case', async () => {
    const f = fakeAgent();
    const p1 = f.client.ping();
    await f.nextRequests(1);
    f.reply({ id: 1, ok: true, errno: null, ms: 1, pid: 1, protocol: 1 });
    await p1;
    const mark = f.client.mark();
    const seen: string[] = [];
    f.client.onEntry((e) => seen.push(e.dir));
    const p2 = f.client.close(4);
    await f.nextRequests(2);
    f.reply({ id: 2, ok: true, errno: null, ms: 1, deferred: false });
    await p2;
    expect(f.client.entriesSince(mark).map((e) => [e.dir, e.id])).toEqual([
      ['send', 2],
      ['recv', 2],
    ]);
    expect(seen).toEqual(['send', 'recv']);
  });
});
