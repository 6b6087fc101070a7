// `report` and `compare` through the CLI's one error boundary (main): output, exit codes, one-line errors.
import { cpSync, mkdtempSync, readFileSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../main.js';
import { loadFixture, TESTDATA } from '../../report/testing/fixtures.js';
import type { RunResult } from '../../model/run.js';
import { captureOutput } from './testing/capture-output.js';

const io = captureOutput();

function runDir(run: RunResult): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'huci-cli-'));
  writeFileSync(path.join(dir, 'run.json'), JSON.stringify(run));
  return dir;
}

describe('report RUN_DIR', () => {
  it('re-renders html/junit/kcidb from run.json', async () => {
    const dir = runDir(loadFixture('run-two-images'));
    expect(await main(['report', dir])).toBe(0);
    for (const f of ['index.html', 'junit.xml', 'kcidb.json']) expect(existsSync(path.join(dir, f))).toBe(true);
    expect(io.out).toContain('14 case executions');
  });
  it('--origin goes into kcidb.json, --fail-on into junit.xml', async () => {
    const dir = runDir(loadFixture('run-two-images'));
    expect(await main(['report', dir, '--origin', 'my_lab', '--fail-on', 'crashed,hung,blocked'])).toBe(0);
    expect(JSON.parse(readFileSync(path.join(dir, 'kcidb.json'), 'utf8')).tests[0].origin).toBe('my_lab');
    expect(readFileSync(path.join(dir, 'junit.xml'), 'utf8')).toMatch(/<testsuites name="[^"]+" tests="12" failures="5"/);
  });
  it.each<[string, (dir: string) => string, RegExp]>([
    ['missing directory', (d) => path.join(d, 'nope'), /^hotunplug-ci: \S+nope: no such file or directory\n$/],
    [
      'directory without run.json',
      (d) => (mkdirSync(path.join(d, 'empty')), path.join(d, 'empty')),
      /^hotunplug-ci: \S+empty\/run\.json: no run\.json in this directory\n$/,
    ],
    ['not JSON', (d) => (writeFileSync(path.join(d, 'run.json'), '{oops'), d), /^hotunplug-ci: \S+run\.json: not JSON: .+\n$/],
    [
      'bad verdict',
      (d) => {
        const run = loadFixture('run-partial');
        writeFileSync(path.join(d, 'run.json'), JSON.stringify({ ...run, cases: [{ ...run.cases[0], verdict: 'exploded' }] }));
        return d;
      },
      /^hotunplug-ci: \S+run\.json: cases\[0\]\.verdict: Invalid option: expected one of .+\n$/,
    ],
    [
      'unknown key',
      (d) => (writeFileSync(path.join(d, 'run.json'), JSON.stringify({ ...loadFixture('run-partial'), extra: 1 })), d),
      /^hotunplug-ci: \S+run\.json: \(root\): Unrecognized key: "extra"\n$/,
    ],
  ])('%s → one line naming the file (and zod path), exit 2', async (_n, mk, re) => {
    const d = mkdtempSync(path.join(tmpdir(), 'huci-cli-'));
    expect(await main(['report', mk(d)])).toBe(2);
    expect(io.err).toMatch(re);
  });
});

describe('compare BASE NEW', () => {
  const fixture = path.join(TESTDATA, 'run-two-images.json');
  it('a run against itself: exit 0', async () => {
    expect(await main(['compare', fixture, fixture])).toBe(0);
    expect(io.out).toContain('result: no regressions → exit 0');
  });
  it('a regression: exit 1, named in the summary; --json gives the same as data', async () => {
    const base = loadFixture('run-two-images');
    const next: RunResult = { ...base, runId: 'next', cases: base.cases.map((c) => (c.id.startsWith('i2c/') ? { ...c, verdict: 'hung' as const } : c)) };
    const dir = runDir(next);
    expect(await main(['compare', fixture, dir])).toBe(1);
    expect(io.out).toContain('REGRESSIONS (2):');
    expect(io.out).toContain('i2c/i801-unbind-dev-smbus on debian-6.12: blocked → hung');
    io.out = '';
    expect(await main(['compare', fixture, dir, '--json'])).toBe(1);
    const j = JSON.parse(io.out) as { regressions: unknown[]; exitCode: number };
    expect(j.regressions).toHaveLength(2);
    expect(j.exitCode).toBe(1);
  });
  it('--fail-on widens what fails', async () => {
    const base = loadFixture('run-partial');
    const next = {
      ...base,
      complete: true,
      controls: { ran: true, trusted: true, detail: 'ok' },
      cases: base.cases.map((c) => ({ ...c, verdict: 'silent' as const })),
    };
    const b = runDir({ ...base, complete: true, controls: next.controls });
    expect(await main(['compare', b, runDir(next)])).toBe(0);
    expect(await main(['compare', b, runDir(next), '--fail-on', 'crashed,hung,silent'])).toBe(1);
  });
  it('an untrusted new run: exit 3', async () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'huci-cli-')), 'p');
    cpSync(path.join(TESTDATA, 'run-partial.json'), `${dir}.json`);
    expect(await main(['compare', `${dir}.json`, `${dir}.json`])).toBe(3);
  });
  it.each<[string[], RegExp]>([
    [['compare', 'nope.json', fixture], /^hotunplug-ci: nope\.json: no such file or directory\n$/],
    [['compare', fixture, fixture, '--fail-on', 'crashed,exploded'], /^hotunplug-ci: --fail-on: unknown verdict "exploded"; .+\n$/],
    [['compare', fixture, fixture, '--fail-on', 'skipped'], /^hotunplug-ci: --fail-on: unknown verdict "skipped"; .+\n$/],
  ])('%j → exit 2, one line', async (argv, re) => {
    expect(await main(argv)).toBe(2);
    expect(io.err).toMatch(re);
  });
});
