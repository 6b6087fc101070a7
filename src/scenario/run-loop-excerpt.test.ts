import { describe, expect, it } from 'vitest';
import { capExcerpt } from './run-loop.js';

const finding = (startLine: number, endLine: number) => ({
  kind: 'panic',
  title: 'kernel panic',
  altTitles: [],
  frame: null,
  startLine,
  endLine,
  report: 'r',
  corrupted: false,
});

describe('capExcerpt: a printk flood does not go into run.json whole', () => {
  it('leaves a small excerpt alone', () => {
    const r = { consoleExcerpt: 'a\nb\nc', findings: [finding(2, 3)] };
    capExcerpt(r, 1000);
    expect(r).toEqual({ consoleExcerpt: 'a\nb\nc', findings: [finding(2, 3)] });
  });

  it('keeps the edges and each finding with context, says what it dropped, renumbers findings', () => {
    const lines = Array.from({ length: 5000 }, (_, i) => `line ${i + 1} ${'x'.repeat(200)}`);
    lines[3999] = 'Kernel panic - not syncing: sysrq triggered crash';
    const r = { consoleExcerpt: lines.join('\n'), findings: [finding(4000, 4010)] };
    capExcerpt(r, 64 * 1024);
    const out = r.consoleExcerpt.split('\n');
    expect(Buffer.byteLength(r.consoleExcerpt)).toBeLessThan(200 * 1024);
    expect(out[0]).toMatch(/^line 1 /);
    expect(out.at(-1)).toMatch(/^line 5000 /);
    expect(out[r.findings[0]!.startLine - 1]).toBe('Kernel panic - not syncing: sysrq triggered crash');
    expect(out[r.findings[0]!.endLine - 1]).toMatch(/^line 4010 /);
    const dropped = out.filter((l) => l.startsWith('[hotunplug-ci:'));
    expect(dropped).toHaveLength(2);
    expect(dropped[0]).toMatch(/^\[hotunplug-ci: 3769 console lines dropped/); // lines 201…3969
  });
});
