// Cache identity of a kernel build: everything that changes the bzImage or the shipped modules.
// Pure: callers read the files; this only hashes what it is given.
import { createHash } from 'node:crypto';

/** Bumped when the build recipe itself changes (steps, flags), so old cache entries are not reused. */
const KERNEL_RECIPE_VERSION = 1;

export interface KernelKeyInputs {
  /** `linux-source-6.12=6.12.117-1~deb12u1`, or `dir:/abs/path` for a user's tree. */
  sourceId: string;
  /** Fragments in merge order: a reorder can change the result, so order is part of the key. */
  fragments: readonly { name: string; content: string }[];
  /** `gcc --version` first line. */
  compiler: string;
  /** Out-of-tree module sources (`<set>/<file>` → content); empty when the image ships none. */
  extra: readonly { name: string; content: string }[];
}

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

export function kernelCacheKey(inputs: KernelKeyInputs): string {
  const canonical = JSON.stringify({
    recipe: KERNEL_RECIPE_VERSION,
    source: inputs.sourceId,
    fragments: inputs.fragments.map((f) => [f.name, sha(f.content)]),
    compiler: inputs.compiler.trim(),
    // a set of files: sorted so directory listing order does not matter
    extra: [...inputs.extra].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((f) => [f.name, sha(f.content)]),
  });
  return sha(canonical).slice(0, 20);
}

/**
 * Object directory name: one per (source, fragment set by name), deliberately not per fragment
 * content, so editing a fragment rebuilds incrementally instead of from scratch.
 */
export function objectDirName(sourceId: string, fragmentNames: readonly string[]): string {
  const src = sourceId.startsWith('dir:') ? `tree-${sha(sourceId).slice(0, 12)}` : sourceId.replace('=', '_').replace(/[^A-Za-z0-9.+_-]/g, '_');
  const frags = fragmentNames.map((n) => n.replace(/\.config$/, '').replace(/[^A-Za-z0-9._-]/g, '_')).join('+');
  const name = `${src}__${frags}`;
  return name.length <= 120 ? name : `${src}__${sha(frags).slice(0, 16)}`;
}
