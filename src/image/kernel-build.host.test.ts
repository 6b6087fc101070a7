// buildKernel's orchestration against a stand-in tree (testdata/kernel/fake-tree: a Makefile with
// the targets kbuild offers): caching, verification, atomic results, failure leftovers.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, InfraError } from '../errors.js';
import { buildKernel, FragmentUnmetError, type BuildKernelOptions } from './kernel-build.js';
import { objectDirName } from './kernel-cache-key.js';
import type { KernelBuildProgress } from './kernel-progress.js';

const work = mkdtempSync(join(tmpdir(), 'huci-kbuild-'));
const tree = join(work, 'tree');
cpSync(join(import.meta.dirname, 'testdata', 'kernel', 'fake-tree'), tree, { recursive: true });
const frag = (name: string, text: string): string => {
  const p = join(work, `${name}.config`);
  writeFileSync(p, text);
  return p;
};
const base = frag('base', '# base\nCONFIG_PCI=y\nCONFIG_KASAN=y\n');
let savedCache: string | undefined;

beforeAll(() => {
  savedCache = process.env.XDG_CACHE_HOME;
  process.env.XDG_CACHE_HOME = join(work, 'cache');
});
afterAll(() => {
  if (savedCache === undefined) delete process.env.XDG_CACHE_HOME;
  else process.env.XDG_CACHE_HOME = savedCache;
});

const kernelCache = () => join(work, 'cache', 'hotunplug-ci', 'kernel');
const canary = join(import.meta.dirname, '..', '..', 'images', 'canary');
const build = (o: Partial<BuildKernelOptions> & { id?: string }) =>
  buildKernel({ source: { tree, id: o.id ?? 'fake=1', packageVersion: '1' }, fragments: [base], extraModules: [canary], jobs: 1, ...o });

