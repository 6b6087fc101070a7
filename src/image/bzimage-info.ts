// Facts read straight from a bzImage: its release (uname -r) and version string (uname -v), so an
// image's identity comes from the kernel itself, not from what a file name claims.
import { open, readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { loadExeca } from '../util/execa.js';
import { ConfigError } from '../errors.js';

export interface KernelIdentity {
  /** uname -r, e.g. 6.12.117+deb12-amd64 */
  release: string;
  /** uname -v, e.g. #1 SMP PREEMPT_DYNAMIC Debian 6.12.117-1~deb12u1 (2026-11-14) */
  version: string;
}

/** x86 boot protocol: "HdrS" at 0x202, kernel_version pointer (minus 0x200) at 0x20e. */
export async function readKernelIdentity(bzImage: string): Promise<KernelIdentity> {
  const fh = await open(bzImage, 'r').catch((e: NodeJS.ErrnoException) => {
    throw new ConfigError(bzImage, '', `cannot read kernel image: ${e.code ?? e.message}`);
  });
  try {
    const head = Buffer.alloc(0x210);
    await fh.read(head, 0, head.length, 0);
    if (head.toString('latin1', 0x202, 0x206) !== 'HdrS') {
      throw new ConfigError(bzImage, '', 'not an x86 bzImage (no HdrS boot header)');
    }
    const ptr = head.readUInt16LE(0x20e) + 0x200;
    const buf = Buffer.alloc(512);
    await fh.read(buf, 0, buf.length, ptr);
    return parseKernelVersionString(bzImage, buf.toString('latin1').split('\0')[0] ?? '');
  } finally {
    await fh.close();
  }
}

/** "6.12.117+deb12-amd64 (builder@host) #1 SMP …" → release + "#1 SMP …". */
export function parseKernelVersionString(file: string, s: string): KernelIdentity {
  const release = s.split(' ')[0] ?? '';
  const hash = s.indexOf('#');
  if (!release || hash < 0) throw new ConfigError(file, '', `unrecognised kernel version string "${s.slice(0, 80)}"`);
  return { release, version: s.slice(hash).trim() };
}

/**
 * The kernel's own .config when it was built with CONFIG_IKCONFIG (not _PROC needed): the compressed
 * vmlinux payload of the bzImage carries it gzip'd between the IKCFG_ST and IKCFG_ED markers.
 * Returns null when the kernel has none (Debian's do not).
 */
export async function extractIkconfig(bzImage: string): Promise<string | null> {
  const vmlinux = await decompressPayload(bzImage);
  const start = vmlinux.indexOf('IKCFG_ST');
  if (start < 0) return null;
  const end = vmlinux.indexOf('IKCFG_ED', start);
  if (end < 0) return null;
  try {
    return gunzipSync(vmlinux.subarray(start + 8, end)).toString('utf8');
  } catch {
    return null;
  }
}

/** x86 boot protocol ≥ 2.08: payload_offset/payload_length locate the compressed vmlinux. */
async function decompressPayload(bzImage: string): Promise<Buffer> {
  const img = await readFile(bzImage);
  if (img.length < 0x250 || img.toString('latin1', 0x202, 0x206) !== 'HdrS') {
    throw new ConfigError(bzImage, '', 'not an x86 bzImage (no HdrS boot header)');
  }
  const setupSects = img[0x1f1] || 4;
  const base = (setupSects + 1) * 512;
  const offset = base + img.readUInt32LE(0x248);
  const length = img.readUInt32LE(0x24c);
  // The build appends the uncompressed size (4 bytes) to every compressed payload.
  const payload = img.subarray(offset, offset + length - 4);
  const tool = PAYLOAD_FORMATS.find((f) => payload.subarray(0, f.magic.length).equals(f.magic));
  if (!tool) throw new ConfigError(bzImage, '', `unknown kernel compression (magic ${payload.subarray(0, 4).toString('hex')})`);
  if (tool.name === 'gzip') return gunzipSync(payload);
  const out = await (await loadExeca())(tool.cmd[0]!, tool.cmd.slice(1), { input: payload, encoding: 'buffer', reject: false, maxBuffer: 1 << 30 });
  if (!out.stdout || out.stdout.length === 0) {
    throw new ConfigError(bzImage, '', `could not decompress the ${tool.name} payload with ${tool.cmd[0]}: ${String(out.stderr ?? '').trim()}`);
  }
  return Buffer.from(out.stdout);
}

const PAYLOAD_FORMATS: { name: string; magic: Buffer; cmd: string[] }[] = [
  { name: 'gzip', magic: Buffer.from([0x1f, 0x8b]), cmd: [] },
  { name: 'zstd', magic: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), cmd: ['zstd', '-qdc'] },
  { name: 'xz', magic: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), cmd: ['xz', '-qdc'] },
  { name: 'lzma', magic: Buffer.from([0x5d, 0x00, 0x00]), cmd: ['xz', '--format=lzma', '-qdc'] },
  { name: 'bzip2', magic: Buffer.from('BZh'), cmd: ['bzip2', '-qdc'] },
  { name: 'lz4', magic: Buffer.from([0x02, 0x21, 0x4c, 0x18]), cmd: ['lz4', '-qdc'] },
];
