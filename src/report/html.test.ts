// index.html: structure, CSP, banners, matrix, highlighting — and guest text can never become markup.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { cleanText, escapeHtml, h, raw } from './html-builder.js';
import { REPORT_CSS, REPORT_JS } from './html-assets.js';
import { renderHtml, VERDICT_COLOURS } from './html.js';
import { findingLinesInExcerpt, runImages, runSubsystems } from './model.js';
import type { RunResult } from '../model/run.js';
import { loadFixture } from './testing/fixtures.js';

const PAYLOADS = [
  '<script>window.__xss=1</script>',
  '"><img src=x onerror="window.__xss=2">',
  "'><svg onload=alert(1)>",
  '</pre></details><iframe src="https://example.com/">',
  '<!-- --><style>body{display:none}</style>',
  'javascript:alert(1)',
  '\u0000\u001b[31m<b>bold</b>',
];

/** Sequence of tags in a document: guest text that became markup would change it. */
function tags(html: string): string[] {
  return [...html.matchAll(/<\/?([a-zA-Z][a-zA-Z0-9-]*)/g)].map((m) => m[0]);
}

/** Puts `s` into every guest-provided string field of the run. */
function inject(run: RunResult, s: string): RunResult {
  return {
    ...run,
    images: run.images.map((i) => `${i}${s}`),
    command: [...run.command, s],
    host: { ...run.host, hostname: s },
    controls: { ...run.controls, trusted: false, detail: s },
    interruption: s,
    complete: false,
    cases: run.cases.map((c) => ({
      ...c,
      image: c.image === undefined ? undefined : `${c.image}${s}`,
      subsystem: `${c.subsystem}${s}`,
      id: `${c.subsystem}${s}/${c.id}${s}`,
      reason: s,
      consoleExcerpt: `${c.consoleExcerpt}\n${s}\n${s}`,
      repro: `${c.repro} ${s}`,
      provider: s,
      error: s,
      missingOptions: [s],
      timeline: c.timeline.map((e) => ({ ...e, label: s, detail: s })),
      probes: c.probes.map((p) => ({ ...p, op: s, fd: s, errno: s, revents: [s] })),
      loops: c.loops.map((l) => ({ ...l, op: s, counts: { [s]: 1 } })),
      removal: c.removal ? { ...c.removal, method: s, detail: s, errno: s } : null,
      findings: c.findings.map((f) => ({ ...f, title: s, frame: s, comm: s, report: s, kind: s })),
      vm: c.vm ? { ...c.vm, image: `${c.vm.image}${s}`, kernelRelease: s, kernelVersion: s, configHash: s } : null,
    })),
  };
}

describe('guest text is inert', () => {
  const base = loadFixture('run-two-images');
  const reference = tags(renderHtml(inject(base, 'x')));
  it.each(PAYLOADS)('payload %j adds no markup', (payload) => {
    const html = renderHtml(inject(base, payload));
    expect(tags(html)).toEqual(reference);
    expect(html).not.toMatch(/<img\b/i);
    expect(html.match(/<script\b/gi)).toHaveLength(1);
    expect(html).not.toMatch(/<iframe\b/i);
    expect(html).not.toMatch(/[\u0000\u001b]/);
  });
  it('the golden fixture carries live payloads in console lines and timeline details', () => {
    const text = JSON.stringify(base);
    expect(text).toContain('<script>window.__xss=1</script>');
    expect(text).toContain('onerror=\\"window.__xss=2\\"');
    const html = renderHtml(base);
    expect(html).toContain('&lt;script&gt;window.__xss=1&lt;/script&gt;');
    expect(html).toContain('&quot;&gt;&lt;img src=x onerror=&quot;window.__xss=2&quot;&gt;');
  });
});

