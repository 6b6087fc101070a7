// run.json's bytes. A run saves run.json again and again as its cases come in; building and encoding the whole text each
// time grows as n². A case never changes once it is in the run, so its bytes are made once and kept,
// and a save only joins them between the run's own (small) fields.
// The output is byte-for-byte `JSON.stringify(run, null, 2)` plus a newline, as UTF-8.
import type { CaseResult, RunResult } from '../model/run.js';

/** Each case's indented JSON as UTF-8, by case object (a case is not modified once it is in a run). */
export type CaseJsonMemo = WeakMap<CaseResult, Buffer>;

const CASES_MARK = '\u0000cases\u0000';
const CASES_MARK_JSON = JSON.stringify(CASES_MARK);
/** cases are array items two levels down, `{ "cases": [ <here> ] }`, as in `[[ <here> ]]` */
const NESTED_OPEN = '[\n  [\n';
const NESTED_CLOSE = '\n  ]\n]';
const OPEN = Buffer.from('[\n');
const BETWEEN = Buffer.from(',\n');
const CLOSE = Buffer.from('\n  ]');

function caseJson(c: CaseResult, memo: CaseJsonMemo | undefined): Buffer {
  let bytes = memo?.get(c);
  if (bytes === undefined) {
    // stringified two levels down, it comes indented as it stands in run.json: no re-indenting copy
    const nested = JSON.stringify([[c]], null, 2);
    bytes = Buffer.from(nested.slice(NESTED_OPEN.length, nested.length - NESTED_CLOSE.length));
    memo?.set(c, bytes);
  }
  return bytes;
}

/** run.json's bytes in parts, to be written in order: the kept case texts are not copied into one buffer. */
export function runJsonParts(run: RunResult, memo?: CaseJsonMemo): Buffer[] {
  // no replacer function: V8's stringify is several times slower calling one for every key
  const outer = JSON.stringify({ ...run, cases: CASES_MARK }, null, 2);
  const at = outer.indexOf(CASES_MARK_JSON);
  const parts: Buffer[] = [Buffer.from(outer.slice(0, at))];
  if (run.cases.length === 0) parts.push(Buffer.from('[]'));
  else {
    parts.push(OPEN);
    run.cases.forEach((c, i) => {
      if (i > 0) parts.push(BETWEEN);
      parts.push(caseJson(c, memo));
    });
    parts.push(CLOSE);
  }
  parts.push(Buffer.from(`${outer.slice(at + CASES_MARK_JSON.length)}\n`));
  return parts;
}
