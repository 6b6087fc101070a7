// Stress mode on the canary pair, for real: worker threads hammer the held fd (and reopen the node)
// while the device is unbound. canary-buggy must crash in every iteration; canary-fixed must stay
// handled in every one, its workers seeing ENODEV once the device is gone.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RunResultSchema } from '../../src/model/run.js';
import { cli } from '../testing/cli.js';

const ITERATIONS = 3;

let out: string;
afterAll(async () => {
  if (out && !process.env.HUCI_KEEP_RUN) await rm(out, { recursive: true, force: true });
});

describe('run --stress on the canary pair (kasan-6.12)', () => {
  it('buggy crashes in every iteration, fixed is handled in every one; the workers are counted', async () => {
    out = await mkdtemp(join(tmpdir(), 'huci-stress-'));
    const r = await cli([
      'run',
      '--suite',
      'canary',
      '--image',
      'kasan-6.12',
      '--case',
      'canary/*-unbind-ioctl',
      '--stress',
      '--iterations',
      String(ITERATIONS),
      '--no-controls',
      '--out',
      out,
    ]);
    expect(r.exitCode, r.all?.slice(-3000)).toBe(0);
    const run = RunResultSchema.parse(JSON.parse(await readFile(join(out, 'reports', 'latest', 'run.json'), 'utf8')));
    const rate = (id: string) => run.rates.find((x) => x.id === id);
    expect(rate('canary/buggy-unbind-ioctl')).toMatchObject({ runs: ITERATIONS, verdicts: { crashed: ITERATIONS }, flaky: false });
    expect(Object.keys(rate('canary/buggy-unbind-ioctl')!.titles).join('\n')).toMatch(/^KASAN: slab-use-after-free/m);
    expect(rate('canary/fixed-unbind-ioctl')).toMatchObject({ runs: ITERATIONS, verdicts: { handled: ITERATIONS }, flaky: false });

    for (const c of run.cases.filter((x) => x.subsystem === 'canary')) {
      const stress = c.loops.filter((l) => l.stress);
      // --stress's default: 2 workers on each op the suite pairs with the fd, and 2 reopening the node
      expect(stress.map((l) => l.op).sort(), c.id).toEqual(['ioctl', 'ioctl', 'poll', 'poll', 'read', 'read', 'reopen', 'reopen']);
      for (const l of stress) expect(l.iterations, `${c.id} ${l.op}`).toBeGreaterThan(0);
      if (c.provider === 'fixed') {
        // the fd's workers kept calling after the unbind and got the driver's ENODEV
        for (const l of stress.filter((x) => x.op === 'ioctl' || x.op === 'read')) expect(Object.keys(l.counts), JSON.stringify(l)).toContain('ENODEV');
        for (const l of stress) expect(l.stuck ?? false, `${c.id} ${l.op}`).toBe(false);
      }
    }
  });
});
