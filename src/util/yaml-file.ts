// A YAML (or JSON) document that remembers where each value came from, so a bad value is reported
// with its file, path and line. Shared by suites and the guest's vocabulary.
// Parsing the YAML is most of what loading the suites costs, paid by every command: a file's data
// is kept in the cache under its text's hash, and the document is parsed again only to find a line.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { ConfigError } from '../errors.js';
import { writeFileAtomicSync } from './files.js';
import { cacheRoot } from './paths.js';

export interface LocatedDoc {
  file: string;
  /** the document as plain data */
  data: unknown;
  /** 1-based line of the value at `path` (or of its nearest parent), or null */
  lineOf(path: readonly (string | number)[]): number | null;
  /** a ConfigError naming the file, the path and its line */
  error(path: readonly (string | number)[], message: string): ConfigError;
}

// createRequire: dist/ is ESM, without a `require` of its own
const requireHere = createRequire(import.meta.url);
type Yaml = typeof import('yaml');
let yamlModule: Yaml | null = null;
/** The YAML parser, loaded on first use: with every file's data kept, most commands never parse. */
function yaml(): Yaml {
  return (yamlModule ??= requireHere('yaml') as Yaml);
}

export function parseLocated(text: string, file: string): LocatedDoc {
  const { isNode, LineCounter, parseDocument } = yaml();
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = e.linePos?.[0] ?? lineCounter.linePos(e.pos[0]);
    throw new ConfigError(file, pos ? `line ${pos.line}` : '', `not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${e.message.split('\n')[0]}`);
  }
  const lineOf = (p: readonly (string | number)[]): number | null => {
    for (let n = p.length; n >= 0; n--) {
      const node = doc.getIn(p.slice(0, n), true);
      if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
    }
    return null;
  };
  return {
    file,
    data: doc.toJS(),
    lineOf,
    error: (p, message) => {
      const line = lineOf(p);
      return new ConfigError(file, formatPath(p) + (line ? ` (line ${line})` : ''), message);
    },
  };
}

export function readLocated(file: string): LocatedDoc {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, '', `cannot read: ${(e as Error).message}`);
  }
  const kept = parsedCacheFile(text);
  const data = readKept(kept);
  if (data === undefined) {
    const doc = parseLocated(text, file);
    keep(kept, doc.data);
    return doc;
  }
  // a text that parsed once parses again: only a line number needs the document
  let doc: LocatedDoc | null = null;
  const lineOf = (p: readonly (string | number)[]): number | null => (doc ??= parseLocated(text, file)).lineOf(p);
  return {
    file,
    data,
    lineOf,
    error: (p, message) => {
      const line = lineOf(p);
      return new ConfigError(file, formatPath(p) + (line ? ` (line ${line})` : ''), message);
    },
  };
}

const YAML_VERSION: string = requireHere('yaml/package.json').version;

/** Where the data of a YAML text is kept: by the hash of the text and of the parser's version. */
function parsedCacheFile(text: string): string {
  const hash = createHash('sha256').update(`yaml ${YAML_VERSION}\0`).update(text).digest('hex').slice(0, 32);
  return join(cacheRoot(), 'parsed', `${hash}.json`);
}

function readKept(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Keeps `data` when JSON holds it exactly (not .inf, NaN, -0); the cache is only ever a shortcut. */
function keep(file: string, data: unknown): void {
  const json = JSON.stringify(data);
  if (json === undefined || !isDeepStrictEqual(JSON.parse(json), data)) return;
  try {
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileAtomicSync(file, json);
  } catch {
    // not kept: the next start parses the file again
  }
}

export function formatPath(p: readonly (string | number)[]): string {
  let s = '';
  for (const k of p) {
    if (typeof k === 'number') s += `[${k}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(k)) s += s ? `.${k}` : k;
    else s += `[${JSON.stringify(k)}]`;
  }
  return s || '(top level)';
}
