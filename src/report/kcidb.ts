// kcidb.json: the run in KCIDB v5.3 I/O format (checkouts, builds, tests, issues, incidents).
//
// Verdict → KCIDB test status (the schema's enum; see README.md beside this file):
//   | verdict  | status | why                                                                   |
//   | handled  | PASS   | the kernel handled the removal correctly                              |
//   | crashed  | FAIL   | the kernel reported a bug: the tested code is faulty                  |
//   | hung     | FAIL   | removal or a call on a held fd never returned: the tested code is     |
//   |          |        | faulty (a hung task, or a deadlock in the removal path)               |
//   | blocked  | DONE*  | completed; removal waited for the fds to close. A measurement, not a  |
//   | silent   | DONE*  | verdict on correctness by default (* FAIL when in --fail-on)          |
//   | error    | ERROR  | the harness could not complete the case: tested code unknown          |
//   | skipped  | SKIP   | the kernel lacks what the case needs                                  |
import { createHash } from 'node:crypto';
import { ConfigError } from '../errors.js';
import { DEFAULT_FAIL_ON } from './fail-on.js';
import { caseImage, caseName, runImages } from './model.js';
import { VERDICT_SEVERITY, type CaseResult, type Checkout, type RunResult, type Verdict } from '../model/run.js';
import { rateText } from '../model/rates.js';

const KCIDB_VERSION = { major: 5, minor: 3 } as const;
export const DEFAULT_KCIDB_ORIGIN = 'hotunplug';

export type KcidbStatus = 'FAIL' | 'ERROR' | 'MISS' | 'PASS' | 'DONE' | 'SKIP';

export function kcidbStatus(v: Verdict, failOn: readonly Verdict[] = DEFAULT_FAIL_ON): KcidbStatus {
  if (v === 'crashed' || v === 'hung' || failOn.includes(v)) return 'FAIL';
  switch (v) {
    case 'handled':
      return 'PASS';
    case 'blocked':
    case 'silent':
      return 'DONE';
    case 'error':
      return 'ERROR';
    case 'skipped':
      return 'SKIP';
  }
}

export interface KcidbOptions {
  origin?: string;
  failOn?: readonly Verdict[];
}

// Types of what we emit (a subset of the schema's objects).
interface KcidbCheckout {
  id: string;
  origin: string;
  tree_name?: string;
  git_repository_url?: string;
  git_repository_branch?: string;
  git_commit_hash?: string;
  git_commit_name?: string;
  comment?: string;
  start_time?: string;
  valid?: boolean;
  misc?: Record<string, unknown>;
}
interface KcidbBuild {
  id: string;
  origin: string;
  checkout_id: string;
  comment?: string;
  architecture?: string;
  config_name?: string;
  status?: KcidbStatus;
  start_time?: string;
  misc?: Record<string, unknown>;
}
interface KcidbTest {
  id: string;
  origin: string;
  build_id: string;
  path: string;
  status: KcidbStatus;
  comment?: string;
  log_excerpt?: string;
  start_time?: string;
  duration?: number;
  environment?: { comment?: string; misc?: Record<string, unknown> };
  misc?: Record<string, unknown>;
}
interface KcidbIssue {
  id: string;
  version: number;
  origin: string;
  report_subject: string;
  comment?: string;
  categories?: string[];
  culprit?: { code: boolean; tool: boolean; harness: boolean };
  misc?: Record<string, unknown>;
}
interface KcidbIncident {
  id: string;
  origin: string;
  issue_id: string;
  issue_version: number;
  build_id: string;
  test_id: string;
  present: boolean;
  comment?: string;
}
export interface Kcidb {
  version: typeof KCIDB_VERSION;
  checkouts: KcidbCheckout[];
  builds: KcidbBuild[];
  tests: KcidbTest[];
  issues: KcidbIssue[];
  incidents: KcidbIncident[];
}

const ORIGIN = /^[a-z0-9_]+$/;
const LOG_EXCERPT_MAX = 16384;

/** Path segments allow [a-zA-Z0-9_-] only. */
function pathPart(s: string): string {
  const t = s.replace(/[^a-zA-Z0-9_-]+/g, '_');
  return t === '' ? '_' : t;
}

/** KCIDB strings cannot hold NUL. */
function str(s: string): string {
  return s.replace(/\u0000/g, '');
}

function dateTime(s: string | null | undefined): string | undefined {
  if (!s) return undefined;
  // RFC 3339 as the schema's date-time format demands; anything else is left out rather than guessed.
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(s) ? s : undefined;
}

function logExcerpt(c: CaseResult): string | undefined {
  const text = str(c.findings[0]?.report || c.consoleExcerpt);
  if (text === '') return undefined;
  if (text.length <= LOG_EXCERPT_MAX) return text;
  const cut = '[…]\n';
  return cut + text.slice(text.length - (LOG_EXCERPT_MAX - cut.length));
}

