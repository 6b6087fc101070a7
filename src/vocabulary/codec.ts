// Values ↔ bytes for a laid-out type (little-endian, x86_64). The host encodes a call's arguments and
// decodes the reply; the agent only runs ioctl(2) on the bytes. A ptr<T> field points at a T placed
// after the main buffer: the encoding lists where each pointer is and what it points at, and the agent
// patches in the buffer's address before the call (and reports the bytes back unpatched).
import { SCALAR_SIZE, typeSize, typeText, type Scalar, type StructLayout, type TypeRef } from './layout.js';

/** Named bits of an integer field: encode takes names (or a number), decode gives names. */
export type FlagSet = ReadonlyMap<string, bigint>;

export interface CodecContext {
  structs: ReadonlyMap<string, StructLayout>;
  flags: ReadonlyMap<string, FlagSet>;
  /** named numbers an integer field may take by name (AF_PACKET) */
  constants?: ReadonlyMap<string, number>;
}

export interface Relocation {
  /** offset of the 8-byte pointer in the buffer */
  at: number;
  /** offset in the same buffer of what it points at */
  to: number;
}

export interface Encoded {
  bytes: Buffer;
  relocations: Relocation[];
}

export class CodecError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
  }
}

const RANGE: Readonly<Record<Scalar, [bigint, bigint]>> = {
  u8: [0n, 0xffn],
  u16: [0n, 0xffffn],
  u32: [0n, 0xffffffffn],
  u64: [0n, 0xffffffffffffffffn],
  s8: [-0x80n, 0x7fn],
  s16: [-0x8000n, 0x7fffn],
  s32: [-0x80000000n, 0x7fffffffn],
  s64: [-0x8000000000000000n, 0x7fffffffffffffffn],
  be16: [0n, 0xffffn],
  be32: [0n, 0xffffffffn],
};

interface Pending {
  at: number;
  type: TypeRef;
  value: unknown;
  path: string;
}

/** Encodes `value` as `type`; pointer targets follow the main object, each 8-aligned. */
export function encode(type: TypeRef, value: unknown, ctx: CodecContext, path = 'args'): Encoded {
  let bytes = Buffer.alloc(typeSize(type, ctx.structs).size);
  const relocations: Relocation[] = [];
  const pending: Pending[] = [];
  const write = (buf: Buffer, base: number, t: TypeRef, v: unknown, p: string, flags?: string): void => {
    switch (t.kind) {
      case 'scalar':
        // the buffer starts zeroed; writing a zero for an absent value would clobber a union's other member
        if (v === undefined) return;
        return writeScalar(buf, base, t.scalar, toInteger(v, t.scalar, p, flags ? ctx.flags.get(flags) : undefined, ctx.constants), p);
      case 'chars': {
        if (v === undefined) return;
        if (typeof v !== 'string') throw new CodecError(p, `expected a string (${typeText(t)})`);
        const b = Buffer.from(v, 'utf8');
        if (b.length >= t.length) throw new CodecError(p, `"${v}" is ${b.length} bytes; ${typeText(t)} holds ${t.length - 1} and the NUL`);
        b.copy(buf, base);
        return;
      }
      case 'array': {
        if (v === undefined) return;
        if (!Array.isArray(v)) throw new CodecError(p, `expected a list (${typeText(t)})`);
        if (v.length > t.length) throw new CodecError(p, `${v.length} elements; ${typeText(t)} holds ${t.length}`);
        const step = typeSize(t.of, ctx.structs).size;
        v.forEach((e, i) => write(buf, base + i * step, t.of, e, `${p}[${i}]`, flags));
        return;
      }
      case 'struct': {
        if (v === undefined) return;
        const s = ctx.structs.get(t.name)!;
        if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CodecError(p, `expected the fields of ${t.name}`);
        const obj = v as Record<string, unknown>;
        const known = memberNames(s, ctx.structs);
        for (const k of Object.keys(obj)) {
          if (!known.has(k)) throw new CodecError(`${p}.${k}`, `${t.name} has no field ${k} (fields: ${[...known].join(', ')})`);
        }
        // an anonymous member takes the parent's keys that are its own
        const fieldValue = (f: (typeof s.fields)[number]): unknown => {
          if (!f.anonymous || f.type.kind !== 'struct') return obj[f.name];
          const inner = memberNames(ctx.structs.get(f.type.name)!, ctx.structs);
          const picked = Object.fromEntries(Object.entries(obj).filter(([k]) => inner.has(k)));
          return Object.keys(picked).length ? picked : undefined;
        };
        const given = s.fields.filter((f) => fieldValue(f) !== undefined);
        if (s.union && given.length > 1) throw new CodecError(p, `union ${t.name} takes one member, got ${given.map((f) => f.name).join(', ')}`);
        for (const f of s.fields) write(buf, base + f.offset, f.type, fieldValue(f), f.anonymous ? p : `${p}.${f.name}`, f.flags);
        return;
      }
      case 'ptr': {
        pending.push({ at: base, type: t.to, value: v, path: p });
        return;
      }
    }
  };
  write(bytes, 0, type, value, path);
  // pointer targets (and theirs) after the main buffer, in order, each aligned to at least 8
  for (let i = 0; i < pending.length; i++) {
    const ptr = pending[i]!;
    const sa = typeSize(ptr.type, ctx.structs);
    const align = Math.max(8, sa.align);
    const to = Math.ceil(bytes.length / align) * align;
    const grown = Buffer.alloc(to + sa.size);
    bytes.copy(grown);
    bytes = grown;
    write(bytes, to, ptr.type, ptr.value, ptr.path);
    relocations.push({ at: ptr.at, to });
  }
  return { bytes, relocations };
}

