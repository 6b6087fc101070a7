// `--kernel BZIMAGE --modules DIR`: a kernel someone else built (here: Debian's, unpacked from the
// .deb the debian-6.12 image was made from) boots like an image, and the options our fragments want
// that it lacks are named up front.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { resolveImage } from '../../src/image/resolve.js';
import { cacheRoot } from '../../src/util/paths.js';
import { cli } from '../testing/cli.js';

let dir: string;
let kernel: string;
let modules: string;

beforeAll(async () => {
  await execa('npx', ['tsc', '-p', 'tsconfig.json']);
  const image = await resolveImage('debian-6.12', { build: true });
  const debs = join(cacheRoot(), 'debs');
  const deb = (await readdir(debs)).find((f) => f.startsWith(`linux-image-${image.kernelRelease}-unsigned_`));
  if (!deb) throw new Error(`no .deb for ${image.kernelRelease} in ${debs}`);
  dir = await mkdtemp(join(tmpdir(), 'huci-userkernel-'));
  await execa('dpkg-deb', ['-x', join(debs, deb), dir]);
  kernel = join(dir, 'boot', `vmlinuz-${image.kernelRelease}`);
  modules = join(dir, 'lib', 'modules', image.kernelRelease);
  // a .deb ships no modules.dep (the package's postinst makes it): do what its user would
  await execa('depmod', ['-b', dir, image.kernelRelease]);
}, 600_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

it("boots someone else's kernel and names the options it lacks", async () => {
  const r = await cli(['boot', '--kernel', kernel, '--modules', modules, '--exec', 'uname -r; grep -c . /proc/modules || true']);
  expect(r.exitCode, r.all).toBe(0);
  expect(r.stdout.split('\n')[0]).toBe(modules.split('/').pop());
  expect(r.stderr).toMatch(/lacks \d+ option\(s\) our fragments ask for/);
  expect(r.stderr).toMatch(/CONFIG_KASAN=y from .*debug\.config:\d+: got not set/);
  expect(r.stderr).toMatch(/CONFIG_GPIO_SIM=m .*got not set/);
}, 300_000);
