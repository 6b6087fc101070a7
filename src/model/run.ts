// The model every layer shares: run.json, the versioned record of one run. The scenario layer
// produces it, classify fills in verdicts, and every report (HTML, JUnit, KCIDB, compare) is a pure
// function of it. Bump RUN_SCHEMA_VERSION on any
// incompatible change and keep the reader accepting the versions it can migrate.
import { z } from '../zod.js';

export const RUN_SCHEMA_VERSION = 1;

/** Closed set. Order of severity for a subsystem: crashed > hung > blocked > silent > handled. */
export const VERDICTS = ['handled', 'blocked', 'silent', 'crashed', 'hung', 'error', 'skipped'] as const;
const VerdictSchema = z.enum(VERDICTS);
export type Verdict = z.infer<typeof VerdictSchema>;

/** Kernel verdicts, worst first; error/skipped are not kernel verdicts and rank below them. */
export const VERDICT_SEVERITY: readonly Verdict[] = ['crashed', 'hung', 'blocked', 'silent', 'handled', 'error', 'skipped'];

/** A kernel report found on the console (mirror of src/detect's Finding; detect sits above report). */
const FindingRecordSchema = z.object({
  kind: z.string(),
  title: z.string(),
  altTitles: z.array(z.string()).default([]),
  frame: z.string().nullable(),
  startLine: z.number().int(),
  endLine: z.number().int(),
  report: z.string(),
  corrupted: z.boolean(),
  corruptedReason: z.string().optional(),
  taint: z.string().optional(),
  cpu: z.number().int().optional(),
  pid: z.number().int().optional(),
  comm: z.string().optional(),
});

const ProbeResultSchema = z.strictObject({
  /** e.g. "read", "ioctl:GPIO_GET_CHIPINFO_IOCTL", "poll" */
  op: z.string(),
  /** which held fd: "chip", "linereq", "dev", … */
  fd: z.string(),
  ok: z.boolean(),
  errno: z.string().nullable(),
  revents: z.array(z.string()).optional(),
  bytes: z.number().int().optional(),
  /** mmap: the signal the mapping's first read raised (SIGBUS: its pages were revoked) */
  fault: z.string().optional(),
  ms: z.number(),
  timedOut: z.boolean().default(false),
  /** did the outcome count as handled per the case's declaration */
  accepted: z.boolean(),
});

const LoopResultSchema = z.strictObject({
  fd: z.string(),
  op: z.string(),
  /** calls made, and their results (OK, EOF, an errno name, poll flags) → how many */
  iterations: z.number().int(),
  counts: z.record(z.string(), z.number().int()),
  /** a stress worker (`stress:`, run --stress) rather than a loop the case declares */
  stress: z.boolean().optional(),
  /** its call never returned when it was stopped */
  stuck: z.boolean().optional(),
});

const TimelineEventSchema = z.strictObject({
  /** host wall clock, ms since epoch */
  hostMs: z.number(),
  /** ms since the case started */
  relMs: z.number(),
  // 'shell': a guest command (the agent's sh op); 'ssh' is what runs before 2026-11-22 called it
  kind: z.enum(['step', 'agent', 'qmp', 'shell', 'ssh', 'console', 'finding', 'note']),
  label: z.string(),
  detail: z.string().optional(),
});
export type TimelineEvent = z.infer<typeof TimelineEventSchema>;

const RemovalResultSchema = z.strictObject({
  method: z.string(),
  /** removal finished while the fds were still held */
  completed: z.boolean(),
  /** time from issuing the removal to its completion (null: did not complete) */
  ms: z.number().nullable(),
  /** when blocked: how long it waited until the fds were closed and it completed (null: never) */
  completedAfterCloseMs: z.number().nullable().optional(),
  errno: z.string().nullable().optional(),
  detail: z.string().optional(),
  /** the evidence it was waiting: its task asleep in one kernel wait (the case did not sit out the bound) */
  blockedIn: z.strictObject({ task: z.string(), wait: z.string(), ms: z.number() }).optional(),
});

/** Where the kernel came from: a git checkout (a --kernel-src tree) or a Debian package. */
const CheckoutSchema = z.strictObject({
  gitCommitHash: z.string().optional(),
  /** `git describe --tags --always` */
  gitCommitName: z.string().optional(),
  gitBranch: z.string().optional(),
  /** the remote's URL as git has it (https, ssh or a path) */
  gitRepositoryUrl: z.string().optional(),
  /** uncommitted changes on top of the commit */
  dirty: z.boolean().optional(),
  /** the Debian package the kernel (or its source) came from, and its version */
  package: z.string().optional(),
  packageVersion: z.string().optional(),
});
export type Checkout = z.infer<typeof CheckoutSchema>;

