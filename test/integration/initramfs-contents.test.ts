// assembleInitramfs on a real Debian kernel's modules (the same call the KASAN image makes):
// what lands in the cpio, that compressed modules are decompressed and depmod'd, that extra
// modules go under extra/, that a missing module fails naming it, and that two builds from the
// same inputs produce the same archive listing and bytes (apart from the per-build host key).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { findImage } from '../../src/image/catalog.js';
import { fetchDeb, unpackKernelDeb, type UnpackedKernel } from '../../src/image/debian.js';
import { assembleInitramfs } from '../../src/image/initramfs.js';

let dir: string;
let k: UnpackedKernel;
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'huci-initramfs-'));
  const def = findImage('debian-6.12')!;
  if (def.kind !== 'debian') throw new Error('debian-6.12 is not a debian image');
  k = await unpackKernelDeb(await fetchDeb(def.kernel.package, def.kernel.version, () => {}), path.join(dir, 'tree'), () => {});
}, 300_000);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** name → "mode size" per entry, plus file contents, from the gzip'd cpio. */
function unpack(initrd: string, into: string): { listing: string[]; root: string } {
  fs.mkdirSync(into, { recursive: true });
  execFileSync('bash', ['-c', `zcat ${initrd} | cpio -idm --quiet --no-absolute-filenames`], { cwd: into });
  const listing = execFileSync('bash', ['-c', `zcat ${initrd} | cpio -tv --quiet`], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean);
  return { listing, root: into };
}

describe('assembleInitramfs', () => {
  let info: Awaited<ReturnType<typeof assembleInitramfs>>;
  let root: string;
  let listing: string[];
  const rel = (): string => `lib/modules/${k.kernelRelease}`;
  const extra = (): string => path.join(k.modulesDir, 'kernel/drivers/i2c/i2c-stub.ko.xz');

  beforeAll(async () => {
    info = await assembleInitramfs({
      kernelRelease: k.kernelRelease,
      modulesDir: k.modulesDir,
      modules: ['at24', 'xhci-pci', 'virtio_pci'],
      extraModules: [extra()],
      outFile: path.join(dir, 'a/initrd.gz'),
    });
    ({ listing, root } = unpack(path.join(dir, 'a/initrd.gz'), path.join(dir, 'a/root')));
  }, 300_000);

  it('ships requested modules with their dependencies, decompressed, plus extra modules, depmod-ed', () => {
    expect(info.modules).toEqual([
      'extra/i2c-stub.ko',
      'kernel/drivers/misc/eeprom/at24.ko',
      'kernel/drivers/usb/common/usb-common.ko',
      'kernel/drivers/usb/core/usbcore.ko',
      'kernel/drivers/usb/host/xhci-hcd.ko',
      'kernel/drivers/usb/host/xhci-pci.ko',
    ]);
    expect(info.builtinModules).toEqual(['virtio_pci']);
    for (const m of info.modules) {
      const bytes = fs.readFileSync(path.join(root, rel(), m));
      expect(bytes.subarray(0, 4).toString('latin1'), m).toBe('\x7fELF');
    }
    const dep = fs.readFileSync(path.join(root, rel(), 'modules.dep'), 'utf8');
    expect(dep).toContain('extra/i2c-stub.ko:');
    expect(dep).toMatch(/^kernel\/drivers\/usb\/host\/xhci-pci\.ko: kernel\/drivers\/usb\/host\/xhci-hcd\.ko/m);
    expect(fs.existsSync(path.join(root, rel(), 'modules.builtin'))).toBe(true);
  });

  it('has busybox applets as symlinks, dropbear with its libraries and loader, keys, agent, init, console node', () => {
    expect(fs.readlinkSync(path.join(root, 'bin/sh'))).toBe('/bin/busybox');
    expect(fs.readlinkSync(path.join(root, 'sbin/modprobe'))).toBe('/bin/busybox');
    for (const f of [
      'usr/sbin/dropbear',
      'lib64/ld-linux-x86-64.so.2',
      'lib/x86_64-linux-gnu/libc.so.6',
      'etc/dropbear/dropbear_ed25519_host_key',
      'usr/bin/huci-agent',
      'init',
    ]) {
      expect(fs.existsSync(path.join(root, f)), f).toBe(true);
    }
    expect(listing.find((l) => l.endsWith(' init'))).toMatch(/^-rwxr-xr-x/);
    expect(listing.find((l) => l.endsWith(' dev/console'))).toMatch(/^crw-------/);
    expect(listing.every((l) => / root +root /.test(l))).toBe(true);
    expect(fs.readFileSync(path.join(root, 'init'), 'utf8')).toBe(fs.readFileSync(path.resolve('images/rootfs/init'), 'utf8'));
    expect(info.bytes).toBe(fs.statSync(path.join(dir, 'a/initrd.gz')).size);
  });

  it('is reproducible apart from the host key', async () => {
    await assembleInitramfs({
      kernelRelease: k.kernelRelease,
      modulesDir: k.modulesDir,
      modules: ['at24', 'xhci-pci', 'virtio_pci'],
      extraModules: [extra()],
      outFile: path.join(dir, 'b/initrd.gz'),
    });
    const b = unpack(path.join(dir, 'b/initrd.gz'), path.join(dir, 'b/root'));
    expect(b.listing).toEqual(listing);
    const differing = b.listing
      .filter((l) => l.startsWith('-')) // regular files ("name -> target" lines are symlinks)
      .map((l) => l.split(/\s+/).at(-1)!)
      .filter((f) => fs.lstatSync(path.join(root, f)).isFile())
      .filter((f) => !fs.readFileSync(path.join(root, f)).equals(fs.readFileSync(path.join(b.root, f))));
    expect(differing).toEqual(['etc/dropbear/dropbear_ed25519_host_key']);
  }, 300_000);

  it('names a module the kernel does not have', async () => {
    const e = await assembleInitramfs({
      kernelRelease: k.kernelRelease,
      modulesDir: k.modulesDir,
      modules: ['at24', 'gpio-nonexistent'],
      outFile: path.join(dir, 'c/initrd.gz'),
    }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).message).toContain(`no such module in kernel ${k.kernelRelease}: gpio-nonexistent`);
    expect(fs.existsSync(path.join(dir, 'c/initrd.gz'))).toBe(false);
    expect(fs.readdirSync(path.join(dir, 'c'))).toEqual([]); // staging dir removed
  }, 300_000);
});
