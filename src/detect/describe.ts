// Turns the text of one report into a title: every format of the report's oops row is tried, the
// earliest title match in the text wins, its groups and extracted frames fill the template.
import type { OopsRow, TitleFormat } from './formats.js';
import { FRAME_LINES, RISCV_STACK_START, STACK_START } from './pattern.js';
import { FRAME_STRIP_PREFIXES } from './formats.js';
import { extractFrames, type PickedFrame } from './stack.js';

export interface Description {
  title: string;
  altTitles: string[];
  corruptedReason: string;
  format: TitleFormat | null;
}

function fill(template: string, args: readonly string[]): string {
  return template.replace(/\{(\d+)\}/g, (_, n: string) => args[Number(n) - 1] ?? '');
}

export function describe(text: string, oops: OopsRow): Description {
  let startPos = text.length;
  let title = '';
  let altTitles: string[] = [];
  let corrupted = '';
  let format: TitleFormat | null = null;
  let matchedTitle = false;
  for (const f of oops.formats) {
    const tm = f.title.exec(text);
    if (!tm || tm.index > startPos) continue;
    if (tm.index === startPos && title !== '') continue;
    if (tm.index < startPos) {
      title = '';
      format = null;
      startPos = tm.index;
    }
    matchedTitle = true;
    let m: RegExpExecArray | null = tm;
    if (f.report) {
      m = f.report.exec(text);
      if (!m) continue;
    }
    const prefix = m.slice(1).map((g) => g ?? '');
    corrupted = '';
    let frames: PickedFrame[] = [];
    if (f.stack) {
      const lines = text.slice(m.index).split('\n');
      const x = extractFrames(f.stack, lines);
      frames = x.frames;
      if (!x.ok) corrupted = 'extracted no frames';
    }
    const args = [...prefix, ...frames.map((x) => x.canonical)];
    title = fill(f.fmt, args);
    altTitles.push(...(f.alt ?? []).map((a) => fill(a, args)));
    // the frames as printed and with each one prefix trimmed make alternative titles too, so a
    // report still matches one titled before a wrapper's name changed (syzkaller's partiallyStrippedArgs)
    for (const seq of partiallyStripped(prefix, frames)) {
      const alt = fill(f.fmt, seq);
      if (alt !== title) altTitles.push(alt);
      for (const a of f.alt ?? []) altTitles.push(fill(a, seq));
    }
    altTitles = [...new Set(altTitles)];
    format = f;
  }
  if (title === '') {
    if (matchedTitle) corrupted = 'matched title but not report regexp';
    const pos = text.indexOf(oops.header);
    if (pos === -1) return { title: '', altTitles: [], corruptedReason: corrupted, format: null };
    const end = text.indexOf('\n', pos);
    title = text.slice(pos, end === -1 ? undefined : end);
  }
  if (corrupted === '' && format?.corrupted) corrupted = 'report format is marked as corrupted';
  return { title, altTitles, corruptedReason: corrupted, format };
}

function partiallyStripped(prefix: readonly string[], frames: readonly PickedFrame[]): string[][] {
  const out: string[][] = [[...prefix, ...frames.map((f) => f.raw)]];
  for (const p of FRAME_STRIP_PREFIXES) {
    if (frames.some((f) => f.raw.startsWith(p))) out.push([...prefix, ...frames.map((f) => (f.raw.startsWith(p) ? f.raw.slice(p.length) : f.raw))]);
  }
  return out;
}

/** Structural damage checks once a title is known: merged timestamps, missing or empty traces. */
export function corruptionOf(title: string, report: string, format: TitleFormat | null): string {
  if (/\[ *[0-9]+\.[0-9]+\]/.test(title)) return 'title matches corrupted regexp';
  if (!format) return '';
  if (format.noStackTrace) return '';
  // every trace heading must be followed by a frame within 15 lines, and there must be one trace
  let hasStackTrace = false;
  for (const key of STACK_START) {
    const m = key.exec(report);
    if (!m) continue;
    const frames = report.slice(m.index).split('\n');
    if (frames.length < 4) return 'call trace is missed';
    let found = false;
    for (let i = 1; i < 16 && i < frames.length; i++) {
      const ln = frames[i]!;
      if (STACK_START.some((k) => k.test(ln))) break;
      if (ln.includes('(stack is not available)') || FRAME_LINES.some((r) => r.test(ln))) {
        found = hasStackTrace = true;
        break;
      }
    }
    if (!found && key !== RISCV_STACK_START) return 'no frames in a stack trace';
  }
  if (!hasStackTrace) return 'no stack trace in report';
  return '';
}
