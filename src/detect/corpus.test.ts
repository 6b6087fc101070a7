// Agreement with syzkaller's own golden console logs (shared corpus, not part of this repo).
// Each file: header lines (TITLE:, ALT:, TYPE:, CORRUPTED: …), a blank line, then the log.
// No TITLE: means no report is expected.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { detect } from './index.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const corpusDir = join(repoRoot, '..', 'shared', 'corpus', 'syzkaller-report');
const present = existsSync(corpusDir);

interface Case {
  name: string;
  titles: string[];
  corrupted: boolean;
  log: string;
}

function load(): Case[] {
  return readdirSync(corpusDir)
    .filter((n) => /^\d+$/.test(n))
    .sort((a, b) => Number(a) - Number(b))
    .map((name) => {
      const text = readFileSync(join(corpusDir, name), 'latin1');
      const split = text.indexOf('\n\n');
      const head = split === -1 ? '' : text.slice(0, split);
      const titles: string[] = [];
      let corrupted = false;
      for (const l of head.split('\n')) {
        if (l.startsWith('TITLE: ')) titles.push(l.slice(7));
        if (l === 'CORRUPTED: Y') corrupted = true;
      }
      return { name, titles, corrupted, log: split === -1 ? text : text.slice(split + 2) };
    });
}

describe.skipIf(!present)('syzkaller corpus agreement', () => {
  it('finds reports and titles them like syzkaller', () => {
    const cases = load();
    let reportAgree = 0;
    let titleAgree = 0;
    let withTitle = 0;
    let corruptAgree = 0;
    const misses: string[] = [];
    for (const c of cases) {
      const findings = detect(c.log);
      const expected = c.titles[0];
      const got = findings[0];
      if ((expected !== undefined) === (got !== undefined)) reportAgree++;
      if (expected !== undefined) {
        withTitle++;
        if (got?.title === expected) titleAgree++;
        if (got && got.corrupted === c.corrupted) corruptAgree++;
      }
      if (got?.title !== expected) misses.push(`${c.name}: want ${JSON.stringify(expected ?? null)} got ${JSON.stringify(got?.title ?? null)}`);
    }
    const pct = (n: number, d: number): string => ((100 * n) / d).toFixed(1);
    console.log(
      `corpus: ${cases.length} logs; report/no-report agreement ${pct(reportAgree, cases.length)}% ` +
        `(${reportAgree}/${cases.length}); exact first title ${pct(titleAgree, withTitle)}% (${titleAgree}/${withTitle}); ` +
        `corrupted flag ${pct(corruptAgree, withTitle)}%`,
    );
    console.log(`misses (${misses.length}):\n${misses.join('\n')}`);
    expect(cases.length).toBeGreaterThan(500);
    expect(reportAgree / cases.length).toBeGreaterThanOrEqual(0.98);
    expect(titleAgree / withTitle).toBeGreaterThanOrEqual(0.9);
  });
});

describe.skipIf(present)('syzkaller corpus agreement (corpus absent)', () => {
  it.skip(`skipped: corpus not found at ${corpusDir} (needs ../shared beside the repo)`, () => {});
});
