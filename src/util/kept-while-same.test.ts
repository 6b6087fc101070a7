import { mkdtempSync, renameSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { keptWhileSame } from './kept-while-same.js';

const replace = (file: string, text: string): void => {
  writeFileSync(`${file}.new`, text);
  renameSync(`${file}.new`, file);
};

describe('keptWhileSame', () => {
  let dir: string;
  let file: string;
  let asked: number;
  const ask = (answer: string) => async (): Promise<string> => {
    asked++;
    return answer;
  };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'huci-kept-'));
    vi.stubEnv('XDG_CACHE_HOME', join(dir, 'cache'));
    file = join(dir, 'tool');
    writeFileSync(file, 'v1');
    asked = 0;
  });
  afterEach(() => vi.unstubAllEnvs());

  it.each([
    ['the same file, the same question: kept', () => undefined, 'q', 'first', 1],
    ['the file changed (mtime)', () => utimesSync(file, new Date(2001, 1, 1), new Date(2001, 1, 1)), 'q', 'second', 2],
    ['the file was replaced (another inode, size)', () => replace(file, 'v22'), 'q', 'second', 2],
    ['another question about the same file', () => undefined, 'other q', 'second', 2],
  ])('%s', async (_what, change, question, expected, asks) => {
    expect(await keptWhileSame('t', file, 'q', ask('first'))).toBe('first');
    change();
    expect(await keptWhileSame('t', file, question, ask('second'))).toBe(expected);
    expect(asked).toBe(asks);
  });

  it('keeps no failure, and works without the file (nothing to key on)', async () => {
    await expect(keptWhileSame('t', file, 'q', () => Promise.reject(new Error('no')))).rejects.toThrow('no');
    expect(await keptWhileSame('t', file, 'q', ask('later'))).toBe('later');
    expect(await keptWhileSame('t', join(dir, 'absent'), 'q', ask('a'))).toBe('a');
    expect(await keptWhileSame('t', join(dir, 'absent'), 'q', ask('b'))).toBe('b');
  });
});