describe('html builder', () => {
  it.each([
    ['<a href="x">&\'', '&lt;a href=&quot;x&quot;&gt;&amp;&#39;'],
    ['a\u0000b\u0007c\u007f\u0085d', 'abcd'],
    ['\u001b[1;31mred\u001b[0m', 'red'],
    ['\ud83d\ude00 ok \ud800', '\ud83d\ude00 ok \ufffd'],
  ])('escapes %j', (input, want) => expect(escapeHtml(input)).toBe(want));
  it('escapes attribute values and children', () => {
    expect(h('span', { title: '"><b>' }, '<i>', h('b', null, 'x')).html).toBe('<span title="&quot;&gt;&lt;b&gt;">&lt;i&gt;<b>x</b></span>');
  });
  it.each(['onclick', 'onerror', 'style', 'src', 'srcdoc', 'formaction', 'bad name', 'x"y'])('refuses attribute %j', (a) => {
    expect(() => h('div', { [a]: 'x' })).toThrow(/not allowed/);
  });
  it.each(['javascript:alert(1)', 'https://example.com/', '//evil', '../../etc/passwd', 'data:text/html,x'])('refuses href %j', (href) => {
    expect(() => h('a', { href })).toThrow(/href/);
  });
  it('allows anchors and relative paths', () => {
    expect(h('a', { href: 'cases/x--y/console.txt' }, 'c').html).toBe('<a href="cases/x--y/console.txt">c</a>');
    expect(h('a', { href: '#case-1' }).html).toBe('<a href="#case-1"></a>');
  });
  it('refuses bad tag names and children of void elements', () => {
    expect(() => h('img onerror=x')).toThrow();
    expect(() => h('br', null, 'x')).toThrow();
  });
  it('raw() is the only way around escaping', () => {
    expect(h('p', null, raw('<b>')).html).toBe('<p><b></p>');
    expect(cleanText('ok')).toBe('ok');
  });
});

