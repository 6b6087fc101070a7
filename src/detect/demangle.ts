// Frame names as syzkaller reads them: it demangles every frame (C++ and Rust) before its skip rules
// and titles, without parameters. Kernel Rust uses the v0 scheme (RFC 2603); older toolchains the
// legacy one (_ZN..17h<hash>E); C++ frames appear in user-space-ish test logs. A name we cannot
// read stays as the kernel printed it.

/** Demangled name, or the input unchanged when it is not a mangled name we can read. */
export function demangle(name: string): string {
  try {
    if (name.startsWith('_R')) return new V0(name.slice(2)).symbol() ?? name;
    if (name.startsWith('_ZN')) return itaniumNested(name) ?? name;
    if (/^_Z\d/.test(name)) return itaniumPlain(name) ?? name;
  } catch {
    // malformed: keep the name as printed
  }
  return name;
}

/** `_Z<len><name><params>`: the name without its parameters. */
function itaniumPlain(s: string): string | null {
  const m = /^_Z(\d+)/.exec(s)!;
  const len = Number(m[1]);
  const id = s.slice(m[0].length, m[0].length + len);
  return id.length === len ? id : null;
}

/** `_ZN<len><id>..E<params>` (C++ nested names, Rust legacy with its trailing 17h<hash>): `a::b`. */
function itaniumNested(s: string): string | null {
  const parts: string[] = [];
  let i = 3;
  while (i < s.length && s[i] !== 'E') {
    const m = /^\d+/.exec(s.slice(i));
    if (!m) return null;
    i += m[0].length;
    const len = Number(m[0]);
    parts.push(s.slice(i, i + len));
    i += len;
  }
  if (s[i] !== 'E' || parts.length === 0) return null;
  // the legacy Rust hash component
  if (parts.length > 1 && /^h[0-9a-f]{16}$/.test(parts.at(-1)!)) parts.pop();
  return parts.map(unescapeLegacy).join('::');
}

function unescapeLegacy(p: string): string {
  const table: Record<string, string> = { SP: '@', BP: '*', RF: '&', LT: '<', GT: '>', LP: '(', RP: ')', C: ',' };
  return p
    .replace(/\$([A-Z]{1,2})\$/g, (all, k: string) => table[k] ?? all)
    .replace(/\$u([0-9a-f]+)\$/g, (_, h: string) => String.fromCodePoint(Number.parseInt(h, 16)))
    .replace(/\.\./g, '::')
    .replace(/^_\$/, '$');
}

const BASIC: Record<string, string> = {
  a: 'i8',
  b: 'bool',
  c: 'char',
  d: 'f64',
  e: 'str',
  f: 'f32',
  h: 'u8',
  i: 'isize',
  j: 'usize',
  l: 'i32',
  m: 'u32',
  n: 'i128',
  o: 'u128',
  p: '_',
  s: 'i16',
  t: 'u16',
  u: '()',
  v: '...',
  x: 'i64',
  y: 'u64',
  z: '!',
};

/** Rust v0: a recursive-descent reader over the symbol after `_R`, printing as rustc-demangle does without hashes. */
class V0 {
  private pos = 0;
  private depth = 0;
  constructor(private readonly s: string) {}

  symbol(): string | null {
    // an optional encoding version
    while (/[0-9]/.test(this.peek())) this.pos++;
    const out = this.path(false);
    // an instantiating crate may follow; it is not part of the name
    return out;
  }

  private peek(): string {
    return this.s[this.pos] ?? '';
  }
  private next(): string {
    const c = this.s[this.pos++];
    if (c === undefined) throw new Error('end of symbol');
    return c;
  }
  private eat(c: string): boolean {
    if (this.peek() !== c) return false;
    this.pos++;
    return true;
  }

  private base62(): number {
    if (this.eat('_')) return 0;
    let n = 0;
    for (;;) {
      const c = this.next();
      if (c === '_') return n + 1;
      const d = /[0-9]/.test(c) ? c.charCodeAt(0) - 48 : /[a-z]/.test(c) ? c.charCodeAt(0) - 87 : /[A-Z]/.test(c) ? c.charCodeAt(0) - 29 : -1;
      if (d < 0) throw new Error('bad base-62 digit');
      n = n * 62 + d;
    }
  }

