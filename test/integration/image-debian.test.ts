// Debian images end to end under TCG: build (or reuse) debian-6.12 and debian-6.1 from Debian's
// packages, boot each with the vm layer's Machine to the init's `huci: ready`, log in over ssh with
// a per-run key, load every catalog module, talk to the agent, and `poweroff -f`. Also wraps an
// initramfs around a "user" kernel (--kernel/--modules). Prints the measured numbers.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRunKey, SshGuest } from '../../src/guest/ssh.js';
import { findImage } from '../../src/image/catalog.js';
import { fetchDeb, unpackKernelDeb } from '../../src/image/debian.js';
import { resolveImage, resolveImageDef, resolveUserKernel, type ImageArtifacts } from '../../src/image/resolve.js';
import { InfraError } from '../../src/errors.js';
import { freeLoopbackPort } from '../../src/vm/free-port.js';
import { Machine } from '../../src/vm/machine.js';

const dirs: string[] = [];
const machines: Machine[] = [];
const tmp = (): string => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'huci-img-'));
  dirs.push(d);
  return d;
};
afterAll(async () => {
  await Promise.all(machines.map((m) => m.stop()));
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const note = (s: string): void => void process.stdout.write(`[image-debian] ${s}\n`);

interface Booted {
  machine: Machine;
  ssh: SshGuest;
  readySeconds: number;
}

async function boot(img: ImageArtifacts): Promise<Booted> {
  const runDir = tmp();
  const key = await createRunKey(runDir);
  const port = await freeLoopbackPort();
  const t0 = Date.now();
  const machine = await Machine.start({
    kernel: img.kernel,
    initrd: img.initrd,
    accel: 'tcg',
    runDir,
    sshHostPort: port,
    append: ['ignore_loglevel', `huci.sshkey=${key.publicBlob}`, ...img.append],
  });
  machines.push(machine);
  const ready = await machine.console.waitForLine(/^huci: ready$/, { timeoutMs: 180_000 });
  const readySeconds = (ready.hostMs - t0) / 1000;
  const ssh = await SshGuest.connect({ port, key, timeoutMs: 60_000, consoleTail: () => machine.console.tail(30) });
  return { machine, ssh, readySeconds };
}

async function sh(ssh: SshGuest, cmd: string): Promise<string> {
  const r = await ssh.exec(cmd, { timeoutMs: 60_000 });
  expect(r.code, `${cmd}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

async function powerOff(b: Booted): Promise<void> {
  await b.ssh.exec('poweroff -f', { timeoutMs: 5_000 }).catch(() => undefined); // the link drops mid-command
  const exit = await Promise.race([b.machine.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
  expect(exit).toEqual({ code: 0, signal: null });
}

describe.each(['debian-6.12', 'debian-6.1'])('%s', (name) => {
  let img: ImageArtifacts;

  it('builds (or reuses) the image from Debian packages, atomically and cached', async () => {
    const t0 = Date.now();
    img = await resolveImage(name, { onProgress: (s) => note(`${name}: ${s}`) });
    const first = (Date.now() - t0) / 1000;
    const def = findImage(name)!;
    expect(def.kind).toBe('debian');
    if (def.kind !== 'debian') return;
    const m = img.manifest;
    expect(m.packages[def.kernel.package]).toBe(def.kernel.version);
    expect(m.packages['busybox-static']).toMatch(/\d/);
    expect(m.packages['dropbear-bin']).toMatch(/\d/);
    expect(img.kernelVersion).toContain(def.kernel.version); // Debian's uname -v names the package version
    expect(path.basename(img.dir)).toBe(`${name}-${m.inputsHash.slice(0, 12)}`);
    expect(m.agent).not.toBeNull();
    expect(fs.existsSync(path.join(img.dir, 'build.log'))).toBe(true);
    expect(m.sizes.initrd).toBeLessThan(8 * 2 ** 20);
    expect(m.modules.shipped.every((f) => f.endsWith('.ko'))).toBe(true);

    const t1 = Date.now();
    const again = await resolveImage(name, { build: false });
    const cachedSeconds = (Date.now() - t1) / 1000;
    expect(again.dir).toBe(img.dir);
    expect(cachedSeconds).toBeLessThan(10);
    note(
      `${name}: resolve ${first.toFixed(1)}s (build of this cache entry took ${m.buildSeconds}s), cached resolve ${cachedSeconds.toFixed(2)}s, ` +
        `initrd ${m.sizes.initrd} bytes (${(m.sizes.initrd / 2 ** 20).toFixed(2)} MiB), ${m.modules.shipped.length} module files, kernel ${m.kernelRelease}`,
    );
  }, 600_000);

  it('boots under TCG to huci: ready; root logs in by key; every catalog module loads; the agent answers; poweroff -f ends QEMU', async () => {
    // on its own too: the image is built or reused here when the build test did not run first
    img ??= await resolveImage(name);
    const b = await boot(img);
    note(`${name}: QEMU start → "huci: ready" ${b.readySeconds.toFixed(2)}s (TCG)`);
    expect(b.readySeconds).toBeLessThan(120);

    expect((await sh(b.ssh, 'uname -r')).trim()).toBe(img.kernelRelease);
    expect(await sh(b.ssh, 'id -u')).toBe('0\n');
    const mounts = await sh(b.ssh, 'cat /proc/mounts');
    for (const fsType of ['proc', 'sysfs', 'devtmpfs', 'debugfs', 'configfs']) expect(mounts).toContain(` ${fsType} `);
    expect(await sh(b.ssh, 'ip -4 addr show eth0')).toContain('inet 10.0.2.15/24');
    expect(await sh(b.ssh, 'ip route')).toContain('default via 10.0.2.2');
    expect(await sh(b.ssh, 'stat -c %a /root/.ssh/authorized_keys')).toBe('600\n');

    const def = findImage(name)!;
    const modules = def.modules === 'all' ? [] : def.modules;
    // i2c-stub refuses to load without a chip address (ENODEV): give it one.
    const params: Record<string, string> = { 'i2c-stub': ' chip_addr=0x1c' };
    await sh(b.ssh, modules.map((mod) => `modprobe ${mod}${params[mod] ?? ''}`).join(' && '));
    const loaded = await sh(b.ssh, 'cat /proc/modules');
    for (const mod of modules) {
      const n = mod.replaceAll('-', '_');
      if (!img.manifest.modules.builtin.includes(n)) expect(loaded, `${mod} loaded`).toMatch(new RegExp(`^${n} `, 'm'));
    }
    expect(await sh(b.ssh, `ls /sys/bus/i2c/devices`)).toMatch(/i2c-\d/); // i2c-i801 bound q35's SMBus

    const ping = JSON.parse((await sh(b.ssh, `echo '{"id":7,"op":"ping"}' | /usr/bin/huci-agent`)).split('\n')[0]!) as Record<string, unknown>;
    expect(ping).toMatchObject({ id: 7, ok: true });

    // password logins are off: dropbear runs with -s
    expect(await sh(b.ssh, 'cat /proc/$(cat /run/dropbear.pid)/cmdline | tr "\\0" " "')).toMatch(/dropbear .*-s /);
    await powerOff(b);
  }, 600_000);
});

describe('a user kernel (--kernel BZIMAGE --modules DIR)', () => {
  it('gets an initramfs built around it and boots', async () => {
    const def = findImage('debian-6.12')!;
    if (def.kind !== 'debian') throw new Error('debian-6.12 is not a debian image');
    const tree = tmp();
    const deb = await fetchDeb(def.kernel.package, def.kernel.version, () => {});
    const k = await unpackKernelDeb(deb, tree, () => {});
    const img = await resolveUserKernel({ kernel: k.bzImage, modules: k.modulesDir, onProgress: (s) => note(`user: ${s}`) });
    expect(img.name).toBe(`user-${k.kernelRelease.replaceAll('+', '-')}`);
    expect(img.kernelRelease).toBe(k.kernelRelease);
    expect(img.config).toBeNull(); // Debian ships /boot/config-*, not modules/build/.config, and no IKCONFIG
    const b = await boot(img);
    note(`user kernel: QEMU start → "huci: ready" ${b.readySeconds.toFixed(2)}s`);
    expect((await sh(b.ssh, 'uname -r')).trim()).toBe(k.kernelRelease);
    await sh(b.ssh, 'modprobe i2c-dev && test -d /sys/module/i2c_dev');
    await powerOff(b);
  }, 600_000);
});

describe('a build that fails', () => {
  it('leaves no image dir, keeps the log beside it and says how to check the package', async () => {
    const def = findImage('debian-6.12')!;
    if (def.kind !== 'debian') throw new Error('debian-6.12 is not a debian image');
    const saved = process.env.XDG_CACHE_HOME;
    process.env.XDG_CACHE_HOME = tmp();
    try {
      const bogus = { ...def, name: 'debian-bogus', kernel: { ...def.kernel, version: '0.0.0-0' } };
      const e = await resolveImageDef(bogus).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(InfraError);
      const msg = (e as Error).message;
      expect(msg).toContain(`apt-get download ${def.kernel.package}=0.0.0-0 failed`);
      expect(msg).toContain(`apt-cache policy ${def.kernel.package}`);
      const log = /build log: (\S+)\)/.exec(msg)?.[1];
      expect(log && fs.readFileSync(log, 'utf8')).toContain('FAILED:');
      const images = path.join(process.env.XDG_CACHE_HOME, 'hotunplug-ci/images');
      expect(fs.readdirSync(images).filter((f) => !f.endsWith('.failed.log'))).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env.XDG_CACHE_HOME;
      else process.env.XDG_CACHE_HOME = saved;
    }
  }, 300_000);
});
