// `repro RUN_DIR CASE`: one case of an earlier run again, with the QEMU argv it used.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cli } from '../testing/cli.js';

const CASE = 'virtio/vserial-portdel-port-read';
let dir: string;

beforeAll(async () => {
  await execa('npx', ['tsc', '-p', 'tsconfig.json']);
  dir = await mkdtemp(join(tmpdir(), 'huci-repro-'));
  const first = await cli(['run', '--suite', 'virtio', '--image', 'debian-6.12', '--case', CASE, '--out', join(dir, 'first')]);
  expect(first.exitCode, first.all).toBe(0);
}, 600_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('re-runs the case on its image and prints the QEMU argv of both runs', async () => {
  const r = await cli(['repro', join(dir, 'first', 'reports', 'latest'), CASE, '--out', join(dir, 'again')]);
  expect(r.exitCode, r.all).toBe(0);
  expect(r.stdout).toMatch(new RegExp(`repro of ${CASE} \\(debian-6\\.12\\): handled then, handled now`));
  expect(r.stdout).toMatch(/QEMU argv now: +qemu-system-x86_64 .*-machine q35.*virtio-serial-pci/);
  expect(r.stdout).toMatch(/QEMU argv then: +qemu-system-x86_64 .*-machine q35/);
}, 300_000);

it('an unknown case is one line naming the run file, exit 2', async () => {
  const r = await cli(['repro', join(dir, 'first', 'reports', 'latest'), 'virtio/nope']);
  expect(r.exitCode, r.all).toBe(2);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/run\.json: no case virtio\/nope/);
});
