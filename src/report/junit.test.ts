// junit.xml parsed back with fast-xml-parser: counts match the run, escaping holds.
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { renderJunit } from './junit.js';
import type { Verdict } from '../model/run.js';
import { fixtureNames, loadFixture } from './testing/fixtures.js';

interface Parsed {
  testsuites: { '@_tests': string; '@_failures': string; '@_errors': string; '@_skipped': string; testsuite: Suite[] };
}
interface Suite {
  '@_name': string;
  '@_tests': string;
  '@_failures': string;
  '@_errors': string;
  '@_skipped': string;
  testcase: Case[];
}
interface Case {
  '@_name': string;
  '@_classname': string;
  failure?: { '@_message': string; '#text': string };
  error?: unknown;
  skipped?: unknown;
}

function parse(xml: string): Parsed {
  expect(XMLValidator.validate(xml)).toBe(true);
  return new XMLParser({ ignoreAttributes: false, isArray: (n) => n === 'testsuite' || n === 'testcase' }).parse(xml) as Parsed;
}

describe.each(fixtureNames())('junit %s', (name) => {
  const run = loadFixture(name);
  it.each<[string, Verdict[]]>([
    ['default fail-on', ['crashed', 'hung']],
    ['fail-on adds blocked and silent', ['crashed', 'hung', 'blocked', 'silent']],
  ])('%s: counts match the cases', (_label, failOn) => {
    const doc = parse(renderJunit(run, { failOn }));
    const harness = (run.complete ? 0 : 1) + (run.controls.trusted ? 0 : 1);
    // every boot attempt is a testcase; a failed one fails or errs as a case with its verdict would
    const boots = run.boots.length;
    const bootFailures = run.boots.filter((b) => b.failure && failOn.includes(b.failure.verdict)).length;
    const bootErrors = run.boots.filter((b) => b.failure?.verdict === 'error' && !failOn.includes('error')).length;
    const root = doc.testsuites;
    // a flaky case's iterations are one testcase, failed only when every run failed
    const key = (image: string | undefined, id: string): string => `${image}/${id}`;
    const flaky = new Set(run.rates.filter((r) => r.flaky).map((r) => key(r.image, r.id)));
    const single = run.cases.filter((c) => !flaky.has(key(c.image, c.id)));
    const units = single.length + flaky.size;
    const flakyFailed = [...flaky].filter((k) => run.cases.filter((c) => key(c.image, c.id) === k).every((c) => failOn.includes(c.verdict))).length;
    expect(Number(root['@_tests'])).toBe(units + harness + boots);
    expect(Number(root['@_failures'])).toBe(single.filter((c) => failOn.includes(c.verdict)).length + flakyFailed + bootFailures);
    expect(Number(root['@_errors'])).toBe(run.cases.filter((c) => c.verdict === 'error').length + harness + bootErrors);
    expect(Number(root['@_skipped'])).toBe(run.cases.filter((c) => c.verdict === 'skipped').length);
    // element counts agree with the attributes, suite by suite
    let cases = 0;
    for (const s of root.testsuite) {
      const tc = s.testcase;
      cases += tc.length;
      expect(Number(s['@_tests'])).toBe(tc.length);
      expect(Number(s['@_failures'])).toBe(tc.filter((c) => c.failure !== undefined).length);
      expect(Number(s['@_errors'])).toBe(tc.filter((c) => c.error !== undefined).length);
      expect(Number(s['@_skipped'])).toBe(tc.filter((c) => c.skipped !== undefined).length);
    }
    expect(cases).toBe(units + harness + boots);
  });
});

