// What a subsystem did with the held fds, in the words of the unplug debate — a finer reading of a
// case than its verdict: it revokes them (which errno), hangs them up (EOF), waits in remove (how
// long after the close), refuses the removal, goes numb (a call succeeds on a dead device), stays
// silent (no answer tells the caller), crashes (the report's title) or hangs. A pure function of
// the recorded case, so the map can be drawn from any run.json.
import type { CaseResult } from '../model/run.js';

const BEHAVIOURS = ['revokes', 'hangs-up', 'waits', 'refuses', 'numb', 'silent', 'crashes', 'hangs', 'error', 'skipped'] as const;
export type BehaviourKind = (typeof BEHAVIOURS)[number];

/** Worst first: the order a cell of several cases takes its headline from. */
export const BEHAVIOUR_SEVERITY: readonly BehaviourKind[] = [
  'crashes',
  'hangs',
  'waits',
  'numb',
  'silent',
  'refuses',
  'hangs-up',
  'revokes',
  'error',
  'skipped',
];

export interface Behaviour {
  kind: BehaviourKind;
  /** short: the errnos, the wait, the call that succeeded, the title */
  detail: string;
  /** revokes / hangs up: the errnos the probes got */
  errnos?: string[];
  /** waits: ms from the close to the removal's end (absent: it never ended) */
  afterCloseMs?: number;
}

type Probe = CaseResult['probes'][number];

const isEof = (p: Probe): boolean => p.ok && (p.op === 'read' || p.op === 'pread') && p.bytes === 0;

/** The probe's answer in a few words: "poll → no events", "read → EAGAIN", "ioctl:X → 0". */
function probeAnswer(p: Probe): string {
  if (p.timedOut) return `${p.op} blocks`;
  if (!p.ok) return `${p.op} → ${p.errno}`;
  if (p.fault) return `${p.op} → ${p.fault}`;
  if (p.op === 'poll') return `poll → ${p.revents?.length ? p.revents.join('|') : 'no events'}`;
  if (p.bytes !== undefined) return `${p.op} → ${p.bytes} bytes`;
  return `${p.op} → ok`;
}

export function caseBehaviour(c: CaseResult): Behaviour {
  switch (c.verdict) {
    case 'crashed':
      return { kind: 'crashes', detail: c.findings[0]?.title ?? c.reason };
    case 'hung':
      return { kind: 'hangs', detail: c.findings[0]?.title ?? c.reason };
    case 'blocked': {
      const after = c.removal?.completedAfterCloseMs;
      if (after === null || after === undefined) return { kind: 'waits', detail: 'never finishes' };
      return { kind: 'waits', detail: `until ${Math.round(after)} ms after the close`, afterCloseMs: Math.round(after) };
    }
    case 'error':
    case 'skipped':
      return { kind: c.verdict, detail: c.reason };
    case 'handled': {
      if (c.removal?.errno) return { kind: 'refuses', detail: c.removal.errno };
      const errnos = [...new Set(c.probes.filter((p) => p.accepted && p.errno).map((p) => p.errno!))].sort();
      const polls = [...new Set(c.probes.filter((p) => p.accepted && p.op === 'poll').flatMap((p) => p.revents ?? []))].sort();
      const parts = [...errnos, ...(polls.length ? [`poll ${polls.map((f) => f.replace(/^POLL/, '')).join('|')}`] : [])];
      if (c.probes.some(isEof)) return { kind: 'hangs-up', detail: ['EOF', ...parts].join(', '), errnos };
      return { kind: 'revokes', detail: parts.join(', ') || 'no probe answers', errnos };
    }
    case 'silent': {
      const p = c.probes.find((x) => !x.accepted);
      if (p?.ok && !p.timedOut && !(p.op === 'poll' && !p.revents?.length)) return { kind: 'numb', detail: probeAnswer(p) };
      if (p) return { kind: 'silent', detail: probeAnswer(p) };
      // every probe answered as it should: what stayed silent is a blocked caller nobody woke
      const l = c.loops.find((x) => !x.stress);
      return { kind: 'silent', detail: l ? `a blocked ${l.op} is not woken` : c.reason };
    }
  }
}
