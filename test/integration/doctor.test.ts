// `doctor --json`: what this host can do, as one JSON object.
import { execa } from 'execa';
import { beforeAll, expect, it } from 'vitest';
import { resolveImage } from '../../src/image/resolve.js';
import { cli } from '../testing/cli.js';

beforeAll(async () => {
  await execa('npx', ['tsc', '-p', 'tsconfig.json']);
  await resolveImage('debian-6.12', { build: true }); // the accelerator probe needs a kernel
}, 600_000);

it('reports QEMU, a working accelerator chosen by a boot probe, packages, cache and disk', async () => {
  const r = await cli(['doctor', '--json']);
  expect(r.exitCode, r.all).toBe(0);
  const d = JSON.parse(r.stdout) as Record<string, any>;
  expect(d.qemu.path).toMatch(/qemu-system-x86_64$/);
  expect(d.qemu.version).toMatch(/^\d+\.\d+/);
  expect(['kvm', 'tcg']).toContain(d.accelerator.accel);
  expect(d.accelerator.reason).not.toBe('');
  expect(d.missingPackages).toEqual([]);
  expect(d.installLine).toBeNull();
  expect(d.freeDiskGiB).toBeGreaterThan(0);
  expect(d.images.find((i: { name: string }) => i.name === 'debian-6.12')).toEqual({ name: 'debian-6.12', cached: true });
});

it('names a missing package with the apt-get line (simulated: dpkg-query sees nothing)', async () => {
  const r = await cli(['doctor', '--json'], { PATH: `${process.cwd()}/test/fixtures/no-dpkg:${process.env.PATH}` });
  const d = JSON.parse(r.stdout) as Record<string, any>;
  expect(r.exitCode).toBe(1);
  expect(d.missingPackages).toContain('qemu-system-x86');
  expect(d.installLine).toMatch(/^apt-get update && apt-get install -y --no-install-recommends .*qemu-system-x86/);
});
