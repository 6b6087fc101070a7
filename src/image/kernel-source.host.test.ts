import { execaSync } from 'execa';
import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { safeVersion, treeFingerprint } from './kernel-source.js';

describe('safeVersion', () => {
  it.each([
    ['6.12.117-1~deb12u1', '6.12.117-1_deb12u1'],
    ['1:6.1.192-2', '1_6.1.192-2'],
    ['6.1.192-2', '6.1.192-2'],
  ])('%s → %s', (v, want) => expect(safeVersion(v)).toBe(want));
});

describe('treeFingerprint', () => {
  it('follows edits in a git tree (commits and uncommitted changes)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'huci-fp-git-'));
    const git = (...args: string[]) => execaSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args]);
    git('init', '-q');
    writeFileSync(join(dir, 'Makefile'), 'all:\n');
    git('add', 'Makefile');
    git('commit', '-qm', 'one');
    const clean = await treeFingerprint(dir);
    expect(clean).toMatch(/^git:[0-9a-f]{40}:[0-9a-f]{16}$/);
    expect(await treeFingerprint(dir)).toBe(clean);
    writeFileSync(join(dir, 'Makefile'), 'all:\n\techo changed\n');
    const dirty = await treeFingerprint(dir);
    expect(dirty).not.toBe(clean);
    git('commit', '-qam', 'two');
    const committed = await treeFingerprint(dir);
    expect(new Set([clean, dirty, committed]).size).toBe(3);
  });

  it('follows mtimes and file count elsewhere, ignoring dot-dirs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'huci-fp-plain-'));
    writeFileSync(join(dir, 'a.c'), 'int a;');
    utimesSync(join(dir, 'a.c'), 1000, 1000);
    const first = await treeFingerprint(dir);
    expect(first).toBe('mtime:1000000:1');
    mkdirSync(join(dir, '.objdir'));
    writeFileSync(join(dir, '.objdir', 'x.o'), 'obj');
    expect(await treeFingerprint(dir)).toBe(first);
    utimesSync(join(dir, 'a.c'), 2000, 2000);
    expect(await treeFingerprint(dir)).toBe('mtime:2000000:1');
  });
});
