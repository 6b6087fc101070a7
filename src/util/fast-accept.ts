// A fast acceptance test derived from a zod schema, for data a run checks hundreds of times (the
// guest agent's replies): zod's interpreted parse costs ~0.1 ms a reply on these hosts, and its
// compiled parsers cost more than they save at that count. The schema stays the single source: this
// walks its definition once. `true` only where zod would accept the value and give back an equal
// one; `false` means "ask zod", for its verdict and its message. A kind or check it does not know
// makes that part answer false, so it can never accept what zod refuses.
import type { z } from '../zod.js';

/** true: zod accepts `v` as it is; false: zod decides */
export type Accept = (v: unknown) => boolean;

const never: Accept = () => false;

interface Def {
  type: string;
  checks?: ReadonlyArray<{ _zod: { def: CheckDef } }>;
  [k: string]: unknown;
}
interface CheckDef {
  check: string;
  [k: string]: unknown;
}

const defOf = (s: unknown): Def => (s as { _zod: { def: Def } })._zod.def;
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One check of a number, string or array; null when not known here. */
function checkOf(c: CheckDef): Accept | null {
  switch (c.check) {
    case 'number_format':
      return c.format === 'safeint' ? (v) => Number.isSafeInteger(v) : null;
    case 'greater_than': {
      const min = c.value as number;
      return c.inclusive ? (v) => (v as number) >= min : (v) => (v as number) > min;
    }
    case 'less_than': {
      const max = c.value as number;
      return c.inclusive ? (v) => (v as number) <= max : (v) => (v as number) < max;
    }
    case 'string_format': {
      const re = c.pattern;
      // a global or sticky pattern carries state from one test to the next
      if (c.format !== 'regex' || !(re instanceof RegExp) || re.global || re.sticky) return null;
      return (v) => re.test(v as string);
    }
    case 'length_equals':
      return (v) => (v as { length: number }).length === c.length;
    case 'min_length':
      return (v) => (v as { length: number }).length >= (c.minimum as number);
    case 'max_length':
      return (v) => (v as { length: number }).length <= (c.maximum as number);
    default:
      return null;
  }
}

/** The kind's own test, without its checks; null when the kind is not known here. */
function kindOf(def: Def): Accept | null {
  switch (def.type) {
    case 'string':
      return (v) => typeof v === 'string';
    case 'number':
      return (v) => typeof v === 'number' && Number.isFinite(v);
    case 'boolean':
      return (v) => typeof v === 'boolean';
    case 'null':
      return (v) => v === null;
    case 'never':
      return never;
    case 'literal': {
      const values = def.values as readonly unknown[];
      return (v) => values.includes(v);
    }
    case 'enum': {
      const values = new Set(Object.values(def.entries as Record<string, unknown>));
      return (v) => values.has(v);
    }
    case 'unknown':
      return () => true;
    case 'default': {
      // an absent value zod fills in: not the value given
      const inner = fastAccept(def.innerType);
      return (v) => v !== undefined && inner(v);
    }
    case 'optional': {
      const inner = fastAccept(def.innerType);
      return (v) => v === undefined || inner(v);
    }
    case 'nullable': {
      const inner = fastAccept(def.innerType);
      return (v) => v === null || inner(v);
    }
    case 'array': {
      const element = fastAccept(def.element);
      return (v) => {
        if (!Array.isArray(v)) return false;
        for (let i = 0; i < v.length; i++) if (!element(v[i])) return false;
        return true;
      };
    }
    case 'record': {
      const key = fastAccept(def.keyType);
      const value = fastAccept(def.valueType);
      return (v) => isRecord(v) && Object.keys(v).every((k) => key(k) && value(v[k]));
    }
    case 'union': {
      // a discriminated union routes by its key to the one option that has it: any that accepts is it
      const options = (def.options as readonly unknown[]).map(fastAccept);
      return (v) => {
        for (let i = 0; i < options.length; i++) if (options[i]!(v)) return true;
        return false;
      };
    }
    case 'object': {
      const keys = Object.keys(def.shape as Record<string, unknown>);
      const accepts = keys.map((k) => fastAccept((def.shape as Record<string, unknown>)[k]));
      const known = new Set(keys);
      return (v) => {
        if (!isRecord(v)) return false;
        for (let i = 0; i < keys.length; i++) if (!accepts[i]!(v[keys[i]!])) return false;
        // a key the shape lacks: a strict object refuses it, any other drops it (an unequal value)
        for (const k in v) if (!known.has(k)) return false;
        return true;
      };
    }
    default:
      return null;
  }
}

const made = new WeakMap<object, Accept>();

/** The fast test for `schema` (see the top of this file), made at its first use and kept. */
export function fastAccept(schema: z.ZodType | unknown): Accept {
  let accept = made.get(schema as object);
  if (accept === undefined) made.set(schema as object, (accept = make(schema)));
  return accept;
}

function make(schema: unknown): Accept {
  const def = defOf(schema);
  const kind = kindOf(def);
  if (kind === null) return never;
  // a format schema (z.int32(), z.email()…) is its own check
  const own = typeof def.check === 'string' ? [checkOf(def as unknown as CheckDef)] : [];
  const checks = [...own, ...(def.checks ?? []).map((c) => checkOf(c._zod.def))];
  if (checks.some((c) => c === null)) return never;
  if (checks.length === 0) return kind;
  const all = checks as Accept[];
  return (v) => kind(v) && all.every((c) => c(v));
}
