import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../errors.js';
import { IMAGES_DIR } from '../../image/catalog.js';
import { kernelSrcDef } from '../kernel-src.js';
import { imageBuild, imageListRows } from './image.js';

const root = mkdtempSync(join(tmpdir(), 'huci-image-cmd-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('imageBuild flag checks (before anything is built)', () => {
  it.each([
    [['debian-9'], {}, /unknown image "debian-9"; known images: .*debian-6\.12/],
    [[], { fragment: ['x.config'] }, /--fragment, --name and --recipe go with --kernel-src/],
    [['debian-6.12'], { kernelSrc: root }, /--kernel-src builds one image of its own/],
    [[], { kernelSrc: join(root, 'nope') }, /--kernel-src .*nope: no such directory/],
  ])('%j %j', async (names, opts, msg) => {
    const e = await imageBuild(names, opts).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UsageError);
    expect((e as Error).message).toMatch(msg);
  });
});

describe('kernelSrcDef', () => {
  it("is the KASAN image's recipe on the user's tree, plus their fragments as absolute paths", () => {
    const frag = join(root, 'mine.config');
    writeFileSync(frag, 'CONFIG_GPIO_SIM=m\n');
    const def = kernelSrcDef({ kernelSrc: root, fragment: [frag], name: 'mytree' });
    expect(def).toMatchObject({ name: 'mytree', kind: 'source', source: { dir: root }, modules: 'all' });
    expect(def.fragments.at(-1)).toBe(frag);
    expect(def.fragments.length).toBeGreaterThan(1);
    expect(() => kernelSrcDef({ kernelSrc: root, fragment: [join(root, 'missing.config')] })).toThrow(/--fragment .*missing\.config: no such file/);
    expect(() => kernelSrcDef({ kernelSrc: root, name: 'Bad Name' })).toThrow(UsageError);
    expect(IMAGES_DIR).toMatch(/images$/);
  });
});

describe('imageListRows', () => {
  const saved = process.env.XDG_CACHE_HOME;
  beforeAll(() => {
    process.env.XDG_CACHE_HOME = join(root, 'cache');
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = saved;
  });
  it('says no for never built, stale for an older build of other inputs', async () => {
    const dir = join(root, 'cache/hotunplug-ci/images/debian-6.1-0123456789ab');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'manifest.json'),
      JSON.stringify({
        schema: 1,
        name: 'debian-6.1',
        kind: 'debian',
        kernelRelease: '6.1.0-1-amd64',
        kernelVersion: '#1',
        packages: {},
        inputsHash: '0123456789ab'.padEnd(64, '0'),
        files: { kernel: 'bzImage', initrd: 'initrd.gz', config: null, buildLog: 'build.log' },
        modules: { shipped: [], builtin: [] },
        agent: null,
        append: [],
        builtAt: '2026-01-01T00:00:00Z',
        sizes: { kernel: 10, initrd: 5 },
        buildSeconds: 1,
      }),
    );
    const rows = await imageListRows();
    const by = Object.fromEntries(rows.map((r) => [r.name, r]));
    expect(by['debian-6.12']).toMatchObject({ kind: 'debian', cached: 'no', kernelRelease: null, sizeBytes: null });
    expect(by['debian-6.1']).toMatchObject({ cached: 'stale', kernelRelease: '6.1.0-1-amd64', sizeBytes: 15, dir });
  }, 120_000);
});