describe('junit boots', () => {
  it('every boot attempt is a testcase of suite "boot"; a crash while booting is a <failure> with its title', () => {
    const doc = parse(renderJunit(loadFixture('run-boot-failures')));
    const boot = doc.testsuites.testsuite.find((s) => s['@_name'] === 'boot')!;
    expect(boot.testcase.map((c) => [c['@_name'], c.failure?.['@_message'] ?? null])).toEqual([
      ['vm1-debian-6.12 attempt 1', 'kernel panic: Attempted to kill init!'],
      ['vm1.2-debian-6.12 attempt 2', 'kernel panic: Attempted to kill init!'],
      ['vm1.3-debian-6.12 attempt 3', 'kernel panic: Attempted to kill init!'],
      ['vm2-debian-6.12 attempt 1', null],
    ]);
    expect(boot.testcase[2]!.failure!['#text']).toMatch(
      /attempt 3 of 3: the last, the VM's cases did not run[\s\S]*Kernel panic - not syncing: Attempted to kill init!/,
    );
  });
});

describe('junit structure', () => {
  it('has a suite per image and subsystem when the run has several images', () => {
    const doc = parse(renderJunit(loadFixture('run-two-images')));
    expect(doc.testsuites.testsuite.map((s) => s['@_name'])).toEqual([
      'debian-6.12/gpio',
      'debian-6.12/i2c',
      'debian-6.12/nvmem',
      'debian-6.12/usb-serial',
      'kasan-6.12/gpio',
      'kasan-6.12/i2c',
      'kasan-6.12/nvmem',
      'kasan-6.12/usb-serial',
    ]);
  });
  it('a crash failure carries the title and the console excerpt', () => {
    const doc = parse(renderJunit(loadFixture('run-two-images')));
    const gpio = doc.testsuites.testsuite.find((s) => s['@_name'] === 'kasan-6.12/gpio')!;
    const crashed = gpio.testcase.find((c) => c.failure !== undefined)!;
    expect(crashed.failure!['@_message']).toBe('crashed: KASAN: slab-use-after-free Read in lineevent_poll');
    expect(crashed.failure!['#text']).toContain('Read of size 8 at addr ffff888104a2c1d8 by task huci-agent/214');
  });
  it('a flaky case is one testcase: a flakyFailure per failing run, not a failure per run', () => {
    const run = loadFixture('run-two-images');
    const gpio = (failOn: Verdict[]) => parse(renderJunit(run, { failOn })).testsuites.testsuite.find((s) => s['@_name'] === 'debian-6.12/gpio')!;
    expect(gpio(['crashed', 'hung']).testcase.map((c) => c['@_name'])).toEqual(['sim-rmdir-chip-ioctl', 'sim-rmdir-lineevent-poll']);
    const xml = renderJunit(run, { failOn: ['silent'] });
    expect(xml).toMatch(/<testcase name="sim-rmdir-lineevent-poll"[^>]*>\s*<flakyFailure type="silent" message="#2 silent: [^"]*">/);
    expect(xml).toContain('<property name="rate" value="silent 1/3, handled 2/3"/>');
    const s = gpio(['silent']);
    expect(Number(s['@_failures'])).toBe(0);
    // every run failing is a failure, once, with the rate
    const allFail = {
      ...run,
      cases: run.cases.map((c) => (c.id === 'gpio/sim-rmdir-lineevent-poll' && c.verdict === 'handled' ? { ...c, verdict: 'crashed' as const } : c)),
    };
    const xml2 = renderJunit(allFail, { failOn: ['silent', 'crashed'] });
    expect(xml2).toMatch(/<testcase name="sim-rmdir-lineevent-poll"[^>]*>\s*<failure type="crashed" message="crashed 2\/3, silent 1\/3: /);
  });
  it('escapes markup and strips characters XML 1.0 forbids', () => {
    const run = loadFixture('run-partial');
    const evil = 'a]]></failure><x y="1">&amp; \u0000\u0001\u001b[31mred\u001b[0m \ud800 \uffff "q" \'s\' ok';
    run.cases[0] = { ...run.cases[0]!, verdict: 'crashed', reason: evil, consoleExcerpt: evil, id: `gpio/${evil}` };
    const xml = renderJunit(run);
    const doc = parse(xml);
    const tc = doc.testsuites.testsuite[0]!.testcase[0]!;
    expect(tc['@_name']).toBe('a]]></failure><x y="1">&amp; red   "q" \'s\' ok');
    expect(tc.failure!['#text']).toContain('a]]></failure><x y="1">&amp; red');
    expect(xml).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/);
  });
});
