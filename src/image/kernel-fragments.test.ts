import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { describeMissing, kconfigSymbols, mergeRequests, parseDotConfig, parseFragment, unknownOptions, verifyConfig } from './kernel-fragments.js';

const td = (f: string) => join(import.meta.dirname, 'testdata', 'kernel', f);
const frag = (f: string) => parseFragment(readFileSync(td(f), 'utf8'), f);

describe('parseFragment', () => {
  it('reads assignments, "is not set" and skips comments', () => {
    expect(frag('frag-base.config').options.map((o) => [o.name, o.value, o.line])).toEqual([
      ['CONFIG_PCI', 'y', 2],
      ['CONFIG_VIRTIO_BLK', 'm', 3],
      ['CONFIG_HUNG_TASK_TIMEOUT', '20', 4],
      ['CONFIG_PANIC_ON_OOPS', 'n', 5],
      ['CONFIG_CMDLINE', '"console=ttyS0"', 6],
    ]);
  });

  it.each([
    ['PCI=y', /line 1: not a Kconfig assignment/],
    ['CONFIG_PCI=', /line 1: CONFIG_PCI has no value/],
    ['CONFIG_PCI=yes', /CONFIG_PCI=yes: expected y, m, n/],
    ['CONFIG_PCI=y\nCONFIG_PCI=m', /line 2: CONFIG_PCI is already set on line 1/],
    ['CONFIG_X="unterminated', /expected y, m, n/],
  ])('rejects %j naming file and line', (text, msg) => {
    expect(() => parseFragment(text, 'bad.config')).toThrow(ConfigError);
    expect(() => parseFragment(text, 'bad.config')).toThrow(msg);
    expect(() => parseFragment(text, 'bad.config')).toThrow(/^bad\.config: /);
  });
});

describe('parseDotConfig', () => {
  it('maps "is not set" to n and leaves unknown options absent', () => {
    const c = parseDotConfig(readFileSync(td('final.config'), 'utf8'));
    expect(c.get('CONFIG_PCI')).toBe('y');
    expect(c.get('CONFIG_PANIC_ON_OOPS')).toBe('n');
    expect(c.get('CONFIG_CMDLINE')).toBe('"console=ttyS0"');
    expect(c.has('CONFIG_GPIO_SIM')).toBe(false);
  });
});

describe('mergeRequests', () => {
  it('lets later fragments override earlier ones and reports it', () => {
    const { wanted, overrides } = mergeRequests([frag('frag-base.config'), frag('frag-extra.config')]);
    expect(wanted.find((o) => o.name === 'CONFIG_VIRTIO_BLK')).toMatchObject({ value: 'y', file: 'frag-extra.config' });
    expect(overrides).toEqual(['CONFIG_VIRTIO_BLK=y (frag-extra.config:2) overrides m (frag-base.config:3)']);
  });
});

describe('verifyConfig', () => {
  const config = parseDotConfig(readFileSync(td('final.config'), 'utf8'));

  it('passes when every request holds', () => {
    expect(verifyConfig([parseFragment('CONFIG_PCI=y\n# CONFIG_PANIC_ON_OOPS is not set\n', 'a')], config)).toEqual([]);
  });

  it('names each missing option, what was wanted and got, and its fragment', () => {
    const missing = verifyConfig([frag('frag-base.config'), frag('frag-extra.config')], config);
    expect(missing.map(describeMissing)).toEqual([
      'CONFIG_HUNG_TASK_TIMEOUT=20 from frag-base.config:4: got 30',
      'CONFIG_VIRTIO_BLK=y from frag-extra.config:2: got m',
      'CONFIG_GPIO_SIM=m from frag-extra.config:3: got absent (unmet dependencies or not in this kernel)',
    ]);
  });

  it.each([
    ['n satisfied by absence', 'CONFIG_NOT_THERE=n', []],
    ['n satisfied by is-not-set', 'CONFIG_DEBUG_FS=n', []],
    ['n violated by y', 'CONFIG_PCI=n', ['CONFIG_PCI']],
    ['y violated by not set', 'CONFIG_PANIC_ON_OOPS=y', ['CONFIG_PANIC_ON_OOPS']],
    ['m is not y', 'CONFIG_PCI=m', ['CONFIG_PCI']],
  ])('%s', (_name, text, names) => {
    expect(verifyConfig([parseFragment(text, 'f')], config).map((m) => m.name)).toEqual(names);
  });
});

describe('unknownOptions / kconfigSymbols', () => {
  it('finds requested options no Kconfig declares', () => {
    const syms = new Set(kconfigSymbols('config PCI\n\tbool "PCI"\nmenuconfig VIRTIO_BLK\n  tristate\n# config GPIO_SIM\n'));
    expect([...syms]).toEqual(['PCI', 'VIRTIO_BLK']);
    const { wanted } = mergeRequests([frag('frag-extra.config')]);
    expect(unknownOptions(wanted, syms).map((o) => o.name)).toEqual(['CONFIG_GPIO_SIM', 'CONFIG_DEBUG_FS']);
  });
});
