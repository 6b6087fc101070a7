// Did one probe on a zombie fd get an outcome the case declared as handled? Pure.

export interface AcceptRule {
  errno: readonly string[];
  revents: readonly string[];
  reventsOnly: boolean;
  eof: boolean;
  fault: readonly string[];
}

export interface ProbeReply {
  op: string;
  ok: boolean;
  errno: string | null;
  timedOut?: boolean;
  revents?: readonly string[];
  bytes?: number;
  fault?: string;
}

export function probeAccepted(rule: AcceptRule, r: ProbeReply): boolean {
  if (r.timedOut) return false;
  if (!r.ok) return r.errno !== null && rule.errno.includes(r.errno);
  if (r.op === 'poll') {
    const got = r.revents ?? [];
    if (rule.revents.length === 0 || !got.some((f) => rule.revents.includes(f))) return false;
    return !rule.reventsOnly || got.every((f) => rule.revents.includes(f));
  }
  if (r.op === 'mmap') return r.fault !== undefined && rule.fault.includes(r.fault);
  if (rule.eof && (r.op === 'read' || r.op === 'pread') && r.bytes === 0) return true;
  return false;
}

/** One phrase for a probe's outcome, for verdict reasons. */
export function describeProbe(p: {
  op: string;
  fd: string;
  ok: boolean;
  errno: string | null;
  timedOut: boolean;
  revents?: readonly string[];
  bytes?: number;
  fault?: string;
  ms: number;
}): string {
  const on = `${p.op} on ${p.fd}`;
  if (p.timedOut) return `${on} did not return within ${Math.round(p.ms)} ms`;
  if (!p.ok) return `${on} got ${p.errno}`;
  if (p.fault) return `${on} mapped, and its first read raised ${p.fault}`;
  if (p.op === 'poll') return `${on} returned ${p.revents?.length ? p.revents.join('|') : 'no events'}`;
  if (p.bytes !== undefined) return `${on} succeeded (${p.bytes} bytes)`;
  return `${on} succeeded`;
}
