import { describe, expect, it } from 'vitest';
import { runJsonText, type CaseJsonMemo } from './run-json.js';
import type { RunResult } from '../model/run.js';
import { loadFixture } from './testing/fixtures.js';

describe('runJsonText', () => {
  const full = loadFixture('run-two-images');
  const table: Array<{ name: string; run: RunResult }> = [
    { name: 'a finished run with many cases', run: full },
    { name: 'no cases yet', run: { ...full, cases: [] } },
    { name: 'one case', run: { ...full, cases: full.cases.slice(0, 1) } },
    {
      name: 'text that looks like replacement patterns and the marker',
      run: { ...full, cases: [{ ...full.cases[0]!, reason: '$& $\' $` $$ \u0000cases\u0000 "cases"' }] },
    },
  ];
  for (const t of table) {
    it(`is JSON.stringify(run, null, 2) exactly: ${t.name}`, () => {
      expect(runJsonText(t.run)).toBe(`${JSON.stringify(t.run, null, 2)}\n`);
      expect(runJsonText(t.run, new WeakMap())).toBe(`${JSON.stringify(t.run, null, 2)}\n`);
    });
  }

  it('stringifies a case once across saves of a growing run', () => {
    const memo: CaseJsonMemo = new WeakMap();
    for (let i = 1; i <= full.cases.length; i++) runJsonText({ ...full, cases: full.cases.slice(0, i) }, memo);
    for (const c of full.cases) expect(memo.has(c)).toBe(true);
    // what the memo holds is used: a changed entry shows up in the output
    memo.set(full.cases[0]!, '    {"memo": true}');
    expect(JSON.parse(runJsonText(full, memo)).cases[0]).toEqual({ memo: true });
  });
});
