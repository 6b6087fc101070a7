// Test helper: a CaseResult with every field filled, changed by what the test gives.
import type { CaseResult } from '../run.js';

type Probe = CaseResult['probes'][number];

export const probeResult = (p: Partial<Probe>): Probe => ({ op: 'read', fd: 'fd', ok: false, errno: null, ms: 1, timedOut: false, accepted: true, ...p });

export const removalResult = (r: Partial<NonNullable<CaseResult['removal']>> = {}): NonNullable<CaseResult['removal']> => ({
  method: 'devdel',
  completed: true,
  ms: 80,
  errno: null,
  ...r,
});

export const findingRecord = (title: string, kind = 'kasan'): CaseResult['findings'][number] => ({
  kind,
  title,
  altTitles: [],
  frame: null,
  startLine: 1,
  endLine: 2,
  report: '',
  corrupted: false,
});

export function caseResult(c: Partial<CaseResult>): CaseResult {
  const subsystem = c.subsystem ?? 's';
  return {
    id: `${subsystem}/${c.provider ?? 'p'}-${c.method ?? 'm'}-${c.fdKind ?? 'f'}-${c.op ?? 'o'}`,
    subsystem,
    provider: 'p',
    method: 'm',
    fdKind: 'f',
    op: 'o',
    iteration: 1,
    verdict: 'handled',
    reason: '',
    probes: [],
    loops: [],
    removal: removalResult(),
    findings: [],
    timings: { startedAt: '', durationMs: 1, removalMs: null },
    timeline: [],
    consoleExcerpt: '',
    vm: null,
    requires: [],
    missingOptions: [],
    repro: '',
    ...c,
  };
}
