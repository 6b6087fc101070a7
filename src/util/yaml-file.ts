// A YAML (or JSON) document that remembers where each value came from, so a bad value is reported
// with its file, path and line. Shared by suites and the guest's vocabulary.
import { readFileSync } from 'node:fs';
import { isNode, LineCounter, parseDocument } from 'yaml';
import { ConfigError } from '../errors.js';

export interface LocatedDoc {
  file: string;
  /** the document as plain data */
  data: unknown;
  /** 1-based line of the value at `path` (or of its nearest parent), or null */
  lineOf(path: readonly (string | number)[]): number | null;
  /** a ConfigError naming the file, the path and its line */
  error(path: readonly (string | number)[], message: string): ConfigError;
}

export function parseLocated(text: string, file: string): LocatedDoc {
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
  return parseLocated(text, file);
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
