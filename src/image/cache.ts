// The image cache: ${XDG_CACHE_HOME:-~/.cache}/hotunplug-ci/images/<name>-<hash12>/, keyed by a hash
// of everything that goes into the image. Builds go through build-lock.ts buildAtomically, so a
// failed or killed build never leaves a half image behind.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheRoot } from '../util/paths.js';
import { removeDeadTemps } from './build-lock.js';

/** ${XDG_CACHE_HOME:-~/.cache}/hotunplug-ci (util/paths cacheRoot). */
export function cacheDir(): string {
  return cacheRoot();
}

export function imagesCacheDir(): string {
  return join(cacheDir(), 'images');
}

/** sha256 over a canonical JSON rendering (sorted keys), so key order never changes the hash. */
export function hashInputs(inputs: unknown): string {
  return createHash('sha256').update(canonicalJson(inputs)).digest('hex');
}

export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

export function imageDirFor(name: string, inputsHash: string, root: string = imagesCacheDir()): string {
  return join(root, `${name}-${inputsHash.slice(0, 12)}`);
}

/** Removes temp dirs and locks left by builds whose process is gone (killed, crashed, power loss). */
export async function cleanDeadBuilds(root: string = imagesCacheDir()): Promise<string[]> {
  return removeDeadTemps(root);
}

/**
 * Keeps the `keep` newest finished builds of one image name and deletes older ones (inputs change
 * whenever the agent, init or userland changes, so old entries would pile up). The build just made
 * is never deleted; a QEMU already running from an old entry has read its kernel and initrd.
 */
export async function pruneOldBuilds(name: string, keepDir: string, keep = 3, root: string = imagesCacheDir()): Promise<string[]> {
  if (!existsSync(root)) return [];
  const re = new RegExp(`^${name.replace(/[.+]/g, '\\$&')}-[0-9a-f]{12}$`);
  const entries = (await readdir(root)).filter((e) => re.test(e)).map((e) => join(root, e));
  const withTimes = await Promise.all(entries.map(async (p) => ({ p, t: (await stat(p)).mtimeMs })));
  const old = withTimes
    .filter((e) => e.p !== keepDir)
    .sort((a, b) => b.t - a.t)
    .slice(Math.max(0, keep - 1))
    .map((e) => e.p);
  for (const p of old) await rm(p, { recursive: true, force: true });
  return old.sort();
}
