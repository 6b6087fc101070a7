// writeRunReports on a real temp directory: the files, their atomic replacement, the latest symlink,
// a run written case by case that dies part-way.
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InfraError } from '../errors.js';
import { readRunFile } from './run-file.js';
import type { RunResult } from '../model/run.js';
import { loadFixture } from './testing/fixtures.js';
import { writeFileAtomic } from '../util/files.js';
import { newReportMemo, updateLatest, writeRunReports } from './write.js';

const tmp = (): string => mkdtempSync(path.join(tmpdir(), 'huci-report-'));

describe('writeRunReports', () => {
  it('writes run.json, index.html, junit.xml, kcidb.json, results.ktap, consoles and a directory per case', async () => {
    const root = tmp();
    const run = loadFixture('run-two-images');
    const consoleFile = path.join(root, 'vm2-console.log');
    writeFileSync(consoleFile, 'kasan console\n');
    const res = await writeRunReports(root, run, [
      { vm: 'vm1', image: 'debian-6.12', text: 'debian console\n' },
      { vm: 'vm2', image: 'kasan-6.12', file: consoleFile },
    ]);
    expect(res.dir).toBe(path.join(root, 'reports', run.runId));
    for (const f of ['run.json', 'index.html', 'junit.xml', 'kcidb.json', 'results.ktap', 'consoles/vm1.log', 'consoles/vm2.log'])
      expect(existsSync(path.join(res.dir, f)), f).toBe(true);
    expect(readFileSync(path.join(res.dir, 'consoles/vm2.log'), 'utf8')).toBe('kasan console\n');
    const caseDirs = readdirSync(path.join(res.dir, 'cases'));
    expect(caseDirs).toHaveLength(run.cases.length);
    expect(caseDirs).toContain('kasan-6.12--gpio.sim-rmdir-lineevent-poll');
    expect(caseDirs).toContain('debian-6.12--gpio.sim-rmdir-lineevent-poll--it2');
    const crashDir = path.join(res.dir, 'cases', 'kasan-6.12--gpio.sim-rmdir-lineevent-poll');
    expect(readFileSync(path.join(crashDir, 'repro.sh'), 'utf8')).toContain(
      'hotunplug-ci run --image kasan-6.12 --suite gpio --case gpio/sim-rmdir-lineevent-poll\n',
    );
    expect(statSync(path.join(crashDir, 'repro.sh')).mode & 0o111).not.toBe(0);
    expect(readFileSync(path.join(crashDir, 'console.txt'), 'utf8')).toContain('BUG: KASAN: slab-use-after-free in lineevent_poll');
    expect(readFileSync(path.join(crashDir, 'timeline.txt'), 'utf8')).toMatch(/\+ +2332\.6 ms {2}step +removal completed/);
    expect(readFileSync(path.join(crashDir, 'findings.txt'), 'utf8')).toContain('Freed by task 201:');
    // run.json round-trips through the reader and lists the consoles
    const back = await readRunFile(res.dir);
    expect(back.run.cases).toHaveLength(run.cases.length);
    expect(back.run.consoles.map((c) => c.file)).toEqual(['consoles/vm1.log', 'consoles/vm2.log']);
    // the page links to the case files that exist
    const html = readFileSync(path.join(res.dir, 'index.html'), 'utf8');
    const links = [...html.matchAll(/href="([^"#][^"]*)"/g)].map((m) => m[1]!);
    expect(links).toContain('consoles/vm2.log');
    for (const l of links) expect(existsSync(path.join(res.dir, l)), l).toBe(true);
    // latest → this run; no temp files left behind
    expect(readlinkSync(path.join(root, 'reports', 'latest'))).toBe(run.runId);
    const all = readdirSync(res.dir, { recursive: true }) as string[];
    expect(all.filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('called after each case: a run that dies part-way still has a complete report of what was measured', async () => {
    const root = tmp();
    const full = loadFixture('run-two-images');
    let last: RunResult | null = null;
    for (let i = 1; i <= 5; i++) {
      last = { ...full, complete: false, finishedAt: null, cases: full.cases.slice(0, i) };
      await writeRunReports(root, last, [{ vm: 'vm1', image: 'debian-6.12', text: `console after ${i} cases\n` }]);
      const dir = path.join(root, 'reports', full.runId);
      const back = await readRunFile(dir);
      expect(back.run.cases).toHaveLength(i);
      expect(back.run.complete).toBe(false);
      expect(readFileSync(path.join(dir, 'index.html'), 'utf8')).toContain('This run did not finish');
      expect(readFileSync(path.join(dir, 'consoles/vm1.log'), 'utf8')).toBe(`console after ${i} cases\n`);
    }
    const junit = readFileSync(path.join(root, 'reports', full.runId, 'junit.xml'), 'utf8');
    expect(junit).toContain('run did not finish');
    expect(junit).toContain('<testcase name="run-complete" classname="hotunplug.harness"');
  });

  it('refuses an invalid run with the zod path, as an internal (infrastructure) error', async () => {
    const run = loadFixture('run-partial');
    const bad = { ...run, cases: [{ ...run.cases[0]!, verdict: 'exploded' }] } as unknown as RunResult;
    await expect(writeRunReports(tmp(), bad)).rejects.toThrow(/cases\[0\]\.verdict/);
    await expect(writeRunReports(tmp(), bad)).rejects.toBeInstanceOf(InfraError);
  });

  // with a memo, a save between renders takes the synchronous run.json-only path (saveRunJson)
  it.each([
    ['without', false],
    ['with', true],
  ])('between renders (render: false) only run.json changes (%s a memo): consoles are not copied, those already copied stay listed', async (_, withMemo) => {
    const root = tmp();
    const memo = withMemo ? { memo: newReportMemo() } : {};
    const full = { ...loadFixture('run-two-images'), consoles: [] };
    const con = path.join(root, 'vm1-console.log');
    writeFileSync(con, 'first\n');
    const consoles = [
      { vm: 'vm1', image: 'debian-6.12', file: con },
      { vm: 'vm2', image: 'kasan-6.12', file: con },
    ];
    const res = await writeRunReports(root, { ...full, cases: full.cases.slice(0, 1), complete: false }, consoles.slice(0, 1), memo);
    const html = readFileSync(path.join(res.dir, 'index.html'), 'utf8');
    writeFileSync(con, 'first\nsecond\n');
    const saved = await writeRunReports(root, { ...full, cases: full.cases.slice(0, 3), complete: false }, consoles, { render: false, ...memo });
    expect(saved.files).toEqual(['run.json']);
    expect(readdirSync(res.dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    const back = await readRunFile(res.dir);
    expect(back.run.cases).toHaveLength(3);
    expect(back.run.consoles.map((c) => c.vm)).toEqual(['vm1']); // vm2 not copied yet: not listed
    expect(readFileSync(path.join(res.dir, 'consoles/vm1.log'), 'utf8')).toBe('first\n');
    expect(readFileSync(path.join(res.dir, 'index.html'), 'utf8')).toBe(html);
    expect(readdirSync(path.join(res.dir, 'cases'))).toHaveLength(1);
    // the next render catches up
    await writeRunReports(root, { ...full, cases: full.cases.slice(0, 3), complete: false }, consoles, memo);
    expect((await readRunFile(res.dir)).run.consoles.map((c) => c.vm)).toEqual(['vm1', 'vm2']);
    expect(readFileSync(path.join(res.dir, 'consoles/vm1.log'), 'utf8')).toBe('first\nsecond\n');
    expect(readdirSync(path.join(res.dir, 'cases'))).toHaveLength(3);
  });

  it('with a memo, an unchanged file is neither read back nor rewritten; a changed one is', async () => {
    const root = tmp();
    const run = loadFixture('run-two-images');
    const memo = newReportMemo();
    const res = await writeRunReports(root, run, [], { memo });
    const junit = path.join(res.dir, 'junit.xml');
    expect(memo.files.get(junit)).toBe(readFileSync(junit, 'utf8'));
    // a file changed behind our back stays as it is: proof the second render trusted the map
    writeFileSync(junit, 'edited\n');
    const caseJson = path.join(res.dir, 'cases', 'kasan-6.12--gpio.sim-rmdir-lineevent-poll', 'case.json');
    const before = statSync(caseJson).mtimeMs;
    const changed = { ...run, cases: run.cases.map((c, i) => (i === 0 ? { ...c, reason: 'changed reason' } : c)) };
    await writeRunReports(root, changed, [], { memo });
    expect(readFileSync(junit, 'utf8')).not.toBe('edited\n'); // junit has the reason: rewritten
    expect(statSync(caseJson).mtimeMs).toBe(before);
    writeFileSync(junit, 'edited\n');
    await writeRunReports(root, changed, [], { memo });
    expect(readFileSync(junit, 'utf8')).toBe('edited\n');
  });

  it('a console file that does not exist yet is left out, not an error', async () => {
    const root = tmp();
    const run = loadFixture('run-partial');
    const res = await writeRunReports(root, run, [{ vm: 'vm9', image: 'debian-6.12', file: path.join(root, 'not-yet.log') }]);
    expect(res.run.consoles).toEqual([]);
    expect(existsSync(path.join(res.dir, 'index.html'))).toBe(true);
  });
});

describe('latest symlink', () => {
  it('moves to the newest run and not back to an older one', async () => {
    const root = tmp();
    const older = loadFixture('run-two-images'); // 18:30
    const newer = loadFixture('run-partial'); // 19:05
    await writeRunReports(root, newer);
    const link = path.join(root, 'reports', 'latest');
    expect(readlinkSync(link)).toBe(newer.runId);
    const r = await writeRunReports(root, older);
    expect(r.latest).toBe(false);
    expect(readlinkSync(link)).toBe(newer.runId);
    const newest = { ...older, runId: 'run-3', startedAt: '2026-11-21T20:00:00.000Z' };
    await writeRunReports(root, newest);
    expect(readlinkSync(link)).toBe('run-3');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(existsSync(path.join(link, 'index.html'))).toBe(true);
  });
  it('reads the other run’s start from a run.json not laid out as ours (whole file, not its head)', async () => {
    const root = tmp();
    const newer = loadFixture('run-partial'); // 19:05
    const older = loadFixture('run-two-images'); // 18:30
    await writeRunReports(root, newer);
    const file = path.join(root, 'reports', newer.runId, 'run.json');
    writeFileSync(file, JSON.stringify({ filler: 'x'.repeat(10_000), ...JSON.parse(readFileSync(file, 'utf8')) }));
    expect((await writeRunReports(root, older)).latest).toBe(false);
    expect(readlinkSync(path.join(root, 'reports', 'latest'))).toBe(newer.runId);
  });
  it('refuses to replace a real directory named latest', async () => {
    const dir = tmp();
    mkdirSync(path.join(dir, 'latest'));
    await expect(updateLatest(dir, 'x', '2026-01-01T00:00:00Z')).rejects.toThrow(/not a symlink/);
  });
});

describe('writeFileAtomic', () => {
  it('replaces the file as a whole and cleans up on failure', async () => {
    const dir = tmp();
    const f = path.join(dir, 'a.txt');
    await writeFileAtomic(f, 'one');
    await writeFileAtomic(f, 'two');
    expect(readFileSync(f, 'utf8')).toBe('two');
    await expect(writeFileAtomic(path.join(dir, 'missing', 'b.txt'), 'x')).rejects.toBeInstanceOf(InfraError);
    expect(readdirSync(dir)).toEqual(['a.txt']);
  });
});
