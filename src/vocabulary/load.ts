// Loads the guest's vocabulary (suites/vocabulary/*.yaml): resolves constants, flag sets, struct
// layouts and ioctl numbers across files, and refuses a bad name, a field that does not exist or a
// layout whose size differs from its declared size, naming the file, path and line.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { projectPath } from '../util/paths.js';
import { readLocated, type LocatedDoc } from '../util/yaml-file.js';
import { decode, encode, type CodecContext, type Encoded, type FlagSet } from './codec.js';
import { ioctlNumber } from './ioctl-number.js';
import { layoutStructs, parseType, typeSize, typeText, type FieldDecl, type StructDecl, type StructLayout, type TypeRef } from './layout.js';
import { VocabularyFileSchema, type VocabularyFile } from './schema.js';
import { mapStrings, REFERENCE, WHOLE_REFERENCE } from './substitute.js';

interface IoctlDef {
  name: string;
  file: string;
  /** how the headers spell the number (the name, or EVIOCGNAME(256) for a function-like macro) */
  c: string;
  /** the request number ioctl(2) gets */
  number: number;
  /** what the argument points at (or is, byValue); null: no argument */
  arg: TypeRef | null;
  byValue: boolean;
  /** where a new fd comes back: ioctl(2)'s result, or a 32-bit field of the argument at this offset */
  fd: { from: 'return' } | { from: 'field'; field: string; offset: number } | null;
}

interface SequenceDef {
  name: string;
  file: string;
  params: string[];
  steps: Array<{ ioctl: string; args: unknown }>;
}

export interface Vocabulary {
  files: string[];
  sequences: ReadonlyMap<string, SequenceDef>;
  headers: string[];
  constants: ReadonlyMap<string, number>;
  /** with the C type each lays out like (false: anonymous in C) */
  structs: ReadonlyMap<string, StructLayout & { file: string; c: string | false; declaredSize?: number }>;
  /** flag sets whose values the headers define as PREFIX + name */
  flagPrefixes: ReadonlyMap<string, string>;
  ioctls: ReadonlyMap<string, IoctlDef>;
  codec: CodecContext;
}

function defaultVocabularyDir(): string {
  return projectPath('suites', 'vocabulary');
}

export function loadVocabulary(dir = defaultVocabularyDir()): Vocabulary {
  const files = readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => path.join(dir, f));
  return buildVocabulary(files.map((f) => readLocated(f)));
}

interface Parsed {
  doc: LocatedDoc;
  v: VocabularyFile;
}

