import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, InfraError, UsageError } from '../errors.js';
import { gzipSync } from 'node:zlib';
import { extractIkconfig, parseKernelVersionString, readKernelIdentity } from './bzimage-info.js';
import { parseLdd } from './initramfs.js';
import type { ImageManifest } from './manifest.js';
import { artifactsFromDir, findUserKernelConfig, resolveImage, resolveUserKernel } from './resolve.js';

const root = mkdtempSync(join(tmpdir(), 'huci-resolve-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const manifest: ImageManifest = {
  schema: 1,
  name: 'debian-6.12',
  kind: 'debian',
  kernelRelease: '6.12.1+deb12-amd64',
  kernelVersion: '#1 SMP PREEMPT_DYNAMIC Debian 6.12.1-1 (2026-01-01)',
  packages: { 'busybox-static': '1', 'dropbear-bin': '2' },
  git: null,
  inputsHash: 'a'.repeat(64),
  files: { kernel: 'bzImage', initrd: 'initrd.gz', config: null, buildLog: 'build.log' },
  modules: { shipped: [], builtin: [] },
  agent: null,
  append: [],
  builtAt: '2026-01-01T00:00:00.000Z',
  sizes: { kernel: 1, initrd: 1 },
  buildSeconds: 1,
};

function fakeImage(name: string, files: string[], m: unknown = manifest): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
  for (const f of files) writeFileSync(join(dir, f), 'x');
  return dir;
}

describe('resolveImage', () => {
  it('an unknown image is a usage error listing the known ones', async () => {
    const e = await resolveImage('debian-9', { build: false }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UsageError);
    expect((e as Error).message).toMatch(/unknown image "debian-9"; known images: .*debian-6\.1, debian-6\.12/);
  });
});

describe('artifactsFromDir', () => {
  it('returns paths from the manifest', async () => {
    const dir = fakeImage('good', ['bzImage', 'initrd.gz']);
    const a = await artifactsFromDir(dir);
    expect(a).toMatchObject({ kernel: join(dir, 'bzImage'), initrd: join(dir, 'initrd.gz'), config: null, kernelRelease: '6.12.1+deb12-amd64' });
  });
  it.each([
    ['bzImage', ['initrd.gz']],
    ['initrd.gz', ['bzImage']],
  ])('a cached image missing its %s is an error naming that path', async (missing, present) => {
    const dir = fakeImage(`no-${missing}`, present);
    const e = await artifactsFromDir(dir).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(InfraError);
    expect((e as Error).message).toContain(join(dir, missing));
    expect((e as Error).message).toContain('image build --force debian-6.12');
  });
  it('a manifest that does not match the schema names the file and field', async () => {
    const dir = fakeImage('bad-manifest', ['bzImage', 'initrd.gz'], { ...manifest, sizes: { kernel: 'big', initrd: 1 } });
    await expect(artifactsFromDir(dir)).rejects.toThrow(`${join(dir, 'manifest.json')}: sizes.kernel:`);
  });
});

describe('resolveUserKernel flag checks', () => {
  it('names the flag and the path', async () => {
    await expect(resolveUserKernel({ kernel: join(root, 'nope'), modules: root })).rejects.toThrow(UsageError);
    await expect(resolveUserKernel({ kernel: join(root, 'nope'), modules: root })).rejects.toThrow(`--kernel ${join(root, 'nope')}: no such file`);
    writeFileSync(join(root, 'not-a-kernel'), 'hello');
    await expect(resolveUserKernel({ kernel: join(root, 'not-a-kernel'), modules: root })).rejects.toThrow(ConfigError);
  });
});

describe('findUserKernelConfig', () => {
  it('prefers modules/build/.config, then the tree around arch/x86/boot/bzImage, else null', () => {
    const tree = join(root, 'tree');
    const mods = join(root, 'mods/lib/modules/6.12.0');
    mkdirSync(join(tree, 'arch/x86/boot'), { recursive: true });
    mkdirSync(join(mods, 'build'), { recursive: true });
    const kernel = join(tree, 'arch/x86/boot/bzImage');
    expect(findUserKernelConfig(kernel, mods)).toBeNull();
    writeFileSync(join(tree, '.config'), 'CONFIG_X=y\n');
    expect(findUserKernelConfig(kernel, mods)).toBe(join(tree, 'arch/x86/boot/../../../.config'));
    writeFileSync(join(mods, 'build/.config'), 'CONFIG_X=y\n');
    expect(findUserKernelConfig(kernel, mods)).toBe(join(mods, 'build/.config'));
  });
});

describe('kernel identity', () => {
  it('splits the boot header version string into uname -r and uname -v', () => {
    expect(
      parseKernelVersionString('k', '6.12.117+deb12-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.12.117-1~deb12u1 (2026-11-14)'),
    ).toEqual({ release: '6.12.117+deb12-amd64', version: '#1 SMP PREEMPT_DYNAMIC Debian 6.12.117-1~deb12u1 (2026-11-14)' });
    expect(() => parseKernelVersionString('k', 'garbage')).toThrow(ConfigError);
  });
  it('rejects a file that is not a bzImage, naming it', async () => {
    const f = join(root, 'zeros');
    writeFileSync(f, Buffer.alloc(4096));
    await expect(readKernelIdentity(f)).rejects.toThrow(`${f}: not an x86 bzImage`);
  });
});

describe('parseLdd', () => {
  it('takes every library path and the loader, skipping the vdso', () => {
    const out = `\tlinux-vdso.so.1 (0x00007ffd)
\tlibtomcrypt.so.1 => /lib/x86_64-linux-gnu/libtomcrypt.so.1 (0x00007f5b)
\tlibz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x00007f5c)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f5d)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f5e)
`;
    expect(parseLdd(out)).toEqual([
      '/lib/x86_64-linux-gnu/libc.so.6',
      '/lib/x86_64-linux-gnu/libtomcrypt.so.1',
      '/lib/x86_64-linux-gnu/libz.so.1',
      '/lib64/ld-linux-x86-64.so.2',
    ]);
  });
});

describe('extractIkconfig', () => {
  /** A minimal bzImage: boot header with payload_offset/length pointing at a compressed "vmlinux". */
  function fakeBzImage(vmlinux: Buffer): string {
    const setupSects = 1;
    const payload = Buffer.concat([gzipSync(vmlinux), Buffer.alloc(4)]); // + the appended size word
    const img = Buffer.alloc((setupSects + 1) * 512 + 16 + payload.length);
    img[0x1f1] = setupSects;
    img.write('HdrS', 0x202, 'latin1');
    img.writeUInt32LE(16, 0x248);
    img.writeUInt32LE(payload.length, 0x24c);
    payload.copy(img, (setupSects + 1) * 512 + 16);
    const f = join(root, `bz-${Math.random().toString(16).slice(2)}`);
    writeFileSync(f, img);
    return f;
  }
  it('finds the gzip between IKCFG_ST and IKCFG_ED in the decompressed payload', async () => {
    const config = '# Linux/x86 6.12.0 Kernel Configuration\nCONFIG_KASAN=y\n';
    const vmlinux = Buffer.concat([Buffer.from('\x7fELF junk '), Buffer.from('IKCFG_ST'), gzipSync(config), Buffer.from('IKCFG_ED more')]);
    expect(await extractIkconfig(fakeBzImage(vmlinux))).toBe(config);
  });
  it('is null for a kernel without IKCONFIG', async () => {
    expect(await extractIkconfig(fakeBzImage(Buffer.from('\x7fELF no config here')))).toBeNull();
  });
});
