// The run loop: select cases, group them by the VM they need (image + devices at boot) so each
// group boots once, reuse a VM across cases (their restore steps) and boot a fresh one after a
// crash, a hang, a failed restore or a harness error. Every case result is appended to the run and
// the run is written at once, so a run that dies part-way keeps what was measured.
import { globToRegExp } from '../util/glob.js';
import { caseRates, flakyIn } from '../model/rates.js';
import os from 'node:os';
import { BootError, InfraError, errorMessage } from '../errors.js';
import { classifyCase, judgeControls, subsystemVerdict, type ControlExpectation } from '../classify/verdict.js';
import {
  BOOT_FAILURE_VERDICT,
  RUN_SCHEMA_VERSION,
  VERDICTS,
  type BootRecord,
  type CaseRate,
  type CaseResult,
  type RunResult,
  type Verdict,
  type VmInfo,
} from '../model/run.js';
import { reproCommand, toCaseResult } from './case-result.js';
import { BEGIN_MARK, runCase, skippedRun, type CaseRun } from './engine.js';
import type { LoadedSuite } from './load-suites.js';
import { realClock, type Clock, type DetectorPort, type GuestPort, type SessionFactory, type VmConfig } from './port.js';
import type { ResolvedCase } from './suite-schema.js';
import { shardCases, type Shard } from './shard.js';
import { vmConfigFor, vmConfigKey } from './vm-config.js';
import { byNumberInText } from '../util/compare.js';

export interface PlannedCase {
  c: ResolvedCase;
  image: string;
  iteration: number;
}

export interface PlanOptions {
  /** images from the command line; empty: each suite's own `images` */
  images: readonly string[];
  caseGlob?: string;
  iterations: number;
  shard?: Shard;
}

/** Which (case, image, iteration) run, in suite order. */
export function planCases(suites: readonly LoadedSuite[], opts: PlanOptions): PlannedCase[] {
  const match = opts.caseGlob ? globToRegExp(opts.caseGlob) : null;
  const pairs: Array<{ c: ResolvedCase; image: string }> = [];
  for (const s of suites) {
    const images = opts.images.length > 0 ? opts.images : s.images;
    for (const c of s.cases) {
      if (match && !match.test(c.id)) continue;
      for (const image of images) pairs.push({ c, image });
    }
  }
  // a case's shard depends on its id alone (src/scenario/shard.ts): all its images and iterations together
  const mine = opts.shard ? shardCases(pairs, opts.shard, (p) => p.c.id) : pairs;
  return mine.flatMap((p) => Array.from({ length: opts.iterations }, (_, k) => ({ ...p, iteration: k + 1 })));
}

/** Kernel options a case needs that the image's .config does not enable (=y or =m). */
function missingOptions(requires: readonly string[], config: ReadonlyMap<string, string> | null): string[] {
  if (config === null) return [];
  return requires.filter((o) => {
    const v = config.get(o);
    return v === undefined || v === 'n';
  });
}

/**
 * Optional on a GuestPort (the real one has it): whether QEMU itself was killed by a signal the
 * harness did not send. A guest lost that way is an infrastructure fault (verdict error), not a
 * kernel that stopped answering (hung). Resolves within `waitMs`.
 */
export interface QemuExitPort {
  qemuKilled(waitMs: number): Promise<string | null>;
}

