// Facts read straight from a bzImage: its release (uname -r) and version string (uname -v), so an
// image's identity comes from the kernel itself, not from what a file name claims.
import { open } from 'node:fs/promises';
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
