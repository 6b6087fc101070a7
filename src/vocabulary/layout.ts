// Struct layouts by the x86_64 System V ABI: a scalar's alignment is its size, an array aligns as its
// element, a struct's fields sit at the next multiple of their alignment and its size rounds up to
// its largest alignment; a union's members all sit at 0. Pure: types in, sizes and offsets out.

/** be16/be32: network byte order (__be16, __be32: a sockaddr's port or protocol) */
export type Scalar = 'u8' | 'u16' | 'u32' | 'u64' | 's8' | 's16' | 's32' | 's64' | 'be16' | 'be32';
export const SCALAR_SIZE: Readonly<Record<Scalar, number>> = { u8: 1, s8: 1, u16: 2, s16: 2, u32: 4, s32: 4, u64: 8, s64: 8, be16: 2, be32: 4 };

/** A type expression, parsed: `u32`, `char[32]`, `u64[5]`, `gpio_v2_line_attribute[10]`, `ptr<i2c_smbus_data>`. */
export type TypeRef =
  | { kind: 'scalar'; scalar: Scalar }
  | { kind: 'chars'; length: number }
  | { kind: 'array'; of: TypeRef; length: number }
  | { kind: 'struct'; name: string }
  | { kind: 'ptr'; to: TypeRef };

export interface FieldDecl {
  name: string;
  type: TypeRef;
  /** flag set whose names encode into (and decode from) this integer field */
  flags?: string;
  /** a C anonymous struct/union member: its fields are named as the parent's */
  anonymous?: boolean;
}

export interface StructDecl {
  name: string;
  union: boolean;
  /** no padding, alignment 1 (__attribute__((packed))) */
  packed?: boolean;
  fields: FieldDecl[];
}

interface FieldLayout extends FieldDecl {
  offset: number;
  size: number;
  align: number;
}

export interface StructLayout {
  name: string;
  union: boolean;
  size: number;
  align: number;
  fields: FieldLayout[];
}

const TYPE = /^(?:(?<ptr>ptr<(?<inner>[a-z0-9_]+(?:\[[A-Za-z0-9_]+\])?)>)|(?<base>[a-z_][a-z0-9_]*)(?:\[(?<len>[A-Za-z0-9_]+)\])?)$/;

/** Parses a type expression; `constant` resolves a named array length. Throws Error with what is wrong. */
export function parseType(text: string, constant: (name: string) => number | undefined): TypeRef {
  const m = TYPE.exec(text.trim());
  if (!m?.groups) throw new Error(`"${text}" is not a type (u8…u64, s8…s64, be16, be32, char[N], T[N], a struct name, ptr<T>)`);
  if (m.groups.ptr) return { kind: 'ptr', to: parseType(m.groups.inner!, constant) };
  const base = m.groups.base!;
  const lenText = m.groups.len;
  let length: number | null = null;
  if (lenText !== undefined) {
    length = /^\d+$/.test(lenText) ? Number(lenText) : (constant(lenText) ?? NaN);
    if (!Number.isInteger(length) || length <= 0) throw new Error(`array length ${lenText} in "${text}" is not a positive number or a known constant`);
  }
  if (base === 'char') {
    if (length === null) throw new Error(`"char" needs a length: char[N]`);
    return { kind: 'chars', length };
  }
  const elem: TypeRef = base in SCALAR_SIZE ? { kind: 'scalar', scalar: base as Scalar } : { kind: 'struct', name: base };
  return length === null ? elem : { kind: 'array', of: elem, length };
}

export function typeText(t: TypeRef): string {
  switch (t.kind) {
    case 'scalar':
      return t.scalar;
    case 'chars':
      return `char[${t.length}]`;
    case 'array':
      return `${typeText(t.of)}[${t.length}]`;
    case 'struct':
      return t.name;
    case 'ptr':
      return `ptr<${typeText(t.to)}>`;
  }
}

/** Lays out every struct; a struct may use structs declared anywhere among `decls` (no cycles but through ptr<>). */
export function layoutStructs(decls: readonly StructDecl[]): Map<string, StructLayout> {
  const byName = new Map(decls.map((d) => [d.name, d] as const));
  const done = new Map<string, StructLayout>();
  const visiting = new Set<string>();

  const sizeAlign = (t: TypeRef, where: string): { size: number; align: number } => sizeOf(t, (name) => layout(name, where));

  const layout = (name: string, where: string): StructLayout => {
    const have = done.get(name);
    if (have) return have;
    const d = byName.get(name);
    if (!d) throw new Error(`${where}: unknown struct ${name}`);
    if (visiting.has(name)) throw new Error(`${where}: struct ${name} contains itself`);
    visiting.add(name);
    let offset = 0;
    let align = 1;
    let size = 0;
    const fields: FieldLayout[] = [];
    for (const f of d.fields) {
      const natural = sizeAlign(f.type, `${name}.${f.name}`);
      const sa = d.packed ? { size: natural.size, align: 1 } : natural;
      const at = d.union ? 0 : roundUp(offset, sa.align);
      fields.push({ ...f, offset: at, size: sa.size, align: sa.align });
      offset = at + sa.size;
      size = Math.max(size, offset);
      align = Math.max(align, sa.align);
    }
    visiting.delete(name);
    const out: StructLayout = { name, union: d.union, size: roundUp(size, align), align, fields };
    done.set(name, out);
    return out;
  };

  for (const d of decls) layout(d.name, d.name);
  return done;
}

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/** Size and alignment of any type once the structs are laid out. */
export function typeSize(t: TypeRef, structs: ReadonlyMap<string, StructLayout>): { size: number; align: number } {
  return sizeOf(t, (name) => {
    const s = structs.get(name);
    if (!s) throw new Error(`unknown struct ${name}`);
    return s;
  });
}

function sizeOf(t: TypeRef, struct: (name: string) => { size: number; align: number }): { size: number; align: number } {
  switch (t.kind) {
    case 'scalar':
      return { size: SCALAR_SIZE[t.scalar], align: SCALAR_SIZE[t.scalar] };
    case 'chars':
      return { size: t.length, align: 1 };
    case 'ptr':
      return { size: 8, align: 8 };
    case 'array': {
      const e = sizeOf(t.of, struct);
      return { size: e.size * t.length, align: e.align };
    }
    case 'struct': {
      const s = struct(t.name);
      return { size: s.size, align: s.align };
    }
  }
}
