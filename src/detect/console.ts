// Console line anatomy: "[  12.345678][ T123] text" — timestamp, optional caller (task T or CPU C)
// from CONFIG_PRINTK_CALLER. The caller is the "context" that separates interleaved reports.

const CONSOLE_PREFIX = /^(?:\*\* [0-9]+ printk messages dropped \*\* )?(?:.* login: )?(?:<[0-9]+>)?\[ *[0-9]+\.[0-9]+\](\[ *(?:C|T)[0-9]+\])? /;
const QUESTIONABLE = /(\[<[0-9a-f]+>\])? \? /;

/** "" = no timestamp; "console" = timestamp without caller; else the caller tag, e.g. "[  T123]". */
export type Context = string;
export const CONSOLE = 'console';

export interface ConsoleLine {
  /** Line with a trailing CR removed, prefix kept (headers are matched on this). */
  raw: string;
  context: Context;
  /** Text after the timestamp/caller prefix. */
  text: string;
  /** A "? func+0x.." frame: the unwinder's guess, never evidence. */
  questionable: boolean;
}

export function parseLine(line: string): ConsoleLine {
  const raw = line.endsWith('\r') ? line.slice(0, -1) : line;
  const m = raw.charCodeAt(0) === 91 /* [ */ || raw.includes('] ') ? CONSOLE_PREFIX.exec(raw) : null;
  if (!m) return { raw, context: '', text: raw, questionable: false };
  const context = m[1] ?? CONSOLE;
  const text = raw.slice(raw.indexOf('] ') + 2);
  const questionable = !text.includes('<EOI>') && (QUESTIONABLE.test(text) || text.endsWith(' (unreliable)'));
  return { raw, context, text, questionable };
}

export const isTaskContext = (c: Context): boolean => /\[ *T[0-9]+\]/.test(c);
export const isCpuContext = (c: Context): boolean => /\[ *C[0-9]+\]/.test(c);
