import { describe, expect, it } from 'vitest';
import { kernelCacheKey, objectDirName, type KernelKeyInputs } from './kernel-cache-key.js';

const base: KernelKeyInputs = {
  sourceId: 'linux-source-6.12=6.12.117-1~deb12u1',
  fragments: [
    { name: 'base.config', content: 'CONFIG_PCI=y\n' },
    { name: 'debug.config', content: 'CONFIG_KASAN=y\n' },
  ],
  compiler: 'gcc (Debian 12.2.0-14+deb12u1) 12.2.0',
  extra: [
    { name: 'canary.c', content: 'int x;' },
    { name: 'Kbuild', content: 'obj-m := a.o' },
  ],
};

describe('kernelCacheKey', () => {
  const key = kernelCacheKey(base);

  it('is stable and short', () => {
    expect(kernelCacheKey(structuredClone(base))).toBe(key);
    expect(key).toMatch(/^[0-9a-f]{20}$/);
  });

  it.each<[string, KernelKeyInputs]>([
    ['source version', { ...base, sourceId: 'linux-source-6.12=6.12.115-2~deb12u1' }],
    ['fragment content', { ...base, fragments: [base.fragments[0]!, { name: 'debug.config', content: 'CONFIG_KASAN=n\n' }] }],
    ['fragment order', { ...base, fragments: [base.fragments[1]!, base.fragments[0]!] }],
    ['fragment set', { ...base, fragments: [base.fragments[0]!] }],
    ['compiler', { ...base, compiler: 'gcc (Debian 13.2.0) 13.2.0' }],
    ['module source', { ...base, extra: [{ name: 'canary.c', content: 'int y;' }, base.extra[1]!] }],
    ['no extra modules', { ...base, extra: [] }],
  ])('changes with the %s', (_what, changed) => {
    expect(kernelCacheKey(changed)).not.toBe(key);
  });

  it('ignores canary file listing order and compiler trailing whitespace', () => {
    expect(kernelCacheKey({ ...base, extra: [base.extra[1]!, base.extra[0]!], compiler: `${base.compiler}\n` })).toBe(key);
  });
});

describe('objectDirName', () => {
  it.each([
    [
      'linux-source-6.12=6.12.117-1~deb12u1',
      ['base.config', 'debug.config', 'subsystems.config'],
      'linux-source-6.12_6.12.117-1_deb12u1__base+debug+subsystems',
    ],
    ['linux-source-6.1=6.1.192-2', ['base.config'], 'linux-source-6.1_6.1.192-2__base'],
  ])('%s %j → %s', (src, frags, want) => {
    expect(objectDirName(src, frags)).toBe(want);
  });

  it('hashes user trees and keeps names bounded', () => {
    const n = objectDirName('dir:/home/me/linux', ['base.config', 'my stuff.config']);
    expect(n).toMatch(/^tree-[0-9a-f]{12}__base\+my_stuff$/);
    expect(
      objectDirName(
        'dir:/x',
        Array.from({ length: 40 }, (_, i) => `fragment-${i}.config`),
      ).length,
    ).toBeLessThanOrEqual(120);
  });
});
