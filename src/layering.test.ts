// The layering DEVELOPERS.md draws, held by the imports themselves: scenario is the hub, vm, guest,
// image, vocabulary, detect, classify and report are leaves below it, model is what they share, cli
// sits on top. An import that points the wrong way fails here, with the file that makes it.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = path.dirname(fileURLToPath(import.meta.url));

/** What each layer may import (besides itself, node, packages and src/zod.ts: zod as we configure it). */
const MAY_IMPORT: Record<string, readonly string[]> = {
  zod: [],
  model: [],
  errors: ['detect'], // BootError carries findings (a type)
  util: ['errors'],
  version: ['util'],
  detect: ['errors', 'util'],
  classify: ['model'],
  report: ['model', 'classify', 'errors', 'util'],
  vocabulary: ['errors', 'util'],
  vm: ['errors', 'util'],
  guest: ['errors', 'util'],
  image: ['errors', 'util', 'vm'],
  scenario: ['model', 'classify', 'detect', 'errors', 'guest', 'image', 'util', 'vm', 'vocabulary', 'version'],
  cli: ['model', 'classify', 'detect', 'errors', 'guest', 'image', 'report', 'scenario', 'util', 'version', 'vm', 'vocabulary'],
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'testing' || e.name === 'testdata' ? [] : sources(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [p] : [];
  });
}

const layerOf = (file: string): string => {
  const rel = path.relative(SRC, file).split(path.sep);
  return rel.length > 1 ? rel[0]! : rel[0]!.replace(/\.ts$/, '');
};

interface Edge {
  from: string;
  to: string;
  target: string;
}

function edges(): Edge[] {
  const out: Edge[] = [];
  for (const file of sources(SRC)) {
    for (const m of readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
      const target = path.resolve(path.dirname(file), m[1]!).replace(/\.js$/, '.ts');
      out.push({ from: path.relative(SRC, file), to: layerOf(target), target: path.relative(SRC, target) });
    }
  }
  return out;
}

describe('layering', () => {
  const all = edges();

  it('knows every layer of the tree', () => {
    expect(new Set(sources(SRC).map(layerOf))).toEqual(new Set(Object.keys(MAY_IMPORT)));
  });

  it('every import points down', () => {
    const wrong = all.filter((e) => {
      const from = layerOf(path.join(SRC, e.from));
      return e.to !== from && e.to !== 'zod' && !MAY_IMPORT[from]?.includes(e.to);
    });
    expect(wrong.map((e) => `${e.from} imports ${e.target}`)).toEqual([]);
  });

  it('schemas are built with the z of src/zod.ts (configured before the first is built)', () => {
    const direct = sources(SRC).filter((f) => !f.endsWith(`${path.sep}zod.ts`) && /^import \{[^}]*\} from 'zod'/m.test(readFileSync(f, 'utf8')));
    expect(direct.map((f) => path.relative(SRC, f))).toEqual([]);
  });

  it('other layers reach the image layer through its public entry only', () => {
    const inside = all.filter((e) => e.to === 'image' && layerOf(path.join(SRC, e.from)) !== 'image' && e.target !== 'image/index.ts');
    expect(inside.map((e) => `${e.from} imports ${e.target}`)).toEqual([]);
  });
});
