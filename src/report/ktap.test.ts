// results.ktap read back by a parser written from the grammar in the kernel's
// Documentation/dev-tools/ktap.rst: version line, plan, numbered results, "# SKIP" directives,
// diagnostic lines, subtests indented by four spaces with their own version and plan.
import { describe, expect, it } from 'vitest';
import { renderKtap } from './ktap.js';
import type { Verdict } from '../model/run.js';
import { fixtureNames, loadFixture } from './testing/fixtures.js';

interface KtapTest {
  ok: boolean;
  number: number;
  description: string;
  directive: string | null;
  subtests: KtapTest[];
}

const RESULT = /^(ok|not ok) (\d+)(?: ([^#]*?))?(?: # ?(.*))?$/;

/** Parses one KTAP document at `indent`; throws on any line the grammar does not allow. */
function parseKtap(lines: string[], at: { i: number }, indent: string): KtapTest[] {
  const next = (): string | undefined => lines[at.i];
  const own = (l: string): boolean => l.startsWith(indent) && !l.startsWith(`${indent} `);
  if (next() !== `${indent}KTAP version 1`) throw new Error(`line ${at.i + 1}: expected "${indent}KTAP version 1", got ${JSON.stringify(next())}`);
  at.i++;
  let plan: number | null = null;
  const tests: KtapTest[] = [];
  let pendingSubtests: KtapTest[] = [];
  while (at.i < lines.length) {
    const line = next()!;
    if (line.startsWith(`${indent}    `)) {
      if (pendingSubtests.length) throw new Error(`line ${at.i + 1}: two subtest blocks before one result`);
      pendingSubtests = parseKtap(lines, at, `${indent}    `);
      continue;
    }
    if (!own(line)) break;
    const body = line.slice(indent.length);
    at.i++;
    if (body.startsWith('#')) continue;
    const p = /^1\.\.(\d+)$/.exec(body);
    if (p) {
      if (plan !== null) throw new Error(`line ${at.i}: a second plan`);
      plan = Number(p[1]);
      continue;
    }
    const r = RESULT.exec(body);
    if (!r) throw new Error(`line ${at.i}: not a KTAP line: ${JSON.stringify(line)}`);
    tests.push({ ok: r[1] === 'ok', number: Number(r[2]), description: r[3] ?? '', directive: r[4] ?? null, subtests: pendingSubtests });
    pendingSubtests = [];
  }
  if (plan === null) throw new Error(`${indent.length ? 'a subtest' : 'the document'} has no plan`);
  if (tests.length !== plan) throw new Error(`plan says ${plan} tests, ${tests.length} found`);
  tests.forEach((t, i) => {
    if (t.number !== i + 1) throw new Error(`test ${i + 1} is numbered ${t.number}`);
  });
  return tests;
}

function parse(text: string): KtapTest[] {
  expect(text.endsWith('\n')).toBe(true);
  const lines = text.slice(0, -1).split('\n');
  const at = { i: 0 };
  const tests = parseKtap(lines, at, '');
  expect(at.i, `unparsed line ${at.i + 1}: ${lines[at.i]}`).toBe(lines.length);
  return tests;
}

describe('the KTAP parser of this test', () => {
  it('accepts the grammar and refuses what it forbids', () => {
    expect(parse('KTAP version 1\n1..2\n    KTAP version 1\n    1..1\n    ok 1 sub\nok 1 a\nnot ok 2 b # SKIP why\n')).toMatchObject([
      { ok: true, subtests: [{ ok: true, description: 'sub' }] },
      { ok: false, directive: 'SKIP why' },
    ]);
    expect(() => parse('KTAP version 1\n1..2\nok 1 a\n')).toThrow(/plan says 2/);
    expect(() => parse('KTAP version 1\n1..1\nok 2 a\n')).toThrow(/numbered 2/);
    expect(() => parse('TAP version 14\n1..0\n')).toThrow(/KTAP version 1/);
    expect(() => parse('KTAP version 1\n1..1\nfine 1 a\n')).toThrow(/not a KTAP line/);
  });
});

describe.each(fixtureNames())('ktap %s', (name) => {
  const run = loadFixture(name);
  it.each<[string, Verdict[]]>([
    ['default fail-on', ['crashed', 'hung']],
    ['fail-on adds blocked and silent', ['crashed', 'hung', 'blocked', 'silent']],
  ])('%s: one test per case, probes as subtests, outcomes as the verdicts say', (_label, failOn) => {
    const tests = parse(renderKtap(run, { failOn }));
    expect(tests).toHaveLength(run.cases.length);
    run.cases.forEach((c, i) => {
      const t = tests[i]!;
      expect(t.description).toContain(c.id);
      expect(t.subtests.map((s) => s.ok)).toEqual(c.probes.map((p) => p.accepted));
      if (c.verdict === 'skipped') expect(t).toMatchObject({ ok: true, directive: expect.stringMatching(/^SKIP /) });
      else expect(t.ok).toBe(!failOn.includes(c.verdict) && c.verdict !== 'error');
    });
  });
  it('diagnostic lines carry each case verdict, titles and reason', () => {
    const text = renderKtap(run);
    for (const c of run.cases) {
      expect(text).toContain(`# ${c.id}: ${c.verdict}\n`);
      for (const f of c.findings) expect(text).toContain(`# title: ${f.title.replace(/#/g, 'no.')}`);
    }
  });
});
