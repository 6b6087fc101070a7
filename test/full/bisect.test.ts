// `git bisect run hotunplug-ci bisect-step` on a real kernel history (test/full/bisect-tree.ts): a
// commit turns an in-tree misc driver from canary-fixed's refcounted state into canary-buggy's
// devres-freed one, and the bisection must name exactly that commit. The kernel is the smallest
// guest kernel, without KASAN (fixtures/bisect/bisect-plain.json): the read through the stale
// state returns freed memory, so the bad commit's verdict is `silent` where the good ones are
// `handled`. Also: a commit where Kconfig lacks the driver is a skip (125), and an unchanged tree is
// a cache hit that rebuilds nothing.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectPath } from '../../src/util/paths.js';
import { CLI } from '../testing/cli.js';
import { type BisectHistory, makeBisectHistory } from './bisect-tree.js';

const FIXTURES = projectPath('test/full/fixtures/bisect');
let history: BisectHistory;
let out: string;

const stepArgs = (): string[] => [
  CLI,
  'bisect-step',
  '--kernel-src',
  '.',
  '--recipe',
  join(FIXTURES, 'bisect-plain.json'),
  '--suite',
  join(FIXTURES, 'huci-bisect.yaml'),
  '--case',
  'huci-bisect/*',
  '--verdict',
  'silent',
  '--out',
  out,
];

const git = (...args: string[]) => execa('git', ['-C', history.tree, ...args]);

beforeAll(async () => {
  history = await makeBisectHistory((s) => console.log(s));
  out = await mkdtemp(join(tmpdir(), 'huci-bisect-'));
});

afterAll(async () => {
  if (history) await git('bisect', 'reset').catch(() => undefined);
  if (out) await rm(out, { recursive: true, force: true });
});

describe('bisect-step on a git history of linux-source-6.12', () => {
  it('skips (125) a commit whose Kconfig does not have the driver the recipe asks for', async () => {
    await git('checkout', '-q', history.base);
    const r = await execa(process.execPath, stepArgs(), { cwd: history.tree, reject: false });
    console.log(r.stdout);
    expect(r.exitCode, r.stderr.slice(-2000)).toBe(125);
    expect(r.stdout).toMatch(/^bisect-step [0-9a-f]{12}: SKIP — Kconfig dropped what the recipe needs: CONFIG_HUCI_BISECT=m \(huci-bisect\.config:2\)/m);
  });

  it('git bisect run names the commit that introduced the use-after-free', async () => {
    await git('checkout', '-q', 'main');
    await git('bisect', 'start', history.tip, history.good);
    const t0 = Date.now();
    const r = await execa('git', ['bisect', 'run', process.execPath, ...stepArgs()], { cwd: history.tree, reject: false, all: true });
    const seconds = (Date.now() - t0) / 1000;
    const steps = r.stdout.split('\n').filter((l) => l.startsWith('bisect-step '));
    const log = (await git('bisect', 'log')).stdout;
    console.log(`${log}\n${steps.join('\n')}\n${steps.length} step(s) in ${seconds.toFixed(0)} s`);
    expect(r.exitCode, r.all?.slice(-3000)).toBe(0);
    expect(r.stdout).toContain(`${history.bad} is the first bad commit`);
    expect(steps.length).toBeGreaterThanOrEqual(2);
    for (const s of steps) expect(s).toMatch(/: (GOOD|BAD) — /);
    expect(steps.find((s) => s.includes(': BAD — '))).toMatch(/BAD — silent in huci-bisect\/huci-unbind-read/);
    // the first step built the tree; later steps changed one file of one module, or found that
    // kernel in the build cache already (a tree seen by an earlier run) and only made the image
    for (const s of steps.slice(1)) expect(s).toMatch(/build [\d.]+ s, ([1-9]\d? object\(s\) compiled|kernel cached)|build cached/);
  });

  it('a step on an unchanged tree takes everything from the cache', async () => {
    await git('bisect', 'reset');
    await git('checkout', '-q', history.bad);
    const r = await execa(process.execPath, stepArgs(), { cwd: history.tree, reject: false });
    console.log(r.stdout);
    expect(r.exitCode, r.stderr.slice(-2000)).toBe(1);
    expect(r.stdout).toMatch(/BAD — .*\[build cached; run/);
  });
});
