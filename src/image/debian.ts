// Kernels from Debian binary packages: apt-get download into the cache (kept, so rebuilds are
// offline), dpkg-deb -x into the build dir, depmod (Debian ships no modules.dep: postinst makes it).
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { InfraError } from '../errors.js';
import { installedVersions } from '../util/host-packages.js';
import { keptWhileSame } from '../util/kept-while-same.js';
import { cacheDir } from './cache.js';
import type { DebianImageDef } from './catalog.js';
import { run, type BuildLog } from './exec.js';

/** dpkg's database of installed packages */
const DPKG_STATUS = '/var/lib/dpkg/status';

function debsDir(): string {
  return join(cacheDir(), 'debs');
}

/** Installed versions of host packages (busybox-static, dropbear-bin), asked of dpkg at once; a missing one throws with the install line. */
export async function hostPackageVersions(pkgs: readonly string[]): Promise<Record<string, string>> {
  // dpkg's database changes whenever a package does: while it is the same file, so are the answers
  return keptWhileSame('host-packages', DPKG_STATUS, pkgs.join(' '), () => askDpkg(pkgs));
}

async function askDpkg(pkgs: readonly string[]): Promise<Record<string, string>> {
  const versions = await installedVersions(pkgs);
  const missing = pkgs.filter((p) => versions[p] === undefined);
  if (missing.length > 0) {
    throw new InfraError(`Debian package${missing.length > 1 ? 's' : ''} ${missing.join(', ')} missing; install with: apt-get install -y ${missing.join(' ')}`);
  }
  return Object.fromEntries(pkgs.map((p) => [p, versions[p]!]));
}

/** apt-get download of one exact version, cached in `dir` (debs/ by default); returns the .deb path. */
export async function fetchDeb(pkg: string, version: string, log: BuildLog, dir: string = debsDir()): Promise<string> {
  await mkdir(dir, { recursive: true });
  // apt names files <pkg>_<version with ':' as %3a>_<arch>.deb
  const prefix = `${pkg}_${version.replaceAll(':', '%3a')}_`;
  const have = (await readdir(dir)).find((f) => f.startsWith(prefix) && f.endsWith('.deb'));
  if (have) {
    log(`using cached ${join(dir, have)}`);
    return join(dir, have);
  }
  const tmp = await mkdtemp(join(dir, '.download-'));
  try {
    await run('apt-get', ['download', '-q', `${pkg}=${version}`], { cwd: tmp, log }).catch((e: unknown) => {
      throw new InfraError(
        `apt-get download ${pkg}=${version} failed (is the version still in the archive? ` +
          `apt-cache policy ${pkg}; run apt-get update): ${(e as Error).message}`,
      );
    });
    const deb = (await readdir(tmp)).find((f) => f.endsWith('.deb'));
    if (!deb) throw new InfraError(`apt-get download ${pkg}=${version} produced no .deb`);
    await rename(join(tmp, deb), join(dir, deb));
    return join(dir, deb);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

export interface UnpackedKernel {
  bzImage: string;
  config: string | null;
  /** …/lib/modules/<release>, with modules.dep */
  modulesDir: string;
  kernelRelease: string;
}

/** Unpacks a linux-image .deb under `into` and generates its modules.dep. */
export async function unpackKernelDeb(deb: string, into: string, log: BuildLog): Promise<UnpackedKernel> {
  await mkdir(into, { recursive: true });
  await run('dpkg-deb', ['-x', deb, into], { log });
  const modRoot = join(into, 'lib/modules');
  const releases = existsSync(modRoot) ? await readdir(modRoot) : [];
  if (releases.length !== 1) throw new InfraError(`${deb}: expected one lib/modules/<release>, found ${releases.join(', ') || 'none'}`);
  const kernelRelease = releases[0]!;
  const bzImage = join(into, 'boot', `vmlinuz-${kernelRelease}`);
  if (!existsSync(bzImage)) throw new InfraError(`${deb}: no boot/vmlinuz-${kernelRelease}`);
  const config = join(into, 'boot', `config-${kernelRelease}`);
  await run('depmod', ['-b', into, kernelRelease], { log });
  return { bzImage, config: existsSync(config) ? config : null, modulesDir: join(modRoot, kernelRelease), kernelRelease };
}

/** Fetches and unpacks the kernel of a Debian image into workDir; copies bzImage/config into outDir. */
export async function prepareDebianKernel(
  def: DebianImageDef,
  workDir: string,
  outDir: string,
  log: BuildLog,
  progress: (step: string) => void,
): Promise<UnpackedKernel & { packageVersion: string }> {
  progress(`downloading ${def.kernel.package} ${def.kernel.version}`);
  const deb = await fetchDeb(def.kernel.package, def.kernel.version, log);
  progress(`unpacking ${def.kernel.package}`);
  const k = await unpackKernelDeb(deb, workDir, log);
  await copyFile(k.bzImage, join(outDir, 'bzImage'));
  if (k.config) await copyFile(k.config, join(outDir, 'config'));
  return { ...k, packageVersion: def.kernel.version };
}