/** Resolves parsed files into one vocabulary; a name is defined once across all files. */
export function buildVocabulary(docs: readonly LocatedDoc[]): Vocabulary {
  const parsed: Parsed[] = docs.map((doc) => {
    const r = VocabularyFileSchema.safeParse(doc.data);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      const where = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
      throw doc.error(
        issue.code === 'unrecognized_keys' ? [...where, issue.keys[0]!] : where,
        issue.code === 'unrecognized_keys' ? `unknown key "${issue.keys[0]}"` : issue.message,
      );
    }
    return { doc, v: r.data };
  });

  const owner = new Map<string, string>();
  const define = (kind: string, name: string, p: Parsed, where: (string | number)[]): void => {
    const key = `${kind}:${name}`;
    const other = owner.get(key);
    if (other !== undefined) throw p.doc.error(where, `${kind} ${name} is also defined in ${other}`);
    owner.set(key, p.doc.file);
  };

  const constants = new Map<string, number>();
  for (const p of parsed) {
    for (const [name, value] of Object.entries(p.v.constants)) {
      define('constant', name, p, ['constants', name]);
      constants.set(name, Number(value));
    }
  }
  const flags = new Map<string, FlagSet>();
  const flagPrefixes = new Map<string, string>();
  for (const p of parsed) {
    for (const [name, bits] of Object.entries(p.v.flags)) {
      define('flag set', name, p, ['flags', name]);
      flags.set(name, new Map(Object.entries(bits.values).map(([k, v]) => [k, BigInt(v)] as const)));
      if (bits.c) flagPrefixes.set(name, bits.c);
    }
  }

  const decls: StructDecl[] = [];
  const origin = new Map<string, { p: Parsed; c: string | false; declaredSize?: number }>();
  for (const p of parsed) {
    for (const [name, s] of Object.entries(p.v.structs)) {
      define('struct', name, p, ['structs', name]);
      const fields: FieldDecl[] = Object.entries(s.fields).map(([fname, f]) => {
        const spec = typeof f === 'string' ? { type: f } : f;
        const where = ['structs', name, 'fields', fname];
        let type: TypeRef;
        try {
          type = parseType(spec.type, (c) => constants.get(c));
        } catch (e) {
          throw p.doc.error(where, (e as Error).message);
        }
        if (spec.flags !== undefined && !flags.has(spec.flags)) throw p.doc.error([...where, 'flags'], `unknown flag set ${spec.flags}`);
        if (spec.flags !== undefined && !isIntegerish(type)) throw p.doc.error([...where, 'flags'], `flags go on an integer field, not ${typeText(type)}`);
        if (spec.anonymous && type.kind !== 'struct') throw p.doc.error([...where, 'anonymous'], 'only a struct or union member can be anonymous');
        return { name: fname, type, ...(spec.flags ? { flags: spec.flags } : {}), ...(spec.anonymous ? { anonymous: true } : {}) };
      });
      decls.push({ name, union: s.union, packed: s.packed, fields });
      origin.set(name, { p, c: s.c ?? `${s.union ? 'union' : 'struct'} ${name}`, ...(s.size !== undefined ? { declaredSize: s.size } : {}) });
    }
  }
  // every struct a field names must exist: checked here, with the field's line
  for (const d of decls) {
    for (const f of d.fields) {
      const missing = unknownStruct(f.type, origin);
      if (missing)
        throw origin.get(d.name)!.p.doc.error(['structs', d.name, 'fields', f.name], `unknown struct ${missing} (declared: ${[...origin.keys()].join(', ')})`);
    }
  }
  let laid: Map<string, StructLayout>;
  try {
    laid = layoutStructs(decls);
  } catch (e) {
    const name = /^([A-Za-z0-9_]+)/.exec((e as Error).message)?.[1] ?? '';
    const o = origin.get(name);
    throw o ? o.p.doc.error(['structs', name], (e as Error).message) : new ConfigError('vocabulary', '', (e as Error).message);
  }
  const structs = new Map<string, StructLayout & { file: string; c: string | false; declaredSize?: number }>();
  for (const [name, l] of laid) {
    const o = origin.get(name)!;
    if (o.declaredSize !== undefined && o.declaredSize !== l.size) {
      throw o.p.doc.error(
        ['structs', name, 'size'],
        `declared size ${o.declaredSize} but the fields lay out to ${l.size} bytes (x86_64: ${l.fields.map((f) => `${f.name}@${f.offset}+${f.size}`).join(', ')})`,
      );
    }
    structs.set(name, { ...l, file: o.p.doc.file, c: o.c, ...(o.declaredSize !== undefined ? { declaredSize: o.declaredSize } : {}) });
  }

  const ioctls = new Map<string, IoctlDef>();
  for (const p of parsed) {
    for (const [name, io] of Object.entries(p.v.ioctls)) {
      define('ioctl', name, p, ['ioctls', name]);
      const where = ['ioctls', name];
      let arg: TypeRef | null = null;
      if (io.arg !== undefined) {
        try {
          arg = parseType(io.arg, (c) => constants.get(c));
        } catch (e) {
          throw p.doc.error([...where, 'arg'], (e as Error).message);
        }
        const missing = unknownStruct(arg, origin);
        if (missing) throw p.doc.error([...where, 'arg'], `unknown struct ${missing}`);
        if (io.byValue && arg.kind !== 'scalar') throw p.doc.error([...where, 'byValue'], `a by-value argument is an integer, not ${typeText(arg)}`);
      }
      let number: number;
      try {
        number = 'number' in io ? Number(io.number) : ioctlNumber(io.dir, io.type, io.nr, arg ? typeSize(arg, laid).size : 0);
      } catch (e) {
        throw p.doc.error(where, (e as Error).message);
      }
      let fd: IoctlDef['fd'] = null;
      if (io.fd === 'return') fd = { from: 'return' };
      else if (io.fd === 'arg') {
        // the argument is the int the fd is written to (IIO_GET_EVENT_FD_IOCTL)
        if (!arg || arg.kind === 'struct' || typeSize(arg, laid).size !== 4) throw p.doc.error([...where, 'fd'], `fd: arg needs a 32-bit integer argument`);
        fd = { from: 'field', field: 'arg', offset: 0 };
      } else if (io.fd !== undefined) {
        const f = arg?.kind === 'struct' ? findField(laid.get(arg.name)!, io.fd, laid) : null;
        if (!f) throw p.doc.error([...where, 'fd'], `${arg ? typeText(arg) : 'no argument'} has no field ${io.fd}`);
        if (f.size !== 4) throw p.doc.error([...where, 'fd'], `field ${io.fd} is ${f.size} bytes; an fd is a 32-bit integer`);
        fd = { from: 'field', field: io.fd, offset: f.offset };
      }
      ioctls.set(name, { name, file: p.doc.file, c: io.c ?? name, number, arg, byValue: io.byValue, fd });
    }
  }
  const sequences = new Map<string, SequenceDef>();
  for (const p of parsed) {
    for (const [name, seq] of Object.entries(p.v.sequences)) {
      define('ioctl', name, p, ['sequences', name]);
      seq.steps.forEach((st, k) => {
        if (!ioctls.has(st.ioctl)) throw p.doc.error(['sequences', name, 'steps', k, 'ioctl'], `unknown ioctl ${st.ioctl}`);
        for (const ref of placeholders(st.args)) {
          if (!seq.params.includes(ref))
            throw p.doc.error(['sequences', name, 'steps', k, 'args'], `\${${ref}} is not one of params (${seq.params.join(', ') || 'none'})`);
        }
      });
      sequences.set(name, { name, file: p.doc.file, params: seq.params, steps: seq.steps.map((st) => ({ ioctl: st.ioctl, args: st.args })) });
    }
  }
  const vocab: Vocabulary = {
    files: parsed.map((p) => p.doc.file),
    sequences,
    headers: [...new Set(parsed.flatMap((p) => p.v.headers))],
    constants,
    structs,
    flagPrefixes,
    ioctls,
    codec: { structs: laid, flags, constants },
  };
  // every sequence's steps encode (params as zeros): a bad field is caught here, with its line
  for (const seq of sequences.values()) {
    const p = parsed.find((x) => x.doc.file === seq.file)!;
    try {
      agentCall(vocab, seq.name, Object.fromEntries(seq.params.map((n) => [n, 0])));
    } catch (e) {
      throw p.doc.error(['sequences', seq.name], (e as Error).message);
    }
  }
  return vocab;
}

