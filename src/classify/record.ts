// What the engine measured for one case, before any judgement. The classifier is a pure function of
// this record (and the accept rules it carries), so verdicts can be tested as tables without a VM.

export interface ProbeOutcome {
  /** "read", "poll", "ioctl:GPIO_GET_CHIPINFO_IOCTL", … */
  op: string;
  /** which held fd */
  fd: string;
  ok: boolean;
  errno: string | null;
  revents?: string[];
  /** bytes read/written/mapped */
  bytes?: number;
  /** mmap: the signal the mapping's first read raised */
  fault?: string;
  ms: number;
  timedOut: boolean;
  accepted: boolean;
}

export interface LoopOutcome {
  fd: string;
  op: string;
  iterations: number;
  counts: Record<string, number>;
  /** a blocked reader that the removal must wake with one of these errnos */
  /** errno names or poll flags, one of which the woken call must have got */
  expectWake?: string[];
  /** the agent could not stop the loop: its call never returned */
  stuck?: boolean;
  /** a stress worker: its calls are tallied, never judged */
  stress?: boolean;
}

export interface RemovalOutcome {
  method: string;
  /** the removal was issued at all (false: the case failed before it) */
  issued: boolean;
  /** finished within its timeout while the fds were held */
  completed: boolean;
  ms: number | null;
  timeoutMs: number;
  /** when it had not finished: ms from closing the fds to its completion; null = never */
  completedAfterCloseMs: number | null;
  /** the removal itself failed (write error, rmmod refusal, QMP error) */
  errno: string | null;
  /** errnos with which refusing counts as handled (rmmod while held: EBUSY) */
  refusedOk: string[];
  detail?: string;
  /** seen from the guest: the task doing the removal asleep in one kernel wait while the fds were held */
  blockedIn?: BlockedEvidence;
}

interface BlockedEvidence {
  /** "comm (pid N)" */
  task: string;
  /** the kernel function it sleeps in, and the top of its stack */
  wait: string;
  /** for how long the samples saw it there */
  ms: number;
}

interface FindingSummary {
  kind: string;
  title: string;
}

export interface CaseRecord {
  id: string;
  /** kernel options the image lacks: the case did not run */
  missingOptions: string[];
  /** the harness failed (preparation, holders, agent protocol…): not a kernel verdict */
  harnessError: string | null;
  /** the guest stopped answering (SSH lost, agent silent): why */
  guestLost: string | null;
  /** console lines seen during the case (a silent console strengthens "hung") */
  consoleLinesSeen: number;
  removal: RemovalOutcome | null;
  probes: ProbeOutcome[];
  loops: LoopOutcome[];
  /** null: restore did not run (the case ended before it) */
  restore: { ok: boolean; detail?: string } | null;
  findings: FindingSummary[];
}