/** Trees KernelCI knows by name, from their repository's path. */
const KNOWN_TREES: readonly [RegExp, string][] = [
  [/torvalds\/linux(\.git)?$/, 'mainline'],
  [/next\/linux-next(\.git)?$/, 'next'],
  [/stable\/linux(-stable)?(\.git)?$/, 'stable'],
  [/stable\/linux-stable-rc(\.git)?$/, 'stable-rc'],
];

/** A checkout's tree name: KernelCI's for the trees it knows, else the repository's last path part. */
export function treeName(repositoryUrl: string): string | undefined {
  const url = repositoryUrl.replace(/\/+$/, '');
  for (const [re, name] of KNOWN_TREES) if (re.test(url)) return name;
  const last = url
    .split(/[/:]/)
    .pop()
    ?.replace(/\.git$/, '');
  return last ? str(last) : undefined;
}

/** KCIDB's checkout fields for where the kernel came from (git needs an https URL; others go to misc). */
function checkoutFields(co: Checkout | undefined): Partial<KcidbCheckout> & { misc: Record<string, unknown> } {
  if (!co) return { misc: {} };
  if (co.gitCommitHash) {
    const url = co.gitRepositoryUrl;
    const tree = url ? treeName(url) : undefined;
    return {
      ...(tree ? { tree_name: tree } : {}),
      ...(url && /^https:\/\//.test(url) ? { git_repository_url: str(url) } : {}),
      ...(co.gitBranch ? { git_repository_branch: str(co.gitBranch) } : {}),
      git_commit_hash: co.gitCommitHash,
      ...(co.gitCommitName ? { git_commit_name: str(co.gitCommitName) } : {}),
      misc: { ...(url && !/^https:\/\//.test(url) ? { git_repository: str(url) } : {}), ...(co.dirty ? { dirty: true } : {}) },
    };
  }
  return { misc: co.package ? { package: str(co.package), package_version: str(co.packageVersion ?? '') } : {} };
}

function issueId(origin: string, title: string): string {
  return `${origin}:${createHash('sha256').update(title).digest('hex').slice(0, 16)}`;
}

export function renderKcidb(run: RunResult, opts: KcidbOptions = {}): Kcidb {
  const origin = opts.origin ?? DEFAULT_KCIDB_ORIGIN;
  if (!ORIGIN.test(origin)) throw new ConfigError('--origin', '', `"${origin}" is not a KCIDB origin (lowercase letters, digits, _)`);
  const failOn = opts.failOn ?? DEFAULT_FAIL_ON;
  const runPart = str(run.runId);
  const out: Kcidb = { version: KCIDB_VERSION, checkouts: [], builds: [], tests: [], issues: [], incidents: [] };

  const buildOf = new Map<string, string>();
  for (const image of runImages(run)) {
    const vm = run.cases.find((c) => c.vm && caseImage(run, c) === image)?.vm ?? null;
    const checkoutId = `${origin}:${runPart}:${str(image)}`;
    const buildId = `${origin}:${runPart}:${str(image)}`;
    buildOf.set(image, buildId);
    const { misc: checkoutMisc, ...checkout } = checkoutFields(vm?.checkout);
    const packageNote = vm?.checkout?.package ? ` (${vm.checkout.package} ${vm.checkout.packageVersion ?? ''})` : '';
    out.checkouts.push({
      id: checkoutId,
      origin,
      ...checkout,
      ...(vm ? { comment: str(`${vm.kernelRelease} ${vm.kernelVersion}${packageNote}`) } : { comment: str(`image ${image}`) }),
      ...(dateTime(run.startedAt) ? { start_time: dateTime(run.startedAt) } : {}),
      valid: true,
      misc: { image: str(image), ...(vm ? { kernel_release: str(vm.kernelRelease), kernel_version: str(vm.kernelVersion) } : {}), ...checkoutMisc },
    });
    out.builds.push({
      id: buildId,
      origin,
      checkout_id: checkoutId,
      comment: str(vm ? `image ${image}, kernel ${vm.kernelRelease}` : `image ${image}`),
      architecture: 'x86_64',
      config_name: str(image),
      ...(vm ? { status: 'PASS' as const } : {}),
      misc: { ...(vm?.configHash ? { config_hash: str(vm.configHash) } : {}), ...(vm ? { accelerator: vm.accelerator } : {}) },
    });
  }

  const issues = new Map<string, KcidbIssue>();
  const seenTestIds = new Set<string>();
  const rateOf = new Map(run.rates.map((r) => [`${r.image}\u0000${r.id}`, r]));
  for (const c of run.cases) {
    const image = caseImage(run, c);
    const rate = rateOf.get(`${image}\u0000${c.id}`);
    const buildId = buildOf.get(image) as string;
    let testId = `${origin}:${runPart}:${str(image)}:${str(c.id)}:${c.iteration}`;
    for (let n = 2; seenTestIds.has(testId); n++) testId = `${origin}:${runPart}:${str(image)}:${str(c.id)}:${c.iteration}:${n}`;
    seenTestIds.add(testId);
    const excerpt = logExcerpt(c);
    const start = dateTime(c.timings.startedAt);
    out.tests.push({
      id: testId,
      origin,
      build_id: buildId,
      path: `hotunplug.${pathPart(c.subsystem)}.${pathPart(caseName(c))}`,
      status: kcidbStatus(c.verdict, failOn),
      comment: str(`${c.verdict}: ${c.findings[0]?.title ?? c.reason}`),
      ...(excerpt !== undefined ? { log_excerpt: excerpt } : {}),
      ...(start ? { start_time: start } : {}),
      duration: Math.max(0, c.timings.durationMs) / 1000,
      ...(c.vm ? { environment: { comment: str(`QEMU q35, ${c.vm.accelerator}`), misc: { accelerator: c.vm.accelerator } } } : {}),
      misc: {
        verdict: c.verdict,
        reason: str(c.reason),
        case_id: str(c.id),
        image: str(image),
        iteration: c.iteration,
        repro: str(c.repro),
        provider: str(c.provider),
        method: str(c.method),
        fd_kind: str(c.fdKind),
        op: str(c.op),
        ...(c.missingOptions.length ? { missing_options: c.missingOptions.map(str) } : {}),
        // each execution is a test; a case whose verdict varied says so, and how often each came
        ...(rate ? { flaky: rate.flaky, rate: str(rateText(rate, VERDICT_SEVERITY)), iterations: rate.runs } : {}),
      },
    });
    const titles = [...new Set(c.findings.map((f) => f.title))];
    titles.forEach((title, k) => {
      const f = c.findings.find((x) => x.title === title);
      const id = issueId(origin, title);
      if (!issues.has(id)) {
        issues.set(id, {
          id,
          version: 1,
          origin,
          report_subject: str(title),
          comment: str(title),
          categories: [`runtime.${pathPart(f?.kind ?? 'unknown')}`],
          culprit: { code: true, tool: false, harness: false },
          misc: { kind: str(f?.kind ?? 'unknown'), ...(f?.frame ? { frame: str(f.frame) } : {}) },
        });
      }
      out.incidents.push({
        id: `${testId}:${k + 1}`,
        origin,
        issue_id: id,
        issue_version: 1,
        build_id: buildId,
        test_id: testId,
        present: true,
        comment: str(`${title} in ${c.id} on ${image}`),
      });
    });
  }
  // KCIDB's own boot tests (path "boot"): one per boot attempt, its findings as incidents
  run.boots.forEach((b, k) => {
    const buildId = buildOf.get(b.image);
    if (!buildId) return;
    const testId = `${origin}:${runPart}:${str(b.image)}:boot:${k + 1}`;
    const f = b.failure;
    const status: KcidbStatus = !f ? 'PASS' : f.verdict === 'error' ? 'ERROR' : 'FAIL';
    const excerpt = f ? str(b.findings[0]?.report ?? f.consoleTail.join('\n')).slice(-LOG_EXCERPT_MAX) : '';
    out.tests.push({
      id: testId,
      origin,
      build_id: buildId,
      path: 'boot',
      status,
      comment: str(f ? `boot attempt ${b.attempt} of ${b.attempts}: ${f.title}` : `boot attempt ${b.attempt} of ${b.attempts}`),
      ...(excerpt ? { log_excerpt: excerpt } : {}),
      ...(dateTime(b.startedAt) ? { start_time: dateTime(b.startedAt) } : {}),
      duration: Math.max(0, b.ms) / 1000,
      misc: {
        vm: str(b.vm),
        image: str(b.image),
        attempt: b.attempt,
        attempts: b.attempts,
        gave_up: b.gaveUp,
        ...(f ? { kind: f.kind, verdict: f.verdict } : {}),
      },
    });
    [...new Set(b.findings.map((x) => x.title))].forEach((title, j) => {
      const x = b.findings.find((y) => y.title === title)!;
      const id = issueId(origin, title);
      if (!issues.has(id)) {
        issues.set(id, {
          id,
          version: 1,
          origin,
          report_subject: str(title),
          comment: str(title),
          categories: [`runtime.${pathPart(x.kind)}`],
          culprit: { code: true, tool: false, harness: false },
          misc: { kind: str(x.kind), ...(x.frame ? { frame: str(x.frame) } : {}) },
        });
      }
      out.incidents.push({
        id: `${testId}:${j + 1}`,
        origin,
        issue_id: id,
        issue_version: 1,
        build_id: buildId,
        test_id: testId,
        present: true,
        comment: str(`${title} while booting ${b.image}`),
      });
    });
  });
  out.issues = [...issues.values()];
  return out;
}