/** "${name}" references in a value. */
function placeholders(v: unknown): string[] {
  if (typeof v === 'string') return [...v.matchAll(REFERENCE)].map((m) => m[1]!);
  if (Array.isArray(v)) return v.flatMap(placeholders);
  if (v && typeof v === 'object') return Object.values(v).flatMap(placeholders);
  return [];
}

/** `value` with every "${param}" replaced: a whole-string reference keeps the argument's type. */
function fillIn(v: unknown, params: Readonly<Record<string, unknown>>): unknown {
  return mapStrings(v, (str) => {
    const whole = WHOLE_REFERENCE.exec(str);
    return whole ? params[whole[1]!] : str.replace(REFERENCE, (_, n: string) => String(params[n] ?? ''));
  });
}

/** Whether `name` is an ioctl or a sequence of the vocabulary. */
export function knowsCall(vocab: Vocabulary, name: string): boolean {
  return vocab.ioctls.has(name) || vocab.sequences.has(name);
}

/** One ioctl(2) as the agent runs it (the wire form of src/guest/agent-protocol.ts's IoctlStep). */
interface AgentIoctlStep {
  number: number;
  arg?: number;
  hex?: string;
  relocs?: Array<[number, number]>;
  fdAt?: number;
  fdReturn?: boolean;
}

/** A suite's ioctl (one, or a sequence), encoded: what the agent runs, and how to read its reply. */
export interface AgentCall {
  request: AgentIoctlStep | AgentIoctlStep[];
  /** the call that returns a new fd, if any (the last) */
  returnsFd: boolean;
  /** the last call's argument after it ran, from the reply's hex */
  decode(hex: string | undefined): unknown;
  /** the name of each step, for the reply's `stage` */
  steps: string[];
}

