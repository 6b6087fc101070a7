import { execaSync } from 'execa';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { bzImagePayload, checkKernelConfig, extractIkconfig, ikconfigFromVmlinux, readKernelConfig } from './kernel-config-check.js';

const CONFIG = 'CONFIG_PCI=y\nCONFIG_KASAN=y\n# CONFIG_GPIO_SIM is not set\n';

/** A vmlinux stand-in: junk, then the IKCONFIG blob as kernel/configs.c lays it out. */
function fakeVmlinux(config = CONFIG): Buffer {
  return Buffer.concat([Buffer.alloc(3000, 0xcc), Buffer.from('IKCFG_ST'), gzipSync(config), Buffer.from('IKCFG_ED'), Buffer.alloc(100, 0)]);
}

/** A minimal bzImage: setup sectors with the boot header, then the compressed payload (+ trailing bytes). */
function fakeBzImage(payload: Buffer): Buffer {
  const setupSects = 3;
  const pm = (setupSects + 1) * 512;
  const img = Buffer.alloc(pm + 64 + payload.length + 32);
  img.writeUInt8(setupSects, 0x1f1);
  img.write('HdrS', 0x202, 'latin1');
  img.writeUInt16LE(0x20f, 0x206);
  img.writeUInt32LE(64, 0x248); // payload_offset, relative to the protected-mode code
  img.writeUInt32LE(payload.length, 0x24c);
  payload.copy(img, pm + 64);
  return img;
}

const compress = (tool: string, args: string[], data: Buffer): Buffer =>
  Buffer.from(execaSync(tool, args, { input: data, encoding: 'buffer' }).stdout as Uint8Array);

describe('extractIkconfig', () => {
  it('reads the blob from a raw vmlinux', async () => {
    expect(ikconfigFromVmlinux(fakeVmlinux())).toBe(CONFIG);
    expect(await extractIkconfig(fakeVmlinux())).toBe(CONFIG);
  });

  it.each([
    ['gzip', () => gzipSync(fakeVmlinux())],
    ['xz', () => compress('xz', ['-c', '--check=crc32'], fakeVmlinux())],
  ])('reads it from a %s-compressed bzImage payload', async (_name, make) => {
    const img = fakeBzImage(make());
    expect(bzImagePayload(img)?.length).toBeGreaterThan(0);
    expect(await extractIkconfig(img)).toBe(CONFIG);
  });

  it.each([
    ['not a bzImage', Buffer.alloc(4096)],
    ['bzImage without IKCONFIG', fakeBzImage(gzipSync(Buffer.alloc(5000, 1)))],
    ['unknown compression', fakeBzImage(Buffer.from('not compressed at all'))],
  ])('null for %s', async (_name, img) => {
    expect(await extractIkconfig(img)).toBeNull();
  });
});

describe('readKernelConfig / checkKernelConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'huci-kcfg-'));
  const modulesDir = join(dir, 'lib', 'modules', '6.12.0-test');
  mkdirSync(join(modulesDir, 'build'), { recursive: true });
  writeFileSync(join(modulesDir, 'build', '.config'), CONFIG);
  const bz = join(dir, 'bzImage');
  writeFileSync(bz, fakeBzImage(gzipSync(fakeVmlinux('CONFIG_PCI=y\n'))));
  const frag = join(dir, 'want.config');
  writeFileSync(frag, 'CONFIG_PCI=y\nCONFIG_KASAN=y\nCONFIG_GPIO_SIM=m\n');

  it('prefers the modules dir build/.config', async () => {
    expect(await readKernelConfig({ kernel: bz, modulesDir })).toEqual({ text: CONFIG, from: join(modulesDir, 'build', '.config') });
  });

  it('falls back to the bzImage IKCONFIG', async () => {
    expect((await readKernelConfig({ kernel: bz, modulesDir: join(dir, 'nowhere') }))?.from).toBe(`${bz} (IKCONFIG)`);
  });

  it('reports what our fragments want and the kernel lacks', async () => {
    const fromModules = await checkKernelConfig({ kernel: bz, modulesDir, fragments: [frag] });
    expect(fromModules.missing.map((m) => `${m.name}:${m.got}`)).toEqual(['CONFIG_GPIO_SIM:n']);
    const fromBz = await checkKernelConfig({ kernel: bz, fragments: [frag] });
    expect(fromBz.missing.map((m) => `${m.name}:${m.got}`)).toEqual(['CONFIG_KASAN:null', 'CONFIG_GPIO_SIM:null']);
  });

  it('says so when there is no config at all', async () => {
    const plain = join(dir, 'plain');
    writeFileSync(plain, fakeBzImage(gzipSync(Buffer.alloc(100))));
    expect(await checkKernelConfig({ kernel: plain, fragments: [frag] })).toEqual({ configSource: null, missing: [] });
  });
});
