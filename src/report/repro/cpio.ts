// A gzip'd newc cpio archive of a few files: the reproducer's initramfs overlay. The kernel unpacks
// archives concatenated after the image's own initramfs on top of it.
import { gzipSync } from 'node:zlib';

export interface CpioEntry {
  path: string;
  /** file contents; undefined for a directory */
  data?: string;
  mode: number;
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

export function cpioGz(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const add = (name: string, mode: number, data: Buffer): void => {
    const nameBytes = Buffer.from(`${name}\0`);
    const fields = [ino++, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, nameBytes.length, 0];
    const header = Buffer.from(`070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`);
    parts.push(header, nameBytes, pad(header.length + nameBytes.length), data, pad(data.length));
  };
  for (const e of entries) {
    const data = Buffer.from(e.data ?? '');
    add(e.path, (e.data === undefined ? S_IFDIR : S_IFREG) | e.mode, data);
  }
  add('TRAILER!!!', 0, Buffer.alloc(0));
  return gzipSync(Buffer.concat(parts), { level: 9 });
}

function pad(n: number): Buffer {
  return Buffer.alloc((4 - (n % 4)) % 4);
}
