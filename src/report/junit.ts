// junit.xml: a <testsuite> per subsystem (per image and subsystem when the run has several images),
// a <testcase> per case execution. Verdicts in failOn → <failure>, error → <error>, skipped → <skipped>;
// every other verdict passes (its verdict is in the testcase's properties and system-out). A flaky
// case (its verdict varied across iterations) is one <testcase>, as Maven Surefire writes a test that
// passed on a rerun: <flakyFailure> per failing run, a <failure> only when every run failed.
import { DEFAULT_FAIL_ON } from './fail-on.js';
import { caseImage, caseName, findingTitles, iterationsOf, runImages, runSubsystems } from './model.js';
import { VERDICT_SEVERITY, worstVerdict, type BootRecord, type CaseResult, type RunResult, type Verdict } from '../model/run.js';
import { rateText } from '../model/rates.js';
import { xmlDocument, type XmlNode } from './xml.js';

export interface JunitOptions {
  failOn?: readonly Verdict[];
}

const EXCERPT_MAX = 64 * 1024;

function seconds(ms: number): string {
  return (Math.max(0, ms) / 1000).toFixed(3);
}

function tail(s: string, max: number): string {
  return s.length <= max ? s : `[… ${s.length - max} characters cut …]\n${s.slice(s.length - max)}`;
}

function failureBody(c: CaseResult): string {
  const parts = [`verdict: ${c.verdict}`, `reason: ${c.reason}`];
  for (const t of findingTitles(c)) parts.push(`finding: ${t}`);
  if (c.error) parts.push(`error: ${c.error}`);
  if (c.consoleExcerpt) parts.push('', 'console excerpt:', tail(c.consoleExcerpt, EXCERPT_MAX));
  parts.push('', `repro: ${c.repro}`);
  return parts.join('\n');
}

function systemOut(c: CaseResult): string {
  const lines = [`verdict: ${c.verdict} — ${c.reason}`];
  if (c.removal) lines.push(`removal: ${c.removal.method} completed=${c.removal.completed} ms=${c.removal.ms ?? 'null'}`);
  for (const p of c.probes)
    lines.push(
      `probe ${p.fd} ${p.op}: ${p.timedOut ? 'timed out' : p.ok ? 'ok' : (p.errno ?? 'failed')} (${p.ms} ms)${p.accepted ? '' : ' [not as declared]'}`,
    );
  for (const e of c.timeline) lines.push(`+${e.relMs} ms ${e.kind} ${e.label}${e.detail ? ` — ${e.detail}` : ''}`);
  lines.push(`repro: ${c.repro}`);
  return lines.join('\n');
}

function testcase(run: RunResult, c: CaseResult, failOn: readonly Verdict[]): XmlNode {
  const image = caseImage(run, c);
  const multi = runImages(run).length > 1;
  const name = iterationsOf(run, c) > 1 ? `${caseName(c)} #${c.iteration}` : caseName(c);
  const children: XmlNode[] = [];
  const title = c.findings[0]?.title ?? c.reason;
  if (failOn.includes(c.verdict)) {
    children.push({ name: 'failure', attrs: { type: c.verdict, message: `${c.verdict}: ${title}` }, text: failureBody(c) });
  } else if (c.verdict === 'error') {
    children.push({ name: 'error', attrs: { type: 'error', message: c.error ?? c.reason }, text: failureBody(c) });
  } else if (c.verdict === 'skipped') {
    children.push({ name: 'skipped', attrs: { message: c.missingOptions.length ? `${c.reason} (missing ${c.missingOptions.join(' ')})` : c.reason } });
  }
  children.push({
    name: 'properties',
    children: [
      { name: 'property', attrs: { name: 'verdict', value: c.verdict } },
      { name: 'property', attrs: { name: 'image', value: image } },
      { name: 'property', attrs: { name: 'iteration', value: c.iteration } },
      ...(c.vm ? [{ name: 'property', attrs: { name: 'kernel', value: c.vm.kernelRelease } }] : []),
    ],
  });
  children.push({ name: 'system-out', text: systemOut(c) });
  return {
    name: 'testcase',
    attrs: { name, classname: multi ? `hotunplug.${image}.${c.subsystem}` : `hotunplug.${c.subsystem}`, time: seconds(c.timings.durationMs) },
    children,
  };
}

