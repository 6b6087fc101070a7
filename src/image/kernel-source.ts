// Kernel source trees: Debian's linux-source-X.Y package, downloaded with apt-get and unpacked once
// into the cache (the unpack is big and slow, so it is cached apart from any build), or a user's tree.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConfigError, InfraError } from '../errors.js';
import { runLong, type BuildLog } from './exec.js';
import { buildAtomically } from './build-lock.js';
import { fetchDeb } from './debian.js';

export interface KernelSource {
  /** Top of the kernel tree (holds Makefile, Kconfig, scripts/). */
  tree: string;
  /** Stable identity for cache keys: `linux-source-6.12=6.12.117-1~deb12u1` or `dir:/abs/path`. */
  id: string;
  /** Debian package version, or null for a user tree. */
  packageVersion: string | null;
  /** A user tree's contents now (treeFingerprint): part of the cache key, not of the object dir's name. */
  fingerprint?: string;
}

/** Version apt would install (the candidate), e.g. `6.12.117-1~deb12u1`. */
async function candidateVersion(pkg: string, log?: BuildLog): Promise<string> {
  const out = await runLong('apt-cache', ['show', '--no-all-versions', pkg], { log });
  const m = /^Version:\s*(\S+)/m.exec(out);
  if (!m) throw new InfraError(`apt-cache show ${pkg}: no Version field (is the package known to apt?)`);
  return m[1]!;
}

/** Directory-safe form of a Debian version (`~` and `:` upset make and shells). */
export function safeVersion(version: string): string {
  return version.replace(/[^A-Za-z0-9.+-]/g, '_');
}

/**
 * Ensure `${srcCache}/<pkg>_<version>/linux-source-X.Y` exists: `apt-get download` the .deb,
 * `dpkg-deb -x` it, untar /usr/src/linux-source-X.Y.tar.xz; atomically (buildAtomically), so an
 * interrupted unpack is never mistaken for a tree.
 */
export async function debianKernelSource(pkg: string, srcCache: string, log?: BuildLog, pinnedVersion?: string): Promise<KernelSource> {
  if (!/^linux-source-\d+\.\d+$/.test(pkg)) {
    throw new ConfigError('image definition', 'source.package', `expected linux-source-X.Y, got ${JSON.stringify(pkg)}`);
  }
  const version = pinnedVersion ?? (await candidateVersion(pkg, log));
  const id = `${pkg}=${version}`;
  const series = pkg.slice('linux-source-'.length);
  const finalDir = join(srcCache, `${pkg}_${safeVersion(version)}`);
  const tree = join(finalDir, pkg);
  if (existsSync(join(tree, 'Makefile'))) return { tree, id, packageVersion: version };

  await mkdir(srcCache, { recursive: true });
  const deb = await fetchDeb(pkg, version, log ?? (() => undefined), srcCache);
  // two runs starting cold unpack once: the second waits for the first's tree
  await buildAtomically(
    finalDir,
    async (tmp) => {
      await runLong('dpkg-deb', ['-x', deb, join(tmp, 'deb')], { log });
      const tarball = join(tmp, 'deb', 'usr', 'src', `linux-source-${series}.tar.xz`);
      if (!existsSync(tarball)) throw new InfraError(`${deb} holds no usr/src/linux-source-${series}.tar.xz`);
      await runLong('tar', ['-C', tmp, '-xJf', tarball], { log });
      await rm(join(tmp, 'deb'), { recursive: true, force: true });
      if (!existsSync(join(tmp, pkg, 'Makefile'))) throw new InfraError(`${tarball} did not unpack to ${pkg}/`);
    },
    { done: () => existsSync(join(tree, 'Makefile')) },
  );
  return { tree, id, packageVersion: version };
}

/** A user's kernel tree given with --kernel-src. */
export async function userKernelSource(dir: string): Promise<KernelSource> {
  const tree = resolve(dir);
  const ok = await stat(join(tree, 'Makefile')).then(
    (s) => s.isFile(),
    () => false,
  );
  if (!ok || !existsSync(join(tree, 'scripts', 'kconfig', 'merge_config.sh'))) {
    throw new ConfigError('--kernel-src', '', `${tree} is not a kernel source tree (no Makefile or scripts/kconfig/merge_config.sh)`);
  }
  return { tree, id: `dir:${tree}`, packageVersion: null, fingerprint: await treeFingerprint(tree) };
}

/**
 * A cheap identity of a user's tree's current contents, for image caches that must notice edits:
 * a git tree gives HEAD plus a hash of `git status --porcelain` and `git diff HEAD`; otherwise the
 * newest mtime and file count under the tree (object dirs inside it excluded by skipping dot-dirs).
 */
export async function treeFingerprint(tree: string): Promise<string> {
  const git = async (args: string[]): Promise<string | null> => {
    try {
      return await runLong('git', ['-C', tree, ...args]);
    } catch {
      return null;
    }
  };
  const head = await git(['rev-parse', 'HEAD']);
  if (head) {
    const dirty = `${(await git(['status', '--porcelain'])) ?? ''}\n${(await git(['diff', 'HEAD'])) ?? ''}`;
    return `git:${head.trim()}:${createHash('sha256').update(dirty).digest('hex').slice(0, 16)}`;
  }
  let newest = 0;
  let files = 0;
  for (const e of await readdir(tree, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const parent = (e as unknown as { parentPath?: string; path?: string }).parentPath ?? (e as unknown as { path: string }).path;
    if (parent.split('/').some((p) => p.startsWith('.') && p.length > 1)) continue;
    files++;
    newest = Math.max(newest, (await stat(join(parent, e.name))).mtimeMs);
  }
  return `mtime:${Math.floor(newest)}:${files}`;
}