const VmInfoSchema = z.strictObject({
  image: z.string(),
  kernelRelease: z.string(),
  kernelVersion: z.string(),
  accelerator: z.enum(['kvm', 'tcg']),
  qemuArgv: z.array(z.string()),
  configHash: z.string().optional(),
  checkout: CheckoutSchema.optional(),
  /** the empty raw drives (file names in QEMU's run dir) the guest booted with */
  drives: z.array(z.strictObject({ file: z.string(), sizeMiB: z.number() })).optional(),
});
export type VmInfo = z.infer<typeof VmInfoSchema>;

/**
 * One thing a case did to its guest, in the order it started (engine-clock ms since the case began):
 * an agent request and its reply, a QMP command, a wait for a QMP event. The stand-alone
 * reproducer (src/report/repro/) replays these without hotunplug-ci. endMs null: never finished.
 */
const ReplayActionSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('agent'),
    startMs: z.number(),
    endMs: z.number().nullable(),
    request: z.record(z.string(), z.unknown()),
    reply: z.record(z.string(), z.unknown()).nullable(),
  }),
  z.strictObject({
    kind: z.literal('qmp'),
    startMs: z.number(),
    endMs: z.number().nullable(),
    command: z.string(),
    args: z.record(z.string(), z.unknown()).optional(),
    error: z.string().optional(),
  }),
  z.strictObject({
    kind: z.literal('qmp-event'),
    startMs: z.number(),
    endMs: z.number().nullable(),
    event: z.string(),
    match: z.record(z.string(), z.unknown()),
    timeoutMs: z.number(),
    arrived: z.boolean().nullable(),
  }),
]);
export type ReplayAction = z.infer<typeof ReplayActionSchema>;

const CaseResultSchema = z.strictObject({
  /** `<subsystem>/<provider>-<method>-<fd kind>-<op>`, e.g. i2c/i801-unbind-dev-smbus */
  id: z.string(),
  subsystem: z.string(),
  provider: z.string(),
  method: z.string(),
  fdKind: z.string(),
  op: z.string(),
  iteration: z.number().int().min(1).default(1),
  /** image the case ran on (added in v1.1; readers fall back to vm.image, then images[0]) */
  image: z.string().optional(),
  verdict: VerdictSchema,
  /** one line: why this verdict */
  reason: z.string(),
  probes: z.array(ProbeResultSchema),
  loops: z.array(LoopResultSchema).default([]),
  removal: RemovalResultSchema.nullable(),
  findings: z.array(FindingRecordSchema),
  timings: z.strictObject({
    startedAt: z.string(),
    durationMs: z.number(),
    removalMs: z.number().nullable(),
  }),
  timeline: z.array(TimelineEventSchema),
  consoleExcerpt: z.string(),
  /** 1-based console line number of the excerpt's first line, so findings' startLine/endLine map onto
   * the excerpt (added in v1.1; without it reports match the finding's report text instead) */
  consoleExcerptFirstLine: z.number().int().min(1).optional(),
  vm: VmInfoSchema.nullable(),
  /** kernel options the case needs; on `skipped`, the missing ones */
  requires: z.array(z.string()).default([]),
  missingOptions: z.array(z.string()).default([]),
  error: z.string().optional(),
  repro: z.string(),
  /** what the case did to the guest, kept for cases that were not handled (the stand-alone reproducer's script) */
  replay: z.array(ReplayActionSchema).optional(),
});
export type CaseResult = z.infer<typeof CaseResultSchema>;

/** How a boot failed (errors.ts BootError's kinds, and the machinery's), and the verdict it counts as. */
export const BOOT_FAILURE_KINDS = ['crash', 'exited', 'timeout', 'infra'] as const;
export const BOOT_FAILURE_VERDICT = { crash: 'crashed', exited: 'crashed', timeout: 'hung', infra: 'error' } as const satisfies Record<
  (typeof BOOT_FAILURE_KINDS)[number],
  Verdict
>;

/** How a VM came to be: booted, or restored from a saved ready guest (added in v1.3). */
const GuestStartSchema = z.strictObject({
  how: z.enum(['boot', 'restore']),
  /** the saved state's key: restored from it, or saved as it after this boot */
  snapshot: z.string().optional(),
  /** a restore: ms from QEMU's start until the state was loaded, and until the guest was ready */
  loadedMs: z.number().optional(),
  readyMs: z.number().optional(),
  /** a restore that failed, so the VM booted instead: why */
  restoreFailed: z.string().optional(),
  /** after a boot: the state saved for later VMs of this machine, or why not */
  saved: z.union([z.strictObject({ ms: z.number(), bytes: z.number() }), z.strictObject({ failed: z.string() })]).optional(),
});
export type GuestStart = z.infer<typeof GuestStartSchema>;