describe('page', () => {
  const run = loadFixture('run-two-images');
  const html = renderHtml(run);
  it('has a CSP that forbids every fetch and allows only our inline style and script, by hash', () => {
    const m = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html);
    expect(m).not.toBeNull();
    const csp = m![1]!.replace(/&#39;/g, "'");
    const sha = (s: string): string => createHash('sha256').update(s).digest('base64');
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain(`style-src 'sha256-${sha(REPORT_CSS)}'`);
    expect(csp).toContain(`script-src 'sha256-${sha(REPORT_JS)}'`);
    expect(html).toContain(`<style>${REPORT_CSS}</style>`);
    expect(html).toContain(`<script>${REPORT_JS}</script>`);
  });
  it('loads nothing from outside', () => {
    expect(html).not.toMatch(/\b(src|href)="(https?:)?\/\//i);
    expect(html).not.toMatch(/<link\b/i);
    expect(html).not.toMatch(/\burl\(/i);
  });
  it('draws a subsystem × kernel matrix with one cell per pair, coloured by verdict', () => {
    const cells = [
      ...html.matchAll(/<g class="cell" data-pick-subsystem="([^"]+)" data-pick-image="([^"]+)" data-verdict="([^"]+)">.*?<rect [^>]*fill="([^"]+)"/g),
    ];
    expect(cells).toHaveLength(runSubsystems(run).length * runImages(run).length);
    const gpioKasan = cells.find((c) => c[1] === 'gpio' && c[2] === 'kasan-6.12')!;
    expect(gpioKasan[3]).toBe('crashed');
    expect(gpioKasan[4]).toBe(VERDICT_COLOURS.crashed);
    const i2cDebian = cells.find((c) => c[1] === 'i2c' && c[2] === 'debian-6.12')!;
    expect(i2cDebian[3]).toBe('blocked');
  });
  it('has no matrix with one image', () => {
    expect(renderHtml(loadFixture('run-partial'))).not.toContain('class="matrix"');
  });
  it('one case block per case execution, with verdict and subsystem for the filters', () => {
    const blocks = [...html.matchAll(/<details class="case" id="[^"]+" data-verdict="([a-z]+)" data-subsystem="([^"]+)"/g)];
    expect(blocks).toHaveLength(run.cases.length);
    expect(blocks.filter((b) => b[1] === 'crashed')).toHaveLength(1);
  });
  it('shows errno names with their meaning, and the repro command', () => {
    expect(html).toContain('ENODEV (No such device)');
    expect(html).toContain('<pre class="repro">hotunplug-ci run --image kasan-6.12 --suite gpio --case gpio/sim-rmdir-lineevent-poll</pre>');
  });
  it('banners: none for a trusted complete run; loud ones for failed controls and a run that died', () => {
    expect(html).not.toContain('class="banner');
    const partial = renderHtml(loadFixture('run-partial'));
    expect(partial).toContain('<div class="banner untrusted" role="alert" id="controls-banner">⚠ CONTROLS FAILED');
    expect(partial).toContain('id="incomplete-banner"');
  });
});

describe('finding lines in the excerpt', () => {
  const run = loadFixture('run-two-images');
  it('by line numbers when the excerpt position is known', () => {
    const c = run.cases.find((x) => x.verdict === 'crashed')!;
    const hl = findingLinesInExcerpt(c);
    expect([...hl]).toEqual(Array.from({ length: 25 }, (_, i) => i + 2));
  });
  it('by report text otherwise', () => {
    const c = run.cases.find((x) => x.verdict === 'hung')!;
    expect(c.consoleExcerptFirstLine).toBeUndefined();
    const hl = findingLinesInExcerpt(c);
    expect(hl.has(1)).toBe(false);
    expect(hl.size).toBe(c.findings[0]!.report.split('\n').length);
  });
  it('are marked in the page', () => {
    const html = renderHtml(run);
    expect(html).toContain('Console excerpt (25 lines of kernel reports highlighted)');
    expect(html).toMatch(/<span class="ln hl"><span class="no">1403<\/span>\[ {3}88.410037\] BUG: KASAN: slab-use-after-free in lineevent_poll/);
  });
});

describe('boot section', () => {
  it('lists the failed boots with title, verdict, report and a link to each console; a VM that never booted gets a banner', () => {
    const html = renderHtml(loadFixture('run-boot-failures'), { linkCaseFiles: true });
    const boot = html.slice(html.indexOf('<section id="boot">'), html.indexOf('</section>', html.indexOf('<section id="boot">')));
    expect(boot).toContain('4 boot attempt(s), 3 failed');
    for (const vm of ['vm1-debian-6.12', 'vm1.2-debian-6.12', 'vm1.3-debian-6.12']) expect(boot).toContain(`<a href="consoles/${vm}.log">${vm}</a>`);
    expect(boot.match(/<b>kernel panic: Attempted to kill init!<\/b>/g)).toHaveLength(3);
    expect(boot).toContain('Kernel panic - not syncing: Attempted to kill init!');
    expect(html).toContain('id="boot-banner"');
    expect(renderHtml(loadFixture('run-two-images'))).not.toContain('<section id="boot">');
  });

  it('says how many VMs were restored from a saved guest, and each restore that fell back to a boot', () => {
    const run = loadFixture('run-boot-failures');
    const ok = run.boots.find((b) => b.ok)!;
    run.boots = [
      { ...ok, vm: 'vm2-debian-6.12', start: { how: 'boot', snapshot: 'k1', restoreFailed: 'the migration stream failed' } },
      { ...ok, vm: 'vm2.2-debian-6.12', start: { how: 'restore', snapshot: 'k1' } },
      { ...ok, vm: 'vm2.3-debian-6.12', start: { how: 'restore', snapshot: 'k1' } },
    ];
    const html = renderHtml(run);
    const boot = html.slice(html.indexOf('<section id="boot">'), html.indexOf('</section>', html.indexOf('<section id="boot">')));
    expect(boot).toContain('3 boot attempt(s), 0 failed; 2 VM(s) restored from a saved ready guest, 1 booted');
    expect(boot).toMatch(
      /<li>vm2-debian-6\.12[^<]*(<code>[^<]*<\/code>\))?: restoring the saved guest failed \(the migration stream failed\); booted instead<\/li>/,
    );
  });
});