/** One testcase for all iterations of a flaky case: its rate in the name's properties, a flakyFailure per failing run. */
function flakyTestcase(run: RunResult, runs: CaseResult[], failOn: readonly Verdict[]): XmlNode {
  const first = runs[0]!;
  const image = caseImage(run, first);
  const multi = runImages(run).length > 1;
  const counts: Record<string, number> = {};
  for (const c of runs) counts[c.verdict] = (counts[c.verdict] ?? 0) + 1;
  const rate = rateText({ verdicts: counts, runs: runs.length }, VERDICT_SEVERITY);
  const failing = runs.filter((c) => failOn.includes(c.verdict));
  const children: XmlNode[] = [];
  if (failing.length === runs.length) {
    const worst = worstVerdict(runs.map((c) => c.verdict));
    const c = runs.find((x) => x.verdict === worst)!;
    children.push({ name: 'failure', attrs: { type: worst, message: `${rate}: ${c.findings[0]?.title ?? c.reason}` }, text: failureBody(c) });
  } else {
    for (const c of failing) {
      children.push({
        name: 'flakyFailure',
        attrs: { type: c.verdict, message: `#${c.iteration} ${c.verdict}: ${c.findings[0]?.title ?? c.reason}` },
        children: [{ name: 'stackTrace', text: failureBody(c) }],
      });
    }
  }
  children.push({
    name: 'properties',
    children: [
      { name: 'property', attrs: { name: 'verdict', value: worstVerdict(runs.map((c) => c.verdict)) } },
      { name: 'property', attrs: { name: 'rate', value: rate } },
      { name: 'property', attrs: { name: 'flaky', value: 'true' } },
      { name: 'property', attrs: { name: 'image', value: image } },
      { name: 'property', attrs: { name: 'iterations', value: runs.length } },
      ...(first.vm ? [{ name: 'property', attrs: { name: 'kernel', value: first.vm.kernelRelease } }] : []),
    ],
  });
  children.push({ name: 'system-out', text: runs.map((c) => `#${c.iteration}: ${systemOut(c)}`).join('\n\n') });
  return {
    name: 'testcase',
    attrs: {
      name: caseName(first),
      classname: multi ? `hotunplug.${image}.${first.subsystem}` : `hotunplug.${first.subsystem}`,
      time: seconds(runs.reduce((a, c) => a + c.timings.durationMs, 0)),
    },
    children,
  };
}

/** The testcases of a suite: a case's runs, or one testcase for all runs of a flaky case. */
function units(run: RunResult, cases: readonly CaseResult[]): CaseResult[][] {
  const flaky = new Set(run.rates.filter((r) => r.flaky).map((r) => `${r.image}\u0000${r.id}`));
  const out: CaseResult[][] = [];
  const grouped = new Map<string, CaseResult[]>();
  for (const c of cases) {
    const key = `${caseImage(run, c)}\u0000${c.id}`;
    if (!flaky.has(key)) {
      out.push([c]);
      continue;
    }
    let g = grouped.get(key);
    if (!g) {
      g = [];
      grouped.set(key, g);
      out.push(g);
    }
    g.push(c);
  }
  return out;
}

const failed = (u: CaseResult[], failOn: readonly Verdict[]): boolean => u.every((c) => failOn.includes(c.verdict));
const worstOf = (u: CaseResult[]): Verdict => worstVerdict(u.map((c) => c.verdict));

function bootTestcase(b: BootRecord, failOn: readonly Verdict[]): XmlNode {
  const children: XmlNode[] = [];
  const f = b.failure;
  if (f) {
    const body = [
      `verdict: ${f.verdict} (${f.kind})`,
      `attempt ${b.attempt} of ${b.attempts}${b.gaveUp ? ": the last, the VM's cases did not run" : ''}`,
      ...b.findings.map((x) => `finding: ${x.title}`),
      '',
      ...(b.findings[0] ? [b.findings[0].report] : ['console tail:', ...f.consoleTail]),
      '',
      `whole console: consoles/ (${b.vm})`,
    ].join('\n');
    const tag = failOn.includes(f.verdict) ? 'failure' : f.verdict === 'error' ? 'error' : null;
    if (tag) children.push({ name: tag, attrs: { type: f.verdict, message: f.title }, text: tail(body, EXCERPT_MAX) });
    else children.push({ name: 'system-out', text: tail(body, EXCERPT_MAX) });
  }
  return { name: 'testcase', attrs: { name: `${b.vm} attempt ${b.attempt}`, classname: `hotunplug.boot.${b.image}`, time: seconds(b.ms) }, children };
}