  /** `s<base62>`: the disambiguator (0 when absent). */
  private disambiguator(): number {
    return this.eat('s') ? this.base62() + 1 : 0;
  }

  private ident(): string {
    this.disambiguator();
    return this.identAfterDisambiguator();
  }

  private backref<T>(read: () => T): T {
    const target = this.base62();
    if (target >= this.pos - 1) throw new Error('backref forward');
    const saved = this.pos;
    this.pos = target;
    try {
      return read();
    } finally {
      this.pos = saved;
    }
  }

  private guard(): void {
    if (++this.depth > 200) throw new Error('too deep');
  }

  /** A path; `inType` prints generic args as `<..>` rather than `::<..>`. */
  private path(inType: boolean): string {
    this.guard();
    try {
      const tag = this.next();
      switch (tag) {
        case 'C':
          return this.ident();
        case 'M': {
          this.disambiguator();
          this.path(false); // the impl's own path: not printed
          return `<${this.type()}>`;
        }
        case 'X': {
          this.disambiguator();
          this.path(false);
          const self = this.type();
          return `<${self} as ${this.path(true)}>`;
        }
        case 'Y': {
          const self = this.type();
          return `<${self} as ${this.path(true)}>`;
        }
        case 'N': {
          const ns = this.next();
          const parent = this.path(inType);
          const dis = this.disambiguator();
          const name = this.identAfterDisambiguator();
          if (/[A-Z]/.test(ns)) {
            const what = ns === 'C' ? 'closure' : ns === 'S' ? 'shim' : ns;
            return `${parent}::{${what}${name ? `:${name}` : ''}#${dis}}`;
          }
          return name ? `${parent}::${name}` : parent;
        }
        case 'I': {
          const base = this.path(inType);
          const args: string[] = [];
          while (!this.eat('E')) args.push(this.genericArg());
          return `${base}${inType ? '' : '::'}<${args.join(', ')}>`;
        }
        case 'B':
          return this.backref(() => this.path(inType));
        default:
          throw new Error(`path tag ${tag}`);
      }
    } finally {
      this.depth--;
    }
  }

  /** An identifier whose disambiguator was already read. */
  private identAfterDisambiguator(): string {
    const puny = this.eat('u');
    const m = /^\d+/.exec(this.s.slice(this.pos));
    if (!m) throw new Error('identifier length');
    this.pos += m[0].length;
    this.eat('_');
    const len = Number(m[0]);
    const id = this.s.slice(this.pos, this.pos + len);
    if (id.length !== len) throw new Error('identifier past the end');
    this.pos += len;
    if (puny) throw new Error('punycode identifiers are not read');
    return id;
  }

  private genericArg(): string {
    if (this.eat('L')) {
      this.base62();
      return "'_";
    }
    if (this.eat('K')) return this.constValue();
    return this.type();
  }

  private constValue(): string {
    if (this.eat('p')) return '_';
    if (this.eat('B')) return this.backref(() => this.constValue());
    const ty = this.next();
    const neg = this.eat('n');
    let hex = '';
    while (!this.eat('_')) hex += this.next();
    if (ty === 'b') return hex === '1' ? 'true' : 'false';
    const v = hex === '' ? 0n : BigInt(`0x${hex}`);
    return `${neg ? '-' : ''}${v}`;
  }

  private type(): string {
    this.guard();
    try {
      const c = this.peek();
      if (BASIC[c] !== undefined) {
        this.pos++;
        return BASIC[c];
      }
      if ('CMXYNI'.includes(c)) return this.path(true);
      this.pos++;
      switch (c) {
        case 'A': {
          const t = this.type();
          return `[${t}; ${this.constValue()}]`;
        }
        case 'S':
          return `[${this.type()}]`;
        case 'T': {
          const ts: string[] = [];
          while (!this.eat('E')) ts.push(this.type());
          return ts.length === 1 ? `(${ts[0]},)` : `(${ts.join(', ')})`;
        }
        case 'R':
        case 'Q': {
          if (this.eat('L')) this.base62();
          return `&${c === 'Q' ? 'mut ' : ''}${this.type()}`;
        }
        case 'P':
          return `*const ${this.type()}`;
        case 'O':
          return `*mut ${this.type()}`;
        case 'B':
          return this.backref(() => this.type());
        default:
          throw new Error(`type tag ${c}`);
      }
    } finally {
      this.depth--;
    }
  }
}
