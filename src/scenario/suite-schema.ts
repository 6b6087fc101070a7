// Suite files (suites/*.yaml): what to remove from under which held fds, and what counts as handled.
// The raw file schema is strict (unknown keys are errors); `matrix:` and `use:` are expanded by
// load-suites.ts into fully resolved cases (ResolvedCase) that the engine runs.
import { z } from '../zod.js';
import { DeviceChecked, Errno, IdPart, IoctlArgs, IoctlRequest, KernelOption, Ms, Name, PollFlag, type DeviceDecl } from './suite-atoms.js';
import { HolderSchema, RemovalSchema, StepSchema, type Holder, type Removal, type Step } from './kinds/registry.js';

export type { DeviceDecl } from './suite-atoms.js';
export { REMOVAL_METHODS, STEP_KINDS, removalMethodOf, type Holder } from './kinds/registry.js';

const OpFields = {
  size: z.number().int().positive().optional(),
  offset: z.number().int().nonnegative().optional(),
  text: z.string().optional(),
  /** write: these bytes instead of text (a header with zeros in it) */
  hex: z
    .string()
    .regex(/^([0-9a-f]{2})+$/, 'hex must be pairs of lower-case hex digits')
    .optional(),
  events: z.array(PollFlag).optional(),
  timeoutMs: z.number().int().nonnegative().optional(),
  request: IoctlRequest.optional(),
  args: IoctlArgs.optional(),
};
const OpName = z.enum(['read', 'write', 'pread', 'poll', 'ioctl', 'mmap'], {
  error: (iss) => `unknown op ${JSON.stringify(iss.input)} (read, write, pread, poll, ioctl, mmap)`,
});

/** What a probe on the zombie fd may return for the case to count as handled. */
const AcceptSchema = z
  .strictObject({
    errno: z.array(Errno).default([]),
    /** poll: revents must contain at least one of these */
    revents: z.array(PollFlag).default([]),
    /** poll: and nothing else (the gpio selftest's rule: only POLLHUP|POLLERR) */
    reventsOnly: z.boolean().default(false),
    /** read: 0 bytes (EOF, e.g. on a hung-up tty) */
    eof: z.boolean().default(false),
    /** mmap: the mapping works but its first read raises one of these (the pages were revoked) */
    fault: z.array(z.enum(['SIGBUS', 'SIGSEGV'])).default([]),
  })
  .refine((a) => a.errno.length + a.revents.length + a.fault.length > 0 || a.eof, 'accept needs at least one of errno, revents, eof, fault');

/** A probe template (suite `ops:`): an op without the fd it runs on. */
const OpTemplateSchema = z.strictObject({ op: OpName, ...OpFields, accept: AcceptSchema });
const ProbeSchema = z.strictObject({ on: Name, op: OpName, ...OpFields, accept: AcceptSchema });
export type Probe = z.infer<typeof ProbeSchema>;

/** An in-flight loop: the agent keeps calling into the fd while the removal runs. */
const LoopSchema = z.strictObject({
  on: Name,
  op: OpName,
  ...OpFields,
  /** a reader blocked in the kernel must be woken by the removal with one of these errnos */
  /** …or a poll blocked in the kernel with one of these revents */
  expectWake: z
    .strictObject({ errno: z.array(Errno).default([]), revents: z.array(PollFlag).default([]) })
    .refine((w) => w.errno.length + w.revents.length > 0, 'expectWake needs errno or revents')
    .optional(),
});
export type Loop = z.infer<typeof LoopSchema>;

/**
 * Concurrent workers that hammer the case's target fd during the removal: `workers` threads per op,
 * each calling it in a tight loop from before the removal until after the probes, and as many
 * opening and closing the fd's node (when it is opened by path). Default ops: every op the suite's
 * cases use with this fd kind.
 */
const StressSchema = z.strictObject({
  workers: z.number().int().min(1).max(8).default(2),
  ops: z.array(Name).min(1).optional(),
});

/** A named fd kind (suite `fds:`): how to get it, which fd the probes target, loops that go with it. */
const FdKindSchema = z.strictObject({
  holders: z.array(HolderSchema).min(1),
  target: Name,
  loops: z.array(LoopSchema).default([]),
  /** per-op changes for this fd kind, e.g. which ioctl the `ioctl` op issues on it */
  ops: z.record(z.string(), z.strictObject({ ...OpFields, accept: AcceptSchema.optional() })).default({}),
  /** its part of the case id ("" leaves it out, e.g. canary/buggy-unbind-read) */
  label: z.union([IdPart, z.literal('')]).optional(),
});

