// bin/hotunplug-ci.js runs the bundle through V8's code cache: kept after a command that completed,
// read back (not written again) by the next, written anew when V8 refuses it, never after bad input;
// one per node flag set (V8 refuses a cache made under other flags), the newest eight kept.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE_HEAD, BUNDLE_TAIL } from '../../bin/fresh-bundle.js';

const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'huci-code-cache-'));
const dir = path.join(cache, 'hotunplug-ci', 'code-cache');
const cliWith = (flags: string[], ...args: string[]) =>
  spawnSync(process.execPath, [...flags, 'bin/hotunplug-ci.js', ...args], { encoding: 'utf8', env: { ...process.env, XDG_CACHE_HOME: cache } });
const cli = (...args: string[]) => cliWith([], ...args);
const files = (): string[] => (fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []);

beforeAll(async () => {
  await execa('npx', ['tsc', '-p', 'tsconfig.json']);
  await execa('node', ['bin/bundle']);
}, 300_000);

describe('the launcher’s code cache', () => {
  it('runs a pure ASCII bundle (V8 keeps it one byte a character; one ‘…’ made 1.6 MB two-byte)', () => {
    const text = fs.readFileSync('dist/bundle/main.cjs', 'latin1');
    expect(text.length).toBeGreaterThan(100_000);
    expect(/[\u0080-\u00ff]/.test(text)).toBe(false);
    // and already CommonJS's wrapper, strict: compiled as read, not joined to a wrapper at every start
    expect(BUNDLE_HEAD).toContain('"use strict";');
    expect(text.startsWith(BUNDLE_HEAD)).toBe(true);
    expect(text.endsWith(BUNDLE_TAIL)).toBe(true);
  });

  it('is kept by a command that completed, read back by the next, renewed when refused', () => {
    const first = cli('list');
    expect(first.status).toBe(0);
    const [kept, ...others] = files();
    expect(others).toEqual([]);
    expect(kept).toMatch(/^list-\d+-\d+-\d+-v[\d.]+-x64\.bin$/);
    const file = path.join(dir, kept!);
    const bytes = fs.readFileSync(file);
    // accepted: the same output, and the file is not written again
    const second = cli('list');
    expect(second.stdout).toBe(first.stdout);
    expect(fs.readFileSync(file).equals(bytes)).toBe(true);
    // refused (not V8's data): the command runs as before and keeps a new one
    fs.writeFileSync(file, 'not a code cache');
    const third = cli('list');
    expect(third.status).toBe(0);
    expect(third.stdout).toBe(first.stdout);
    expect(fs.readFileSync(file).length).toBeGreaterThan(1000);
  });

  it('keeps one per node flag set, and the newest eight in all', () => {
    const plain = files().filter((f) => f.startsWith('list-'));
    expect(cliWith(['--no-opt'], 'list').status).toBe(0);
    const flagged = files().filter((f) => f.startsWith('list-') && !plain.includes(f));
    expect(flagged).toHaveLength(1);
    expect(flagged[0]).toMatch(/^list-\d+-\d+-\d+-v[\d.]+-x64-[0-9a-f]+\.bin$/);
    // read back under the same flags, and the plain one is still there for plain runs
    const bytes = fs.readFileSync(path.join(dir, flagged[0]!));
    expect(cliWith(['--no-opt'], 'list').status).toBe(0);
    expect(fs.readFileSync(path.join(dir, flagged[0]!)).equals(bytes)).toBe(true);
    expect(files()).toEqual(expect.arrayContaining(plain));
    // older builds' caches beyond the newest eight go when a new one is written
    for (let k = 0; k < 10; k++) {
      const old = path.join(dir, `list-old${k}.bin`);
      fs.writeFileSync(old, 'x');
      fs.utimesSync(old, new Date(2000, 0, 1 + k), new Date(2000, 0, 1 + k));
    }
    expect(cliWith(['--no-opt', '--stack-size=900'], 'list').status).toBe(0);
    const left = files();
    expect(left).toHaveLength(8);
    expect(left.filter((f) => f.startsWith('list-old'))).toEqual(['list-old5.bin', 'list-old6.bin', 'list-old7.bin', 'list-old8.bin', 'list-old9.bin']);
  });

  it('keeps nothing for a command that ended on bad input', () => {
    const r = cli('run', '--suite', 'gpio', '--case', 'no-such-case-*');
    expect(r.status).toBe(2);
    expect(files().filter((f) => f.startsWith('run-'))).toEqual([]);
  });
});
