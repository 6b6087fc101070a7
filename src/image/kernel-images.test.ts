// The KASAN image definitions and the fragments they name: valid catalog entries, every fragment
// parses, and no two fragments of one image contradict each other.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IMAGES_DIR, parseImageDef } from './catalog.js';
import { mergeRequests, parseFragment } from './kernel-fragments.js';

const KASAN_IMAGES = ['kasan-6.12', 'kasan-6.1'];

describe.each(KASAN_IMAGES)('%s', (name) => {
  const file = join(IMAGES_DIR, `${name}.json`);
  const def = parseImageDef(file, readFileSync(file, 'utf8'));

  it('is a source image shipping every module and the canary', () => {
    expect(def.kind).toBe('source');
    if (def.kind !== 'source') return;
    expect(def.modules).toBe('all');
    expect(def.extraModules).toContain('canary');
    expect(def.append).toContain('kasan_multi_shot');
  });

  it('names fragments that parse and do not contradict each other', () => {
    if (def.kind !== 'source') return;
    const frags = def.fragments.map((f) => parseFragment(readFileSync(join(IMAGES_DIR, f), 'utf8'), f));
    expect(frags.length).toBeGreaterThan(0);
    expect(mergeRequests(frags).overrides).toEqual([]);
    const wanted = new Map(mergeRequests(frags).wanted.map((o) => [o.name, o.value]));
    // what the tool depends on, whatever else the fragments say
    for (const [opt, v] of Object.entries({
      CONFIG_KASAN: 'y',
      CONFIG_KASAN_GENERIC: 'y',
      CONFIG_IKCONFIG_PROC: 'y',
      CONFIG_MODULE_UNLOAD: 'y',
      CONFIG_GPIO_SIM: 'm',
      CONFIG_HOTPLUG_PCI_PCIE: 'y',
      CONFIG_PANIC_ON_OOPS: 'n',
      CONFIG_DEBUG_INFO_NONE: 'y',
    })) {
      expect(wanted.get(opt), opt).toBe(v);
    }
  });
});

describe('images/kernel fragments', () => {
  it.each(['base', 'debug', 'lockdep', 'subsystems'])('%s.config parses and opens with a comment saying its purpose', (f) => {
    const text = readFileSync(join(IMAGES_DIR, 'kernel', `${f}.config`), 'utf8');
    expect(text.startsWith(`# ${f}.config — `)).toBe(true);
    expect(parseFragment(text, f).options.length).toBeGreaterThan(0);
  });
});
