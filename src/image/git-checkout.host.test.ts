// readGitCheckout on real git trees: a branch with a remote and a tag, a detached HEAD, an edit.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkoutOf, readGitCheckout } from './git-checkout.js';

const dir = mkdtempSync(path.join(tmpdir(), 'huci-git-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const git = (...args: string[]): string =>
  execFileSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@example.org', ...args], { encoding: 'utf8' }).trim();

describe('readGitCheckout', () => {
  it('is null outside a git tree', async () => {
    expect(await readGitCheckout(mkdtempSync(path.join(dir, 'plain-')))).toBeNull();
  });
  it('names the commit, its describe name, the branch and the remote; notices edits and a detached HEAD', async () => {
    const tree = path.join(dir, 'linux');
    execFileSync('git', ['init', '-q', '-b', 'gpio-fixes', tree]);
    const g = (...a: string[]): string => git('-C', tree, ...a);
    writeFileSync(path.join(tree, 'Makefile'), 'all:\n');
    g('add', 'Makefile');
    g('commit', '-q', '-m', 'one');
    g('tag', 'v6.12');
    writeFileSync(path.join(tree, 'Makefile'), 'all:\n\ttrue\n');
    g('commit', '-q', '-am', 'two');
    g('remote', 'add', 'origin', 'https://example.org/pub/linux-gpio.git');
    const head = g('rev-parse', 'HEAD');
    expect(await readGitCheckout(tree)).toEqual({
      commitHash: head,
      commitName: `v6.12-1-g${head.slice(0, 7)}`,
      branch: 'gpio-fixes',
      repositoryUrl: 'https://example.org/pub/linux-gpio.git',
      dirty: false,
    });
    writeFileSync(path.join(tree, 'Makefile'), 'all:\n\tfalse\n');
    expect(await readGitCheckout(tree)).toMatchObject({ dirty: true });
    g('checkout', '-q', '--', 'Makefile');
    g('checkout', '-q', '--detach', 'v6.12');
    const detached = await readGitCheckout(tree);
    expect(detached).toMatchObject({ branch: null, commitName: 'v6.12', repositoryUrl: 'https://example.org/pub/linux-gpio.git' });
    expect(checkoutOf({ git: detached, packages: { 'linux-source-6.12': 'x' } })).toEqual({
      gitCommitHash: detached!.commitHash,
      gitCommitName: 'v6.12',
      gitRepositoryUrl: 'https://example.org/pub/linux-gpio.git',
      dirty: false,
    });
  });
  it('a Debian image names its kernel package', () => {
    expect(checkoutOf({ git: null, packages: { 'busybox-static': '1', 'linux-image-6.1.0-56-amd64-unsigned': '6.1.192-2' } })).toEqual({
      package: 'linux-image-6.1.0-56-amd64-unsigned',
      packageVersion: '6.1.192-2',
    });
  });
});