export interface RunLoopOptions {
  suites: LoadedSuite[];
  plan: PlannedCase[];
  sessions: SessionFactory;
  detector: DetectorPort;
  /** the image's parsed .config (null: unknown, options not checked) */
  kernelConfig(image: string): Promise<ReadonlyMap<string, string> | null>;
  /**
   * Called after every case and at the end (the run job decides which it saves) with `run`, which
   * makes a snapshot of the run as it stands when called: most calls are not saved, and what a
   * snapshot derives (rates, summaries, the controls) grows with the run.
   * `full`: render every report (html, junit, kcidb, case dirs), not only run.json and consoles.
   */
  write(run: () => RunResult, consoles: ReadonlyArray<{ vm: string; image: string; file: string }>, opts: { full: boolean }): Promise<void>;
  runId: string;
  command: string[];
  images: string[];
  jobs: number;
  /** boots of a VM before its cases are given up (a failed boot is retried on a fresh QEMU); default 3 */
  bootAttempts?: number;
  /** repro line for a case (the CLI knows how it was invoked) */
  repro?(c: ResolvedCase, image: string): string;
  onCase?(r: CaseResult, done: number, total: number): void;
  onNote?(text: string): void;
  clock?: Clock;
  /** how a case knows the console has what it caused (engine's CaseContext.settle); default flush */
  settle?: 'flush' | 'quiet';
  /** engine's CaseContext.blockedEvidenceMs: decide blocked from the guest's tasks; undefined: off */
  blockedEvidenceMs?: number;
  version: string;
}