/** One boot of a VM: every attempt is kept, a failed one with its title and console (added in v1.2). */
const BootRecordSchema = z.strictObject({
  /** the VM's name, as in `consoles` (its console is there, failed boots' too) */
  vm: z.string(),
  image: z.string(),
  /** 1-based: which try of this boot (a failed boot is retried on a fresh QEMU), of `attempts` at most */
  attempt: z.number().int().min(1),
  attempts: z.number().int().min(1),
  ok: z.boolean(),
  startedAt: z.string(),
  /** from asking for the VM to the agent answering, or to the failure */
  ms: z.number(),
  failure: z
    .strictObject({
      kind: z.enum(BOOT_FAILURE_KINDS),
      verdict: z.enum(['crashed', 'hung', 'error']),
      /** the kernel report's title (crash), or what was seen instead */
      title: z.string(),
      /** ms from the first report line's arrival to the boot error (crash) */
      msAfterReport: z.number().nullable().default(null),
      consoleTail: z.array(z.string()).default([]),
    })
    .optional(),
  findings: z.array(FindingRecordSchema).default([]),
  /** the last of the attempts, all failed: the VM's cases did not run */
  gaveUp: z.boolean().default(false),
  start: GuestStartSchema.optional(),
});
export type BootRecord = z.infer<typeof BootRecordSchema>;

const SubsystemSummarySchema = z.strictObject({
  subsystem: z.string(),
  image: z.string(),
  /** the worst verdict any of its case runs came out with (how often: counts[verdict] of the counts' sum) */
  verdict: VerdictSchema,
  counts: z.record(z.string(), z.number().int()),
  /** its cases whose verdict varied across iterations */
  flaky: z.array(z.string()).default([]),
});
export type SubsystemSummary = z.infer<typeof SubsystemSummarySchema>;

/** How a case (one image) came out over its iterations: a rate per verdict and title, not a coin flip. */
const CaseRateSchema = z.strictObject({
  id: z.string(),
  image: z.string(),
  runs: z.number().int().min(1),
  /** verdict → how many runs came out so */
  verdicts: z.record(z.string(), z.number().int()),
  /** finding title → in how many runs it showed */
  titles: z.record(z.string(), z.number().int()),
  worst: VerdictSchema,
  /** more than one kernel verdict (error and skipped are the harness's, not the kernel's) */
  flaky: z.boolean(),
});
export type CaseRate = z.infer<typeof CaseRateSchema>;

export const RunResultSchema = z.strictObject({
  schemaVersion: z.literal(RUN_SCHEMA_VERSION),
  tool: z.strictObject({ name: z.literal('hotunplug-ci'), version: z.string() }),
  runId: z.string(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  /** false when the run died part-way: what is here was measured, the rest was not */
  complete: z.boolean(),
  interruption: z.string().optional(),
  command: z.array(z.string()),
  suites: z.array(z.string()),
  images: z.array(z.string()),
  host: z.strictObject({ hostname: z.string(), cpus: z.number().int(), memGiB: z.number() }),
  cases: z.array(CaseResultSchema),
  subsystems: z.array(SubsystemSummarySchema),
  /** canary controls: if they do not come out as expected no verdict of the run can be trusted */
  controls: z.strictObject({
    ran: z.boolean(),
    trusted: z.boolean(),
    detail: z.string(),
  }),
  /** console file of every VM, relative to the run directory */
  consoles: z.array(z.strictObject({ vm: z.string(), image: z.string(), file: z.string() })).default([]),
  /** every boot attempt, failed ones with their findings (added in v1.2) */
  boots: z.array(BootRecordSchema).default([]),
  /** per case and image run more than once: its verdicts' and titles' rates */
  rates: z.array(CaseRateSchema).default([]),
});
export type RunResult = z.infer<typeof RunResultSchema>;

/** Worst verdict of a set of cases, per VERDICT_SEVERITY; error/skipped only when nothing else ran. */
export function worstVerdict(verdicts: readonly Verdict[]): Verdict {
  let best: Verdict = 'skipped';
  let rank = VERDICT_SEVERITY.length;
  for (const v of verdicts) {
    const r = VERDICT_SEVERITY.indexOf(v);
    if (r < rank) {
      rank = r;
      best = v;
    }
  }
  return best;
}
