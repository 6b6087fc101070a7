// bin/hotunplug-ci.js runs the bundle through V8's code cache: kept after a command that completed,
// read back (not written again) by the next, written anew when V8 refuses it, never after bad input.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';

const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'huci-code-cache-'));
const dir = path.join(cache, 'hotunplug-ci', 'code-cache');
const cli = (...args: string[]) =>
  spawnSync(process.execPath, ['bin/hotunplug-ci.js', ...args], { encoding: 'utf8', env: { ...process.env, XDG_CACHE_HOME: cache } });
const files = (): string[] => (fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []);

beforeAll(async () => {
  await execa('npx', ['tsc', '-p', 'tsconfig.json']);
  await execa('node', ['bin/bundle']);
}, 300_000);

describe('the launcher’s code cache', () => {
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

  it('keeps nothing for a command that ended on bad input', () => {
    const r = cli('run', '--suite', 'gpio', '--case', 'no-such-case-*');
    expect(r.status).toBe(2);
    expect(files().filter((f) => f.startsWith('run-'))).toEqual([]);
  });
});
