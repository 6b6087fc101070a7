// Image name (or a user's kernel) → cached artifacts on disk, building them on demand.
// Dispatch on the image kind: Debian packages here; kernels from source via kernel-build.ts.
import { createHash } from 'node:crypto';
import { closeSync, createWriteStream, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { copyFile, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve as resolvePath } from 'node:path';
import { ConfigError, InfraError, UsageError, errorMessage } from '../errors.js';
import { writeFileAtomic } from '../util/files.js';
import { hashInputs, imageDirFor, imagesCacheDir, pruneOldBuilds } from './cache.js';
import { buildAtomically } from './build-lock.js';
import { DEFAULT_IMAGE, IMAGES_DIR, USER_KERNEL_MODULES_FROM, findImage, listImages, type ImageDef, type SourceImageDef } from './catalog.js';
import { hostPackageVersions, prepareDebianKernel } from './debian.js';
import { INITRAMFS_FORMAT, INIT_SCRIPT, assembleInitramfs, locateAgent } from './initramfs.js';
import { extractIkconfig, readKernelIdentity } from './bzimage-info.js';
import { MANIFEST_FILE, readManifest, type ImageManifest } from './manifest.js';
import { compilerIdentity, type BuildLog } from './exec.js';
import { readGitCheckout, type GitCheckout } from './git-checkout.js';
import { buildKernel } from './kernel-build.js';
import { formatProgress } from './kernel-progress.js';
import { treeFingerprint } from './kernel-source.js';

export interface ImageArtifacts {
  name: string;
  kernel: string;
  initrd: string;
  config: string | null;
  kernelRelease: string;
  kernelVersion: string;
  dir: string;
  manifest: ImageManifest;
  /** Extra kernel command-line words the image asks for (from its catalog entry). */
  append: string[];
}

type ProgressFn = (step: string) => void;

export interface ResolveOptions {
  /** Build when not cached (default true); false → error telling how to build. */
  build?: boolean;
  /** Rebuild even if cached. */
  force?: boolean;
  onProgress?: ProgressFn;
}

const USERLAND_PACKAGES = ['busybox-static', 'dropbear-bin', 'iproute2'] as const;

export function knownImagesLine(): string {
  return listImages()
    .map((d) => d.name)
    .join(', ');
}

export function getImageDef(name: string): ImageDef {
  const def = findImage(name);
  if (!def) throw new UsageError(`unknown image "${name}"; known images: ${knownImagesLine()} (catalog: ${IMAGES_DIR})`);
  return def;
}

/** What a cached image is keyed by; also what `image list` compares against. */
export interface ImageInputs {
  hash: string;
  dir: string;
  packages: Record<string, string>;
  agent: { path: string; sha256: string } | null;
}

/** sha256File's read buffer: one for all (each a MiB of its own was ~17 MiB of buffers at every start). */
let hashBuf: Buffer | undefined;

/** A file's sha256, read synchronously in 1 MiB pieces: a stream's 64 KiB reads are a thread-pool trip each. */
function sha256File(path: string): string {
  const h = createHash('sha256');
  const buf = (hashBuf ??= Buffer.allocUnsafe(1 << 20));
  const fd = openSync(path, 'r');
  try {
    for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf)) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

async function commonInputs(log: BuildLog): Promise<{ packages: Record<string, string>; agent: NonNullable<ImageInputs['agent']>; parts: object }> {
  const packages = await hostPackageVersions(USERLAND_PACKAGES);
  const agentPath = await locateAgent(log);
  const agent = { path: agentPath, sha256: sha256File(agentPath) };
  const parts = {
    format: INITRAMFS_FORMAT,
    init: sha256File(INIT_SCRIPT),
    userland: packages,
    agent: agent.sha256,
  };
  return { packages, agent, parts };
}

export async function imageInputs(def: ImageDef, log: BuildLog = () => {}): Promise<ImageInputs> {
  const common = await commonInputs(log);
  const packages = { ...common.packages };
  let kernelPart: object;
  if (def.kind === 'debian') {
    packages[def.kernel.package] = def.kernel.version;
    kernelPart = {};
  } else {
    // The kernel build caches itself; the image must change when any fragment's text changes.
    const fragments: Record<string, string> = {};
    for (const f of def.fragments) {
      const path = resolvePath(IMAGES_DIR, f);
      if (!existsSync(path)) throw new ConfigError(join(IMAGES_DIR, `${def.name}.json`), 'fragments', `no such file ${path}`);
      fragments[f] = sha256File(path);
    }
    // Out-of-tree module sources and the compiler also change the kernel build's output.
    const extra: Record<string, string> = {};
    for (const d of def.extraModules) {
      const dir = resolvePath(IMAGES_DIR, d);
      if (!existsSync(dir)) throw new ConfigError(join(IMAGES_DIR, `${def.name}.json`), 'extraModules', `no such directory ${dir}`);
      for (const f of readdirSync(dir, { recursive: true }).map(String).sort()) {
        const path = join(dir, f);
        if (!f.startsWith('build') && statSync(path).isFile()) extra[join(d, f)] = sha256File(path);
      }
    }
    const compiler = await compilerIdentity().catch(() => 'no gcc');
    // a user's tree can change under the same path: its contents are an input
    const tree = 'dir' in def.source ? await treeFingerprint(resolvePath(def.source.dir)) : undefined;
    kernelPart = { fragments, extra, compiler, ...(tree ? { tree } : {}) };
  }
  // a progress hint, not an input: changing it rebuilds nothing
  const { expectedObjects: _hint, ...identity } = def as SourceImageDef;
  const hash = hashInputs({ ...common.parts, def: identity, kernel: kernelPart });
  return { hash, dir: imageDirFor(def.name, hash), packages, agent: common.agent };
}

/** The cached image if present (not validated beyond its manifest), else null. */
async function cachedImage(dir: string): Promise<ImageArtifacts | null> {
  if (!existsSync(join(dir, MANIFEST_FILE))) return null;
  return artifactsFromDir(dir);
}

export async function artifactsFromDir(dir: string): Promise<ImageArtifacts> {
  const m = await readManifest(dir);
  const kernel = join(dir, m.files.kernel);
  const initrd = join(dir, m.files.initrd);
  for (const f of [kernel, initrd]) {
    if (!existsSync(f)) throw new InfraError(`cached image ${m.name} is missing ${f}; rebuild it with: hotunplug-ci image build --force ${m.name}`);
  }
  return {
    name: m.name,
    kernel,
    initrd,
    config: m.files.config ? join(dir, m.files.config) : null,
    kernelRelease: m.kernelRelease,
    kernelVersion: m.kernelVersion,
    dir,
    manifest: m,
    append: m.append,
  };
}

export async function resolveImage(name: string = DEFAULT_IMAGE, opts: ResolveOptions = {}): Promise<ImageArtifacts> {
  return resolveImageDef(getImageDef(name), opts);
}

/** Resolve (building if needed) an image definition, from the catalog or made up (--kernel-src). */
export async function resolveImageDef(def: ImageDef, opts: ResolveOptions = {}): Promise<ImageArtifacts> {
  const progress = opts.onProgress ?? (() => {});
  progress('checking inputs (guest agent, host packages)');
  const inputs = await imageInputs(def);
  // a user's own tree is keyed by its contents (imageInputs): an edit misses the cache
  if (!opts.force) {
    const cached = await cachedImage(inputs.dir);
    if (cached) return cached;
  }
  if (opts.build === false) {
    throw new InfraError(`image ${def.name} is not built (${inputs.dir}); build it with: hotunplug-ci image build ${def.name}`);
  }
  await buildImage(def, inputs, progress);
  return artifactsFromDir(inputs.dir);
}

/** The kernel-side half of a build: puts bzImage (+ config) into outDir, returns where the modules are. */
interface KernelForImage {
  modulesDir: string;
  kernelRelease: string;
  hasConfig: boolean;
  packages: Record<string, string>;
  git?: GitCheckout | null;
  kernelBuild?: ImageManifest['kernelBuild'];
  cleanup?: () => Promise<void>;
}

async function buildImage(def: ImageDef, inputs: ImageInputs, progress: ProgressFn): Promise<void> {
  await runBuild(def.name, inputs, def.kind, def.append, def.modules, progress, async (tmp, log) => {
    if (def.kind === 'debian') {
      const work = join(tmp, 'work');
      const k = await prepareDebianKernel(def, work, tmp, log, progress);
      return {
        modulesDir: k.modulesDir,
        kernelRelease: k.kernelRelease,
        hasConfig: k.config !== null,
        packages: { [def.kernel.package]: k.packageVersion },
        cleanup: () => rm(work, { recursive: true, force: true }),
      };
    }
    return buildSourceKernel(def, tmp, log, progress);
  });
}

/** Kernels built from source: src/image/kernel-build.ts (kernel helper) does the build and caches it. */
async function buildSourceKernel(def: SourceImageDef, outDir: string, log: BuildLog, progress: ProgressFn): Promise<KernelForImage> {
  const k = await buildKernel({
    ...('package' in def.source
      ? { sourcePackage: def.source.package, ...(def.source.version ? { sourceVersion: def.source.version } : {}) }
      : { srcDir: def.source.dir }),
    fragments: def.fragments.map((f) => resolvePath(IMAGES_DIR, f)),
    extraModules: def.extraModules.map((d) => resolvePath(IMAGES_DIR, d)),
    ...(def.expectedObjects ? { expectedObjects: def.expectedObjects } : {}),
    onProgress: (p) => progress(formatProgress(p)),
  });
  // the kernel build keeps its own (long) log; point at it rather than copying it here
  log(`kernel ${k.cached ? 'cached' : 'built'}: ${k.bzImage} (key ${k.key}, kernel build log ${k.buildLog})`);
  progress(k.cached ? 'kernel cached' : `kernel ${'dir' in def.source ? 'rebuilt' : 'built'} (${k.objects ?? '?'} objects compiled)`);
  await copyFile(k.bzImage, join(outDir, 'bzImage'));
  await copyFile(k.config, join(outDir, 'config'));
  const packages: Record<string, string> = {};
  if ('package' in def.source) packages[def.source.package] = def.source.version ?? k.sourceId;
  const git = 'dir' in def.source ? await readGitCheckout(def.source.dir) : null;
  const kernelBuild = k.cached ? { cached: true, objects: 0, seconds: 0 } : { cached: false, objects: k.objects ?? null, seconds: k.buildSeconds };
  return { modulesDir: k.modulesDir, kernelRelease: k.kernelRelease, hasConfig: true, packages, git, kernelBuild };
}

/** The shared part of every build: atomic dir, build log, initramfs, manifest. */
async function runBuild(
  name: string,
  inputs: ImageInputs,
  kind: ImageManifest['kind'],
  append: string[],
  modules: readonly string[] | 'all',
  progress: ProgressFn,
  kernelStep: (tmp: string, log: BuildLog) => Promise<KernelForImage>,
  assembleOpts: { missingModulesOk?: boolean } = {},
): Promise<void> {
  const started = Date.now();
  const failedLog = `${inputs.dir}.failed.log`;
  await buildAtomically(
    inputs.dir,
    async (tmp) => {
      const logFile = join(tmp, 'build.log');
      // A kernel build logs tens of thousands of lines: one stream, not a write per line.
      const stream = createWriteStream(logFile);
      stream.on('error', () => {});
      let closed = false;
      const log: BuildLog = (line) => void (closed || stream.write(`${line}\n`));
      const closeLog = (): Promise<void> => {
        if (closed) return Promise.resolve();
        closed = true;
        return new Promise((r) => stream.end(r));
      };
      try {
        log(`build of ${name} started ${new Date(started).toISOString()} (inputs ${inputs.hash})`);
        const k = await kernelStep(tmp, log);
        const id = await readKernelIdentity(join(tmp, 'bzImage'));
        if (id.release !== k.kernelRelease) {
          throw new InfraError(`${name}: bzImage says release ${id.release} but modules are for ${k.kernelRelease}`);
        }
        progress('assembling initramfs');
        const info = await assembleInitramfs({
          kernelRelease: k.kernelRelease,
          modulesDir: k.modulesDir,
          modules,
          outFile: join(tmp, 'initrd.gz'),
          agent: inputs.agent?.path ?? null,
          missingModulesOk: assembleOpts.missingModulesOk ?? false,
          log,
        });
        await k.cleanup?.();
        const manifest: ImageManifest = {
          schema: 1,
          name,
          kind,
          kernelRelease: k.kernelRelease,
          kernelVersion: id.version,
          packages: { ...inputs.packages, ...k.packages },
          git: k.git ?? null,
          inputsHash: inputs.hash,
          files: { kernel: 'bzImage', initrd: 'initrd.gz', config: k.hasConfig ? 'config' : null, buildLog: 'build.log' },
          modules: { shipped: info.modules, builtin: info.builtinModules },
          agent: inputs.agent ? { sha256: inputs.agent.sha256 } : null,
          append,
          builtAt: new Date().toISOString(),
          sizes: { kernel: (await stat(join(tmp, 'bzImage'))).size, initrd: info.bytes },
          buildSeconds: Math.round((Date.now() - started) / 100) / 10,
          ...(k.kernelBuild ? { kernelBuild: k.kernelBuild } : {}),
        };
        log(`done in ${manifest.buildSeconds}s`);
        await closeLog();
        await writeFileAtomic(join(tmp, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
        await rm(failedLog, { force: true });
      } catch (e) {
        log(`FAILED: ${errorMessage(e)}`);
        await closeLog();
        await copyFile(logFile, failedLog).catch(() => {});
        if (e instanceof InfraError && e.constructor === InfraError) {
          throw new InfraError(`${e.message} (build log: ${failedLog})`, e.transcript, { cause: e });
        }
        throw e;
      }
    },
    { onWait: (pid) => progress(`waiting for pid ${pid}, which is building ${name}`) },
  );
  await pruneOldBuilds(name, inputs.dir).catch(() => []);
}

export interface UserKernelOptions {
  kernel: string;
  modules: string;
  build?: boolean;
  force?: boolean;
  onProgress?: ProgressFn;
}

/**
 * `--kernel BZIMAGE --modules DIR`: an initramfs around someone else's kernel, cached like an image.
 * Its config comes from modulesDir/build/.config, the tree around the bzImage, or IKCONFIG; else null.
 */
export async function resolveUserKernel(opts: UserKernelOptions): Promise<ImageArtifacts> {
  const kernel = resolvePath(opts.kernel);
  const modulesDir = resolvePath(opts.modules);
  if (!existsSync(kernel)) throw new UsageError(`--kernel ${opts.kernel}: no such file`);
  if (!existsSync(modulesDir)) throw new UsageError(`--modules ${opts.modules}: no such directory`);
  const id = await readKernelIdentity(kernel);
  if (basename(modulesDir) !== id.release) {
    throw new UsageError(
      `--modules ${opts.modules} is not lib/modules/${id.release} (the release of --kernel ${opts.kernel}); pass the lib/modules/<release> directory`,
    );
  }
  const depFile = join(modulesDir, 'modules.dep');
  if (!existsSync(depFile)) throw new UsageError(`--modules ${opts.modules}: no modules.dep; run depmod -b <base> ${id.release}`);
  const configFile = findUserKernelConfig(kernel, modulesDir);
  const ikconfig = configFile ? null : await extractIkconfig(kernel).catch(() => null);
  const modules = getImageDef(USER_KERNEL_MODULES_FROM).modules;
  const common = await commonInputs(() => {});
  const hash = hashInputs({
    ...common.parts,
    user: { kernel: sha256File(kernel), modulesDep: sha256File(depFile), config: configFile ? sha256File(configFile) : null, modules },
  });
  const name = `user-${id.release.replace(/[^a-z0-9.-]/gi, '-').toLowerCase()}`;
  const inputs: ImageInputs = { hash, dir: imageDirFor(name, hash), packages: common.packages, agent: common.agent };
  if (!opts.force) {
    const cached = await cachedImage(inputs.dir);
    if (cached) return cached;
  }
  if (opts.build === false) throw new InfraError(`no cached image for --kernel ${opts.kernel}`);
  const progress = opts.onProgress ?? (() => {});
  await runBuild(
    name,
    inputs,
    'user',
    [],
    modules,
    progress,
    async (tmp) => {
      await copyFile(kernel, join(tmp, 'bzImage'));
      if (configFile) await copyFile(configFile, join(tmp, 'config'));
      else if (ikconfig !== null) await writeFile(join(tmp, 'config'), ikconfig);
      return { modulesDir, kernelRelease: id.release, hasConfig: configFile !== null || ikconfig !== null, packages: {} };
    },
    // Someone else's config may build some of our modules in, or leave them out; ship what exists.
    { missingModulesOk: true },
  );
  return artifactsFromDir(inputs.dir);
}

/** modulesDir/build/.config (make modules_install links the tree), or the tree around arch/x86/boot/bzImage. */
export function findUserKernelConfig(kernel: string, modulesDir: string): string | null {
  const candidates = [join(modulesDir, 'build/.config'), join(dirname(kernel), '../../../.config'), join(dirname(kernel), '.config')];
  return candidates.find((c) => existsSync(c)) ?? null;
}

/** Cached image dirs of one image name (any inputs hash), newest first, for `image list`. */
export function cachedDirsOf(name: string): string[] {
  const root = imagesCacheDir();
  if (!existsSync(root)) return [];
  const re = new RegExp(`^${name.replace(/[.]/g, '\\.')}-[0-9a-f]{12}$`);
  return readdirSync(root)
    .filter((e) => re.test(e) && existsSync(join(root, e, MANIFEST_FILE)))
    .map((e) => join(root, e))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
}