export async function runLoop(o: RunLoopOptions): Promise<RunResult> {
  const run: RunResult = {
    schemaVersion: RUN_SCHEMA_VERSION,
    tool: { name: 'hotunplug-ci', version: o.version },
    runId: o.runId,
    startedAt: new Date().toISOString(),
    finishedAt: null,
    complete: false,
    command: o.command,
    suites: o.suites.map((s) => s.name),
    images: o.images,
    host: { hostname: os.hostname(), cpus: os.cpus().length, memGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10 },
    cases: [],
    subsystems: [],
    rates: [],
    controls: { ran: false, trusted: false, detail: 'canary controls did not run: verdicts are not calibrated' },
    consoles: [],
    boots: [],
  };
  const bootAttempts = Math.max(1, o.bootAttempts ?? DEFAULT_BOOT_ATTEMPTS);
  const consoles: Array<{ vm: string; image: string; file: string }> = [];
  const configs = new Map<string, Promise<ReadonlyMap<string, string> | null>>();
  const configOf = (image: string): Promise<ReadonlyMap<string, string> | null> => {
    let p = configs.get(image);
    if (!p) configs.set(image, (p = o.kernelConfig(image)));
    return p;
  };

  // group by the VM the cases need, keeping first-appearance order
  const groups = new Map<string, { index: number; cfg: VmConfig; items: PlannedCase[] }>();
  for (const item of o.plan) {
    const cfg = vmConfigFor(item.c, item.image);
    const key = vmConfigKey(cfg);
    const g = groups.get(key);
    if (g) g.items.push(item);
    else groups.set(key, { index: groups.size, cfg, items: [item] });
  }
  // results are kept in plan order whatever the scheduling (--jobs), so reports are deterministic
  const planIndex = new Map<PlannedCase, number>(o.plan.map((p, i) => [p, i]));
  const resultIndex = new Map<CaseResult, number>();
  // boots too, by group and boot, not by when they happened (--jobs)
  const bootOrder = new Map<BootRecord, number>();

  let writing: Promise<void> = Promise.resolve();
  let lastFull = -Infinity;
  // the run after every case (saved at most every SAVE_EVERY_MS, run-job.ts); the rendered reports
  // at most every RENDER_EVERY_MS and at the end
  const persist = (final = false): Promise<void> => {
    const now = Date.now();
    const full = final || now - lastFull >= RENDER_EVERY_MS;
    if (full) lastFull = now;
    const snapshot = (): RunResult => {
      run.cases.sort((a, b) => resultIndex.get(a)! - resultIndex.get(b)!);
      run.boots.sort((a, b) => bootOrder.get(a)! - bootOrder.get(b)!);
      run.rates = caseRates(run.cases, (c) => c.image ?? c.vm?.image ?? '');
      run.subsystems = summarise(run.cases, run.rates);
      run.controls = controlsOf(o.plan, run.cases);
      // A case is never changed once appended, so a shallow copy is a snapshot (and lets the report
      // writer keep each case's run.json text instead of stringifying every case after every case).
      return { ...run, cases: [...run.cases] };
    };
    // the last one is made at once: the run returned holds its rates and summaries whatever is saved
    const finalSnapshot = final ? snapshot() : null;
    const vms = [...consoles].sort((a, b) => byNumberInText(a.vm, b.vm));
    writing = writing.then(() => o.write(finalSnapshot ? () => finalSnapshot : snapshot, vms, { full }));
    return writing;
  };
  let done = 0;
  const total = o.plan.length;

  const resultOf = (item: PlannedCase, caseRun: CaseRun, vm: VmInfo | null): CaseResult => {
    capExcerpt(caseRun);
    const cls = classifyCase(caseRun.record);
    return toCaseResult(item.c, caseRun, cls, {
      iteration: item.iteration,
      image: item.image,
      vm,
      repro: o.repro ? o.repro(item.c, item.image) : reproCommand(item.c, item.image),
    });
  };
  const append = async (item: PlannedCase, caseRun: CaseRun, vm: VmInfo | null): Promise<CaseResult> => {
    const result = resultOf(item, caseRun, vm);
    run.cases.push(result);
    resultIndex.set(result, planIndex.get(item)!);
    done++;
    o.onCase?.(result, done, total);
    await persist();
    return result;
  };
  /**
   * A report the console brought after a case was judged (after its end marker and grace, before
   * the next case began) is that case's: its findings, excerpt and verdict are corrected in place.
   */
  const attributeLate = async (judged: Judged, lines: readonly string[]): Promise<boolean> => {
    if (lines.length === 0 || o.detector.detect(lines.join('\n')).length === 0) return false;
    const before = judged.caseRun;
    const excerpt = `${before.consoleExcerpt}\n${lines.join('\n')}`;
    const findings = o.detector.detect(excerpt);
    const late = findings.filter((f) => !before.findings.some((b) => b.title === f.title));
    const now = (o.clock ?? realClock).now();
    const t0 = before.timeline[0] ? before.timeline[0].hostMs - before.timeline[0].relMs : now;
    const caseRun: CaseRun = {
      ...before,
      consoleExcerpt: excerpt,
      findings,
      record: { ...before.record, findings: findings.map((f) => ({ kind: f.kind, title: f.title })) },
      timeline: [
        ...before.timeline,
        ...late.map((f) => ({
          hostMs: now,
          relMs: now - t0,
          kind: 'finding' as const,
          label: f.title,
          detail: 'late: printed after the case was judged, before the next began; attributed to this case and its verdict corrected',
        })),
      ],
      needsRestart: true,
    };
    const result = resultOf(judged.item, caseRun, judged.vm);
    const i = run.cases.indexOf(judged.result);
    if (i >= 0) run.cases[i] = result;
    resultIndex.set(result, planIndex.get(judged.item)!);
    o.onNote?.(`${judged.item.c.id} (${judged.item.image}): late report ${late.map((f) => `"${f.title}"`).join(', ') || 'seen'}: now ${result.verdict}`);
    judged.caseRun = caseRun;
    judged.result = result;
    await persist();
    return true;
  };

  const runGroup = async (g: { index: number; cfg: VmConfig; items: PlannedCase[] }): Promise<void> => {
    let boots = 0;
    const config = await configOf(g.cfg.image);
    if (config === null) o.onNote?.(`${g.cfg.image}: no kernel .config found; kernel options not checked`);
    let port: GuestPort | null = null;
    let bootFailure: string | null = null;
    // the case judged last on this VM; the VM's recent console lines, to find what came after it
    let judged: Judged | null = null;
    let recent: Array<{ lineNo: number; text: string }> = [];
    let unwatch: (() => void) | null = null;
    const watch = (p: GuestPort): void => {
      recent = [];
      unwatch = p.onConsoleLine((l) => {
        recent.push({ lineNo: l.lineNo, text: l.text });
        if (recent.length > RECENT_LINES) recent = recent.slice(-RECENT_LINES / 2);
      });
    };
    /** Lines after the judged case's last one, up to the next case's begin marker. */
    const lateLines = (): string[] => {
      if (!judged) return [];
      const out: string[] = [];
      for (const l of recent) {
        if (l.lineNo <= judged.caseRun.lastConsoleLineNo) continue;
        if (l.text.includes(BEGIN_MARK)) break;
        out.push(l.text);
      }
      return out;
    };
    const stop = async (): Promise<void> => {
      unwatch?.();
      unwatch = null;
      judged = null;
      if (port) {
        const p = port;
        port = null;
        await p.stop().catch(() => undefined);
      }
    };
    /** A fresh VM, on up to bootAttempts QEMUs; every attempt is recorded, a failed one with its console. */
    const boot = async (): Promise<GuestPort | null> => {
      let last: BootRecord | null = null;
      for (let attempt = 1; attempt <= bootAttempts; attempt++) {
        // named by group (and boot), not by boot order, so names do not depend on scheduling
        const vm = `vm${g.index + 1}${++boots > 1 ? `.${boots}` : ''}-${g.cfg.image}`;
        let consoleFile: string | null = null;
        const noteConsole = (file: string): void => {
          if (consoleFile !== null) return;
          consoleFile = file;
          consoles.push({ vm, image: g.cfg.image, file });
        };
        const startedAt = new Date().toISOString();
        const t0 = performance.now();
        const record = (r: Partial<BootRecord>): BootRecord => {
          const b: BootRecord = {
            vm,
            image: g.cfg.image,
            attempt,
            attempts: bootAttempts,
            ok: false,
            startedAt,
            ms: Math.round(performance.now() - t0),
            findings: [],
            gaveUp: false,
            ...r,
          };
          run.boots.push(b);
          bootOrder.set(b, g.index * 1e6 + boots);
          return b;
        };
        try {
          const p = await o.sessions.boot(g.cfg, { onConsole: noteConsole });
          if (p.consoleFile) noteConsole(p.consoleFile);
          record({ ok: true, ...(p.start ? { start: p.start } : {}) });
          if (p.start?.restoreFailed)
            o.onNote?.(`${vm}: restoring the saved guest ${p.start.snapshot ?? ''} failed (${p.start.restoreFailed}); booted instead`);
          return p;
        } catch (e) {
          last = record(bootFailureRecord(e));
          o.onNote?.(`${vm}: boot ${attempt} of ${bootAttempts} failed: ${last.failure!.title}`);
          await persist();
        }
      }
      last!.gaveUp = true;
      bootFailure = `${g.cfg.image} ${GAVE_UP_PHRASE[last!.failure!.kind]}: ${last!.failure!.title} (${bootAttempts} of ${bootAttempts} boots)`;
      o.onNote?.(bootFailure);
      return null;
    };
    try {
      for (const item of g.items) {
        const missing = missingOptions(item.c.requires, config);
        if (missing.length > 0) {
          await append(item, skippedRun(item.c, missing), null);
          continue;
        }
        // a late report of the case before left the guest damaged: this one gets a fresh VM
        if (judged && port && (await attributeLate(judged, lateLines()))) await stop();
        if (bootFailure === null && !port) {
          port = await boot();
          if (port) watch(port);
        }
        if (bootFailure !== null || !port) {
          await append(item, harnessErrorRun(item.c, `VM did not boot: ${bootFailure}`), null);
          continue;
        }
        const current: GuestPort = port;
        let caseRun: CaseRun;
        try {
          caseRun = await runCase(item.c, {
            port: current,
            detector: o.detector,
            iteration: item.iteration,
            ...(o.clock ? { clock: o.clock } : {}),
            ...(o.settle ? { settle: o.settle } : {}),
            ...(o.blockedEvidenceMs !== undefined ? { blockedEvidenceMs: o.blockedEvidenceMs } : {}),
          });
        } catch (e) {
          caseRun = harnessErrorRun(item.c, `internal: ${errorMessage(e)}`);
          caseRun.needsRestart = true;
        }
        // what came before this case's begin marker (while it started) is still the previous case's
        if (judged && (await attributeLate(judged, lateLines()))) caseRun.needsRestart = true;
        await blameInfrastructure(caseRun, current);
        const result = await append(item, caseRun, current.vm);
        judged = { item, caseRun, vm: current.vm, result };
        if (caseRun.needsRestart) await stop();
      }
      if (judged && port) await attributeLate(judged, lateLines());
    } finally {
      await stop();
    }
  };

  const queue = [...groups.values()];
  const workers = Array.from({ length: Math.max(1, Math.min(o.jobs, queue.length)) }, async () => {
    for (let g = queue.shift(); g; g = queue.shift()) await runGroup(g);
  });
  await Promise.all(workers);
  run.complete = true;
  run.finishedAt = new Date().toISOString();
  await persist(true);
  return run;
}