/** Decodes `bytes` as `type`: integers as numbers (bigint past 2^53), char[N] up to the NUL, flag fields as names. */
export function decode(type: TypeRef, bytes: Buffer, ctx: CodecContext, relocations: readonly Relocation[] = []): unknown {
  const targets = new Map(relocations.map((r) => [r.at, r.to] as const));
  const read = (base: number, t: TypeRef, flags?: string): unknown => {
    switch (t.kind) {
      case 'scalar': {
        const n = readScalar(bytes, base, t.scalar);
        const set = flags ? ctx.flags.get(flags) : undefined;
        return set ? flagNames(n, set) : safe(n);
      }
      case 'chars': {
        const b = bytes.subarray(base, base + t.length);
        const nul = b.indexOf(0);
        return b.subarray(0, nul === -1 ? b.length : nul).toString('utf8');
      }
      case 'array': {
        const step = typeSize(t.of, ctx.structs).size;
        return Array.from({ length: t.length }, (_, i) => read(base + i * step, t.of, flags));
      }
      case 'struct': {
        const s = ctx.structs.get(t.name)!;
        const out: Record<string, unknown> = {};
        for (const f of s.fields) {
          const v = read(base + f.offset, f.type, f.flags);
          if (f.anonymous) Object.assign(out, v);
          else out[f.name] = v;
        }
        return out;
      }
      case 'ptr': {
        const to = targets.get(base);
        return to === undefined ? null : read(to, t.to);
      }
    }
  };
  return read(0, type);
}

/** The keys a struct's value takes: its fields, an anonymous member's fields in its place. */
function memberNames(s: StructLayout, structs: ReadonlyMap<string, StructLayout>): Set<string> {
  const out = new Set<string>();
  for (const f of s.fields) {
    if (f.anonymous && f.type.kind === 'struct') for (const n of memberNames(structs.get(f.type.name)!, structs)) out.add(n);
    else out.add(f.name);
  }
  return out;
}

function toInteger(v: unknown, scalar: Scalar, p: string, flags: FlagSet | undefined, constants?: ReadonlyMap<string, number>): bigint {
  let n: bigint;
  if (v === undefined) return 0n;
  if (Array.isArray(v) && flags) {
    n = 0n;
    for (const name of v) {
      const bit = typeof name === 'string' ? flags.get(name) : undefined;
      if (bit === undefined) throw new CodecError(p, `unknown flag ${JSON.stringify(name)} (known: ${[...flags.keys()].join(', ')})`);
      n |= bit;
    }
  } else if (typeof v === 'number' && Number.isInteger(v)) n = BigInt(v);
  else if (typeof v === 'bigint') n = v;
  else if (typeof v === 'boolean') n = v ? 1n : 0n;
  else if (typeof v === 'string' && /^-?(0x[0-9a-f]+|\d+)$/i.test(v)) n = v.startsWith('-') ? -BigInt(v.slice(1)) : BigInt(v);
  else if (typeof v === 'string' && constants?.has(v)) n = BigInt(constants.get(v)!);
  else throw new CodecError(p, `expected an integer${flags ? ' or a list of flag names' : ''} (${scalar}), got ${JSON.stringify(v)}`);
  const [lo, hi] = RANGE[scalar];
  if (n < lo || n > hi) throw new CodecError(p, `${n} does not fit ${scalar}`);
  return n;
}

function writeScalar(buf: Buffer, at: number, s: Scalar, n: bigint, p: string): void {
  const size = SCALAR_SIZE[s];
  if (at + size > buf.length) throw new CodecError(p, 'past the end of the buffer');
  const signed = s.startsWith('s');
  if (s === 'be16') return void buf.writeUInt16BE(Number(n), at);
  if (s === 'be32') return void buf.writeUInt32BE(Number(n), at);
  switch (size) {
    case 1:
      return void (signed ? buf.writeInt8(Number(n), at) : buf.writeUInt8(Number(n), at));
    case 2:
      return void (signed ? buf.writeInt16LE(Number(n), at) : buf.writeUInt16LE(Number(n), at));
    case 4:
      return void (signed ? buf.writeInt32LE(Number(n), at) : buf.writeUInt32LE(Number(n), at));
    default:
      return void (signed ? buf.writeBigInt64LE(n, at) : buf.writeBigUInt64LE(n, at));
  }
}

function readScalar(buf: Buffer, at: number, s: Scalar): bigint {
  const signed = s.startsWith('s');
  if (s === 'be16') return BigInt(buf.readUInt16BE(at));
  if (s === 'be32') return BigInt(buf.readUInt32BE(at));
  switch (SCALAR_SIZE[s]) {
    case 1:
      return BigInt(signed ? buf.readInt8(at) : buf.readUInt8(at));
    case 2:
      return BigInt(signed ? buf.readInt16LE(at) : buf.readUInt16LE(at));
    case 4:
      return BigInt(signed ? buf.readInt32LE(at) : buf.readUInt32LE(at));
    default:
      return signed ? buf.readBigInt64LE(at) : buf.readBigUInt64LE(at);
  }
}

function safe(n: bigint): number | bigint {
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}

/** Names of the single bits set in `n` (multi-bit aliases are not repeated), in declaration order. */
function flagNames(n: bigint, set: FlagSet): string[] {
  const out: string[] = [];
  for (const [name, bit] of set) if (bit !== 0n && (bit & (bit - 1n)) === 0n && (n & bit) !== 0n) out.push(name);
  return out;
}
