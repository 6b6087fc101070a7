import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { moduleName, parseModulesBuiltin, parseModulesDep, resolveModules } from './modules.js';

const dir = join(fileURLToPath(new URL('.', import.meta.url)), 'testdata', 'modules');
const deps = parseModulesDep(readFileSync(join(dir, 'modules.dep'), 'utf8'));
const builtin = parseModulesBuiltin(readFileSync(join(dir, 'modules.builtin'), 'utf8'));
const base = (paths: string[]): string[] => paths.map((p) => p.slice(p.lastIndexOf('/') + 1));

describe('moduleName', () => {
  it.each([
    ['i2c-i801', 'i2c_i801'],
    ['kernel/drivers/i2c/busses/i2c-i801.ko.xz', 'i2c_i801'],
    ['xhci-hcd.ko.zst', 'xhci_hcd'],
    ['at24.ko', 'at24'],
    ['virtio-rng.ko.gz', 'virtio_rng'],
  ])('%s → %s', (input, want) => expect(moduleName(input)).toBe(want));
});

describe('parseModulesDep', () => {
  it('reads every entry, with and without deps, skipping comments', () => {
    expect(deps.size).toBe(15);
    expect(deps.get('kernel/net/core/failover.ko.xz')).toEqual([]);
    expect(deps.get('kernel/drivers/net/virtio_net.ko.xz')).toEqual(['kernel/drivers/net/net_failover.ko.xz', 'kernel/net/core/failover.ko.xz']);
  });
});

describe('resolveModules', () => {
  const cases: { name: string; req: string[]; files: string[]; builtin?: string[]; missing?: string[] }[] = [
    { name: 'leaf module', req: ['at24'], files: ['at24.ko.xz'] },
    { name: 'transitive deps', req: ['virtio_net'], files: ['failover.ko.xz', 'net_failover.ko.xz', 'virtio_net.ko.xz'] },
    { name: 'dash and underscore are one name', req: ['i2c_i801', 'i2c-dev'], files: ['i2c-dev.ko.xz', 'i2c-i801.ko.xz', 'i2c-smbus.ko.xz'] },
    {
      name: 'shared deps shipped once',
      req: ['ftdi_sio', 'xhci-pci', 'xhci-hcd', 'usbserial'],
      files: ['usb-common.ko.xz', 'usbcore.ko.xz', 'xhci-hcd.ko.xz', 'xhci-pci.ko.xz', 'ftdi_sio.ko.xz', 'usbserial.ko.xz'],
    },
    { name: 'builtin needs no file', req: ['virtio_pci', 'configfs'], files: ['configfs.ko.xz'], builtin: ['virtio_pci'] },
    { name: 'unknown names reported, not dropped silently', req: ['at24', 'no-such', 'gpio_sim'], files: ['at24.ko.xz'], missing: ['gpio_sim', 'no-such'] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = resolveModules(c.req, deps, builtin);
      expect(base(r.files).sort()).toEqual([...c.files].sort());
      expect(r.builtin).toEqual(c.builtin ?? []);
      expect(r.missing).toEqual(c.missing ?? []);
      // every dependency of a shipped file is shipped too
      for (const f of r.files) for (const d of deps.get(f) ?? []) expect(r.files).toContain(d);
    });
  }
  it("'all' ships every module", () => {
    expect(resolveModules('all', deps, builtin).files).toHaveLength(15);
  });
});
