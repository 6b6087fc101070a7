// The stand-alone reproducer, for real: run the canary pair's read cases, then boot the reproducer
// the crashed one got with nothing but bash and QEMU (run.sh) and see the kernel print the same
// KASAN report. The handled one gets no reproducer.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from '../testing/cli.js';

let out: string;
afterAll(async () => {
  if (out && !process.env.HUCI_KEEP_RUN) await rm(out, { recursive: true, force: true });
});

describe('stand-alone reproducer of canary-buggy', () => {
  it('run.sh, with plain QEMU and no hotunplug-ci, prints the KASAN report the case found', async () => {
    out = await mkdtemp(join(tmpdir(), 'huci-repro-'));
    const r = await cli(['run', '--suite', 'canary', '--image', 'kasan-6.12', '--case', 'canary/*-unbind-read', '--no-controls', '--out', out]);
    // the canary cases are the controls: buggy crashing is what they are for, not a failure
    expect(r.exitCode, r.all?.slice(-3000)).toBe(0);
    const runDir = join(out, 'reports', readdirSync(join(out, 'reports')).find((d) => d !== 'latest')!);
    const cases = readdirSync(join(runDir, 'cases'));
    const buggy = join(runDir, 'cases', cases.find((d) => d.includes('buggy'))!);
    const fixed = join(runDir, 'cases', cases.find((d) => d.includes('fixed'))!);
    expect(existsSync(join(fixed, 'reproducer'))).toBe(false);
    for (const f of ['run.sh', 'guest.sh', 'qemu-args', 'overlay.cpio.gz', 'README.md', 'image'])
      expect(existsSync(join(buggy, 'reproducer', f)), f).toBe(true);
    for (const f of ['bzImage', 'initrd.gz', 'config']) expect(existsSync(join(runDir, 'kernels', 'kasan-6.12', f)), f).toBe(true);
    const guest = readFileSync(join(buggy, 'reproducer', 'guest.sh'), 'utf8');
    expect(guest).toContain('/sys/bus/platform/drivers/canary-buggy/unbind');

    // no Node, no hotunplug-ci on the way: bash runs it with a PATH of system directories only
    const t0 = Date.now();
    const rr = await execa('bash', [join(buggy, 'reproducer', 'run.sh')], {
      reject: false,
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', TIMEOUT: '300' },
      extendEnv: false,
      timeout: 400_000,
    });
    console.log(
      `${rr.stdout
        .split('\n')
        .filter((l) => /huci-repro|KASAN|canary/.test(l))
        .slice(0, 40)
        .join('\n')}\n${rr.stderr.split('\n').at(-1)}\nrun.sh took ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    expect(rr.exitCode, rr.stderr.slice(-2000)).toBe(0);
    expect(rr.stdout).toMatch(/BUG: KASAN: slab-use-after-free in canary_read/);
    expect(rr.stdout).toMatch(/huci-repro: done/);
    expect(rr.stderr).toMatch(/run\.sh: .*BUG: KASAN: slab-use-after-free in canary_read/);
    // run.sh took its QEMU with it
    const left = await execa('pgrep', ['-f', 'huci-repro\\.'], { reject: false });
    expect(left.stdout.trim()).toBe('');
  });
});
