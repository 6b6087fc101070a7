// Table-driven golden logs written for this project (testdata/*.console): header lines say what the
// detector must find (TITLE:/KIND: per finding in log order; FRAME:/CPU:/PID:/COMM:/TAINT:/CORRUPTED:
// for the first), then a blank line, then the console log. No TITLE: means no finding. Files named
// captured-* are real guests' consoles (bin/capture-consoles.js and the project's runs).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { detect, FindingSchema } from './index.js';

const dir = join(import.meta.dirname, 'testdata');
const cases = readdirSync(dir)
  .filter((n) => n.endsWith('.console'))
  .sort()
  .map((name) => {
    const text = readFileSync(join(dir, name), 'utf8');
    const split = text.indexOf('\n\n');
    const head = text.slice(0, split).split('\n');
    const all = (k: string): string[] => head.filter((l) => l.startsWith(`${k}: `)).map((l) => l.slice(k.length + 2));
    return { name, text: text.slice(split + 2), head: all, offset: text.slice(0, split + 2).split('\n').length - 1 };
  });

describe('golden console logs', () => {
  it('has samples', () => expect(cases.length).toBeGreaterThanOrEqual(15));

  it.each(cases)('$name', ({ text, head, offset }) => {
    const findings = detect(text);
    for (const f of findings) expect(FindingSchema.parse(f)).toEqual(f);
    expect(findings.map((f) => f.title)).toEqual(head('TITLE'));
    expect(findings.map((f) => f.kind)).toEqual(head('KIND'));
    const first = findings[0];
    if (!first) return;
    const [frame] = head('FRAME');
    if (frame !== undefined) expect(first.frame).toBe(frame);
    const [cpu] = head('CPU');
    if (cpu !== undefined) expect(first.cpu).toBe(Number(cpu));
    const [pid] = head('PID');
    if (pid !== undefined) expect(first.pid).toBe(Number(pid));
    const [comm] = head('COMM');
    if (comm !== undefined) expect(first.comm).toBe(comm);
    const [taint] = head('TAINT');
    if (taint !== undefined) expect(first.taint).toBe(taint);
    expect(first.corrupted).toBe(head('CORRUPTED')[0] === 'Y');
    // The header line really is where the finding starts.
    const lines = text.split('\n');
    expect(lines[first.startLine - 1]).toMatch(/BUG|WARNING|INFO|Oops|general protection|Kernel panic|UBSAN|kmemleak|watchdog|unreferenced|VFS: Busy inodes/);
    expect(first.endLine).toBeGreaterThanOrEqual(first.startLine);
    void offset;
  });
});