describe('buildKernel (stand-in tree)', () => {
  it('builds, installs modules and an out-of-tree set (the canary), verifies the config, then serves the cache', async () => {
    const seen: KernelBuildProgress[] = [];
    const r = await build({ onProgress: (p) => seen.push(p) });
    expect(r.cached).toBe(false);
    expect(r.kernelRelease).toBe('6.99.0-fake');
    expect(readFileSync(r.bzImage, 'utf8')).toBe('fake bzImage\n');
    expect(readFileSync(r.config, 'utf8')).toMatch(/^CONFIG_KASAN=y$/m);
    expect(existsSync(join(r.modulesDir, 'modules.dep'))).toBe(true);
    expect(existsSync(join(r.modulesDir, 'build'))).toBe(false); // no link back into the object dir
    expect(readdirSync(join(r.modulesDir, 'extra', 'canary')).sort()).toEqual(['canary_buggy.ko', 'canary_fixed.ko']);
    expect(r.extraModules.every((p) => existsSync(p))).toBe(true);
    expect(readFileSync(r.buildLog, 'utf8')).toContain('  CC      ');
    expect([...new Set(seen.map((p) => p.stage))]).toEqual(['source', 'configure', 'compile', 'install', 'extra', 'done']);
    expect(seen.at(-1)?.objects).toBe(5); // 3 CC + 1 AS + 1 CC [M]; LD is not an object compile

    const again = await build({});
    expect(again).toMatchObject({ cached: true, key: r.key, bzImage: r.bzImage });
    const objDirs = readdirSync(join(work, 'cache', 'hotunplug-ci', 'kernel-obj'));
    const invocations = readFileSync(join(work, 'cache', 'hotunplug-ci', 'kernel-obj', objDirs[0]!, 'make-invocations'), 'utf8');
    expect(invocations.trim().split('\n')).toHaveLength(1); // the cache hit ran no make

    const forced = await build({ force: true });
    expect(forced.cached).toBe(false);
    expect(forced.key).toBe(r.key);
  });

  it('fails naming each option the merged config lost, and leaves no result behind', async () => {
    const extra = frag('extra', '# needs a dependency nobody enables\nCONFIG_NEEDS_DEP=y\nCONFIG_NOT_IN_KCONFIG=m\n');
    const err = await build({ fragments: [base, extra], id: 'fake=unmet' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FragmentUnmetError);
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    expect(msg).toContain(`CONFIG_NEEDS_DEP=y from ${extra}:2: got absent`);
    expect(msg).toContain(`CONFIG_NOT_IN_KCONFIG=m from ${extra}:3: got absent`);
    expect(readdirSync(kernelCache()).filter((n) => !n.endsWith('.failed.log') && n.includes('.tmp-'))).toEqual([]);
  });

  it('drops options the kernel does not know when asked to, but still fails on unmet dependencies', async () => {
    const unknown = frag('unknown', 'CONFIG_NOT_IN_KCONFIG=y\n');
    const r = await build({ fragments: [base, unknown], unknownOptions: 'drop', id: 'fake=drop' });
    expect(r.droppedOptions).toEqual([`CONFIG_NOT_IN_KCONFIG=y (${unknown}:1)`]);
    const unmet = frag('unmet', 'CONFIG_NEEDS_DEP=y\nCONFIG_NOT_IN_KCONFIG=y\n');
    const err = await build({ fragments: [base, unmet], unknownOptions: 'drop', id: 'fake=drop2' }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/1 requested option\(s\)[\s\S]*CONFIG_NEEDS_DEP=y/);
    expect((err as Error).message).not.toContain('CONFIG_NOT_IN_KCONFIG');
  });

  it('a failed compile keeps its log as <key>.failed.log and no usable-looking result', async () => {
    const failing = frag('failing', 'CONFIG_FAIL_COMPILE=y\n');
    const err = await build({ fragments: [base, failing], id: 'fake=fail' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InfraError);
    expect((err as Error).message).toMatch(/make .*failed \(exit 2\): fake\.c:1: error: asked to fail \(full log: .*\.failed\.log\)/);
    const names = readdirSync(kernelCache());
    const failedLog = names.find((n) => n.endsWith('.failed.log') && readFileSync(join(kernelCache(), n), 'utf8').includes('asked to fail'));
    expect(failedLog).toBeDefined();
    expect(existsSync(join(kernelCache(), failedLog!.replace(/\.failed\.log$/, '')))).toBe(false);
    expect(names.filter((n) => n.includes('.tmp-'))).toEqual([]);
  });

  it('refuses a module set that is not a Kbuild directory, naming it', async () => {
    await expect(build({ extraModules: [join(work, 'nowhere')] })).rejects.toThrow(`${join(work, 'nowhere')}: no such module directory`);
    await expect(build({ extraModules: [work] })).rejects.toThrow(`${work}: module directory has no Kbuild or Makefile`);
  });

  it('rejects a fragment that is not Kconfig, naming the file and line', async () => {
    const bad = frag('bad', 'CONFIG_PCI=y\nPCI=y\n');
    await expect(build({ fragments: [bad] })).rejects.toThrow(`${bad}: line 2: not a Kconfig assignment`);
  });

  it('a user tree (--kernel-src) is keyed by its contents: unchanged is cached, an edit is rebuilt in the same object dir', async () => {
    const first = await buildKernel({ srcDir: tree, fragments: [base], jobs: 1 });
    const second = await buildKernel({ srcDir: tree, fragments: [base], jobs: 1 });
    expect(first.sourceId).toBe(`dir:${tree}`);
    expect([first.cached, second.cached]).toEqual([false, true]);
    expect(second.key).toBe(first.key);
    expect(first.objects).toBe(5);
    // an edit of the tree: a new key, built by make in the object dir of the path
    const edited = join(tree, 'Kconfig');
    writeFileSync(edited, `${readFileSync(edited, 'utf8')}# edited\n`);
    utimesSync(edited, new Date(Date.now() + 5000), new Date(Date.now() + 5000));
    const third = await buildKernel({ srcDir: tree, fragments: [base], jobs: 1 });
    expect(third.cached).toBe(false);
    expect(third.key).not.toBe(first.key);
    const objDir = join(work, 'cache', 'hotunplug-ci', 'kernel-obj', objectDirName(`dir:${tree}`, ['base.config']));
    expect(readFileSync(join(objDir, 'make-invocations'), 'utf8').trim().split('\n')).toHaveLength(2);
    await expect(buildKernel({ srcDir: join(work, 'nowhere'), fragments: [base] })).rejects.toThrow(/^--kernel-src: .*nowhere is not a kernel source tree/);
  });

  it('takes over the lock of a dead build, waits for a live one, gives up after lockWaitMs', async () => {
    const objDir = join(work, 'cache', 'hotunplug-ci', 'kernel-obj', objectDirName('fake=lock', ['base.config']));
    mkdirSync(objDir, { recursive: true });
    writeFileSync(join(objDir, '.huci-lock'), '2147483646'); // no such pid
    expect((await build({ id: 'fake=lock' })).cached).toBe(false);
    expect(existsSync(join(objDir, '.huci-lock'))).toBe(false);
    // a live node process (vitest's parent) holds it
    writeFileSync(join(objDir, '.huci-lock'), String(process.ppid));
    await expect(build({ id: 'fake=lock', force: true, lockWaitMs: 300 })).rejects.toThrow(
      `another kernel build (pid ${process.ppid}) is using ${objDir}; waited 0 s`,
    );
    const waits: string[] = [];
    const waiting = build({ id: 'fake=lock', force: true, lockWaitMs: 20_000, onProgress: (p) => p.message && waits.push(p.message) });
    setTimeout(() => rmSync(join(objDir, '.huci-lock')), 1500);
    expect((await waiting).cached).toBe(false);
    expect(waits).toContain(`waiting for another build of this kernel (pid ${process.ppid})`);
  });
});
