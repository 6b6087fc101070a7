import { describe, expect, it } from 'vitest';
import type { CaseResult, RunResult, Verdict } from '../model/run.js';
import { type BisectCriteria, judgeBisect } from './bisect.js';
import { loadFixture } from './testing/fixtures.js';

const base = loadFixture('run-two-images');
const template = base.cases.find((c) => c.id === 'usb-serial/ftdi-device_del-tty-read')!;

function caseOf(id: string, verdict: Verdict, iteration = 1, title?: string): CaseResult {
  return {
    ...template,
    id,
    iteration,
    verdict,
    reason: `${verdict} for the test`,
    findings: title ? [{ ...template.findings[0]!, title, altTitles: [] }] : [],
  };
}

function runOf(cases: CaseResult[], over: Partial<RunResult> = {}): RunResult {
  return { ...base, cases, ...over };
}

const target = (c: CaseResult): boolean => c.id.startsWith('huci/');
const byVerdict: BisectCriteria = { verdicts: ['crashed', 'hung'], isTarget: target };
const byTitle: BisectCriteria = { title: 'KASAN: slab-use-after-free Read in canary_read', verdicts: ['crashed', 'hung'], isTarget: target };
const untrusted = { ran: true, trusted: false, detail: 'canary-buggy came out handled' };
const UAF = 'KASAN: slab-use-after-free Read in canary_read';

describe('judgeBisect', () => {
  it.each<[string, RunResult, BisectCriteria, string, RegExp]>([
    [
      'bad: a bad verdict in one of the iterations',
      runOf([caseOf('huci/a', 'handled', 1), caseOf('huci/a', 'crashed', 2)]),
      byVerdict,
      'bad',
      /crashed in huci\/a \(1 of 2/,
    ],
    ['good: every iteration handled', runOf([caseOf('huci/a', 'handled', 1), caseOf('huci/a', 'handled', 2)]), byVerdict, 'good', /2 case run\(s\): handled/],
    ['good: blocked is not bad unless asked for', runOf([caseOf('huci/a', 'blocked')]), byVerdict, 'good', /blocked/],
    [
      'bad: the title, in one case',
      runOf([caseOf('huci/a', 'crashed', 1, UAF)]),
      byTitle,
      'bad',
      /"KASAN: slab-use-after-free Read in canary_read" in huci\/a/,
    ],
    ['good: crashed, but with another title', runOf([caseOf('huci/a', 'crashed', 1, 'WARNING in free_irq')]), byTitle, 'good', /no "KASAN/],
    ['bad wins over an errored iteration', runOf([caseOf('huci/a', 'error', 1), caseOf('huci/a', 'crashed', 2, UAF)]), byTitle, 'bad', /KASAN/],
    [
      'skip: untrusted controls',
      runOf([caseOf('huci/a', 'handled')], { controls: untrusted }),
      byVerdict,
      'skip',
      /controls not trusted: canary-buggy came out handled/,
    ],
    ['skip: a target case errored', runOf([caseOf('huci/a', 'handled', 1), caseOf('huci/a', 'error', 2)]), byVerdict, 'skip', /huci\/a error/],
    ['skip: a target case skipped', runOf([caseOf('huci/a', 'skipped')]), byVerdict, 'skip', /skipped/],
    ['skip: no target case ran', runOf([caseOf('canary/buggy-unbind-misc-read', 'crashed', 1, UAF)]), byTitle, 'skip', /no case ran/],
    [
      'skip: the run died part-way',
      runOf([caseOf('huci/a', 'handled')], { complete: false, interruption: 'SIGTERM' }),
      byVerdict,
      'skip',
      /did not finish: SIGTERM/,
    ],
    [
      'controls are not targets: a crashing control is not bad',
      runOf([caseOf('canary/buggy-unbind-misc-read', 'crashed', 1, UAF), caseOf('huci/a', 'handled')]),
      byTitle,
      'good',
      /handled/,
    ],
  ])('%s', (_name, run, k, outcome, detail) => {
    const j = judgeBisect(run, k);
    expect(j.outcome).toBe(outcome);
    expect(j.detail).toMatch(detail);
  });

  it('matches alternative titles too', () => {
    const c = caseOf('huci/a', 'crashed', 1, 'KASAN: use-after-free Read in canary_read');
    c.findings[0]!.altTitles = [UAF];
    expect(judgeBisect(runOf([c]), byTitle).outcome).toBe('bad');
  });
});
