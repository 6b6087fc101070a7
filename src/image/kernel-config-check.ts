// For a kernel someone else built (--kernel BZIMAGE --modules DIR): find its .config and say which
// options our fragments want that it lacks. The config comes from the modules dir (build/.config,
// config) or, failing that, from the IKCONFIG blob inside the bzImage (what scripts/extract-ikconfig does).
import { loadExeca } from '../util/execa.js';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ConfigError, MissingDependencyError } from '../errors.js';
import { parseDotConfig, parseFragment, verifyConfig, type MissingOption } from './kernel-fragments.js';

export interface KernelConfigSource {
  text: string;
  /** Where it came from: a file path, or `<bzImage> (IKCONFIG)`. */
  from: string;
}

/** The kernel's .config, or null when neither the modules dir nor the bzImage carries one. */
export async function readKernelConfig(opts: { kernel?: string; modulesDir?: string }): Promise<KernelConfigSource | null> {
  if (opts.modulesDir) {
    for (const rel of ['build/.config', 'config', '.config']) {
      const p = join(opts.modulesDir, rel);
      if (existsSync(p)) return { text: await readFile(p, 'utf8'), from: p };
    }
    // Debian layout: /lib/modules/<rel> ↔ /boot/config-<rel>
    const boot = join(opts.modulesDir, '..', '..', '..', 'boot', `config-${basename(opts.modulesDir)}`);
    if (existsSync(boot)) return { text: await readFile(boot, 'utf8'), from: boot };
  }
  if (opts.kernel) {
    const text = await extractIkconfig(
      await readFile(opts.kernel).catch((e: NodeJS.ErrnoException) => {
        throw new ConfigError(opts.kernel!, '', `cannot read kernel image: ${e.code ?? e.message}`);
      }),
    );
    if (text !== null) return { text, from: `${opts.kernel} (IKCONFIG)` };
  }
  return null;
}

const IKCFG_ST = Buffer.from('IKCFG_ST');
const IKCFG_ED = Buffer.from('IKCFG_ED');

/** The gzip'd config between IKCFG_ST and IKCFG_ED, if `image` (a vmlinux) holds one. */
export function ikconfigFromVmlinux(image: Buffer): string | null {
  const st = image.indexOf(IKCFG_ST);
  if (st < 0) return null;
  const ed = image.indexOf(IKCFG_ED, st);
  if (ed < 0) return null;
  try {
    return gunzipSync(image.subarray(st + IKCFG_ST.length, ed)).toString('utf8');
  } catch {
    return null;
  }
}

interface Codec {
  magic: Buffer;
  tool: string;
  args: string[];
  pkg: string;
}

// Compressed vmlinux payload formats a bzImage may use, with the host tool that decompresses each.
const CODECS: Codec[] = [
  { magic: Buffer.from([0x1f, 0x8b, 0x08]), tool: 'gzip', args: ['-dc'], pkg: 'gzip' },
  { magic: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), tool: 'xz', args: ['-dc'], pkg: 'xz-utils' },
  { magic: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), tool: 'zstd', args: ['-dc'], pkg: 'zstd' },
  { magic: Buffer.from([0x5d, 0x00, 0x00]), tool: 'xz', args: ['--format=lzma', '-dc'], pkg: 'xz-utils' },
  { magic: Buffer.from('BZh'), tool: 'bzip2', args: ['-dc'], pkg: 'bzip2' },
  { magic: Buffer.from([0x02, 0x21, 0x4c, 0x18]), tool: 'lz4', args: ['-dc'], pkg: 'lz4' },
  { magic: Buffer.from([0x89, 0x4c, 0x5a, 0x4f]), tool: 'lzop', args: ['-dc'], pkg: 'lzop' },
];

/** The compressed vmlinux inside a bzImage: boot protocol ≥ 2.08 gives its offset and length. */
export function bzImagePayload(image: Buffer): Buffer | null {
  if (image.length < 0x250 || image.toString('latin1', 0x202, 0x206) !== 'HdrS') return null;
  if (image.readUInt16LE(0x206) < 0x208) return null;
  const setupSects = image.readUInt8(0x1f1) || 4;
  const pmStart = (setupSects + 1) * 512;
  const off = pmStart + image.readUInt32LE(0x248);
  const len = image.readUInt32LE(0x24c);
  if (off + len > image.length || len === 0) return null;
  return image.subarray(off, off + len);
}

/** Like scripts/extract-ikconfig: the config embedded in a bzImage (or a raw vmlinux), or null. */
export async function extractIkconfig(image: Buffer): Promise<string | null> {
  const direct = ikconfigFromVmlinux(image);
  if (direct !== null) return direct;
  const payload = bzImagePayload(image);
  if (!payload) return null;
  const codec = CODECS.find((c) => payload.subarray(0, c.magic.length).equals(c.magic));
  if (!codec) return null;
  // Decompressors complain about the trailing bytes after the stream; the output is still whole.
  const r = await (await loadExeca())(codec.tool, codec.args, { input: payload, encoding: 'buffer', reject: false, maxBuffer: 1 << 30 });
  if ((r as { code?: string }).code === 'ENOENT') throw new MissingDependencyError(`host tool ${codec.tool}`, `apt-get install -y ${codec.pkg}`);
  return ikconfigFromVmlinux(Buffer.from(r.stdout as Uint8Array));
}

export interface KernelConfigCheck {
  /** Where the config was read from, or null when none was found (then nothing can be checked). */
  configSource: string | null;
  missing: MissingOption[];
}

/** Which options of `fragments` (paths) the given kernel lacks. */
export async function checkKernelConfig(opts: { kernel?: string; modulesDir?: string; fragments: readonly string[] }): Promise<KernelConfigCheck> {
  const cfg = await readKernelConfig(opts);
  if (!cfg) return { configSource: null, missing: [] };
  const frags = await Promise.all(opts.fragments.map(async (f) => parseFragment(await readFile(f, 'utf8'), f)));
  return { configSource: cfg.from, missing: verifyConfig(frags, parseDotConfig(cfg.text)) };
}
