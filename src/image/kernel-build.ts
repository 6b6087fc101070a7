// Builds a kernel from a source tree with our config fragments, plus out-of-tree module sets against it.
//
// Cache layout under cacheRoot():
//   kernel-src/<pkg>_<version>/<pkg>/   unpacked Debian source (kernel-source.ts)
//   kernel-obj/<source>__<fragments>/   make O= object dir, reused incrementally across builds
//   kernel/<key>/                       finished result: bzImage, config, modules/, build.log, kernel.json
// The result dir is assembled as kernel/<key>.tmp-<pid> and renamed at the end, so an interrupted
// or failed build never leaves something that looks usable; a failed build's log is kept as
// kernel/<key>.failed.log.
import { createWriteStream, existsSync } from 'node:fs';
import { copyFile, cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { cpus } from 'node:os';
import { ConfigError, InfraError } from '../errors.js';
import { cacheRoot } from '../util/paths.js';
import { kernelCacheKey, objectDirName } from './kernel-cache-key.js';
import { runLong, type BuildLog } from './exec.js';
import {
  describeMissing,
  kconfigSymbols,
  mergeRequests,
  parseDotConfig,
  parseFragment,
  unknownOptions,
  verifyConfig,
  type Fragment,
  type MissingOption,
} from './kernel-fragments.js';
import { isCompiledObjectLine, type KernelBuildProgress, type KernelBuildStage } from './kernel-progress.js';
import { debianKernelSource, userKernelSource, type KernelSource } from './kernel-source.js';
import { buildAtomically } from './build-lock.js';
import { KERNEL_MANIFEST_FILE, readKernelManifest, writeManifest, type KernelManifest } from './manifest.js';
import { compilerIdentity } from './exec.js';

export interface BuildKernelOptions {
  /** Debian linux-source-X.Y package, or… */
  sourcePackage?: string;
  /** Exact package version (pinned in the image definition); default: apt's candidate. */
  sourceVersion?: string;
  /** …a kernel tree of the user's own (--kernel-src), or… */
  srcDir?: string;
  /** …a tree already resolved, with the identity to cache it under (tests, callers that fetched it). */
  source?: KernelSource;
  /** Fragment files, merged in order onto allnoconfig. */
  fragments: readonly string[];
  /** Out-of-tree module sets (directories with a Kbuild), built against the tree; each set's .ko files go under modulesDir/extra/<set>/. */
  extraModules?: readonly string[];
  /**
   * Fragment options this kernel does not know at all (no Kconfig symbol anywhere): "fail" (default),
   * or "drop" them with a note (an older kernel sharing the fragments). Options that exist but whose
   * dependencies are unmet always fail.
   */
  unknownOptions?: 'fail' | 'drop';
  force?: boolean;
  jobs?: number;
  /** How long to wait for another process building in the same object dir (default 45 min). */
  lockWaitMs?: number;
  onProgress?: (p: KernelBuildProgress) => void;
  /** The object total to show when this object dir has no full build on record (a cold build). */
  expectedObjects?: number;
  /** Every command and output line (the build log is written regardless). */
  log?: BuildLog;
}

export interface KernelBuildResult {
  key: string;
  dir: string;
  bzImage: string;
  config: string;
  /** .../modules/lib/modules/<release>: ready for assembleInitramfs. */
  modulesDir: string;
  kernelRelease: string;
  kernelVersion: string;
  buildLog: string;
  /** Absolute paths of the out-of-tree .ko files (modulesDir/extra/<set>/<name>.ko). */
  extraModules: string[];
  sourceId: string;
  /** Options dropped because this kernel does not have them (unknownOptions: drop). */
  droppedOptions: string[];
  /** Wall seconds of the build that produced this result (not of a cache hit). */
  buildSeconds: number;
  /** objects make compiled when this result was built */
  objects?: number;
  cached: boolean;
}

const COMPILE_PROGRESS_EVERY_MS = 15_000;

export class FragmentUnmetError extends ConfigError {
  constructor(
    readonly missing: readonly MissingOption[],
    readonly configFile: string,
  ) {
    super(
      missing[0]?.file ?? 'fragments',
      '',
      `${missing.length} requested option(s) not in the final ${configFile} (unmet dependencies or unknown to this kernel):\n` +
        missing.map((m) => `  ${describeMissing(m)}`).join('\n'),
    );
  }
}

export async function buildKernel(opts: BuildKernelOptions): Promise<KernelBuildResult> {
  const started = Date.now();
  let stage: KernelBuildStage = 'source';
  let objects = 0;
  let expectedObjects: number | null = null;
  const progress = (s: KernelBuildStage, message?: string): void => {
    stage = s;
    opts.onProgress?.({ stage, objects, expectedObjects, elapsedMs: Date.now() - started, ...(message ? { message } : {}) });
  };

  const fragments = await readFragments(opts.fragments);
  const root = cacheRoot();
  const logLines: string[] = [];
  const earlyLog: BuildLog = (l) => {
    logLines.push(l);
    opts.log?.(l);
  };

  progress('source', opts.srcDir ? opts.srcDir : opts.sourcePackage);
  let source: KernelSource;
  if (opts.source) source = opts.source;
  else if (opts.srcDir) source = await userKernelSource(opts.srcDir);
  else if (opts.sourcePackage) source = await debianKernelSource(opts.sourcePackage, join(root, 'kernel-src'), earlyLog, opts.sourceVersion);
  else throw new ConfigError('kernel build', '', 'needs a source package or a source directory');

  const compiler = await compilerIdentity();
  const extraSets = await readModuleSets(opts.extraModules ?? []);
  // a user tree is keyed by its contents: an edit makes a new key, built incrementally in the same
  // object dir (named by path); an unchanged tree is a cache hit
  const key = kernelCacheKey({
    sourceId: source.fingerprint ? `${source.id}@${source.fingerprint}` : source.id,
    fragments: fragments.map((f) => ({ name: basename(f.path), content: f.text })),
    compiler,
    extra: extraSets.flatMap((set) => set.files.map((f) => ({ name: `${set.name}/${f.name}`, content: f.content }))),
  });
  const kernelCache = join(root, 'kernel');
  const dir = join(kernelCache, key);

  if (!opts.force) {
    const hit = await readCachedResult(dir);
    if (hit) return hit;
  }

  const objDir = join(
    root,
    'kernel-obj',
    objectDirName(
      source.id,
      fragments.map((f) => basename(f.path)),
    ),
  );
  await mkdir(objDir, { recursive: true });
  const waitMs = opts.lockWaitMs ?? 45 * 60_000;
  const failedLog = `${dir}.failed.log`;
  // One build per object dir at a time: the lock is the object dir's, shared by every key built in
  // it; a live holder (another hotunplug-ci building this kernel) is waited for, and may just have
  // produced our result.
  const built = await buildAtomically(
    dir,
    async (tmp) => {
      const logPath = join(tmp, 'build.log');
      const logStream = createWriteStream(logPath);
      for (const l of logLines) logStream.write(`${l}\n`);
      const log: BuildLog = (l) => {
        logStream.write(`${l}\n`);
        opts.log?.(l);
      };
      const closeLog = () => new Promise<void>((r) => logStream.end(r));
      try {
        const manifest = await configureAndMake(tmp, log);
        log(`kernel ${manifest.kernelRelease} built in ${manifest.buildSeconds}s (${manifest.objects} objects), key ${key}`);
        await closeLog();
        await writeManifest(join(tmp, KERNEL_MANIFEST_FILE), manifest);
      } catch (e) {
        await closeLog();
        await copyFile(logPath, failedLog).catch(() => undefined);
        if (e instanceof InfraError && !(e instanceof ConfigError)) {
          throw new InfraError(`${e.message} (full log: ${failedLog})`, e.transcript, { cause: e });
        }
        throw e;
      }
    },
    {
      lock: join(objDir, '.huci-lock'),
      waitMs,
      onWait: (holder) => progress('source', `waiting for another build of this kernel (pid ${holder})`),
      busy: (holder) => `another kernel build (pid ${holder}) is using ${objDir}; waited ${Math.round(waitMs / 1000)} s — wait for it or kill it`,
      done: () => !opts.force && existsSync(join(dir, KERNEL_MANIFEST_FILE)),
    },
  );
  const result = await readCachedResult(dir);
  if (!result) throw new InfraError(`kernel build result in ${dir} is unreadable right after building it`);
  if (!built) return result;
  await rm(failedLog, { force: true });
  progress('done');
  return { ...result, cached: false };

  async function configureAndMake(tmp: string, log: BuildLog): Promise<KernelManifest> {
    const make = (args: string[], onLine?: (l: string) => void) =>
      runLong('make', ['-C', source.tree, `O=${objDir}`, ...args], { log, ...(onLine ? { onLine } : {}) });

    // configure: allnoconfig + fragments (merge_config.sh -m) + olddefconfig, then verify.
    progress('configure');
    await make(['allnoconfig']);
    await runLong(
      'bash',
      [join(source.tree, 'scripts', 'kconfig', 'merge_config.sh'), '-m', '-O', objDir, join(objDir, '.config'), ...fragments.map((f) => f.path)],
      { cwd: source.tree, log },
    );
    await make(['olddefconfig']);
    const configPath = join(objDir, '.config');
    const droppedOptions = await verifyMerged(
      fragments.map((f) => f.parsed),
      configPath,
      source.tree,
      opts.unknownOptions ?? 'fail',
      log,
    );
    if (droppedOptions.length) progress('configure', `dropped ${droppedOptions.length} option(s) this kernel lacks`);

    // compile
    expectedObjects = (await readExpectedObjects(objDir)) ?? opts.expectedObjects ?? null;
    progress('compile');
    // Callers print some updates as plain lines (CI logs): one per 15 s keeps a 15-minute build to ~60 lines.
    let lastEmit = Date.now();
    const jobs = opts.jobs ?? cpus().length;
    await make([`-j${jobs}`, 'bzImage', 'modules'], (line) => {
      if (!isCompiledObjectLine(line)) return;
      objects++;
      const now = Date.now();
      if (now - lastEmit >= COMPILE_PROGRESS_EVERY_MS) {
        lastEmit = now;
        progress('compile');
      }
    });
    await recordObjects(objDir, objects);
    const kernelRelease = (await make(['-s', 'kernelrelease'])).trim().split('\n').at(-1)!;
    const kernelVersion = (await make(['-s', 'kernelversion'])).trim().split('\n').at(-1)!;

    // install
    progress('install');
    const modRoot = join(tmp, 'modules');
    await make([`INSTALL_MOD_PATH=${modRoot}`, 'INSTALL_MOD_STRIP=1', 'modules_install']);
    const modulesDir = join(modRoot, 'lib', 'modules', kernelRelease);
    // The build/source links point into the cache's object dir; drop them so the result stands alone.
    await rm(join(modulesDir, 'build'), { force: true });
    await rm(join(modulesDir, 'source'), { force: true });
    await copyFile(join(objDir, 'arch', 'x86', 'boot', 'bzImage'), join(tmp, 'bzImage'));
    await copyFile(configPath, join(tmp, 'config'));

    // out-of-tree module sets, built against this very tree and config
    const extraModules: string[] = [];
    for (const set of extraSets) {
      progress('extra', set.name);
      const src = join(tmp, `${set.name}-build`);
      await cp(set.dir, src, { recursive: true });
      await runLong('make', ['-C', source.tree, `O=${objDir}`, `M=${src}`, `-j${jobs}`, 'modules'], { log });
      const kos = (await readdir(src)).filter((n) => n.endsWith('.ko')).sort();
      if (!kos.length) throw new InfraError(`module set ${set.name} (${set.dir}) built no .ko file (see the build log)`);
      await mkdir(join(modulesDir, 'extra', set.name), { recursive: true });
      for (const ko of kos) {
        await copyFile(join(src, ko), join(modulesDir, 'extra', set.name, ko));
        extraModules.push(join(set.name, ko));
      }
      await rm(src, { recursive: true, force: true });
    }
    if (extraSets.length) await runLong('depmod', ['-b', modRoot, kernelRelease], { log });

    return {
      key,
      kernelRelease,
      kernelVersion,
      sourceId: source.id,
      fragments: fragments.map((f) => f.path),
      compiler,
      extraModules,
      droppedOptions,
      buildSeconds: Math.round((Date.now() - started) / 100) / 10,
      objects,
      builtAt: new Date().toISOString(),
    };
  }
}

interface LoadedFragment {
  path: string;
  text: string;
  parsed: Fragment;
}

async function readFragments(paths: readonly string[]): Promise<LoadedFragment[]> {
  if (paths.length === 0) throw new ConfigError('kernel build', 'fragments', 'at least one fragment is needed');
  const out: LoadedFragment[] = [];
  for (const p of paths) {
    const path = resolve(p);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      throw new ConfigError(p, '', `cannot read fragment: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    out.push({ path, text, parsed: parseFragment(text, p) });
  }
  return out;
}

interface ModuleSet {
  name: string;
  dir: string;
  files: { name: string; content: string }[];
}

/** Each set's sources (what its build reads), for the cache key; a set is named by its directory. */
async function readModuleSets(dirs: readonly string[]): Promise<ModuleSet[]> {
  const sets: ModuleSet[] = [];
  for (const d of dirs) {
    const dir = resolve(d);
    const names = await readdir(dir).catch(() => {
      throw new ConfigError(d, '', 'no such module directory');
    });
    const sources = names.filter((n) => /\.(c|h)$|^Kbuild$|^Makefile$/.test(n)).sort();
    if (!sources.includes('Kbuild') && !sources.includes('Makefile')) throw new ConfigError(d, '', 'module directory has no Kbuild or Makefile');
    const files = await Promise.all(sources.map(async (name) => ({ name, content: await readFile(join(dir, name), 'utf8') })));
    sets.push({ name: basename(dir), dir, files });
  }
  return sets;
}

/** Verify the merged config; returns the options dropped as unknown to this kernel (mode "drop"). */
async function verifyMerged(fragments: readonly Fragment[], configPath: string, tree: string, unknownMode: 'fail' | 'drop', log: BuildLog): Promise<string[]> {
  const config = parseDotConfig(await readFile(configPath, 'utf8'));
  let missing = verifyConfig(fragments, config);
  const dropped: string[] = [];
  if (missing.length && unknownMode === 'drop') {
    const known = await treeKconfigSymbols(tree);
    const unknown = new Set(
      unknownOptions(
        missing.map((m) => ({ ...m, value: m.wanted })),
        known,
      ).map((o) => o.name),
    );
    for (const m of missing.filter((x) => unknown.has(x.name))) {
      dropped.push(`${m.name}=${m.wanted} (${m.file}:${m.line})`);
      log(`note: ${m.name} does not exist in this kernel; dropped (${m.file}:${m.line})`);
    }
    missing = missing.filter((m) => !unknown.has(m.name));
  }
  for (const o of mergeRequests(fragments).overrides) log(`note: ${o}`);
  if (missing.length) throw new FragmentUnmetError(missing, configPath);
  return dropped;
}

/** Every symbol any Kconfig file in the tree declares. */
async function treeKconfigSymbols(tree: string): Promise<Set<string>> {
  const syms = new Set<string>();
  const entries = await readdir(tree, { recursive: true, withFileTypes: true });
  for (const e of entries) {
    if (!e.isFile() || !e.name.startsWith('Kconfig')) continue;
    const dirPath = (e as unknown as { parentPath?: string; path?: string }).parentPath ?? (e as unknown as { path: string }).path;
    for (const s of kconfigSymbols(await readFile(join(dirPath, e.name), 'utf8'))) syms.add(s);
  }
  return syms;
}

async function readCachedResult(dir: string): Promise<KernelBuildResult | null> {
  const m = await readKernelManifest(dir);
  if (!m) return null;
  const result: KernelBuildResult = {
    key: m.key,
    dir,
    bzImage: join(dir, 'bzImage'),
    config: join(dir, 'config'),
    modulesDir: join(dir, 'modules', 'lib', 'modules', m.kernelRelease),
    kernelRelease: m.kernelRelease,
    kernelVersion: m.kernelVersion,
    buildLog: join(dir, 'build.log'),
    extraModules: m.extraModules.map((n) => join(dir, 'modules', 'lib', 'modules', m.kernelRelease, 'extra', n)),
    sourceId: m.sourceId,
    droppedOptions: m.droppedOptions,
    buildSeconds: m.buildSeconds,
    ...(m.objects !== undefined ? { objects: m.objects } : {}),
    cached: true,
  };
  for (const p of [result.bzImage, result.config, join(result.modulesDir, 'modules.dep'), ...result.extraModules]) {
    if (!existsSync(p)) return null;
  }
  return result;
}

async function readExpectedObjects(objDir: string): Promise<number | null> {
  const n = Number((await readFile(join(objDir, '.huci-objects'), 'utf8').catch(() => '')).trim());
  return Number.isFinite(n) && n > 0 ? n : null;
}

/** Remember the largest object count seen (a full build), as the total for later progress lines. */
async function recordObjects(objDir: string, n: number): Promise<void> {
  const prev = (await readExpectedObjects(objDir)) ?? 0;
  if (n > prev) await writeFile(join(objDir, '.huci-objects'), `${n}\n`);
}
