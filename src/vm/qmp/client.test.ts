import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InfraError } from '../../errors.js';
import { QmpClient } from './client.js';
import { QmpClosedError, QmpCommandError, type QmpError, QmpProtocolError, QmpTimeoutError } from './errors.js';
import { QueryStatusSchema } from './messages.js';
import { FakeQmpServer, readTranscript, replayScript, type FakeConn } from './testing/fake-qmp-server.js';

const testdata = path.join(path.dirname(fileURLToPath(import.meta.url)), 'testdata');

let dir: string;
let server: FakeQmpServer | null = null;
let client: QmpClient | null = null;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'huci-qmp-'));
});
afterEach(async () => {
  client?.close();
  client = null;
  await server?.close();
  expect(server?.errors ?? []).toEqual([]);
  server = null;
  fs.rmSync(dir, { recursive: true, force: true });
});

async function serve(script: (c: FakeConn) => Promise<void>, opts: Parameters<typeof QmpClient.connect>[1] = {}): Promise<QmpClient> {
  server = await FakeQmpServer.start(dir, script);
  client = await QmpClient.connect(server.path, { timeoutMs: 2000, ...opts });
  return client;
}

const hold = async (c: FakeConn): Promise<void> => void (await c.recv()); // keep the connection open until the client leaves

