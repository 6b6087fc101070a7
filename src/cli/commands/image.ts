// `hotunplug-ci image build|list`. Build dispatches on the image kind inside src/image/resolve.ts;
// this file only turns names/flags into image definitions and shows progress.
import { UsageError } from '../../errors.js';
import {
  cachedDirsOf,
  DEFAULT_IMAGE,
  getImageDef,
  type ImageArtifacts,
  type ImageDef,
  imageInputs,
  listImages,
  readManifest,
  resolveImageDef,
} from '../../image/index.js';
import { kernelSrcDef } from '../kernel-src.js';
import { progressReporter } from '../progress.js';

export interface ImageBuildOptions {
  kernelSrc?: string;
  fragment?: string[];
  name?: string;
  recipe?: string;
  force?: boolean;
}

export interface ImageListOptions {
  json?: boolean;
}

export async function imageBuild(names: string[], opts: ImageBuildOptions): Promise<number> {
  let defs: ImageDef[];
  if (opts.kernelSrc) {
    if (names.length) throw new UsageError('--kernel-src builds one image of its own; drop the image names (use --name)');
    defs = [kernelSrcDef({ ...opts, kernelSrc: opts.kernelSrc })];
  } else {
    if (opts.fragment?.length || opts.name || opts.recipe) throw new UsageError('--fragment, --name and --recipe go with --kernel-src');
    defs = (names.length ? names : [DEFAULT_IMAGE]).map(getImageDef);
  }
  for (const def of defs) {
    const p = progressReporter();
    const started = Date.now();
    let art: ImageArtifacts;
    try {
      art = await resolveImageDef(def, { force: Boolean(opts.force), onProgress: (s) => p.update(`${def.name}: ${s}`) });
    } catch (e) {
      p.fail(`${def.name}: image build failed`);
      throw e;
    }
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    const fresh = art.manifest.inputsHash && Date.parse(art.manifest.builtAt) >= started;
    p.done(`${def.name}: ${fresh ? `built in ${secs}s` : 'cached'} — kernel ${art.kernelRelease}, initrd ${mib(art.manifest.sizes.initrd)}, ${art.dir}`);
  }
  return 0;
}

export interface ImageListRow {
  name: string;
  kind: ImageDef['kind'];
  /** yes: built for the current inputs; stale: only an older build exists; no: never built. */
  cached: 'yes' | 'stale' | 'no';
  dir: string | null;
  kernelRelease: string | null;
  sizeBytes: number | null;
  description: string;
}

export async function imageListRows(): Promise<ImageListRow[]> {
  const rows: ImageListRow[] = [];
  for (const def of listImages()) {
    const inputs = await imageInputs(def);
    const dirs = cachedDirsOf(def.name);
    const dir = dirs.includes(inputs.dir) ? inputs.dir : (dirs[0] ?? null);
    const m = dir ? await readManifest(dir).catch(() => null) : null;
    rows.push({
      name: def.name,
      kind: def.kind,
      cached: dir === inputs.dir && m ? 'yes' : m ? 'stale' : 'no',
      dir: m ? dir : null,
      kernelRelease: m?.kernelRelease ?? null,
      sizeBytes: m ? m.sizes.kernel + m.sizes.initrd : null,
      description: def.description,
    });
  }
  return rows;
}

export async function imageList(opts: ImageListOptions): Promise<number> {
  const rows = await imageListRows();
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ images: rows }, null, 2)}\n`);
    return 0;
  }
  const table = [
    ['NAME', 'KIND', 'CACHED', 'SIZE', 'KERNEL'],
    ...rows.map((r) => [r.name, r.kind, r.cached, r.sizeBytes === null ? '-' : mib(r.sizeBytes), r.kernelRelease ?? '-']),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const row of table)
    process.stdout.write(
      `${row
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd()}\n`,
    );
  return 0;
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
