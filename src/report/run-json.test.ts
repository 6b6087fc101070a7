import { describe, expect, it } from 'vitest';
import { runJsonParts, type CaseJsonMemo } from './run-json.js';
import type { RunResult } from '../model/run.js';
import { loadFixture } from './testing/fixtures.js';

/** run.json's parts joined, as the writev writes them */
const runJsonBytes = (...a: Parameters<typeof runJsonParts>): Buffer => Buffer.concat(runJsonParts(...a));

describe('runJsonParts', () => {
  const full = loadFixture('run-two-images');
  const table: Array<{ name: string; run: RunResult }> = [
    { name: 'a finished run with many cases', run: full },
    { name: 'no cases yet', run: { ...full, cases: [] } },
    { name: 'one case', run: { ...full, cases: full.cases.slice(0, 1) } },
    {
      name: 'text that looks like replacement patterns and the marker, and bytes beyond ASCII',
      run: { ...full, cases: [{ ...full.cases[0]!, reason: '$& $\' $` $$ \u0000cases\u0000 "cases" — µs ✓' }] },
    },
  ];
  for (const t of table) {
    it(`is JSON.stringify(run, null, 2) exactly: ${t.name}`, () => {
      expect(runJsonBytes(t.run).toString()).toBe(`${JSON.stringify(t.run, null, 2)}\n`);
      expect(runJsonBytes(t.run, new WeakMap()).toString()).toBe(`${JSON.stringify(t.run, null, 2)}\n`);
    });
  }

  it('stringifies a case once across saves of a growing run', () => {
    const memo: CaseJsonMemo = new WeakMap();
    for (let i = 1; i <= full.cases.length; i++) runJsonBytes({ ...full, cases: full.cases.slice(0, i) }, memo);
    for (const c of full.cases) expect(memo.has(c)).toBe(true);
    // what the memo holds is used: a changed entry shows up in the output
    memo.set(full.cases[0]!, Buffer.from('    {"memo": true}'));
    expect(JSON.parse(runJsonBytes(full, memo).toString()).cases[0]).toEqual({ memo: true });
  });
});
