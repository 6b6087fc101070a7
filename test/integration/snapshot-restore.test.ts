// Issue 18: a guest restored from a saved ready state is as trustworthy as a booted one (agent,
// console, QMP, SSH, clock, random numbers), a crash in it is found and titled, and a state that
// will not load falls back to a boot and says so. The saved states go to a temp dir, not the cache.
import { existsSync, readFileSync, truncateSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detect } from '../../src/detect/index.js';
import type { ImageArtifacts } from '../../src/image/index.js';
import { resolveImage } from '../../src/image/resolve.js';
import { SnapshotStore } from '../../src/scenario/guest-snapshots.js';
import { bootGuest, type GuestSession } from '../../src/scenario/vm-session.js';
import { qemuPidsFor } from '../testing/guest.js';

describe('debian-6.12: guests restored from a saved ready guest', () => {
  let image: ImageArtifacts;
  let storeDir: string;
  const sessions: GuestSession[] = [];
  const start = async (): Promise<GuestSession> => {
    const s = await bootGuest({ image, snapshots: true });
    sessions.push(s);
    return s;
  };
  const sh = async (s: GuestSession, command: string): Promise<string> => {
    const r = await s.agent.request({ op: 'sh', command, timeoutMs: 10_000 });
    if (!r.ok || r.code !== 0) throw new Error(`${command}: ${JSON.stringify(r)}`);
    return r.stdout.trim();
  };

  beforeAll(async () => {
    storeDir = await mkdtemp(path.join(tmpdir(), 'huci-snaptest-'));
    // the image's files, its saved guests in a directory of this test's own
    image = { ...(await resolveImage('debian-6.12', { build: true })), dir: storeDir };
  }, 1_200_000);

  afterAll(async () => {
    for (const s of sessions) await s.stop();
    await rm(storeDir, { recursive: true, force: true });
  });

  it('the first guest boots and is saved; later ones are restored, each with the clock and random numbers of its own', async () => {
    const booted = await start();
    expect(booted.start).toMatchObject({ how: 'boot', saved: { bytes: expect.any(Number) } });
    // the saved guest went on running, its clock set again after the pause
    expect(Math.abs(Number(await sh(booted, 'date +%s')) - Date.now() / 1000)).toBeLessThan(2);
    await booted.stop();

    const draws: string[] = [];
    for (let i = 0; i < 2; i++) {
      const s = await start();
      expect(s.start).toEqual({ how: 'restore', snapshot: booted.start.snapshot, loadedMs: expect.any(Number), readyMs: expect.any(Number) });
      expect(s.timings.agentReadyMs).toBeLessThan(booted.timings.agentReadyMs);
      // clock: the host's, not the saved guest's
      expect(Math.abs(Number(await sh(s, 'date +%s')) - Date.now() / 1000)).toBeLessThan(2);
      draws.push(await sh(s, 'head -c 16 /dev/urandom | od -An -tx1'));
      // the console: the restore's line, and a fresh one through /dev/kmsg
      expect(s.machine.console.retained().some((l) => l.text.endsWith(`huci: restored ${booted.start.snapshot}`))).toBe(true);
      const seen = s.machine.console.waitForLine(/huci-test: console works$/, { timeoutMs: 5000 });
      await sh(s, 'echo huci-test: console works > /dev/kmsg');
      await seen;
      // QMP and SSH (with the key the saved guest trusts)
      expect(await s.machine.qmp.execute('query-status')).toMatchObject({ status: 'running' });
      const ssh = await s.ssh(30_000);
      expect((await ssh.exec('echo over-ssh', { timeoutMs: 10_000 })).stdout.trim()).toBe('over-ssh');
      const runDir = s.runDir;
      await s.stop();
      expect(await qemuPidsFor(runDir)).toEqual([]);
    }
    expect(draws[0]).not.toBe(draws[1]);
  }, 600_000);

  it('a crash inside a restored guest is found and titled', async () => {
    const s = await start();
    expect(s.start.how).toBe('restore');
    await s.agent.request({ op: 'sh', command: 'echo 1 > /proc/sys/kernel/sysrq; echo c > /proc/sysrq-trigger', timeoutMs: 5000 }).catch(() => undefined);
    await s.machine.exited;
    const findings = detect(readFileSync(s.machine.console.file, 'utf8'));
    expect(findings.length, readFileSync(s.machine.console.file, 'utf8').slice(-2000)).toBeGreaterThan(0);
    expect(findings[0]!.title).toMatch(/sysrq/i);
  }, 300_000);

  it('a machine QEMU refuses to save (usb-serial) boots every time, and the refusal is asked once', async () => {
    const serial = {
      devices: [
        { id: 'xhci0', driver: 'qemu-xhci', hotplug: true },
        { id: 'ser0', driver: 'usb-serial', bus: 'xhci0.0', props: { chardev: 'ser0-chr' } },
      ],
      chardevs: [{ id: 'ser0-chr', backend: 'ringbuf' as const }],
    };
    const first = await bootGuest({ image, snapshots: true, ...serial });
    sessions.push(first);
    expect(first.start).toMatchObject({ how: 'boot', saved: { failed: expect.stringMatching(/non-migratable device .*usb-serial/) } });
    // the guest a failed save paused runs on
    expect((await first.agent.ping()).ok).toBe(true);
    await first.stop();
    const again = await bootGuest({ image, snapshots: true, ...serial });
    sessions.push(again);
    expect(again.start).toMatchObject({ how: 'boot', saved: { failed: expect.stringMatching(/^QEMU cannot save this machine: non-migratable device/) } });
    await again.stop();
  }, 300_000);

  it('a saved state QEMU cannot load falls back to a boot, says why, and is saved anew', async () => {
    const probe = await start();
    const key = probe.start.snapshot!;
    await probe.stop();
    truncateSync(new SnapshotStore(path.join(storeDir, 'snapshots')).find(key)!.stateFile, 4096);
    const s = await start();
    expect(s.start).toMatchObject({ how: 'boot', snapshot: key, restoreFailed: expect.stringMatching(/./), saved: { bytes: expect.any(Number) } });
    expect((await s.agent.ping()).ok).toBe(true);
    // the failed restore's console is kept beside the one of the guest that booted instead
    const kept = /\(console: (\S+console\.restore-failed\.log)\)/.exec(s.start.restoreFailed ?? '')?.[1];
    expect(kept && existsSync(kept), s.start.restoreFailed).toBe(true);
    await s.stop();
    const again = await start();
    expect(again.start.how).toBe('restore');
  }, 600_000);
});
