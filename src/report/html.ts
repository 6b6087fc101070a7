// index.html: one self-contained page (inline CSS/JS/SVG, a CSP that forbids every fetch) built with
// the escaping builder in html-builder.ts. Pure function of a RunResult.
import { rateText } from '../model/rates.js';
import { createHash } from 'node:crypto';
import { describeErrno } from './errno.js';
import { fragment, h, isSafeHref, raw, type Child, type Html } from './html-builder.js';
import { REPORT_CSS, REPORT_JS } from './html-assets.js';
import { buildMap, cellText, findCell } from './map.js';
import {
  caseDirName,
  caseHeadline,
  caseImage,
  controlsUntrusted,
  findingLinesInExcerpt,
  flakyCases,
  iterationsOf,
  runImages,
  runSubsystems,
  subsystemSummary,
  subsystemVerdict,
} from './model.js';
import { VERDICT_SEVERITY, VERDICTS, type CaseResult, type RunResult, type TimelineEvent, type Verdict, type VmInfo } from '../model/run.js';
import { byText } from '../util/compare.js';

export const VERDICT_COLOURS: Readonly<Record<Verdict, string>> = {
  handled: '#1a7f37',
  blocked: '#b7791f',
  silent: '#8250df',
  crashed: '#cf222e',
  hung: '#9a3412',
  error: '#57606a',
  skipped: '#8c959f',
};

const VERDICT_MEANING: Readonly<Record<Verdict, string>> = {
  handled: 'removal completed and the held fds failed cleanly (e.g. ENODEV)',
  blocked: 'removal waited until the held fds were closed',
  silent: 'removal completed but the held fds kept "working" without an error',
  crashed: 'the kernel reported a bug (oops, KASAN, WARNING, …)',
  hung: 'the removal or a call on a held fd never returned',
  error: 'the harness could not measure this case',
  skipped: 'the kernel lacks what the case needs',
};

function sha256(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('base64');
}