const ControlSchema = z.strictObject({
  verdict: z.enum(['handled', 'blocked', 'silent', 'crashed', 'hung']),
  /** a finding's title must start with this, or with one of these (crashed controls; kernels name reports differently) */
  title: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
});

const TimeoutsSchema = z.strictObject({
  stepMs: Ms.optional(),
  probeMs: Ms.optional(),
  settleMs: Ms.optional(),
});

/** Case fields that may come from a template (`use:`) or the case entry itself. */
const CaseBody = {
  description: z.string().optional(),
  provider: IdPart.optional(),
  method: IdPart.optional(),
  requires: z.array(KernelOption).optional(),
  devices: z.array(DeviceChecked).optional(),
  prepare: z.array(StepSchema).optional(),
  holders: z.array(HolderSchema).optional(),
  loops: z.array(LoopSchema).optional(),
  removal: RemovalSchema.optional(),
  probes: z.array(ProbeSchema).optional(),
  restore: z.array(StepSchema).optional(),
  timeouts: TimeoutsSchema.optional(),
  control: ControlSchema.optional(),
  stress: StressSchema.optional(),
};
const TemplateSchema = z.strictObject(CaseBody);
export type Template = z.infer<typeof TemplateSchema>;

const CaseEntrySchema = z
  .strictObject({
    ...CaseBody,
    /** templates merged in order, then this entry's own fields (lists: the entry's replace the template's) */
    use: z.union([Name, z.array(Name)]).optional(),
    fd: Name.optional(),
    op: Name.optional(),
    /** expand over every fd kind × op (minus `exclude`) */
    matrix: z.strictObject({ fd: z.array(Name).min(1), op: z.array(Name).min(1) }).optional(),
    exclude: z.array(z.strictObject({ fd: Name.optional(), op: Name.optional() })).default([]),
  })
  .superRefine((c, ctx) => {
    if (c.matrix && (c.fd || c.op)) ctx.addIssue({ code: 'custom', message: 'give either matrix or fd/op, not both' });
    if (!c.matrix && !(c.fd && c.op)) ctx.addIssue({ code: 'custom', message: 'a case needs fd and op (or a matrix of them)' });
  });
export type CaseEntry = z.infer<typeof CaseEntrySchema>;

/** A kernel command-line word; huci.* are the harness's own (init reads them). */
const KernelArg = z
  .string()
  .regex(/^[^\s"']+$/, 'must be one word without quotes')
  .refine((w) => !w.startsWith('huci.'), "huci.* words are the harness's own");

export const SuiteFileSchema = z.strictObject({
  /** the subsystem; case ids start with it */
  suite: Name,
  description: z.string(),
  /** images the suite is meant for when the command line names none */
  images: z.array(z.string()).min(1),
  requires: z.array(KernelOption).default([]),
  /** kernel command-line words the suite's guests boot with */
  kernelArgs: z.array(KernelArg).default([]),
  fds: z.record(Name, FdKindSchema),
  ops: z.record(Name, OpTemplateSchema),
  templates: z.record(Name, TemplateSchema).default({}),
  cases: z.array(CaseEntrySchema).min(1),
});
export type SuiteFile = z.infer<typeof SuiteFileSchema>;

/** A case after expansion: everything the engine needs, nothing left to merge. */
export interface ResolvedCase {
  id: string;
  suite: string;
  subsystem: string;
  provider: string;
  method: string;
  fdKind: string;
  op: string;
  description: string;
  file: string;
  images: string[];
  requires: string[];
  kernelArgs: string[];
  devices: DeviceDecl[];
  prepare: Step[];
  holders: Holder[];
  loops: Loop[];
  removal: Removal;
  probes: Probe[];
  restore: Step[];
  timeouts: { stepMs: number; probeMs: number; settleMs: number };
  control?: z.infer<typeof ControlSchema>;
  /** stress workers per op (0: none; `run --stress` sets it on every case), the ops they loop, and the node they reopen */
  stress: { workers: number; ops: Loop[]; reopen: { path: string; flags: string[] } | null };
}

export const DEFAULT_TIMEOUTS = { stepMs: 20000, probeMs: 4000, settleMs: 4000 } as const;