describe('greeting', () => {
  const realGreeting = readTranscript(path.join(testdata, 'qemu-7.2-hotplug.txt')).find((e) => e.dir === '<')!.line;
  const variants: [string, (c: FakeConn) => void][] = [
    ['real QEMU 7.2 greeting', (c) => c.send(realGreeting)],
    ['no capabilities', (c) => c.greet([])],
    [
      'unknown extra fields (newer QEMU)',
      (c) => c.send({ QMP: { version: { qemu: { major: 9, minor: 1, micro: 0 }, package: '', extra: 1 }, capabilities: ['oob', 'future'] }, more: true }),
    ],
    [
      'LF only and split across writes',
      (c) => {
        const s = JSON.stringify({ QMP: { version: { qemu: { major: 8, minor: 0, micro: 0 }, package: '' }, capabilities: [] } });
        c.sock.write(s.slice(0, 10));
        setTimeout(() => c.sock.write(`${s.slice(10)}\n`), 20);
      },
    ],
  ];
  for (const [name, greet] of variants) {
    it(name, async () => {
      const q = await serve(async (c) => {
        greet(c);
        const req = await c.recv();
        expect(req).toEqual({ execute: 'qmp_capabilities', id: expect.any(String) });
        c.send({ return: {}, id: req!.id });
        await hold(c);
      });
      expect(q.greeting?.QMP.version.qemu.major).toBeGreaterThanOrEqual(7);
      expect(q.transcript.some((l) => / > \{"execute":"qmp_capabilities"/.test(l))).toBe(true);
    });
  }

  it('rejects a server that does not greet with QMP', async () => {
    server = await FakeQmpServer.start(dir, async (c) => {
      c.send({ hello: 'world' });
      await hold(c);
    });
    const err = await QmpClient.connect(server.path, { timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpProtocolError);
    expect((err as QmpError).message).toMatch(/expected a QMP greeting/);
  });

  it('fails when capabilities negotiation is refused', async () => {
    server = await FakeQmpServer.start(dir, async (c) => {
      c.greet();
      const req = await c.recv();
      c.send({ id: req!.id, error: { class: 'CommandNotFound', desc: 'nope' } });
      await hold(c);
    });
    await expect(QmpClient.connect(server.path, { timeoutMs: 2000 })).rejects.toBeInstanceOf(QmpCommandError);
  });

  it('times out a silent server and says so', async () => {
    server = await FakeQmpServer.start(dir, hold);
    const t0 = Date.now();
    const err = await QmpClient.connect(server.path, { timeoutMs: 200 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpTimeoutError);
    expect(Date.now() - t0).toBeLessThan(1500);
  });

  it('a missing socket is a QmpClosedError (callers racing QEMU retry on it)', async () => {
    await expect(QmpClient.connect(path.join(dir, 'none.sock'), { timeoutMs: 500 })).rejects.toBeInstanceOf(QmpClosedError);
  });
});

describe('commands', () => {
  it('correlates out-of-order replies by id, with events interleaved', async () => {
    const q = await serve(async (c) => {
      await c.handshake();
      const a = await c.recv();
      const b = await c.recv();
      c.event('RESUME');
      c.send({ return: { which: b!.execute }, id: b!.id });
      c.event('DEVICE_DELETED', { device: 'x', path: '/machine/peripheral/x' });
      c.send({ return: { which: a!.execute }, id: a!.id });
      await hold(c);
    });
    const [ra, rb] = await Promise.all([q.execute('first'), q.execute('second')]);
    expect(ra).toEqual({ which: 'first' });
    expect(rb).toEqual({ which: 'second' });
    expect(q.backlogEvents().map((e) => e.event)).toEqual(['RESUME', 'DEVICE_DELETED']);
  });

  it('sends arguments only when there are some', async () => {
    const seen: unknown[] = [];
    const q = await serve(async (c) => {
      await c.handshake();
      for (let i = 0; i < 2; i++) {
        const r = await c.recv();
        seen.push({ ...r, id: undefined });
        c.send({ return: {}, id: r!.id });
      }
      await hold(c);
    });
    await q.execute('query-status');
    await q.execute('device_del', { id: 'x' });
    expect(seen).toEqual([
      { execute: 'query-status', id: undefined },
      { execute: 'device_del', arguments: { id: 'x' }, id: undefined },
    ]);
  });

  it('turns an error reply into QmpCommandError with class, desc and transcript', async () => {
    const q = await serve(async (c) => {
      await c.handshake();
      const r = await c.recv();
      c.send({ id: r!.id, error: { class: 'DeviceNotFound', desc: "Device 'nope' not found" } });
      await hold(c);
    });
    const err = await q.execute('device_del', { id: 'nope' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpCommandError);
    expect(err).toBeInstanceOf(InfraError);
    const e = err as QmpCommandError;
    expect([e.qmpClass, e.desc, e.command]).toEqual(['DeviceNotFound', "Device 'nope' not found", 'device_del']);
    expect(e.message).toBe("QMP device_del failed: DeviceNotFound: Device 'nope' not found");
    expect(e.transcript.filter((l) => /device_del|DeviceNotFound/.test(l))).toHaveLength(2);
    expect(e.transcript.every((l) => /^\d{4}-\d\d-\d\dT[\d:.]+Z [<>#] /.test(l))).toBe(true);
    expect(e.exitCode).toBe(3);
  });

  it('an error reply without id (unparseable request) answers the oldest pending command', async () => {
    const q = await serve(async (c) => {
      await c.handshake();
      await c.recv();
      c.send({ error: { class: 'GenericError', desc: 'JSON parse error' } });
      await hold(c);
    });
    await expect(q.execute('weird')).rejects.toThrow(/weird failed: GenericError: JSON parse error/);
  });

  it('EOF mid-command rejects with QmpClosedError naming the command; later calls fail fast', async () => {
    const q = await serve(async (c) => {
      await c.handshake();
      await c.recv();
      c.end();
    });
    const err = await q.execute('device_del', { id: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpClosedError);
    expect((err as QmpClosedError).command).toBe('device_del');
    expect((err as QmpClosedError).message).toMatch(/EOF/);
    expect((err as QmpClosedError).transcript.some((l) => l.includes('"execute":"device_del"'))).toBe(true);
    await q.closed;
    expect(q.connected).toBe(false);
    await expect(q.execute('query-status')).rejects.toBeInstanceOf(QmpClosedError);
  });

  it('times out a command; a late reply is ignored', async () => {
    let late: (() => void) | null = null;
    const q = await serve(async (c) => {
      await c.handshake();
      const r1 = await c.recv();
      late = () => c.send({ return: { late: true }, id: r1!.id });
      const r2 = await c.recv();
      c.send({ return: { ok: 2 }, id: r2!.id });
      await hold(c);
    });
    const t0 = Date.now();
    const err = await q.execute('slow', {}, { timeoutMs: 100 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpTimeoutError);
    expect((err as QmpTimeoutError).timeoutMs).toBe(100);
    expect(Date.now() - t0).toBeLessThan(1000);
    late!();
    expect(await q.execute('next')).toEqual({ ok: 2 });
    expect(q.transcript.some((l) => l.includes('ignored: reply to no pending command'))).toBe(true);
  });

  it('validates replies with a schema', async () => {
    const q = await serve(async (c) => {
      await c.handshake();
      let r = await c.recv();
      c.send({ return: { status: 'running', running: true, singlestep: false }, id: r!.id });
      r = await c.recv();
      c.send({ return: { status: 'running' }, id: r!.id });
      await hold(c);
    });
    expect(await q.execute('query-status', {}, { schema: QueryStatusSchema })).toEqual({ status: 'running', running: true });
    await expect(q.execute('query-status', {}, { schema: QueryStatusSchema })).rejects.toBeInstanceOf(QmpProtocolError);
  });
});

describe('events', () => {
  it('waitForEvent finds events that arrived before it was called, matching data fields', async () => {
    let ack: () => void = () => {};
    const acked = new Promise<void>((r) => (ack = r));
    const q = await serve(async (c) => {
      await c.handshake();
      const r = await c.recv();
      // QEMU emits DEVICE_DELETED for child objects (path only) and for the device itself
      c.event('DEVICE_DELETED', { path: '/machine/peripheral/y/virtio-backend' });
      c.event('DEVICE_DELETED', { device: 'y', path: '/machine/peripheral/y' });
      c.event('DEVICE_DELETED', { device: 'x', path: '/machine/peripheral/x' });
      c.send({ return: {}, id: r!.id });
      ack();
      await hold(c);
    });
    await q.execute('device_del', { id: 'x' });
    await acked;
    const ev = await q.waitForEvent('DEVICE_DELETED', { device: 'x' }, 100);
    expect(ev.data).toEqual({ device: 'x', path: '/machine/peripheral/x' });
    expect(ev.timestamp.seconds).toBe(1700000000);
    // consumed: the same wait now needs a new event
    await expect(q.waitForEvent('DEVICE_DELETED', { device: 'x' }, 50)).rejects.toBeInstanceOf(QmpTimeoutError);
    expect((await q.waitForEvent('DEVICE_DELETED', { device: 'y' }, 50)).data?.path).toBe('/machine/peripheral/y');
  });

  it('waitForEvent resolves on a later event; afterSeq ignores older ones; timeout carries transcript', async () => {
    let push: (n: string, d?: Record<string, unknown>) => void = () => {};
    const q = await serve(async (c) => {
      await c.handshake();
      push = (n, d) => c.event(n, d);
      c.event('STOP');
      await hold(c);
    });
    await new Promise((r) => setTimeout(r, 50));
    const seq = q.eventSeq;
    expect(seq).toBe(1);
    const w = q.waitForEvent('STOP', {}, 1000, { afterSeq: seq });
    push('RESUME');
    push('STOP', { n: 2 });
    expect((await w).data).toEqual({ n: 2 });
    const err = (await q.waitForEvent('SHUTDOWN', { guest: true }, 50).catch((e: unknown) => e)) as QmpTimeoutError;
    expect(err).toBeInstanceOf(QmpTimeoutError);
    expect(err.message).toMatch(/SHUTDOWN \{"guest":true\}/);
    expect(err.transcript.some((l) => l.includes('"event": "STOP"') || l.includes('"event":"STOP"'))).toBe(true);
  });

  it('events() streams live events and ends on close; replay starts with the backlog', async () => {
    let push: (n: string) => void = () => {};
    let end: () => void = () => {};
    const q = await serve(async (c) => {
      await c.handshake();
      c.event('EARLY');
      push = (n) => c.event(n);
      end = () => c.end();
      await hold(c);
    });
    await new Promise((r) => setTimeout(r, 50));
    const live: string[] = [];
    const replayed: string[] = [];
    const a = (async () => {
      for await (const e of q.events()) live.push(e.event);
    })();
    const b = (async () => {
      for await (const e of q.events({ replay: true })) replayed.push(e.event);
    })();
    push('ONE');
    push('TWO');
    await new Promise((r) => setTimeout(r, 50));
    end();
    await Promise.all([a, b]);
    expect(live).toEqual(['ONE', 'TWO']);
    expect(replayed).toEqual(['EARLY', 'ONE', 'TWO']);
  });

  it('onEvent sees every event from subscription on without consuming it, until unsubscribed', async () => {
    let push: (n: string, d?: Record<string, unknown>) => void = () => {};
    const q = await serve(async (c) => {
      await c.handshake();
      c.event('EARLY');
      push = (n, d) => c.event(n, d);
      await hold(c);
    });
    await new Promise((r) => setTimeout(r, 50));
    const seen: string[] = [];
    const off = q.onEvent((e) => seen.push(`${e.event}${e.data ? JSON.stringify(e.data) : ''}`));
    push('VSERPORT_CHANGE', { id: 'p', open: false });
    push('STOP');
    await new Promise((r) => setTimeout(r, 50));
    off();
    push('RESUME');
    await new Promise((r) => setTimeout(r, 50));
    expect(seen).toEqual(['VSERPORT_CHANGE{"id":"p","open":false}', 'STOP']);
    expect((await q.waitForEvent('VSERPORT_CHANGE', { id: 'p' }, 50)).data).toEqual({ id: 'p', open: false });
  });

  it('pending waits fail with QmpClosedError on EOF', async () => {
    let end: () => void = () => {};
    const q = await serve(async (c) => {
      await c.handshake();
      end = () => c.end();
      await hold(c);
    });
    const w = q.waitForEvent('DEVICE_DELETED', { device: 'x' }, 5000);
    end();
    await expect(w).rejects.toBeInstanceOf(QmpClosedError);
  });

  it('keeps a bounded backlog', async () => {
    const q = await serve(
      async (c) => {
        await c.handshake();
        for (let i = 0; i < 5; i++) c.event(`E${i}`);
        await hold(c);
      },
      { eventBacklog: 3 },
    );
    await new Promise((r) => setTimeout(r, 50));
    expect(q.backlogEvents().map((e) => e.event)).toEqual(['E2', 'E3', 'E4']);
    expect(q.eventSeq).toBe(5);
  });
});

describe('replay of real QEMU transcripts (testdata/*.txt, recorded by test/integration/qmp-real.test.ts)', () => {
  const files = fs.readdirSync(testdata).filter((f) => f.endsWith('.txt'));
  it('has transcripts', () => expect(files.length).toBeGreaterThan(0));
  for (const f of files) {
    it(f, async () => {
      const entries = readTranscript(path.join(testdata, f));
      server = await FakeQmpServer.start(dir, replayScript(entries));
      client = await QmpClient.connect(server.path, { timeoutMs: 2000 });
      // Re-issue the recorded commands (after qmp_capabilities) and expect the recorded answers.
      const sent = entries.filter((e) => e.dir === '>').slice(1);
      for (const s of sent) {
        const req = JSON.parse(s.line) as { execute: string; arguments?: Record<string, unknown>; id: string };
        const reply = entries.find((e) => e.dir === '<' && e.line.includes(`"id": "${req.id}"`));
        const want = reply ? (JSON.parse(reply.line) as { return?: unknown; error?: { class: string; desc: string } }) : null;
        const got = await client.execute(req.execute, req.arguments, { timeoutMs: 2000 }).then(
          (v) => ({ return: v }),
          (e: unknown) => (e instanceof QmpCommandError ? { error: { class: e.qmpClass, desc: e.desc } } : { closed: e instanceof QmpClosedError }),
        );
        if (want) expect(got).toEqual(want.error ? { error: want.error } : { return: want.return });
        else expect(got).toEqual({ closed: true });
      }
      const recordedEvents = entries.filter((e) => e.dir === '<' && e.line.includes('"event"')).map((e) => (JSON.parse(e.line) as { event: string }).event);
      await client.closed;
      expect(client.backlogEvents().map((e) => e.event)).toEqual(recordedEvents);
    });
  }
});
