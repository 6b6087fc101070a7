// ioctl request numbers as <asm-generic/ioctl.h> builds them on x86_64:
// dir (2 bits) << 30 | size (14 bits) << 16 | type (8 bits) << 8 | nr (8 bits).

export type IoctlDir = 'none' | 'W' | 'R' | 'WR';
const DIR_BITS: Readonly<Record<IoctlDir, number>> = { none: 0, W: 1, R: 2, WR: 3 };
const SIZE_MAX = (1 << 14) - 1;

/** _IOC(dir, type, nr, size); `type` is a byte (0x'B4') or a one-character string ('E'). */
export function ioctlNumber(dir: IoctlDir, type: number | string, nr: number, size: number): number {
  const t = typeof type === 'string' ? type.charCodeAt(0) : type;
  if (typeof type === 'string' && type.length !== 1) throw new Error(`ioctl type "${type}" must be one character`);
  if (!Number.isInteger(t) || t < 0 || t > 0xff) throw new Error(`ioctl type ${type} is not a byte`);
  if (!Number.isInteger(nr) || nr < 0 || nr > 0xff) throw new Error(`ioctl nr ${nr} is not a byte`);
  if (!Number.isInteger(size) || size < 0 || size > SIZE_MAX) throw new Error(`ioctl size ${size} does not fit in 14 bits`);
  if (dir === 'none' && size !== 0) throw new Error('_IO takes no argument size');
  // >>> 0: the top bit is set for R and WR, and the number is an unsigned 32-bit value
  return ((DIR_BITS[dir] << 30) | (size << 16) | (t << 8) | nr) >>> 0;
}
