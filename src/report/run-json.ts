// run.json's text. A run saves run.json after every case, and stringifying every case again each
// time grows as n²; a case never changes once it is in the run, so its text is made once and kept.
// The output is byte-for-byte `JSON.stringify(run, null, 2)` plus a newline.
import type { CaseResult, RunResult } from '../model/run.js';

/** Each case's indented JSON, by case object (a case is not modified once it is in a run). */
export type CaseJsonMemo = WeakMap<CaseResult, string>;

const CASES_MARK = '\u0000cases\u0000';
const CASES_MARK_JSON = JSON.stringify(CASES_MARK);
/** cases are array items two levels down: `{ "cases": [ <here> ] }` */
const ITEM_INDENT = '    ';

function caseJson(c: CaseResult, memo: CaseJsonMemo | undefined): string {
  let text = memo?.get(c);
  if (text === undefined) {
    text = ITEM_INDENT + JSON.stringify(c, null, 2).replaceAll('\n', `\n${ITEM_INDENT}`);
    memo?.set(c, text);
  }
  return text;
}

export function runJsonText(run: RunResult, memo?: CaseJsonMemo): string {
  // no replacer function: V8's stringify is several times slower calling one for every key
  const outer = JSON.stringify({ ...run, cases: CASES_MARK }, null, 2);
  const cases = run.cases.length === 0 ? '[]' : `[\n${run.cases.map((c) => caseJson(c, memo)).join(',\n')}\n  ]`;
  // a function replacement: `$` in a case's text must not be read as a replacement pattern
  return `${outer.replace(CASES_MARK_JSON, () => cases)}\n`;
}