export function renderJunit(run: RunResult, opts: JunitOptions = {}): string {
  const failOn = opts.failOn ?? DEFAULT_FAIL_ON;
  const images = runImages(run);
  const multi = images.length > 1;
  const groups: { name: string; image: string; cases: CaseResult[] }[] = [];
  for (const img of multi ? images : [null]) {
    for (const sub of runSubsystems(run)) {
      const cases = run.cases.filter((c) => c.subsystem === sub && (img === null || caseImage(run, c) === img));
      if (cases.length > 0) groups.push({ name: img === null ? sub : `${img}/${sub}`, image: img ?? images[0] ?? '', cases });
    }
  }
  let tests = 0;
  let failures = 0;
  let errors = 0;
  let skipped = 0;
  let time = 0;
  const suites: XmlNode[] = groups.map((g) => {
    const us = units(run, g.cases);
    const f = us.filter((u) => failed(u, failOn)).length;
    const e = us.filter((u) => !failed(u, failOn) && worstOf(u) === 'error').length;
    const s = us.filter((u) => !failed(u, failOn) && worstOf(u) === 'skipped').length;
    const t = g.cases.reduce((a, c) => a + c.timings.durationMs, 0);
    tests += us.length;
    failures += f;
    errors += e;
    skipped += s;
    time += t;
    return {
      name: 'testsuite',
      attrs: {
        name: g.name,
        tests: us.length,
        failures: f,
        errors: e,
        skipped: s,
        time: seconds(t),
        timestamp: g.cases[0]?.timings.startedAt,
        hostname: run.host.hostname,
      },
      children: us.map((u) => (u.length > 1 ? flakyTestcase(run, u, failOn) : testcase(run, u[0]!, failOn))),
    };
  });
  // Every boot is a testcase of suite "boot": a failed one fails as a case with its verdict would
  // (a crash while booting is <failure> with the default failOn), the machinery's is <error>.
  if (run.boots.length > 0) {
    const bootCases = run.boots.map((b) => bootTestcase(b, failOn));
    const f = run.boots.filter((b) => b.failure && failOn.includes(b.failure.verdict)).length;
    const e = run.boots.filter((b) => b.failure && !failOn.includes(b.failure.verdict) && b.failure.verdict === 'error').length;
    const t = run.boots.reduce((a, b) => a + b.ms, 0);
    suites.push({
      name: 'testsuite',
      attrs: {
        name: 'boot',
        tests: bootCases.length,
        failures: f,
        errors: e,
        skipped: 0,
        time: seconds(t),
        timestamp: run.boots[0]!.startedAt,
        hostname: run.host.hostname,
      },
      children: bootCases,
    });
    tests += bootCases.length;
    failures += f;
    errors += e;
    time += t;
  }
  // A run that died or whose controls failed is itself an error CI must see.
  const harness: XmlNode[] = [];
  const harnessCase = (name: string, msg: string): XmlNode => ({
    name: 'testcase',
    attrs: { name, classname: 'hotunplug.harness', time: '0.000' },
    children: [{ name: 'error', attrs: { type: 'harness', message: msg }, text: msg }],
  });
  if (!run.complete) harness.push(harnessCase('run-complete', `run did not finish${run.interruption ? `: ${run.interruption}` : ''}`));
  if (!run.controls.trusted) harness.push(harnessCase('controls', `controls ${run.controls.ran ? 'not trusted' : 'did not run'}: ${run.controls.detail}`));
  if (harness.length > 0) {
    suites.push({
      name: 'testsuite',
      attrs: { name: 'harness', tests: harness.length, failures: 0, errors: harness.length, skipped: 0, time: '0.000' },
      children: harness,
    });
    tests += harness.length;
    errors += harness.length;
  }
  return xmlDocument({
    name: 'testsuites',
    attrs: { name: `hotunplug-ci ${run.runId}`, tests, failures, errors, skipped, time: seconds(time) },
    children: suites,
  });
}
