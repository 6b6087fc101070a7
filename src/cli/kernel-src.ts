// `--kernel-src DIR [--recipe IMAGE|FILE] [--fragment F…] [--name N]`: a user's kernel tree built the
// way one of our source images is built (its fragments, out-of-tree modules and command line).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { UsageError } from '../errors.js';
import { DEFAULT_IMAGE, findImage, listImages, parseImageDef, type SourceImageDef } from '../image/index.js';

export interface KernelSrcOptions {
  kernelSrc: string;
  fragment?: string[];
  name?: string;
  /** a catalog source image, or an image file in the catalog's format (its relative paths are its own dir's) */
  recipe?: string;
}

/** What `--kernel-src` builds: the recipe's fragments and modules, the user's fragments after them (absolute paths). */
export function kernelSrcDef(opts: KernelSrcOptions): SourceImageDef {
  const dir = resolvePath(opts.kernelSrc);
  if (!existsSync(dir)) throw new UsageError(`--kernel-src ${opts.kernelSrc}: no such directory`);
  for (const f of opts.fragment ?? []) if (!existsSync(f)) throw new UsageError(`--fragment ${f}: no such file`);
  const name = opts.name ?? 'custom';
  if (!/^[a-z0-9][a-z0-9.-]*$/.test(name)) throw new UsageError(`--name ${name}: use lower-case letters, digits, dots and dashes`);
  const base = recipeOf(opts.recipe ?? DEFAULT_IMAGE);
  return {
    name,
    kind: 'source',
    description: `kernel tree ${dir} (recipe ${base.name})`,
    source: { dir },
    fragments: [...base.fragments, ...(opts.fragment ?? []).map((f) => resolvePath(f))],
    extraModules: base.extraModules,
    modules: base.modules,
    append: base.append,
  };
}

/** A recipe's fragments and module dirs as paths the image layer resolves the same wherever the file lives. */
function recipeOf(recipe: string): SourceImageDef {
  const isFile = recipe.endsWith('.json') || recipe.includes('/');
  let def;
  if (isFile) {
    if (!existsSync(recipe)) throw new UsageError(`--recipe ${recipe}: no such file`);
    def = parseImageDef(recipe, readFileSync(recipe, 'utf8'));
  } else {
    def = findImage(recipe);
    if (!def) throw new UsageError(`--recipe ${recipe}: no such image (source images: ${sourceImageNames()})`);
  }
  if (def.kind !== 'source') throw new UsageError(`--recipe ${recipe}: a ${def.kind} image has no build recipe (source images: ${sourceImageNames()})`);
  if (!isFile) return def;
  const here = dirname(resolvePath(recipe));
  return { ...def, fragments: def.fragments.map((f) => resolvePath(here, f)), extraModules: def.extraModules.map((d) => resolvePath(here, d)) };
}

function sourceImageNames(): string {
  return listImages()
    .filter((d) => d.kind === 'source')
    .map((d) => d.name)
    .join(', ');
}