/** A case as judged, kept until the next case on its VM begins (a late report may still be its). */
interface Judged {
  item: PlannedCase;
  caseRun: CaseRun;
  vm: VmInfo | null;
  result: CaseResult;
}

/** Console lines a VM keeps for finding late reports (halved when full). */
const RECENT_LINES = 4000;

/** Boots of one VM before its cases are given up. */
export const DEFAULT_BOOT_ATTEMPTS = 3;

/** What the run says of an image whose every boot failed, by how the last one failed. */
const GAVE_UP_PHRASE: Record<NonNullable<BootRecord['failure']>['kind'], string> = {
  crash: 'crashes while booting',
  exited: 'goes away while booting',
  timeout: 'does not finish booting',
  infra: 'could not be booted (QEMU or the host failed)',
};

/** A failed boot attempt as run.json keeps it: a BootError is the kernel's, anything else the machinery's. */
function bootFailureRecord(e: unknown): Pick<BootRecord, 'failure' | 'findings'> {
  if (e instanceof BootError) {
    return {
      failure: {
        kind: e.kind,
        verdict: BOOT_FAILURE_VERDICT[e.kind],
        title: e.title,
        msAfterReport: e.reportHostMs === null ? null : Math.max(0, Date.now() - e.reportHostMs),
        consoleTail: [...e.consoleTail],
      },
      findings: e.findings.map((f) => ({ ...f })),
    };
  }
  const message = errorMessage(e);
  const tail = e instanceof InfraError ? e.transcript.slice(-40) : [];
  return { failure: { kind: 'infra', verdict: 'error', title: message.split('\n')[0]!, msAfterReport: null, consoleTail: tail }, findings: [] };
}

