// The real KVM boot probe with Debian's kernel. On hosts where /dev/kvm opens but cannot run a
// guest (PVM: failed MSR writes, "KVM internal error"), it must pick TCG and say why; where KVM
// works, it must have seen the kernel run past early boot. HOTUNPLUG_EXPECT_ACCEL pins the answer.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { chooseAccelerator } from '../../src/vm/accel.js';
import { findTestKernel } from '../../src/vm/testing/test-kernel.js';

let kernel: string;
let dir: string;
beforeAll(async () => {
  kernel = await findTestKernel();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'huci-accel-probe-'));
}, 300_000);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

it('probes KVM with a real boot, decides, and caches the decision', async () => {
  const cacheFile = path.join(dir, 'accel.json');
  const t0 = Date.now();
  const first = await chooseAccelerator(kernel, { env: {}, cacheFile, probeTimeoutMs: 20_000 });
  const probeMs = Date.now() - t0;
  console.log(`accel: ${first.accel} in ${probeMs} ms — ${first.reason}`);
  expect(first.cached).toBe(false);
  const kvmOpens = (() => {
    try {
      fs.closeSync(fs.openSync('/dev/kvm', 'r+'));
      return true;
    } catch {
      return false;
    }
  })();
  if (!kvmOpens) expect(first.reason).toMatch(/\/dev\/kvm cannot be opened/);
  else if (first.accel === 'kvm') expect(first.reason).toMatch(/^KVM boot probe passed in \d+ ms: console reached ".*(Kernel panic|VFS|Freeing|init)/);
  else expect(first.reason).toMatch(/^KVM boot probe failed \(.*(KVM|kvm|MSR|no sign of boot)/);
  if (process.env.HOTUNPLUG_EXPECT_ACCEL) expect(first.accel).toBe(process.env.HOTUNPLUG_EXPECT_ACCEL);
  expect(probeMs).toBeLessThan(30_000);

  if (kvmOpens) {
    const second = await chooseAccelerator(kernel, { env: {}, cacheFile });
    expect(second).toEqual({ accel: first.accel, reason: expect.stringContaining(first.reason), cached: true });
  }
}, 60_000);
