// manifest.json in every cached image dir: what the image is and how it was made. The zod schema is
// the single source of the type; a manifest that does not parse means a broken cache entry.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { InfraError } from '../errors.js';

export const MANIFEST_FILE = 'manifest.json';

const ImageManifestSchema = z.strictObject({
  schema: z.literal(1),
  name: z.string(),
  kind: z.enum(['debian', 'source', 'user']),
  kernelRelease: z.string(),
  /** uname -v of the kernel, e.g. "#1 SMP PREEMPT_DYNAMIC Debian 6.12.117-1~deb12u1 (2026-11-14)". */
  kernelVersion: z.string(),
  /** Debian packages that went in, name → exact version (kernel, busybox-static, dropbear-bin). */
  packages: z.record(z.string(), z.string()),
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