/** Encodes a named ioctl or sequence with a suite's arguments; unknown names and fields throw with what is wrong. */
export function agentCall(vocab: Vocabulary, name: string, args: unknown): AgentCall {
  const seq = vocab.sequences.get(name);
  if (seq) {
    const params = (args ?? {}) as Record<string, unknown>;
    if (typeof params !== 'object' || Array.isArray(params)) throw new Error(`${name} takes its arguments by name (${seq.params.join(', ')})`);
    for (const k of Object.keys(params)) if (!seq.params.includes(k)) throw new Error(`args.${k}: ${name} takes ${seq.params.join(', ') || 'no arguments'}`);
    const calls = seq.steps.map((st) => encodeCall(vocab, st.ioctl, fillIn(st.args, params), name));
    const steps = calls.map(stepOf);
    const last = calls[calls.length - 1]!;
    return { request: steps, returnsFd: last.ioctl.fd !== null, decode: (hex) => decodeHex(vocab, last, hex), steps: seq.steps.map((st) => st.ioctl) };
  }
  const call = encodeCall(vocab, name, args, name);
  return { request: stepOf(call), returnsFd: call.ioctl.fd !== null, decode: (hex) => decodeHex(vocab, call, hex), steps: [name] };
}

function stepOf(c: EncodedCall): AgentIoctlStep {
  const s: AgentIoctlStep = { number: c.number };
  if (c.value !== null) s.arg = c.value;
  if (c.buffer) {
    s.hex = c.buffer.bytes.toString('hex');
    if (c.buffer.relocations.length) s.relocs = c.buffer.relocations.map((r) => [r.at, r.to]);
  }
  if (c.ioctl.fd?.from === 'return') s.fdReturn = true;
  else if (c.ioctl.fd?.from === 'field') s.fdAt = c.ioctl.fd.offset;
  return s;
}

function decodeHex(vocab: Vocabulary, call: EncodedCall, hex: string | undefined): unknown {
  return hex === undefined ? null : decodeReply(vocab, call, Buffer.from(hex, 'hex'));
}

function isIntegerish(t: TypeRef): boolean {
  return t.kind === 'scalar' || (t.kind === 'array' && isIntegerish(t.of));
}

function unknownStruct(t: TypeRef, known: ReadonlyMap<string, unknown>): string | null {
  switch (t.kind) {
    case 'struct':
      return known.has(t.name) ? null : t.name;
    case 'array':
      return unknownStruct(t.of, known);
    case 'ptr':
      return unknownStruct(t.to, known);
    default:
      return null;
  }
}

/** A field by name, looking through anonymous members; offset is from the start of `s`. */
function findField(s: StructLayout, name: string, structs: ReadonlyMap<string, StructLayout>): { offset: number; size: number } | null {
  for (const f of s.fields) {
    if (f.name === name && !f.anonymous) return { offset: f.offset, size: f.size };
    if (f.anonymous && f.type.kind === 'struct') {
      const inner = findField(structs.get(f.type.name)!, name, structs);
      if (inner) return { offset: f.offset + inner.offset, size: inner.size };
    }
  }
  return null;
}

/** An ioctl call ready for the agent: the request number and the argument's bytes (or integer). */
export interface EncodedCall {
  ioctl: IoctlDef;
  number: number;
  /** the buffer the argument points at, with its pointer relocations; null for by-value or none */
  buffer: Encoded | null;
  /** the integer argument (byValue) */
  value: number | null;
}

/** Encodes a named ioctl's arguments; an unknown name or field is a ConfigError naming `where`. */
export function encodeCall(vocab: Vocabulary, name: string, args: unknown, where: string): EncodedCall {
  const io = vocab.ioctls.get(name);
  if (!io) throw new ConfigError(where, '', `unknown ioctl ${name} (known: ${[...vocab.ioctls.keys()].sort().join(', ')})`);
  if (io.arg === null) return { ioctl: io, number: io.number, buffer: null, value: null };
  if (io.byValue) {
    // encoded and read back: the integer is range-checked as its declared type
    const value = decode(io.arg, encode(io.arg, args ?? 0, vocab.codec, 'args').bytes, vocab.codec);
    return { ioctl: io, number: io.number, buffer: null, value: Number(value) };
  }
  return { ioctl: io, number: io.number, buffer: encode(io.arg, args, vocab.codec, 'args'), value: null };
}

/** The argument's value after the call, decoded from the bytes the agent returned. */
export function decodeReply(vocab: Vocabulary, call: EncodedCall, bytes: Buffer): unknown {
  if (!call.ioctl.arg || !call.buffer) return null;
  return decode(call.ioctl.arg, bytes, vocab.codec, call.buffer.relocations);
}
