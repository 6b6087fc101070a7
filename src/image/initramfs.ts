// Builds the guest initramfs: busybox-static (every applet as a symlink), dropbear and iproute2's
// rdma tool (RDMA links have no sysfs or busybox interface) with the shared libraries they link against, the requested kernel modules (dependencies closed over modules.dep,
// decompressed, depmod'd), the guest agent, and images/rootfs/init — as a gzip'd newc cpio.
// Used for Debian images and, through the same call, for kernels built from source.
import { chmod, copyFile, mkdir, mkdtemp, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ConfigError, InfraError } from '../errors.js';
import { parseModulesBuiltin, parseModulesDep, resolveModules } from './modules.js';
import { run, runPipeline, type BuildLog } from './exec.js';
import { projectPath } from '../util/paths.js';
import { buildAgent } from './agent-binary.js';

export const INIT_SCRIPT = projectPath('images/rootfs/init');
/** Bumped when the layout this file produces changes, so cached images get rebuilt. */
export const INITRAMFS_FORMAT = 2;

const BUSYBOX = '/bin/busybox';
const DROPBEAR = '/usr/sbin/dropbear';
const RDMA = '/usr/bin/rdma';

export interface AssembleInitramfsOptions {
  kernelRelease: string;
  /** `.../lib/modules/<release>`, with modules.dep (run `depmod -b` first if it is missing). */
  modulesDir: string;
  /** Module names (dependencies are added) or every module in modulesDir. */
  modules: readonly string[] | 'all';
  /** Paths of extra .ko files (e.g. canary modules), installed under lib/modules/<rel>/extra/. */
  extraModules?: readonly string[];
  outFile: string;
  /** Guest agent binary; undefined = buildAgent() from src/image/agent-binary.ts; null = none. */
  agent?: string | null;
  /** Skip requested modules this kernel lacks (a user's kernel) instead of failing. */
  missingModulesOk?: boolean;
  /** PID 1 script; defaults to images/rootfs/init. */
  initScript?: string;
  log?: BuildLog;
}

export interface InitramfsInfo {
  bytes: number;
  /** Module files shipped (relative to lib/modules/<rel>, decompressed names). */
  modules: string[];
  /** Requested modules that are builtin in this kernel. */
  builtinModules: string[];
  agent: string | null;
}

