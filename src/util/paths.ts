// Where things live: the project checkout (suites/, images/) and the user's cache.
import { homedir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

// src/util/paths.ts and dist/util/paths.js are both two levels below the project root
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function projectPath(...parts: string[]): string {
  return join(ROOT, ...parts);
}

/** ${XDG_CACHE_HOME:-~/.cache}/hotunplug-ci */
export function cacheRoot(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'hotunplug-ci');
}
