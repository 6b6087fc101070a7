import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { listImages, parseImageDef } from './catalog.js';

const good = {
  name: 'debian-x',
  kind: 'debian',
  description: 'd',
  kernel: { package: 'linux-image-6.12.1+deb12-amd64-unsigned', version: '6.12.1-1' },
  modules: ['i2c-dev'],
};
const file = '/images/debian-x.json';
const parse = (v: unknown, f = file) => parseImageDef(f, typeof v === 'string' ? v : JSON.stringify(v));

describe('parseImageDef', () => {
  it('accepts a Debian image and defaults append', () => {
    const d = parse(good);
    expect(d.kind).toBe('debian');
    expect(d.append).toEqual([]);
  });
  it('accepts a source image (kernel helper format)', () => {
    const d = parse(
      {
        name: 'kasan-x',
        kind: 'source',
        description: 'k',
        source: { package: 'linux-source-6.12' },
        fragments: ['kernel/base.config'],
        modules: 'all',
        extraModules: ['canary'],
      },
      '/images/kasan-x.json',
    );
    expect(d.kind === 'source' && d.extraModules).toEqual(['canary']);
  });

  // Every error names the file and the JSON path inside it, in one line.
  const bad: { name: string; input: unknown; path: string; problem: RegExp; f?: string }[] = [
    { name: 'unknown top-level key', input: { ...good, kernal: 1 }, path: '(root)', problem: /unknown key\(s\) "kernal"/ },
    { name: 'unknown nested key', input: { ...good, kernel: { ...good.kernel, arch: 'x' } }, path: 'kernel', problem: /"arch"/ },
    { name: 'bad module name', input: { ...good, modules: ['ok', 'bad name'] }, path: 'modules.1', problem: /module name/ },
    { name: 'missing field', input: { ...good, description: undefined }, path: 'description', problem: /.+/ },
    { name: 'unknown kind', input: { ...good, kind: 'fedora' }, path: 'kind', problem: /.+/ },
    { name: 'not a linux-image package', input: { ...good, kernel: { package: 'busybox', version: '1' } }, path: 'kernel.package', problem: /linux-image/ },
    { name: 'name differs from file', input: { ...good, name: 'other' }, path: 'name', problem: /does not match the file name/ },
    { name: 'invalid JSON', input: '{"name": ', path: '', problem: /not valid JSON/ },
  ];
  for (const c of bad) {
    it(`rejects: ${c.name}`, () => {
      let err: unknown;
      try {
        parse(c.input, c.f);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      const ce = err as ConfigError;
      expect(ce.file).toBe(file);
      expect(ce.path).toBe(c.path);
      expect(ce.problem).toMatch(c.problem);
      expect(ce.message.startsWith(file)).toBe(true);
      expect(ce.message).not.toContain('\n');
    });
  }
});

describe('the repository catalog', () => {
  it('parses, and has the Debian images', () => {
    const names = listImages().map((d) => d.name);
    expect(names).toEqual([...names].sort());
    expect(names).toEqual(expect.arrayContaining(['debian-6.1', 'debian-6.12']));
    for (const d of listImages()) if (d.kind === 'debian') expect(d.kernel.package).toMatch(/-amd64-unsigned$/);
  });
});