export async function assembleInitramfs(opts: AssembleInitramfsOptions): Promise<InitramfsInfo> {
  const log = opts.log ?? (() => {});
  await mkdir(dirname(opts.outFile), { recursive: true });
  const root = await mkdtemp(join(dirname(opts.outFile), '.initramfs-'));
  try {
    await makeSkeleton(root);
    await installBusybox(root, log);
    await installDropbear(root, log);
    await installDynamic(root, RDMA, 'iproute2', log);
    const mods = await installModules(root, opts, log);
    const agent = opts.agent === undefined ? await locateAgent(log) : opts.agent;
    if (agent) {
      await copyFile(agent, join(root, 'usr/bin/huci-agent'));
      await chmod(join(root, 'usr/bin/huci-agent'), 0o755);
    }
    await copyFile(opts.initScript ?? INIT_SCRIPT, join(root, 'init'));
    await chmod(join(root, 'init'), 0o755);
    await makeConsoleNode(root, log);

    const tmp = `${opts.outFile}.tmp`;
    // Sorted names, fixed mtimes and owner, gzip without name/time: same inputs → same archive
    // (apart from the host keys, which are fresh per build on purpose).
    await runPipeline(
      `find . -mindepth 1 -print0 | xargs -0 touch -h -d @0 && ` +
        `find . -mindepth 1 -printf '%P\\0' | LC_ALL=C sort -z | ` +
        `cpio --null -o -H newc -R 0:0 --reproducible --quiet | gzip -9n > ${shellQuote(tmp)}`,
      { cwd: root, log },
    );
    await rename(tmp, opts.outFile);
    const bytes = (await stat(opts.outFile)).size;
    log(`initramfs ${opts.outFile}: ${bytes} bytes, ${mods.files.length} modules`);
    return { bytes, modules: mods.files, builtinModules: mods.builtin, agent };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

async function makeSkeleton(root: string): Promise<void> {
  for (const d of [
    'bin',
    'sbin',
    'usr/bin',
    'usr/sbin',
    'lib/x86_64-linux-gnu',
    'lib64',
    'etc/dropbear',
    'proc',
    'sys',
    'dev',
    'tmp',
    'run',
    'root',
    'var',
    'mnt',
  ]) {
    await mkdir(join(root, d), { recursive: true });
  }
  await symlink('../run', join(root, 'var/run'));
  await symlink('../tmp', join(root, 'var/tmp'));
  const files: Record<string, string> = {
    'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n',
    // '*' = no valid password (not locked: dropbear refuses '!' accounts even for key logins).
    'etc/shadow': 'root:*:19000:0:99999:7:::\n',
    'etc/group': 'root:x:0:\ntty:x:5:\n',
    'etc/shells': '/bin/sh\n/bin/ash\n',
    'etc/hosts': '127.0.0.1 localhost\n10.0.2.15 huci\n',
    'etc/hostname': 'huci\n',
    // busybox init: reap children and honour poweroff; start nothing.
    'etc/inittab': '::ctrlaltdel:/sbin/poweroff -f\n',
    'etc/profile': 'export PATH=/usr/sbin:/usr/bin:/sbin:/bin\n',
  };
  for (const [path, text] of Object.entries(files)) await writeFile(join(root, path), text);
  await chmod(join(root, 'etc/shadow'), 0o600);
  await chmod(join(root, 'tmp'), 0o1777);
}

async function installBusybox(root: string, log: BuildLog): Promise<void> {
  if (!existsSync(BUSYBOX)) throw new InfraError(`${BUSYBOX} is missing; install it with: apt-get install -y busybox-static`);
  const fileInfo = await run('file', ['-L', BUSYBOX]).catch(() => 'statically linked');
  if (!/statically linked|static-pie/.test(fileInfo)) {
    throw new InfraError(`${BUSYBOX} is not statically linked; install it with: apt-get install -y busybox-static`);
  }
  await copyFile(BUSYBOX, join(root, 'bin/busybox'));
  await chmod(join(root, 'bin/busybox'), 0o755);
  const applets = (await run(BUSYBOX, ['--list-full'], { log })).split('\n').filter(Boolean);
  for (const applet of applets) {
    const dest = join(root, applet);
    if (existsSync(dest)) continue;
    await mkdir(dirname(dest), { recursive: true });
    await symlink('/bin/busybox', dest);
  }
}

/** A dynamically linked host binary, at the same path, with every library ldd names plus the loader. */
async function installDynamic(root: string, binary: string, pkg: string, log: BuildLog): Promise<void> {
  if (!existsSync(binary)) throw new InfraError(`${binary} is missing; install it with: apt-get install -y ${pkg}`);
  const at = join(root, binary);
  await mkdir(dirname(at), { recursive: true });
  await copyFile(binary, at);
  await chmod(at, 0o755);
  for (const lib of parseLdd(await run('ldd', [binary], { log }))) {
    const dest = join(root, lib);
    await mkdir(dirname(dest), { recursive: true });
    await copyFile(lib, dest); // copyFile follows symlinks: the soname path gets the real bytes
  }
}

async function installDropbear(root: string, log: BuildLog): Promise<void> {
  await installDynamic(root, DROPBEAR, 'dropbear-bin', log);
  await run('dropbearkey', ['-t', 'ed25519', '-f', join(root, 'etc/dropbear/dropbear_ed25519_host_key')], { log });
}

/** Paths of the shared objects in `ldd` output (vdso has no path and is skipped). */
export function parseLdd(text: string): string[] {
  const libs = new Set<string>();
  for (const line of text.split('\n')) {
    const arrow = /=>\s+(\/\S+)/.exec(line);
    const bare = /^\s*(\/\S+)\s+\(/.exec(line);
    const path = arrow?.[1] ?? bare?.[1];
    if (path) libs.add(path);
  }
  if (![...libs].some((l) => l.includes('ld-linux'))) libs.add('/lib64/ld-linux-x86-64.so.2');
  return [...libs].sort();
}

async function installModules(root: string, opts: AssembleInitramfsOptions, log: BuildLog): Promise<{ files: string[]; builtin: string[] }> {
  const src = opts.modulesDir;
  const depFile = join(src, 'modules.dep');
  if (!existsSync(depFile)) {
    throw new ConfigError(src, 'modules.dep', `missing; run depmod -b <base> ${opts.kernelRelease} first`);
  }
  const deps = parseModulesDep(await readFile(depFile, 'utf8'));
  const builtinFile = join(src, 'modules.builtin');
  const builtin = existsSync(builtinFile) ? parseModulesBuiltin(await readFile(builtinFile, 'utf8')) : new Set<string>();
  const res = resolveModules(opts.modules, deps, builtin);
  if (res.missing.length && opts.missingModulesOk) {
    log(`warning: not in kernel ${opts.kernelRelease}, skipped: ${res.missing.join(', ')}`);
  } else if (res.missing.length) {
    throw new ConfigError(src, 'modules', `no such module in kernel ${opts.kernelRelease}: ${res.missing.join(', ')}`);
  }
  const dest = join(root, 'lib/modules', opts.kernelRelease);
  await mkdir(dest, { recursive: true });
  const shipped: string[] = [];
  for (const rel of res.files) shipped.push(await installModule(join(src, rel), join(dest, rel)));
  for (const extra of opts.extraModules ?? []) {
    const name = extra.slice(extra.lastIndexOf('/') + 1);
    shipped.push(await installModule(extra, join(dest, 'extra', name)));
  }
  // depmod and modprobe need to know which modules are builtin (modprobe of one is then a no-op).
  for (const f of ['modules.builtin', 'modules.builtin.modinfo', 'modules.order']) {
    if (existsSync(join(src, f))) await copyFile(join(src, f), join(dest, f));
  }
  const base = root;
  await run('depmod', ['-b', base, opts.kernelRelease], { log });
  log(`modules: ${shipped.length} files; builtin: ${res.builtin.join(', ') || 'none'}`);
  return { files: shipped.map((p) => relative(dest, p)).sort(), builtin: res.builtin };
}

/** Copies one module, decompressing .ko.xz/.ko.zst/.ko.gz to .ko (busybox modprobe loads plain .ko). */
async function installModule(from: string, to: string): Promise<string> {
  if (!existsSync(from)) throw new ConfigError(from, '', 'module file listed in modules.dep does not exist');
  const out = to.replace(/\.ko\.(xz|zst|gz)$/, '.ko');
  await mkdir(dirname(out), { recursive: true });
  if (from.endsWith('.ko.xz')) await runPipeline(`xz -dc ${shellQuote(from)} > ${shellQuote(out)}`);
  else if (from.endsWith('.ko.zst')) await runPipeline(`zstd -qdc ${shellQuote(from)} > ${shellQuote(out)}`);
  else if (from.endsWith('.ko.gz')) await writeFile(out, gunzipSync(await readFile(from)));
  else await copyFile(from, out);
  return out;
}

/** The guest agent for the current sources (src/image/agent-binary.ts builds and caches it). */
export async function locateAgent(log: BuildLog): Promise<string> {
  const path = await buildAgent();
  log(`agent: ${path}`);
  return path;
}

async function makeConsoleNode(root: string, log: BuildLog): Promise<void> {
  // The kernel opens /dev/console for PID 1 before devtmpfs is mounted; without the node early
  // init output is lost. mknod needs root; elsewhere the init script reopens the console itself.
  if (process.getuid?.() !== 0) return;
  await run('mknod', ['-m', '600', join(root, 'dev/console'), 'c', '5', '1'], { log });
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`;
}