/** CSP: nothing may be fetched; only our own inline style and script (by hash) run. */
function reportCsp(): string {
  return [
    "default-src 'none'",
    `style-src 'sha256-${sha256(REPORT_CSS)}'`,
    `script-src 'sha256-${sha256(REPORT_JS)}'`,
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

export interface HtmlOptions {
  /** link each case to its files under cases/<dir>/ (true when written by writeRunReports) */
  linkCaseFiles?: boolean;
}

export function renderHtml(run: RunResult, opts: HtmlOptions = {}): string {
  const title = `hotunplug-ci ${run.runId}`;
  const body = fragment(
    header(run, opts),
    banners(run),
    summarySection(run),
    bootSection(run, opts),
    matrixSection(run),
    mapSection(run),
    flakySection(run),
    casesSection(run, opts),
    h(
      'footer',
      null,
      `${run.tool.name} ${run.tool.version} · run.json schema v${run.schemaVersion} · `,
      'self-contained report: no network access, nothing loaded from outside this file',
    ),
  );
  return `<!DOCTYPE html>\n${
    h(
      'html',
      { lang: 'en' },
      h(
        'head',
        null,
        h('meta', { charset: 'utf-8' }),
        h('meta', { 'http-equiv': 'Content-Security-Policy', content: reportCsp() }),
        h('meta', { name: 'referrer', content: 'no-referrer' }),
        h('meta', { name: 'viewport', content: 'width=device-width, initial-scale=1' }),
        h('title', null, title),
        h('style', null, raw(REPORT_CSS)),
      ),
      h('body', null, body, h('script', null, raw(REPORT_JS))),
    ).html
  }\n`;
}

function badge(v: Verdict): Html {
  return h('span', { class: `badge v-${v}`, title: VERDICT_MEANING[v] }, v);
}

function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${Math.round(ms * 10) / 10} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

function vmOf(run: RunResult, image: string): VmInfo | null {
  for (const c of run.cases) if (c.vm && caseImage(run, c) === image) return c.vm;
  return null;
}

function consoleLinks(run: RunResult, opts: HtmlOptions): Html | null {
  if (run.consoles.length === 0) return null;
  return h(
    'p',
    { class: 'meta' },
    'full console logs: ',
    run.consoles.map((c, i) =>
      fragment(i ? ' · ' : '', opts.linkCaseFiles && isSafeHref(c.file) ? h('a', { href: c.file }, c.vm) : h('code', null, c.file), ` (${c.image})`),
    ),
  );
}

function header(run: RunResult, opts: HtmlOptions): Html {
  const images = runImages(run);
  return h(
    'header',
    null,
    h('h1', null, `hotunplug-ci run ${run.runId}`),
    h(
      'p',
      { class: 'meta' },
      `started ${run.startedAt}`,
      run.finishedAt ? ` · finished ${run.finishedAt}` : ' · not finished',
      ` · ${run.cases.length} case executions · suites: ${run.suites.join(', ') || '—'}`,
      ` · host ${run.host.hostname} (${run.host.cpus} CPUs, ${run.host.memGiB} GiB)`,
    ),
    h('p', { class: 'meta' }, 'command: ', h('code', null, run.command.join(' '))),
    h(
      'table',
      { class: 'images' },
      h('tr', null, h('th', null, 'image'), h('th', null, 'kernel'), h('th', null, 'accelerator'), h('th', null, 'config')),
      images.map((img) => {
        const vm = vmOf(run, img);
        return h(
          'tr',
          null,
          h('td', null, img),
          h('td', null, vm ? `${vm.kernelRelease} (${vm.kernelVersion})` : '—'),
          h('td', null, vm?.accelerator ?? '—'),
          h('td', { class: 'mono' }, vm?.configHash ?? '—'),
        );
      }),
    ),
    consoleLinks(run, opts),
  );
}

function banners(run: RunResult): Html {
  const out: Html[] = [];
  if (controlsUntrusted(run)) {
    out.push(
      h(
        'div',
        { class: 'banner untrusted', role: 'alert', id: 'controls-banner' },
        run.controls.ran
          ? '⚠ CONTROLS FAILED: the canary modules did not come out as expected, so no verdict in this report can be trusted. '
          : '⚠ CONTROLS DID NOT RUN: without the canaries no verdict in this report can be trusted. ',
        run.controls.detail,
      ),
    );
  }
  const gaveUp = run.boots.filter((b) => b.gaveUp && b.failure);
  if (gaveUp.length > 0) {
    out.push(
      h(
        'div',
        { class: 'banner untrusted', role: 'alert', id: 'boot-banner' },
        '⚠ A VM never booted, so its cases did not run: ',
        gaveUp.map((b, i) => fragment(i ? '; ' : '', `${b.image}: ${b.failure!.title} (${b.attempts} of ${b.attempts} boots)`)),
        ' — see Boot below.',
      ),
    );
  }
  if (!run.complete) {
    out.push(
      h(
        'div',
        { class: 'banner incomplete', role: 'status', id: 'incomplete-banner' },
        'This run did not finish: what is shown was measured, the rest was not.',
        run.interruption ? ` (${run.interruption})` : '',
      ),
    );
  }
  return fragment(out);
}

function countsText(counts: Record<string, number>): string {
  return VERDICTS.filter((v) => (counts[v] ?? 0) > 0)
    .map((v) => `${counts[v]} ${v}`)
    .join(', ');
}

function summarySection(run: RunResult): Html {
  const images = runImages(run);
  const rows = runSubsystems(run).map((sub) => {
    const per = images.map((img) => subsystemSummary(run, sub, img));
    return h(
      'tr',
      { 'data-pick-subsystem': sub, 'data-pick-image': '' },
      h('td', null, h('b', null, sub)),
      h('td', null, badge(subsystemVerdict(run, sub))),
      images.length > 1
        ? per.map((s) => h('td', null, s ? fragment(badge(s.verdict), ' ', countsText(s.counts)) : '—'))
        : h('td', null, per[0] ? countsText(per[0].counts) : '—'),
    );
  });
  return h(
    'section',
    { id: 'summary' },
    h('h2', null, 'Verdict per subsystem'),
    h(
      'table',
      null,
      h('tr', null, h('th', null, 'subsystem'), h('th', null, 'verdict'), images.length > 1 ? images.map((img) => h('th', null, img)) : h('th', null, 'cases')),
      rows,
    ),
    h(
      'p',
      { class: 'meta' },
      'Worst first: ',
      VERDICT_SEVERITY.map((v, i) => fragment(i ? ' > ' : '', badge(v))),
      '.',
    ),
  );
}

/** Every boot: the failed ones with their verdict, title, report or console tail, and console link. */
function bootSection(run: RunResult, opts: HtmlOptions): Html | null {
  if (run.boots.length === 0) return null;
  const failed = run.boots.filter((b) => b.failure);
  const restored = run.boots.filter((b) => b.start?.how === 'restore').length;
  const fellBack = run.boots.filter((b) => b.start?.restoreFailed);
  const consoleOf = (vm: string): Html | string => {
    const c = run.consoles.find((x) => x.vm === vm);
    if (!c) return vm;
    return opts.linkCaseFiles && isSafeHref(c.file) ? h('a', { href: c.file }, vm) : fragment(vm, ' (', h('code', null, c.file), ')');
  };
  return h(
    'section',
    { id: 'boot' },
    h('h2', null, 'Boot'),
    h(
      'p',
      { class: 'meta' },
      `${run.boots.length} boot attempt(s), ${failed.length} failed`,
      failed.length ? "; a failed boot is retried on a fresh QEMU, and every attempt's whole console is kept" : '',
      restored ? `; ${restored} VM(s) restored from a saved ready guest, ${run.boots.length - restored} booted` : '',
    ),
    fellBack.length === 0
      ? null
      : h(
          'ul',
          null,
          fellBack.map((b) => h('li', null, consoleOf(b.vm), `: restoring the saved guest failed (${b.start!.restoreFailed}); booted instead`)),
        ),
    failed.length === 0
      ? null
      : h(
          'table',
          null,
          h(
            'tr',
            null,
            h('th', null, 'VM (console)'),
            h('th', null, 'attempt'),
            h('th', null, 'verdict'),
            h('th', null, 'what'),
            h('th', null, 'failed after'),
          ),
          failed.map((b) => {
            const f = b.failure!;
            return h(
              'tr',
              { class: b.gaveUp ? 'gave-up' : null },
              h('td', null, consoleOf(b.vm)),
              h('td', null, `${b.attempt} of ${b.attempts}${b.gaveUp ? ' (gave up: its cases did not run)' : ''}`),
              h('td', null, badge(f.verdict)),
              h(
                'td',
                null,
                h('b', null, f.title),
                ` — ${f.kind}`,
                h(
                  'details',
                  null,
                  h('summary', null, b.findings.length ? 'kernel report' : 'console tail'),
                  h('pre', null, b.findings[0]?.report ?? f.consoleTail.join('\n')),
                ),
              ),
              h('td', null, `${fmtMs(b.ms)}${f.msAfterReport !== null ? ` (${fmtMs(f.msAfterReport)} after the report)` : ''}`),
            );
          }),
        ),
  );
}

/** Subsystem × kernel matrix, inline SVG, a cell per (subsystem, image) coloured by verdict. */
function matrixSvg(run: RunResult): Html {
  const images = runImages(run);
  const subs = runSubsystems(run);
  const labelW = Math.max(80, ...subs.map((s) => s.length * 7 + 16));
  const cellW = Math.max(110, ...images.map((i) => i.length * 7 + 16));
  const cellH = 28;
  const headH = 24;
  const width = labelW + images.length * cellW;
  const height = headH + subs.length * cellH;
  const cells: Html[] = [];
  images.forEach((img, x) => {
    cells.push(h('text', { x: labelW + x * cellW + cellW / 2, y: 16, 'text-anchor': 'middle' }, img));
  });
  subs.forEach((sub, y) => {
    const top = headH + y * cellH;
    cells.push(h('text', { x: 4, y: top + cellH / 2 + 4 }, sub));
    images.forEach((img, x) => {
      const s = subsystemSummary(run, sub, img);
      const v: Verdict | null = s?.verdict ?? null;
      const left = labelW + x * cellW;
      cells.push(
        h(
          'g',
          { class: 'cell', 'data-pick-subsystem': sub, 'data-pick-image': img, 'data-verdict': v ?? 'none' },
          h('title', null, `${sub} on ${img}: ${v ?? 'not run'}${s ? ` (${countsText(s.counts)})` : ''}`),
          h('rect', { x: left + 1, y: top + 1, width: cellW - 2, height: cellH - 2, rx: 4, fill: v ? VERDICT_COLOURS[v] : '#eaeef2' }),
          h('text', { x: left + cellW / 2, y: top + cellH / 2 + 4, 'text-anchor': 'middle' }, v ?? '—'),
        ),
      );
    });
  });
  return h(
    'svg',
    {
      class: 'matrix',
      xmlns: 'http://www.w3.org/2000/svg',
      width,
      height,
      viewBox: `0 0 ${width} ${height}`,
      role: 'img',
      'aria-label': 'verdict per subsystem and kernel',
    },
    cells,
  );
}

function matrixSection(run: RunResult): Html | null {
  if (runImages(run).length < 2) return null;
  return h('section', { id: 'matrix' }, h('h2', null, 'Subsystem × kernel'), matrixSvg(run));
}

/** The cross-subsystem map: what each subsystem did with the held fds, per removal method and kernel. */
function mapSection(run: RunResult): Html | null {
  if (run.cases.length === 0) return null;
  const m = buildMap([run]);
  const byId = new Map(run.cases.map((c) => [c.id, c]));
  return h(
    'section',
    { id: 'map' },
    h('h2', null, 'What happens to a held fd'),
    h(
      'table',
      { class: 'unplug-map' },
      h(
        'tr',
        null,
        h('th', null, 'subsystem'),
        h('th', null, 'removal'),
        m.images.map((img) => h('th', null, img)),
      ),
      m.rows.map((r) =>
        h(
          'tr',
          null,
          h('td', null, r.subsystem),
          h('td', null, r.method),
          m.images.map((img) => {
            const cell = findCell(m, r.subsystem, r.method, img);
            if (!cell) return h('td', { class: 'b-none' }, '—');
            // the cell links to the first of its cases that shows its headline
            const first = cell.cases.find((k) => k.behaviour.kind === cell.behaviour.kind) ?? cell.cases[0]!;
            const c = byId.get(first.id);
            const text = cellText(cell);
            return h(
              'td',
              { class: `b-${cell.behaviour.kind}`, title: `${cell.cases.length} case(s); ${cell.behaviour.detail}` },
              c ? h('a', { href: `#case-${caseDirName(run, c)}` }, text) : text,
            );
          }),
        ),
      ),
    ),
  );
}

function flakySection(run: RunResult): Html | null {
  const flaky = flakyCases(run);
  if (flaky.length === 0) return null;
  return h(
    'section',
    { id: 'flaky' },
    h('h2', null, `Flaky: verdict changed across iterations (${flaky.length})`),
    h(
      'ul',
      null,
      flaky.map((f) => {
        const rate = run.rates.find((r) => r.id === f.id && r.image === f.image);
        const titles = rate ? Object.entries(rate.titles).map(([t, n]) => `${t} ${n}/${rate.runs}`) : [];
        return h(
          'li',
          null,
          h('b', null, f.id),
          ` on ${f.image}: `,
          rate ? `${rateText(rate, VERDICT_SEVERITY)} — ` : '',
          f.verdicts.map((v, i) => fragment(i ? ' → ' : '', badge(v))),
          titles.length ? ` (${titles.join('; ')})` : '',
        );
      }),
    ),
  );
}

function casesSection(run: RunResult, opts: HtmlOptions): Html {
  const counts = new Map<Verdict, number>();
  for (const c of run.cases) counts.set(c.verdict, (counts.get(c.verdict) ?? 0) + 1);
  const images = runImages(run);
  const ordered = [...run.cases].sort(
    (a, b) =>
      VERDICT_SEVERITY.indexOf(a.verdict) - VERDICT_SEVERITY.indexOf(b.verdict) ||
      byText(a.id, b.id) ||
      images.indexOf(caseImage(run, a)) - images.indexOf(caseImage(run, b)) ||
      a.iteration - b.iteration,
  );
  return h(
    'section',
    { id: 'cases' },
    h('h2', null, 'Cases'),
    h(
      'form',
      { id: 'filters' },
      'verdict: ',
      VERDICTS.map((v) =>
        h('label', null, h('input', { type: 'checkbox', name: 'verdict', value: v, checked: true }), ' ', badge(v), ` ${counts.get(v) ?? 0}`),
      ),
      h(
        'label',
        null,
        'subsystem ',
        h(
          'select',
          { name: 'subsystem' },
          h('option', { value: '' }, 'all'),
          runSubsystems(run).map((s) => h('option', { value: s }, s)),
        ),
      ),
      images.length > 1
        ? h(
            'label',
            null,
            'image ',
            h(
              'select',
              { name: 'image' },
              h('option', { value: '' }, 'all'),
              images.map((i) => h('option', { value: i }, i)),
            ),
          )
        : null,
      h('button', { type: 'button', id: 'reset-filters' }, 'show all'),
      ' ',
      h('span', { id: 'shown' }, String(run.cases.length)),
      ` of ${run.cases.length} shown`,
    ),
    ordered.map((c) => caseBlock(run, c, opts)),
  );
}

function caseBlock(run: RunResult, c: CaseResult, opts: HtmlOptions): Html {
  const dir = caseDirName(run, c);
  const image = caseImage(run, c);
  const iters = iterationsOf(run, c);
  return h(
    'details',
    { class: 'case', id: `case-${dir}`, 'data-verdict': c.verdict, 'data-subsystem': c.subsystem, 'data-image': image },
    h(
      'summary',
      null,
      badge(c.verdict),
      ' ',
      h('span', { class: 'id' }, c.id),
      runImages(run).length > 1 ? ` on ${image}` : '',
      iters > 1 ? ` · iteration ${c.iteration}/${iters}` : '',
      ' — ',
      h('span', { class: 'headline' }, caseHeadline(c)),
    ),
    h('p', null, h('b', null, 'why: '), c.reason),
    c.error ? h('p', { class: 'bad' }, h('b', null, 'error: '), c.error) : null,
    c.missingOptions.length ? h('p', null, h('b', null, 'missing kernel options: '), h('code', null, c.missingOptions.join(' '))) : null,
    h(
      'p',
      { class: 'meta' },
      `provider ${c.provider} · method ${c.method} · fd ${c.fdKind} · op ${c.op} · started ${c.timings.startedAt} · took ${fmtMs(c.timings.durationMs)}`,
      c.vm ? ` · kernel ${c.vm.kernelRelease}` : '',
    ),
    removalBlock(c),
    findingsBlock(c),
    probesBlock(c),
    loopsBlock(c),
    timelineBlock(c),
    consoleBlock(c),
    h('h3', null, 'Reproduce'),
    h('pre', { class: 'repro' }, c.repro),
    opts.linkCaseFiles
      ? h(
          'p',
          { class: 'meta' },
          'files: ',
          ['timeline.txt', 'console.txt', 'repro.sh'].map((f, i) => fragment(i ? ' · ' : '', h('a', { href: `cases/${dir}/${f}` }, f))),
        )
      : null,
  );
}

function removalBlock(c: CaseResult): Html | null {
  const r = c.removal;
  if (!r) return null;
  return h(
    'p',
    null,
    h('b', null, 'removal: '),
    `${r.method} — `,
    r.completed
      ? h('span', { class: 'ok' }, `completed in ${fmtMs(r.ms)} while the fds were held`)
      : h('span', { class: 'bad' }, 'did not complete while the fds were held'),
    r.completedAfterCloseMs !== undefined && r.completedAfterCloseMs !== null ? `; completed ${fmtMs(r.completedAfterCloseMs)} after the fds were closed` : '',
    r.errno ? ` · ${describeErrno(r.errno)}` : '',
    r.detail ? ` · ${r.detail}` : '',
  );
}

function findingsBlock(c: CaseResult): Html | null {
  if (c.findings.length === 0) return null;
  return fragment(
    h('h3', null, `Kernel reports (${c.findings.length})`),
    h(
      'ul',
      null,
      c.findings.map((f) =>
        h(
          'li',
          null,
          h('b', null, f.title),
          ` — ${f.kind}`,
          f.frame ? fragment(' in ', h('code', null, f.frame)) : '',
          f.comm ? ` · task ${f.comm}${f.pid !== undefined ? `/${f.pid}` : ''}` : '',
          f.taint ? ` · taint ${f.taint}` : '',
          ` · console lines ${f.startLine}–${f.endLine}`,
          f.corrupted ? h('span', { class: 'bad' }, ` · corrupted report${f.corruptedReason ? `: ${f.corruptedReason}` : ''}`) : '',
        ),
      ),
    ),
  );
}

function probesBlock(c: CaseResult): Html | null {
  if (c.probes.length === 0) return null;
  return fragment(
    h('h3', null, 'Probes on the held fds after removal'),
    h(
      'table',
      { class: 'probes' },
      h(
        'tr',
        null,
        ['fd', 'op', 'result', 'errno', 'revents', 'bytes', 'time', 'as declared'].map((t) => h('th', null, t)),
      ),
      c.probes.map((p) =>
        h(
          'tr',
          null,
          h('td', null, p.fd),
          h('td', { class: 'mono' }, p.op),
          h('td', null, p.timedOut ? h('span', { class: 'bad' }, 'timed out') : p.ok ? 'ok' : 'failed'),
          h('td', null, p.errno ? describeErrno(p.errno) : '—'),
          h('td', { class: 'mono' }, p.revents?.join('|') ?? '—'),
          h('td', { class: 'num' }, p.bytes ?? '—'),
          h('td', { class: 'num' }, fmtMs(p.ms)),
          h('td', null, p.accepted ? h('span', { class: 'ok' }, 'yes') : h('span', { class: 'bad' }, 'no')),
        ),
      ),
    ),
  );
}

function loopsBlock(c: CaseResult): Html | null {
  if (c.loops.length === 0) return null;
  return fragment(
    h('h3', null, 'Workload loops during removal'),
    h(
      'table',
      null,
      h('tr', null, h('th', null, 'fd'), h('th', null, 'op'), h('th', null, 'iterations'), h('th', null, 'outcomes')),
      c.loops.map((l) =>
        h(
          'tr',
          null,
          h('td', null, l.fd),
          h('td', { class: 'mono' }, l.op),
          h('td', { class: 'num' }, l.iterations),
          h(
            'td',
            null,
            Object.entries(l.counts).map(([k, n], i) => fragment(i ? ', ' : '', `${n}× ${k === 'OK' ? 'OK' : describeErrno(k)}`)),
          ),
        ),
      ),
    ),
  );
}

const KIND_COLOURS: Readonly<Record<TimelineEvent['kind'], string>> = {
  step: '#0969da',
  agent: '#1a7f37',
  qmp: '#8250df',
  shell: '#57606a',
  ssh: '#57606a',
  console: '#8c959f',
  finding: '#cf222e',
  note: '#b7791f',
};

function timelineSvg(events: readonly TimelineEvent[]): Html | null {
  if (events.length === 0) return null;
  const end = Math.max(1, ...events.map((e) => e.relMs));
  const w = 900;
  const hgt = 34;
  const x = (ms: number): number => 10 + (Math.max(0, ms) / end) * (w - 20);
  return h(
    'svg',
    { class: 'timeline-svg', xmlns: 'http://www.w3.org/2000/svg', width: w, height: hgt, viewBox: `0 0 ${w} ${hgt}`, role: 'img', 'aria-label': 'timeline' },
    h('line', { x1: 10, y1: 12, x2: w - 10, y2: 12, stroke: '#d0d7de' }),
    events.map((e) =>
      h(
        'g',
        null,
        h('title', null, `${fmtMs(e.relMs)} ${e.kind}: ${e.label}${e.detail ? ` — ${e.detail}` : ''}`),
        h('rect', { x: x(e.relMs) - 2, y: 4, width: 4, height: 16, fill: KIND_COLOURS[e.kind] }),
      ),
    ),
    h('text', { x: 10, y: 31 }, '0'),
    h('text', { x: w - 10, y: 31, 'text-anchor': 'end' }, fmtMs(end)),
  );
}

function timelineBlock(c: CaseResult): Html | null {
  if (c.timeline.length === 0) return null;
  return fragment(
    h('h3', null, 'Timeline'),
    timelineSvg(c.timeline),
    h(
      'table',
      { class: 'timeline' },
      h('tr', null, h('th', null, 't'), h('th', null, 'kind'), h('th', null, 'event'), h('th', null, 'detail')),
      c.timeline.map((e) =>
        h(
          'tr',
          { class: `k-${e.kind}` },
          h('td', { class: 'num' }, `+${fmtMs(e.relMs)}`),
          h('td', null, e.kind),
          h('td', null, e.label),
          h('td', { class: 'mono' }, e.detail ?? ''),
        ),
      ),
    ),
  );
}

function consoleBlock(c: CaseResult): Html | null {
  if (c.consoleExcerpt === '') return null;
  const hl = findingLinesInExcerpt(c);
  const first = c.consoleExcerptFirstLine ?? 1;
  const lines = c.consoleExcerpt.replace(/\n$/, '').split('\n');
  const body: Child[] = lines.map((l, i) => h('span', { class: hl.has(i + 1) ? 'ln hl' : 'ln' }, h('span', { class: 'no' }, String(first + i)), l));
  return fragment(h('h3', null, `Console excerpt${hl.size ? ` (${hl.size} lines of kernel reports highlighted)` : ''}`), h('pre', { class: 'console' }, body));
}
