// results.ktap: the run in KTAP v1 (the kernel's Documentation/dev-tools/ktap.rst), so LAVA,
// tuxrun or a kselftest runner can run us as a test and parse the outcome. One test per case
// execution, its probes as subtests; a verdict in failOn or a harness error is "not ok", a skipped
// case is "ok … # SKIP", and diagnostic lines carry the verdict, the report titles and the reason.
import { DEFAULT_FAIL_ON } from './fail-on.js';
import { caseImage, findingTitles, iterationsOf, runImages } from './model.js';
import type { CaseResult, RunResult, Verdict } from '../model/run.js';

export interface KtapOptions {
  failOn?: readonly Verdict[];
}

/** KTAP gives "#" a meaning in a result line (a directive follows) and ends one at a newline. */
function clean(s: string): string {
  return s
    .replace(/[\r\n]+/g, ' ')
    .replace(/#/g, 'no.')
    .trim();
}

function testName(run: RunResult, c: CaseResult): string {
  const parts = [c.id];
  if (runImages(run).length > 1) parts.push(`on ${caseImage(run, c)}`);
  if (iterationsOf(run, c) > 1) parts.push(`iteration ${c.iteration}`);
  return clean(parts.join(' '));
}

function probeLines(c: CaseResult, name: string, indent: string): string[] {
  if (c.probes.length === 0) return [];
  // the subtest's name is its parent's result line's (kunit_parser pairs them by it)
  const lines = [`${indent}KTAP version 1`, `${indent}# Subtest: ${name}`, `${indent}1..${c.probes.length}`];
  c.probes.forEach((p, i) => {
    const okAnswer = p.revents?.length ? p.revents.join('|') : p.op === 'poll' ? 'no events' : (p.fault ?? 'ok');
    const answer = p.timedOut ? 'blocks' : p.ok ? okAnswer : (p.errno ?? 'failed');
    lines.push(`${indent}${p.accepted ? 'ok' : 'not ok'} ${i + 1} ${clean(`${p.op} on ${p.fd} gives ${answer}`)}`);
  });
  return lines;
}

function caseLines(run: RunResult, c: CaseResult, n: number, failOn: readonly Verdict[]): string[] {
  const lines = [`# ${clean(`${c.id}: ${c.verdict}`)}`];
  for (const t of findingTitles(c)) lines.push(`# ${clean(`title: ${t}`)}`);
  lines.push(`# ${clean(`reason: ${c.reason}`)}`);
  if (c.error) lines.push(`# ${clean(`error: ${c.error}`)}`);
  const name = testName(run, c);
  lines.push(...probeLines(c, name, '    '));
  if (c.verdict === 'skipped') lines.push(`ok ${n} ${name} # SKIP ${clean(c.reason)}`);
  else if (c.verdict === 'error') lines.push(`not ok ${n} ${name} # error: ${clean(c.error ?? c.reason)}`);
  else lines.push(`${failOn.includes(c.verdict) ? 'not ok' : 'ok'} ${n} ${name} # ${c.verdict}`);
  return lines;
}

export function renderKtap(run: RunResult, opts: KtapOptions = {}): string {
  const failOn = opts.failOn ?? DEFAULT_FAIL_ON;
  const lines = ['KTAP version 1', `# hotunplug-ci run ${clean(run.runId)}: ${runImages(run).map(clean).join(', ') || 'no image'}`, `1..${run.cases.length}`];
  run.cases.forEach((c, i) => lines.push(...caseLines(run, c, i + 1, failOn)));
  if (!run.complete) lines.push('# the run did not complete: cases after the last one listed were not run');
  if (!run.controls.trusted) lines.push(`# controls: ${clean(run.controls.detail)}`);
  return `${lines.join('\n')}\n`;
}
