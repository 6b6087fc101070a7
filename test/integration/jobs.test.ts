// --jobs 2 runs two VMs at once for real, and the run comes out the same as with --jobs 1: same
// cases in the same (plan) order with the same verdicts, whatever finished first.
import { execa } from 'execa';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveImage } from '../../src/image/resolve.js';
import type { RunResult } from '../../src/model/run.js';
import { cli } from '../testing/cli.js';

// two images = two VM groups (i2c and nvmem need no extra devices, so one VM per image)
const SELECTION = ['--suite', 'i2c,nvmem', '--image', 'debian-6.12', '--image', 'debian-6.1', '--case', '*-unbind-*'];
const dirs: string[] = [];

beforeAll(async () => {
  await execa('npx', ['tsc', '-p', 'tsconfig.json']);
  await resolveImage('debian-6.12', { build: true });
  await resolveImage('debian-6.1', { build: true });
}, 900_000);
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function runWith(jobs: number): Promise<RunResult> {
  const out = await mkdtemp(path.join(tmpdir(), `huci-jobs${jobs}-`));
  dirs.push(out);
  const r = await cli(['run', ...SELECTION, '--jobs', String(jobs), '--json', '--out', out]);
  expect([0, 1], r.all).toContain(r.exitCode);
  const dir = (JSON.parse(r.stdout) as { dir: string }).dir;
  return JSON.parse(await readFile(path.join(dir, 'run.json'), 'utf8')) as RunResult;
}

const row = (c: RunResult['cases'][number]): string => `${c.image} ${c.id}#${c.iteration} ${c.verdict}`;
const hostPort = (argv: readonly string[]): string | undefined => /hostfwd=tcp:127\.0\.0\.1:(\d+)-/.exec(argv.join(' '))?.[1];

describe('--jobs', () => {
  it('two VMs at once give the cases of one VM, in plan order, with the same verdicts', async () => {
    const serial = await runWith(1);
    const parallel = await runWith(2);
    expect(serial.cases.length).toBeGreaterThanOrEqual(4);
    expect(new Set(serial.cases.map((c) => c.image))).toEqual(new Set(['debian-6.12', 'debian-6.1']));
    expect(parallel.cases.map(row)).toEqual(serial.cases.map(row));
    expect(parallel.complete).toBe(true);

    // really concurrent: each image's cases ran while the other's were running
    const span = (image: string): [number, number] => {
      const cs = parallel.cases.filter((c) => c.image === image);
      const starts = cs.map((c) => Date.parse(c.timings.startedAt));
      return [Math.min(...starts), Math.max(...cs.map((c, i) => starts[i]! + c.timings.durationMs))];
    };
    const [a0, a1] = span('debian-6.12');
    const [b0, b1] = span('debian-6.1');
    expect(a0 < b1 && b0 < a1, `spans ${a0}-${a1} and ${b0}-${b1} do not overlap`).toBe(true);

    // each VM its own console and SSH port
    expect(parallel.consoles).toHaveLength(2);
    expect(new Set(parallel.consoles.map((c) => c.file)).size).toBe(2);
    const ports = new Set(parallel.cases.filter((c) => c.vm).map((c) => `${c.image}:${hostPort(c.vm!.qemuArgv)}`));
    expect(ports.size).toBe(2);
    expect(new Set([...ports].map((p) => p.split(':')[1])).size).toBe(2);
  }, 600_000);
});