/**
 * How often a running run re-renders html/junit/kcidb/case dirs and copies consoles (also after
 * the first case, at the end and on SIGINT/SIGTERM). run.json, which holds every measurement, is
 * at most SAVE_EVERY_MS behind (`hotunplug-ci report DIR` renders from it at any time); the rendered
 * views may lag this much: a render's CPU grows with the run (npm run bench shows the harness's
 * share), and a nightly run still gets a fresh view every 5 minutes.
 */
const RENDER_EVERY_MS = 300_000;

/** Bytes of console excerpt a case keeps in run.json (the whole console is in consoles/). */
const EXCERPT_MAX_BYTES = 256 * 1024;
const EXCERPT_EDGE_LINES = 200;
const FINDING_CONTEXT_LINES = 30;

/**
 * A printk flood must not put megabytes into every case (run.json is rewritten after each case):
 * keep the first and last lines and every finding with some context, replace each dropped stretch
 * with one line saying so, and renumber the findings' lines to match.
 */
export function capExcerpt(caseRun: Pick<CaseRun, 'consoleExcerpt' | 'findings'>, maxBytes = EXCERPT_MAX_BYTES): void {
  if (Buffer.byteLength(caseRun.consoleExcerpt) <= maxBytes) return;
  const lines = caseRun.consoleExcerpt.split('\n');
  const keep = new Uint8Array(lines.length);
  const mark = (from: number, to: number): void => {
    for (let i = Math.max(0, from); i < Math.min(lines.length, to); i++) keep[i] = 1;
  };
  mark(0, EXCERPT_EDGE_LINES);
  mark(lines.length - EXCERPT_EDGE_LINES, lines.length);
  for (const f of caseRun.findings) mark(f.startLine - 1 - FINDING_CONTEXT_LINES, f.endLine + FINDING_CONTEXT_LINES);
  const out: string[] = [];
  const newLine = new Int32Array(lines.length); // 1-based line in the capped excerpt
  for (let i = 0; i < lines.length; ) {
    if (keep[i]) {
      out.push(lines[i]!);
      newLine[i] = out.length;
      i++;
      continue;
    }
    let j = i;
    while (j < lines.length && !keep[j]) j++;
    out.push(`[hotunplug-ci: ${j - i} console lines dropped here (flood); the VM's whole console is in consoles/]`);
    for (let k = i; k < j; k++) newLine[k] = out.length;
    i = j;
  }
  // findings keep their own report text; their line numbers move with the kept lines
  for (const f of caseRun.findings) {
    f.startLine = newLine[f.startLine - 1] ?? f.startLine;
    f.endLine = newLine[f.endLine - 1] ?? f.endLine;
  }
  let text = out.join('\n');
  // lines kept around findings can still be huge (one flood record per line): a last hard bound
  if (Buffer.byteLength(text) > maxBytes * 4) text = `${text.slice(0, maxBytes * 2)}\n[hotunplug-ci: excerpt truncated]`;
  caseRun.consoleExcerpt = text;
}

