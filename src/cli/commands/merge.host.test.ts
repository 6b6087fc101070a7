// `merge DIR…` through the CLI's one error boundary (main): shard run directories as `run --shard`
// leaves them, the merged report on disk, exit codes, one-line errors.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../main.js';
import { RunResultSchema, type RunResult } from '../../model/run.js';
import { TESTDATA } from '../../report/testing/fixtures.js';
import { captureOutput } from './testing/capture-output.js';

const io = captureOutput();

const NAMES = ['shard1of3', 'shard2of3', 'shard3of3'] as const;
const fixture = (n: string): RunResult => RunResultSchema.parse(JSON.parse(readFileSync(path.join(TESTDATA, 'merge', `${n}.json`), 'utf8')));

/** A CI workspace: one downloaded artifact per shard, each `reports/<run-id>/` with run.json and consoles. */
function workspace(edit: (run: RunResult, i: number) => RunResult | unknown = (r) => r, withConsoles = true): { root: string; dirs: string[] } {
  const root = mkdtempSync(path.join(tmpdir(), 'huci-merge-'));
  const dirs = NAMES.map((n, i) => {
    const run = fixture(n);
    const dir = path.join(root, `artifact-${i + 1}`, 'reports', run.runId);
    mkdirSync(path.join(dir, 'consoles'), { recursive: true });
    writeFileSync(path.join(dir, 'run.json'), JSON.stringify(edit(run, i)));
    if (withConsoles) for (const c of run.consoles) writeFileSync(path.join(dir, c.file), `console of ${c.vm} in ${n}\n`);
    return dir;
  });
  return { root, dirs };
}

