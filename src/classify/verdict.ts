// Case verdicts: a pure function of what the engine measured. First matching rule wins, in the
// order of severity (crashed > hung > blocked > silent), then handled; a harness failure comes
// before blocked: a removal cut short by one (QEMU killed under it) was not seen blocking.
import { worstVerdict, type Verdict } from '../model/run.js';
import { describeProbe } from './accept.js';
import type { CaseRecord } from './record.js';

export interface Classification {
  verdict: Verdict;
  reason: string;
}

/** Finding kinds that mean the guest stopped making progress rather than faulted. */
const HANG_KINDS: ReadonlySet<string> = new Set(['hung-task', 'rcu-stall', 'soft-lockup', 'hard-lockup']);

export function classifyCase(r: CaseRecord): Classification {
  if (r.missingOptions.length > 0) {
    return { verdict: 'skipped', reason: `image lacks ${r.missingOptions.join(', ')}` };
  }
  const faults = r.findings.filter((f) => !HANG_KINDS.has(f.kind));
  if (faults.length > 0) {
    const more = faults.length > 1 ? ` (+${faults.length - 1} more)` : '';
    return { verdict: 'crashed', reason: `${faults[0]!.title}${more}` };
  }
  const hangs = r.findings.filter((f) => HANG_KINDS.has(f.kind));
  if (r.guestLost !== null || hangs.length > 0) {
    const why = r.guestLost !== null ? `guest stopped answering: ${r.guestLost}` : hangs[0]!.title;
    const silence = r.guestLost !== null && r.consoleLinesSeen === 0 ? ' (no console output)' : '';
    const report = r.guestLost !== null && hangs.length > 0 ? `; ${hangs[0]!.title}` : '';
    return { verdict: 'hung', reason: `${why}${silence}${report}` };
  }
  const rm = r.removal;
  if (r.harnessError && rm?.issued && !rm.completed && rm.completedAfterCloseMs == null) {
    return { verdict: 'error', reason: r.harnessError };
  }
  if (rm?.issued && !rm.completed && rm.errno === null) {
    // before the close: it waited for the calls in flight (loops, stress workers), which stop first
    const waited =
      rm.completedAfterCloseMs === null
        ? 'never completed, even after the fds were closed'
        : rm.completedAfterCloseMs < 0
          ? `completed once the calls in flight were stopped, ${Math.round(-rm.completedAfterCloseMs)} ms before the fds were closed`
          : `completed ${Math.round(rm.completedAfterCloseMs)} ms after the fds were closed`;
    const held = rm.blockedIn
      ? `${rm.method} waited while fds were held: ${rm.blockedIn.task} asleep in ${rm.blockedIn.wait} for ${Math.round(rm.blockedIn.ms)} ms`
      : `${rm.method} did not complete within ${rm.timeoutMs} ms while fds were held`;
    return { verdict: 'blocked', reason: `${held}; ${waited}` };
  }
  if (r.harnessError !== null) return { verdict: 'error', reason: r.harnessError };
  if (!rm?.issued) return { verdict: 'error', reason: 'the removal was never issued' };
  if (rm.errno !== null) {
    if (rm.refusedOk.includes(rm.errno)) {
      if (r.restore && !r.restore.ok) return { verdict: 'error', reason: `restore failed: ${r.restore.detail ?? 'unknown'}` };
      return { verdict: 'handled', reason: `${rm.method} refused with ${rm.errno} while fds were held` };
    }
    return { verdict: 'error', reason: `${rm.method} failed with ${rm.errno}${rm.detail ? `: ${rm.detail}` : ''}` };
  }
  const notAccepted = r.probes.filter((p) => !p.accepted);
  if (notAccepted.length > 0) {
    const p = notAccepted[0]!;
    const more = notAccepted.length > 1 ? ` (+${notAccepted.length - 1} more)` : '';
    return { verdict: 'silent', reason: `after ${rm.method}, ${describeProbe(p)}${more}` };
  }
  // a result key is an errno name, or poll's revents joined with "|"
  const woken = (l: (typeof r.loops)[number]): boolean =>
    Object.entries(l.counts).some(([key, n]) => n > 0 && key.split('|').some((part) => l.expectWake!.includes(part)));
  const sleeper = r.loops.find((l) => l.expectWake && (l.stuck || !woken(l)));
  if (sleeper) {
    return { verdict: 'silent', reason: `the ${sleeper.op} blocked on ${sleeper.fd} was not woken with ${sleeper.expectWake!.join('/')} by ${rm.method}` };
  }
  if (r.probes.length === 0) return { verdict: 'error', reason: 'no probe ran' };
  if (!r.restore) return { verdict: 'error', reason: 'restore did not run' };
  if (!r.restore.ok) return { verdict: 'error', reason: `restore failed: ${r.restore.detail ?? 'unknown'}` };
  const errnos = [...new Set(r.probes.map((p) => (p.ok ? (p.revents?.length ? p.revents.join('|') : 'EOF') : p.errno)))];
  return { verdict: 'handled', reason: `${rm.method} completed in ${Math.round(rm.ms ?? 0)} ms; probes got ${errnos.join(', ')}` };
}

/** A subsystem's verdict: its worst case (crashed > hung > blocked > silent > handled). */
export function subsystemVerdict(verdicts: readonly Verdict[]): Verdict {
  return worstVerdict(verdicts);
}

/** Controls (canary cases): did each come out as declared? */
export interface ControlExpectation {
  id: string;
  verdict: Verdict;
  /** a finding's title starts with it (or with one of them) */
  title?: string | readonly string[];
}
export interface ControlOutcome {
  ran: boolean;
  trusted: boolean;
  detail: string;
}
export function judgeControls(
  expectations: readonly ControlExpectation[],
  results: ReadonlyArray<{ id: string; verdict: Verdict; findings: ReadonlyArray<{ title: string }> }>,
): ControlOutcome {
  const ran = results.filter((r) => expectations.some((e) => e.id === r.id) && r.verdict !== 'skipped');
  if (expectations.length === 0 || ran.length === 0) {
    return { ran: false, trusted: false, detail: 'canary controls did not run: verdicts are not calibrated' };
  }
  const wrong: string[] = [];
  for (const r of ran) {
    const e = expectations.find((x) => x.id === r.id)!;
    if (r.verdict !== e.verdict) wrong.push(`${r.id} came out ${r.verdict}, expected ${e.verdict}`);
    else if (e.title !== undefined) {
      const titles = typeof e.title === 'string' ? [e.title] : e.title;
      if (!r.findings.some((f) => titles.some((t) => f.title.startsWith(t))))
        wrong.push(`${r.id} has no finding titled ${titles.map((t) => `"${t}…"`).join(' or ')}`);
    }
  }
  if (wrong.length > 0) return { ran: true, trusted: false, detail: `CONTROLS FAILED: ${wrong.join('; ')}` };
  return { ran: true, trusted: true, detail: `${ran.length} control(s) came out as expected` };
}
