import { existsSync, mkdtempSync, readdirSync, writeFileSync, mkdirSync, readFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { canonicalJson, cleanDeadBuilds, hashInputs, imageDirFor, pruneOldBuilds } from './cache.js';
import { buildAtomically } from './build-lock.js';

const roots: string[] = [];
const newRoot = (): string => {
  const r = mkdtempSync(join(tmpdir(), 'huci-cache-test-'));
  roots.push(r);
  return r;
};
afterEach(async () => {
  const { rm } = await import('node:fs/promises');
  for (const r of roots.splice(0)) await rm(r, { recursive: true, force: true });
});

/** A pid that certainly belongs to no live process: one that just exited. */
async function deadPid(): Promise<number> {
  const p = execa('true');
  await p;
  return p.pid!;
}

describe('hashInputs', () => {
  it('ignores key order, not values', () => {
    expect(hashInputs({ a: 1, b: { c: [1, 2], d: 'x' } })).toBe(hashInputs({ b: { d: 'x', c: [1, 2] }, a: 1 }));
    expect(hashInputs({ a: 1 })).not.toBe(hashInputs({ a: 2 }));
    expect(hashInputs({ m: [1, 2] })).not.toBe(hashInputs({ m: [2, 1] }));
    expect(canonicalJson({ b: undefined, a: null })).toBe('{"a":null}');
  });
  it('names dirs <name>-<hash12>', () => {
    expect(imageDirFor('debian-6.12', 'ab'.repeat(32), '/c')).toBe('/c/debian-6.12-abababababab');
  });
});

describe('buildAtomically', () => {
  it('publishes the dir only when the build succeeds', async () => {
    const root = newRoot();
    const final = join(root, 'img-000000000000');
    const ok = await buildAtomically(final, async (tmp) => {
      expect(tmp.startsWith(`${final}.tmp-${process.pid}-`)).toBe(true);
      expect(existsSync(final)).toBe(false);
      writeFileSync(join(tmp, 'initrd.gz'), 'x');
    });
    expect(ok).toBe(true);
    expect(readFileSync(join(final, 'initrd.gz'), 'utf8')).toBe('x');
    expect(readdirSync(root)).toEqual(['img-000000000000']); // no temp dir, no lock left
  });

  it('a build that throws leaves no image dir, no temp dir and no lock', async () => {
    const root = newRoot();
    const final = join(root, 'img-111111111111');
    await expect(
      buildAtomically(final, async (tmp) => {
        writeFileSync(join(tmp, 'bzImage'), 'half');
        throw new Error('dpkg-deb exploded');
      }),
    ).rejects.toThrow('dpkg-deb exploded');
    expect(readdirSync(root)).toEqual([]);
  });

  it('a failed forced rebuild keeps the previous good image', async () => {
    const root = newRoot();
    const final = join(root, 'img-222222222222');
    await buildAtomically(final, async (tmp) => writeFileSync(join(tmp, 'v'), '1'));
    await expect(buildAtomically(final, async () => Promise.reject(new Error('no')))).rejects.toThrow('no');
    expect(readFileSync(join(final, 'v'), 'utf8')).toBe('1');
  });

  it('a second builder waits for the first instead of building again', async () => {
    const root = newRoot();
    const final = join(root, 'img-333333333333');
    let builds = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const first = buildAtomically(final, async (tmp) => {
      builds++;
      await gate;
      writeFileSync(join(tmp, 'v'), 'first');
    });
    await new Promise((r) => setTimeout(r, 50));
    const waited: number[] = [];
    const second = buildAtomically(
      final,
      async (tmp) => {
        builds++;
        writeFileSync(join(tmp, 'v'), 'second');
      },
      { onWait: (pid) => waited.push(pid) },
    );
    await new Promise((r) => setTimeout(r, 100));
    release();
    expect(await first).toBe(true);
    expect(await second).toBe(false);
    expect(builds).toBe(1);
    expect(waited).toEqual([process.pid]);
    expect(readFileSync(join(final, 'v'), 'utf8')).toBe('first');
  });
});

describe('cleanDeadBuilds', () => {
  it('removes temp dirs and locks of dead builders, keeps live ones and finished images', async () => {
    const root = newRoot();
    const dead = await deadPid();
    mkdirSync(join(root, `a-000000000000.tmp-${dead}-deadbeef`));
    mkdirSync(join(root, `b-000000000000.tmp-${process.pid}-cafe0001`));
    writeFileSync(join(root, 'c-000000000000.lock'), `${dead}\n`);
    writeFileSync(join(root, 'd-000000000000.lock'), `${process.pid}\n`);
    mkdirSync(join(root, 'e-000000000000'));
    const removed = await cleanDeadBuilds(root);
    expect(removed.map((p) => p.slice(root.length + 1))).toEqual([`a-000000000000.tmp-${dead}-deadbeef`, 'c-000000000000.lock']);
    expect(readdirSync(root).sort()).toEqual([`b-000000000000.tmp-${process.pid}-cafe0001`, 'd-000000000000.lock', 'e-000000000000']);
  });

  it('an interrupted build (process killed mid-build) is cleaned on the next start', async () => {
    const root = newRoot();
    const final = join(root, 'img-444444444444');
    // A child process starts a build and is SIGKILLed inside it.
    const script = join(newRoot(), 'build.ts');
    writeFileSync(
      script,
      `import { writeFileSync } from 'node:fs';
import { buildAtomically } from ${JSON.stringify(fileURLToPath(new URL('./build-lock.ts', import.meta.url)))};
await buildAtomically(${JSON.stringify(final)}, async (tmp) => {
  writeFileSync(tmp + '/half', 'x');
  console.log('building');
  await new Promise(() => {});
});
`,
    );
    const viteNode = fileURLToPath(new URL('../../node_modules/.bin/vite-node', import.meta.url));
    const child = execa(viteNode, [script], { reject: false });
    await new Promise<void>((resolve) => child.stdout!.on('data', (d: Buffer) => d.toString().includes('building') && resolve()));
    const leftovers = readdirSync(root);
    expect(leftovers.some((e) => e.includes('.tmp-'))).toBe(true);
    expect(leftovers).toContain('img-444444444444.lock');
    expect(Number(readFileSync(join(root, 'img-444444444444.lock'), 'utf8'))).toBe(child.pid);
    child.kill('SIGKILL');
    await child;
    expect(existsSync(final)).toBe(false);
    let built = false;
    await buildAtomically(final, async (tmp) => {
      built = true;
      writeFileSync(join(tmp, 'ok'), '');
    });
    expect(built).toBe(true);
    expect(readdirSync(root)).toEqual(['img-444444444444']);
  }, 60_000);
});

describe('pruneOldBuilds', () => {
  it('keeps the newest builds of that name (and the one just built), leaves other names alone', async () => {
    const root = newRoot();
    const names = ['debian-6.1-000000000001', 'debian-6.1-000000000002', 'debian-6.1-000000000003', 'debian-6.1-000000000004', 'debian-6.12-000000000005'];
    names.forEach((n, i) => {
      mkdirSync(join(root, n));
      utimesSync(join(root, n), 1000 + i, 1000 + i);
    });
    mkdirSync(join(root, 'debian-6.1-000000000002.tmp-1-ab')); // not a finished build: cleanDeadBuilds' business
    const removed = await pruneOldBuilds('debian-6.1', join(root, 'debian-6.1-000000000001'), 2, root);
    expect(removed).toEqual([join(root, 'debian-6.1-000000000002'), join(root, 'debian-6.1-000000000003')]);
    expect(readdirSync(root).sort()).toEqual([
      'debian-6.1-000000000001',
      'debian-6.1-000000000002.tmp-1-ab',
      'debian-6.1-000000000004',
      'debian-6.12-000000000005',
    ]);
  });
});