describe('merge DIR…', () => {
  it('writes one report of all shards, copies their consoles, prints the run dir; crashed/hung → exit 1', async () => {
    const { root, dirs } = workspace();
    const outRoot = path.join(root, 'merged');
    expect(await main(['merge', ...dirs, '--out', outRoot])).toBe(1);
    const latest = path.join(outRoot, 'reports', readlinkSync(path.join(outRoot, 'reports', 'latest')));
    expect(io.out).toContain(`reports: ${latest}`);
    expect(io.out).toContain('merged 3 run(s), 14 case execution(s)');
    expect(io.out).toMatch(/usb-serial +kasan-6\.12 +HUNG/);
    for (const f of ['run.json', 'index.html', 'junit.xml', 'kcidb.json']) expect(existsSync(path.join(latest, f)), f).toBe(true);
    const run = RunResultSchema.parse(JSON.parse(readFileSync(path.join(latest, 'run.json'), 'utf8')));
    expect(run.cases).toHaveLength(14);
    expect(run.runId).toMatch(/-merged-[0-9a-f]{10}$/);
    expect(run.consoles.map((c) => c.file)).toContain('consoles/shard2of3-vm2.log');
    expect(readFileSync(path.join(latest, 'consoles', 'shard2of3-vm2.log'), 'utf8')).toBe('console of vm2 in shard2of3\n');
    expect(readFileSync(path.join(latest, 'index.html'), 'utf8')).toContain('consoles/shard3of3-vm1.log');
    expect(readFileSync(path.join(latest, 'junit.xml'), 'utf8')).toMatch(/tests="12" failures="3"/);
    expect(io.err).toBe('');
  });

  it('the same shards in another order give the same run directory and run.json', async () => {
    const { root, dirs } = workspace();
    await main(['merge', ...dirs, '--out', path.join(root, 'a')]);
    await main(['merge', ...[...dirs].reverse(), '--out', path.join(root, 'b')]);
    const read = (r: string): { id: string; run: string } => {
      const id = readlinkSync(path.join(root, r, 'reports', 'latest'));
      const run = JSON.parse(readFileSync(path.join(root, r, 'reports', id, 'run.json'), 'utf8')) as RunResult;
      return { id, run: JSON.stringify({ ...run, command: [] }) };
    };
    expect(read('b')).toEqual(read('a'));
  });

  it('--json prints the summary with the inputs; run.json files work as arguments too', async () => {
    const { root, dirs } = workspace();
    expect(await main(['merge', ...dirs.map((d) => path.join(d, 'run.json')), '--out', root, '--json'])).toBe(1);
    const j = JSON.parse(io.out) as {
      runId: string;
      dir: string;
      cases: unknown[];
      inputs: Array<{ file: string; cases: number }>;
      controls: { trusted: boolean };
    };
    expect(j.cases).toHaveLength(14);
    expect(j.inputs.map((i) => i.cases)).toEqual([4, 4, 6]);
    expect(j.inputs[0]!.file).toBe(path.join(dirs[0]!, 'run.json'));
    expect(j.dir).toBe(path.join(root, 'reports', j.runId));
    expect(j.controls.trusted).toBe(true);
  });

  it.each<[string, (r: RunResult, i: number) => RunResult, string[], number, RegExp | null]>([
    ['all handled → 0', (r) => ({ ...r, cases: r.cases.map((c) => ({ ...c, verdict: 'handled' as const, findings: [] })) }), [], 0, null],
    [
      'blocked only, --fail-on crashed,hung,blocked → 1',
      (r) => ({ ...r, cases: r.cases.map((c) => ({ ...c, verdict: 'blocked' as const, findings: [] })) }),
      ['--fail-on', 'crashed,hung,blocked'],
      1,
      null,
    ],
    [
      'a shard did not finish, nothing failing → 3',
      (r, i) => ({
        ...r,
        cases: r.cases.map((c) => ({ ...c, verdict: 'handled' as const, findings: [] })),
        ...(i === 1 ? { complete: false, finishedAt: null, interruption: 'interrupted by SIGTERM' } : {}),
      }),
      [],
      3,
      /^hotunplug-ci: merge: shard2of3 \(\S+\/run\.json\) did not finish: interrupted by SIGTERM\n$/,
    ],
    [
      "a shard's controls not trusted → 3",
      (r, i) => (i === 2 ? { ...r, controls: { ran: true, trusted: false, detail: 'CONTROLS FAILED: canary/buggy came out handled' } } : r),
      [],
      3,
      /!!! shard3of3 \(\S+\/run\.json\): CONTROLS FAILED: canary\/buggy came out handled\n/,
    ],
  ])('%s', async (_n, edit, flags, code, stderr) => {
    const { root, dirs } = workspace(edit);
    expect(await main(['merge', ...dirs, '--out', root, ...flags])).toBe(code);
    if (stderr) expect(io.err).toMatch(stderr);
    else expect(io.err).toBe('');
  });

  it('the same run reached twice (a glob over reports/* also matching latest, or a copy of it) is merged once', async () => {
    const { root, dirs } = workspace();
    const reports = path.dirname(dirs[1]!);
    symlinkSync(path.basename(dirs[1]!), path.join(reports, 'latest'));
    const copy = path.join(reports, 'latest-copy');
    cpSync(dirs[2]!, copy, { recursive: true });
    expect(await main(['merge', ...dirs, path.join(reports, 'latest'), copy, '--out', path.join(root, 'out')])).toBe(1);
    expect(io.err).toMatch(/^hotunplug-ci: merge: \S+\/latest\/run\.json is \S+artifact-2\/\S+\/run\.json again; merged once$/m);
    expect(io.err).toMatch(/^hotunplug-ci: merge: \S+\/latest-copy\/run\.json is a copy of \S+artifact-3\/\S+\/run\.json \(run \S+shard3of3\); merged once$/m);
    expect(io.out).toContain('merged 3 run(s), 14 case execution(s)');
  });

  it('control cases do not fail the merge (as in run); without readable suites they do, with a note', async () => {
    // the buggy canary crashes by design: shard 2's crash becomes the canary's
    const canary = (r: RunResult, i: number): RunResult => ({
      ...r,
      cases: r.cases.map((c) =>
        c.verdict === 'crashed' && i === 1
          ? { ...c, id: 'canary/buggy-unbind-read', subsystem: 'canary' }
          : { ...c, verdict: c.verdict === 'hung' ? 'handled' : c.verdict },
      ),
    });
    const { root, dirs } = workspace(canary);
    expect(await main(['merge', ...dirs, '--out', path.join(root, 'a')])).toBe(0);
    expect(io.err).toBe('');
    const { merge } = await import('./merge.js');
    expect(await merge(dirs, { out: path.join(root, 'b'), suitesDir: path.join(root, 'no-suites') })).toBe(1);
    expect(io.err).toMatch(/^hotunplug-ci: merge: cannot read the suites \(\S+no-suites: suites directory not found\); control cases count toward --fail-on$/m);
  });

  it('--origin goes into kcidb.json', async () => {
    const { root, dirs } = workspace();
    await main(['merge', ...dirs, '--out', root, '--origin', 'my_lab']);
    const dir = path.join(root, 'reports', readlinkSync(path.join(root, 'reports', 'latest')));
    const k = JSON.parse(readFileSync(path.join(dir, 'kcidb.json'), 'utf8')) as { tests: Array<{ origin: string }> };
    expect(k.tests.every((t) => t.origin === 'my_lab')).toBe(true);
  });

  it('a missing shard console is reported and left out, the merge goes on', async () => {
    const { root, dirs } = workspace(undefined, false);
    expect(await main(['merge', ...dirs, '--out', root])).toBe(1);
    expect(io.err.trim().split('\n')).toHaveLength(6);
    expect(io.err).toMatch(/^hotunplug-ci: merge: \S+\/consoles\/vm1\.log: console of shard1of3-vm1 not found, not copied$/m);
    const dir = path.join(root, 'reports', readlinkSync(path.join(root, 'reports', 'latest')));
    expect((JSON.parse(readFileSync(path.join(dir, 'run.json'), 'utf8')) as RunResult).consoles).toEqual([]);
  });

  it.each<[string, (dirs: string[]) => string[], RegExp]>([
    ['missing directory', (d) => [d[0]!, `${d[1]!}-nope`], /^hotunplug-ci: \S+-nope: no such file or directory\n$/],
    [
      'directory without run.json',
      (d) => (mkdirSync(path.join(d[0]!, 'empty')), [path.join(d[0]!, 'empty'), d[1]!]),
      /^hotunplug-ci: \S+\/empty\/run\.json: no run\.json in this directory\n$/,
    ],
    ['not JSON', (d) => (writeFileSync(path.join(d[1]!, 'run.json'), '{oops'), d), /^hotunplug-ci: \S+artifact-2\/\S+\/run\.json: not JSON: .+\n$/],
    [
      'bad verdict',
      (d) => {
        const run = fixture('shard2of3');
        writeFileSync(path.join(d[1]!, 'run.json'), JSON.stringify({ ...run, cases: [run.cases[0], { ...run.cases[1], verdict: 'exploded' }] }));
        return d;
      },
      /^hotunplug-ci: \S+artifact-2\/\S+\/run\.json: cases\[1\]\.verdict: Invalid option: expected one of .+\n$/,
    ],
    [
      'different schemaVersion',
      (d) => {
        writeFileSync(path.join(d[2]!, 'run.json'), JSON.stringify({ ...fixture('shard3of3'), schemaVersion: 2 }));
        return d;
      },
      /^hotunplug-ci: \S+artifact-3\/\S+\/run\.json: schemaVersion: 2 differs from \S+artifact-1\/\S+\/run\.json \(1\): cannot merge runs of different run\.json versions\n$/,
    ],
    [
      'two different versions of one shard run',
      (d) => {
        const copy = path.join(path.dirname(d[1]!), 'copy');
        mkdirSync(copy);
        writeFileSync(path.join(copy, 'run.json'), JSON.stringify({ ...fixture('shard2of3'), complete: false, finishedAt: null }));
        return [...d, copy];
      },
      /^hotunplug-ci: \S+\/copy\/run\.json: runId: the same run as \S+artifact-2\/\S+\/run\.json \(.+\): give each shard once\n$/,
    ],
    [
      'overlapping shards (different --shard N)',
      (d) => {
        writeFileSync(path.join(d[2]!, 'run.json'), JSON.stringify({ ...fixture('shard1of3'), runId: 'other-shard1of2' }));
        return d;
      },
      /^hotunplug-ci: \S+artifact-1\/\S+\/run\.json: cases\[0\]: usb-serial\/ftdi-device_del-tty-read on debian-6\.12, iteration 1, is also in \S+artifact-3\/\S+\/run\.json: the runs overlap/,
    ],
  ])('%s → one line naming the file, exit 2, nothing written', async (_n, mk, re) => {
    const { root, dirs } = workspace();
    const outRoot = path.join(root, 'out');
    expect(await main(['merge', ...mk(dirs), '--out', outRoot])).toBe(2);
    expect(io.err).toMatch(re);
    expect(io.err.trim().split('\n')).toHaveLength(1);
    expect(existsSync(outRoot)).toBe(false);
  });

  it.each<[string[], RegExp]>([
    [['merge'], /missing required argument 'dirs'/],
    [['merge', 'x', '--fail-on', 'exploded'], /^hotunplug-ci: --fail-on: unknown verdict "exploded"/],
  ])('usage: %j → exit 2', async (argv, re) => {
    expect(await main(argv)).toBe(2);
    expect(io.err).toMatch(re);
  });
});
