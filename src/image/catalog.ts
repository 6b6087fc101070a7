// The image catalog: images/<name>.json, one file per image, validated strictly. An image says
// *what* the guest is (which kernel, which modules); how it boots belongs to the vm layer.
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { z } from '../zod.js';
import { ConfigError } from '../errors.js';
import { projectPath } from '../util/paths.js';

export const IMAGES_DIR = projectPath('images');
/** The image `run`, `boot` and `image build` use when none is named: the KASAN kernel we build. */
export const DEFAULT_IMAGE = 'kasan-6.12';
/** Whose module list a user's kernel (--kernel/--modules) gets in its initramfs. */
export const USER_KERNEL_MODULES_FROM = 'debian-6.12';

const NAME = /^[a-z0-9][a-z0-9.-]*$/;
const ModuleList = z.array(z.string().regex(/^[A-Za-z0-9_-]+$/, 'a module name like i2c-dev'));

const Common = {
  name: z.string().regex(NAME, 'lower-case letters, digits, dots and dashes'),
  description: z.string().min(1),
  /** Module names to ship in the initramfs (dependencies are added), or every module. */
  modules: z.union([ModuleList, z.literal('all')]),
  /** Extra kernel command-line words this image needs (the vm layer adds console, ssh key…). */
  append: z.array(z.string()).default([]),
};

/** A kernel from a Debian binary package, fetched with apt-get download. */
const DebianImageSchema = z.strictObject({
  $comment: z.string().optional(),
  ...Common,
  kind: z.literal('debian'),
  kernel: z.strictObject({
    /** e.g. linux-image-6.12.117+deb12-amd64-unsigned */
    package: z.string().regex(/^linux-image-[a-z0-9.+~-]+$/, 'a linux-image-* package name'),
    /** Exact Debian version (apt-cache policy), pinned so an image means one kernel. */
    version: z.string().min(1),
  }),
});

/** A kernel built from source by src/image/kernel-build.ts (kernel helper), e.g. kasan-6.12. */
const SourceImageSchema = z.strictObject({
  $comment: z.string().optional(),
  ...Common,
  kind: z.literal('source'),
  /** Where the tree comes from: a Debian source package (linux-source-6.12) or a directory. */
  source: z.union([z.strictObject({ package: z.string().min(1), version: z.string().min(1).optional() }), z.strictObject({ dir: z.string().min(1) })]),
  /** Config fragments, relative to images/ (e.g. kernel/base.config). */
  fragments: z.array(z.string().min(1)),
  /** Out-of-tree module sets built with the kernel, directories under images/ ("canary"). */
  extraModules: z.array(z.string().min(1)).default([]),
  /** Objects a full build of this kernel compiles (measured): the total a cold build's progress shows. */
  expectedObjects: z.number().int().positive().optional(),
});

const ImageDefSchema = z.discriminatedUnion('kind', [DebianImageSchema, SourceImageSchema]);
export type ImageDef = z.infer<typeof ImageDefSchema>;
export type DebianImageDef = z.infer<typeof DebianImageSchema>;
export type SourceImageDef = z.infer<typeof SourceImageSchema>;

/** Parses one catalog file; errors name the file and the JSON path. */
export function parseImageDef(file: string, text: string): ImageDef {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(file, '', `not valid JSON: ${(e as Error).message}`);
  }
  const parsed = ImageDefSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.length ? issue.path.map(String).join('.') : '(root)';
    const extra = parsed.error.issues.length > 1 ? ` (and ${parsed.error.issues.length - 1} more)` : '';
    throw new ConfigError(file, path, `${describeIssue(issue)}${extra}`);
  }
  const expected = basename(file).replace(/\.json$/, '');
  if (parsed.data.name !== expected) {
    throw new ConfigError(file, 'name', `"${parsed.data.name}" does not match the file name (expected "${expected}")`);
  }
  return parsed.data;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  return issue.message;
}

/** Every image in images/*.json (sorted by name). Throws on the first invalid file. */
export function listImages(dir: string = IMAGES_DIR): ImageDef[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => parseImageDef(join(dir, f), readFileSync(join(dir, f), 'utf8')))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function findImage(name: string, dir: string = IMAGES_DIR): ImageDef | undefined {
  return listImages(dir).find((d) => d.name === name);
}
