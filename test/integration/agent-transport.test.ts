// How the agent's requests reach a real guest (debian-6.12): its virtio-serial port by default, an
// SSH channel when init finds no port of that name; either way the same agent answers. And the port
// closing in the guest (the agent killed) ends the stream at once instead of leaving requests to time out.
import { afterEach, describe, expect, it } from 'vitest';
import { InfraError } from '../../src/errors.js';
import type { GuestSession } from '../../src/scenario/vm-session.js';
import { bootImage, qemuPidsFor } from '../testing/guest.js';

let session: GuestSession | null = null;
afterEach(async () => {
  await session?.stop();
  if (session) expect(await qemuPidsFor(session.runDir)).toEqual([]);
  session = null;
});

describe('agent transport', () => {
  it('virtio-serial by default: the agent sits on the port init named, SSH comes on demand', async () => {
    session = await bootImage('debian-6.12');
    expect(session.transport).toBe('virtio-serial');
    expect(session.machine.console.tail(200).some((l) => /^huci: agent on \/dev\/vport\d+p\d+$/.test(l))).toBe(true);
    const fds = await session.agent.request({ op: 'sh', command: 'p=$(pidof huci-agent); readlink /proc/$p/fd/0; readlink /proc/$p/fd/1', timeoutMs: 5000 });
    expect(fds.ok && fds.stdout.trim().split('\n')).toEqual([expect.stringMatching(/^\/dev\/vport\d+p\d+$/), expect.stringMatching(/^\/dev\/vport\d+p\d+$/)]);
    const ssh = await session.ssh();
    expect((await ssh.exec('echo over ssh', { timeoutMs: 20_000 })).stdout).toBe('over ssh\n');
  }, 120_000);

  it('the agent killed in the guest: its port closes and a pending request fails at once', async () => {
    session = await bootImage('debian-6.12');
    const s = session;
    // a read that would block for 30 s, then the agent dies under it
    await s.agent.request({ op: 'sh', command: 'rm -f /tmp/f && mkfifo /tmp/f', timeoutMs: 5000 });
    const opened = await s.agent.open('/tmp/f', ['O_RDWR']);
    expect(opened.ok).toBe(true);
    const pending = s.agent.read((opened as { handle: number }).handle, 16, { timeoutMs: 30_000 });
    const t0 = Date.now();
    await s.agent.request({ op: 'sh', command: "setsid sh -c 'sleep 1; kill -9 $(pidof huci-agent)' </dev/null >/dev/null 2>&1 &", timeoutMs: 5000 });
    await expect(pending).rejects.toBeInstanceOf(InfraError);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(s.agent.deadBecause).toMatch(/closed/);
  }, 120_000);

  it('no port of the name init was given: the agent runs on an SSH channel, same protocol', async () => {
    // the last huci.agent= wins in init: a port QEMU does not have
    session = await bootImage('debian-6.12', { append: ['huci.agent=no.such.port'] });
    expect(session.transport).toBe('ssh');
    expect(session.machine.console.tail(200).some((l) => /^huci: warning: no virtio port no\.such\.port/.test(l))).toBe(true);
    const pong = await session.agent.ping();
    expect(pong.ok).toBe(true);
    const r = await session.agent.request({ op: 'sh', command: 'echo via ssh', timeoutMs: 5000 });
    expect(r.ok && r.stdout).toBe('via ssh\n');
  }, 120_000);
});
