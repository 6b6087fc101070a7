// The image layer's manifests, one module for both: manifest.json in every cached image dir (what
// the image is and how it was made) and kernel.json in every kernel build result. The zod schemas
// are the single source of their types; one that does not parse means a broken cache entry.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from '../zod.js';
import { InfraError } from '../errors.js';
import { GitCheckoutSchema } from './git-checkout.js';

export const MANIFEST_FILE = 'manifest.json';
export const KERNEL_MANIFEST_FILE = 'kernel.json';

const ImageManifestSchema = z.strictObject({
  schema: z.literal(1),
  name: z.string(),
  kind: z.enum(['debian', 'source', 'user']),
  kernelRelease: z.string(),
  /** uname -v of the kernel, e.g. "#1 SMP PREEMPT_DYNAMIC Debian 6.12.117-1~deb12u1 (2026-11-14)". */
  kernelVersion: z.string(),
  /** Debian packages that went in, name → exact version (kernel, busybox-static, dropbear-bin, iproute2). */
  packages: z.record(z.string(), z.string()),
  /** a --kernel-src tree that is a git work tree: what it was checked out from (null otherwise) */
  git: GitCheckoutSchema.nullable().default(null),
  inputsHash: z.string().regex(/^[0-9a-f]{64}$/),
  /** File names inside the image dir. */
  files: z.strictObject({
    kernel: z.string(),
    initrd: z.string(),
    config: z.string().nullable(),
    buildLog: z.string(),
  }),
  modules: z.strictObject({ shipped: z.array(z.string()), builtin: z.array(z.string()) }),
  agent: z.strictObject({ sha256: z.string() }).nullable(),
  append: z.array(z.string()),
  builtAt: z.string(),
  sizes: z.strictObject({ kernel: z.number().int(), initrd: z.number().int() }),
  buildSeconds: z.number(),
  /** a kernel built from source for this image: taken from the kernel cache, or compiled (how many objects, how long) */
  kernelBuild: z.strictObject({ cached: z.boolean(), objects: z.number().int().nullable(), seconds: z.number() }).optional(),
});
export type ImageManifest = z.infer<typeof ImageManifestSchema>;

export async function readManifest(dir: string): Promise<ImageManifest> {
  const file = join(dir, MANIFEST_FILE);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new InfraError(`${file}: cannot read image manifest: ${(e as Error).message}; rebuild with --force`);
  }
  const parsed = ImageManifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InfraError(`${file}: ${issue.path.join('.') || '(root)'}: ${issue.message}; rebuild with --force`);
  }
  return parsed.data;
}

/** A kernel build's result (kernel/<key>/kernel.json). */
const KernelManifestSchema = z.strictObject({
  key: z.string(),
  kernelRelease: z.string(),
  kernelVersion: z.string(),
  sourceId: z.string(),
  fragments: z.array(z.string()),
  compiler: z.string(),
  /** `<set>/<name>.ko` under the modules dir's extra/ */
  extraModules: z.array(z.string()),
  droppedOptions: z.array(z.string()),
  buildSeconds: z.number(),
  /** objects make compiled for this result (an incremental build: only what changed) */
  objects: z.number().int().optional(),
  builtAt: z.string(),
});
export type KernelManifest = z.infer<typeof KernelManifestSchema>;

/** kernel.json of a build result dir; null when absent or unreadable (the build is redone). */
export async function readKernelManifest(dir: string): Promise<KernelManifest | null> {
  const parsed = KernelManifestSchema.safeParse(JSON.parse(await readFile(join(dir, KERNEL_MANIFEST_FILE), 'utf8').catch(() => 'null')));
  return parsed.success ? parsed.data : null;
}

/** Either manifest, written as the readers expect it. */
export async function writeManifest(file: string, manifest: ImageManifest | KernelManifest): Promise<void> {
  await writeFile(file, `${JSON.stringify(manifest, null, 2)}\n`);
}