/** A lost guest whose QEMU was killed from outside, with no kernel report: error, not hung. */
async function blameInfrastructure(caseRun: CaseRun, port: GuestPort): Promise<void> {
  const r = caseRun.record;
  if (r.guestLost === null || r.findings.length > 0) return;
  const killed = await (port as Partial<QemuExitPort>).qemuKilled?.(2000);
  if (!killed) return;
  r.harnessError = `${killed} during the case (${r.guestLost})`;
  r.guestLost = null;
  caseRun.needsRestart = true;
}

function harnessErrorRun(c: ResolvedCase, message: string): CaseRun {
  const r = skippedRun(c, []);
  r.record.harnessError = message;
  r.needsRestart = true;
  return r;
}

/** Per subsystem and image: the worst verdict and the count of each. */
function summarise(cases: readonly CaseResult[], rates: readonly CaseRate[]): RunResult['subsystems'] {
  const by = new Map<string, { subsystem: string; image: string; verdicts: Verdict[] }>();
  for (const c of cases) {
    const image = c.image ?? c.vm?.image ?? '';
    const key = `${c.subsystem}\u0000${image}`;
    const e = by.get(key) ?? { subsystem: c.subsystem, image, verdicts: [] };
    e.verdicts.push(c.verdict);
    by.set(key, e);
  }
  return [...by.values()].map((e) => ({
    subsystem: e.subsystem,
    image: e.image,
    verdict: subsystemVerdict(e.verdicts),
    counts: Object.fromEntries(VERDICTS.map((v) => [v, e.verdicts.filter((x) => x === v).length]).filter(([, n]) => (n as number) > 0)),
    flaky: flakyIn(rates, e.subsystem, e.image),
  }));
}

function controlsOf(plan: readonly PlannedCase[], cases: readonly CaseResult[]): RunResult['controls'] {
  const expectations: ControlExpectation[] = [];
  for (const p of plan) {
    if (p.c.control && !expectations.some((e) => e.id === p.c.id)) {
      expectations.push({ id: p.c.id, verdict: p.c.control.verdict, ...(p.c.control.title ? { title: p.c.control.title } : {}) });
    }
  }
  return judgeControls(expectations, cases);
}
