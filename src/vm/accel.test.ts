// Accelerator choice without booting: overrides, unopenable /dev/kvm, and the cache.
// The real boot probe is exercised in test/integration/accel-probe.test.ts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import { cacheKey, chooseAccelerator } from './accel.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'huci-accel-test-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('chooseAccelerator', () => {
  const noKernel = '/nonexistent/bzImage';

  for (const accel of ['tcg', 'kvm'] as const) {
    it(`HOTUNPLUG_ACCEL=${accel} wins without probing`, async () => {
      expect(await chooseAccelerator(noKernel, { env: { HOTUNPLUG_ACCEL: accel } })).toEqual({ accel, reason: `HOTUNPLUG_ACCEL=${accel}`, cached: false });
    });
  }

  it('rejects a bad HOTUNPLUG_ACCEL with a usage error naming it', async () => {
    const err = await chooseAccelerator(noKernel, { env: { HOTUNPLUG_ACCEL: 'hvf' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toBe('HOTUNPLUG_ACCEL must be "tcg" or "kvm", got "hvf"');
  });

  it('an unopenable KVM device means TCG, with the reason', async () => {
    const dev = path.join(dir, 'kvm');
    const r = await chooseAccelerator(noKernel, { env: {}, kvmDevice: dev, cacheFile: path.join(dir, 'accel.json') });
    expect(r).toEqual({ accel: 'tcg', reason: `${dev} cannot be opened (ENOENT); using TCG`, cached: false });
    expect(fs.existsSync(path.join(dir, 'accel.json'))).toBe(false);
  });

  it('uses a cached decision for this boot and QEMU version, and ignores a stale one', async () => {
    const cacheFile = path.join(dir, 'accel.json');
    const key = await cacheKey();
    expect(key).toMatch(/^[0-9a-f-]{36} QEMU emulator version \d/);
    // A cached "kvm" for a kernel that does not exist: only the cache can answer kvm here.
    fs.writeFileSync(cacheFile, JSON.stringify({ key, accel: 'kvm', reason: 'KVM boot probe passed', decidedAt: '2026-01-01T00:00:00.000Z' }));
    const hit = await chooseAccelerator(noKernel, { env: {}, kvmDevice: '/dev/null', cacheFile });
    expect(hit).toEqual({ accel: 'kvm', reason: 'KVM boot probe passed (cached 2026-01-01T00:00:00.000Z)', cached: true });

    // Another boot (or QEMU): the probe runs (and fails: the kernel is junk), and the cache is rewritten.
    fs.writeFileSync(cacheFile, JSON.stringify({ key: `other ${key}`, accel: 'kvm', reason: 'old', decidedAt: '2026-01-01T00:00:00.000Z' }));
    const junk = path.join(dir, 'junk-bzImage');
    fs.writeFileSync(junk, 'not a kernel');
    const fresh = await chooseAccelerator(junk, { env: {}, kvmDevice: '/dev/null', cacheFile, probeTimeoutMs: 5000 });
    expect(fresh.accel).toBe('tcg');
    expect(fresh.cached).toBe(false);
    expect(fresh.reason).toMatch(/^KVM boot probe failed \(QEMU exited \(/); // host-specific: bad MSR here, unloadable kernel elsewhere
    expect(JSON.parse(fs.readFileSync(cacheFile, 'utf8'))).toMatchObject({ key, accel: 'tcg', reason: fresh.reason });
  }, 30_000);
});
