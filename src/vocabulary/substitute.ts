// Suite values hold "${name}" references (discovered variables, a sequence's params): one walker
// maps every string of a value, keeping arrays and objects as they are.

/** `v` with every string replaced by `f(string)`, through arrays and objects. */
export function mapStrings(v: unknown, f: (s: string) => unknown): unknown {
  if (typeof v === 'string') return f(v);
  if (Array.isArray(v)) return v.map((x) => mapStrings(x, f));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mapStrings(x, f)]));
  return v;
}

/** A string that is exactly one "${name}" reference: that name, else null. */
export const WHOLE_REFERENCE = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/;
export const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
