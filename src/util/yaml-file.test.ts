import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readLocated } from './yaml-file.js';

describe('readLocated', () => {
  let dir: string;
  let cache: string;
  const before = process.env.XDG_CACHE_HOME;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'huci-yaml-'));
    cache = path.join(dir, 'cache');
    process.env.XDG_CACHE_HOME = cache;
  });
  afterEach(() => {
    if (before === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = before;
    rmSync(dir, { recursive: true, force: true });
  });
  const kept = (): string[] => {
    try {
      return readdirSync(path.join(cache, 'hotunplug-ci', 'parsed'));
    } catch {
      return [];
    }
  };
  const file = (name: string, text: string): string => {
    const f = path.join(dir, name);
    writeFileSync(f, text);
    return f;
  };
  const TEXT = 'a:\n  b: 1\n  c: [x, y]\nd: true\n';

  it('gives the same data and the same lines whether parsed or kept', () => {
    const f = file('s.yaml', TEXT);
    const first = readLocated(f);
    expect(kept()).toHaveLength(1);
    const second = readLocated(f);
    expect(second.data).toEqual(first.data);
    expect(second.data).toEqual({ a: { b: 1, c: ['x', 'y'] }, d: true });
    for (const p of [['a', 'c', 1], ['d'], ['a', 'nope']]) expect(second.lineOf(p)).toBe(first.lineOf(p));
    expect(second.error(['a', 'c', 1], 'bad').message).toBe(first.error(['a', 'c', 1], 'bad').message);
    expect(second.lineOf(['a', 'c', 1])).toBe(3);
  });

  it('keeps a changed text apart: the data follows the text, not the file name', () => {
    const f = file('s.yaml', TEXT);
    readLocated(f);
    writeFileSync(f, 'a: 2\n');
    expect(readLocated(f).data).toEqual({ a: 2 });
    expect(kept()).toHaveLength(2);
  });

  it('parses again when what is kept is not JSON', () => {
    const f = file('s.yaml', TEXT);
    readLocated(f);
    writeFileSync(path.join(cache, 'hotunplug-ci', 'parsed', kept()[0]!), '{"a": ');
    expect(readLocated(f).data).toEqual({ a: { b: 1, c: ['x', 'y'] }, d: true });
  });

  it('keeps nothing JSON cannot hold exactly, and nothing for a text that does not parse', () => {
    expect(readLocated(file('inf.yaml', 'x: .inf\n')).data).toEqual({ x: Number.POSITIVE_INFINITY });
    expect(() => readLocated(file('bad.yaml', 'a: [1,\n'))).toThrow(/bad\.yaml.*not valid YAML/);
    expect(kept()).toHaveLength(0);
  });
});
