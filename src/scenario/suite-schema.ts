// Suite files (suites/*.yaml): what to remove from under which held fds, and what counts as handled.
// The raw file schema is strict (unknown keys are errors); `matrix:` and `use:` are expanded by
// load-suites.ts into fully resolved cases (ResolvedCase) that the engine runs.
import { z } from 'zod';
import { ERRNO_NAMES } from './errno.js';

const Name = z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'must be lower-case letters, digits, "-" or "_"');
/** Part of a case id: no "-" inside so ids stay parseable as <provider>-<method>-<fd>-<op>. */
const IdPart = z.string().regex(/^[a-z0-9][a-z0-9_]*$/, 'must be lower-case letters, digits or "_" (no "-")');
const KernelOption = z.string().regex(/^CONFIG_[A-Z0-9_]+$/, 'must look like CONFIG_NAME');
const Errno = z.enum(ERRNO_NAMES, { error: (iss) => `unknown errno name ${JSON.stringify(iss.input)}` });
const PollFlag = z.enum(['POLLIN', 'POLLPRI', 'POLLOUT', 'POLLERR', 'POLLHUP', 'POLLNVAL', 'POLLRDNORM', 'POLLWRNORM']);
const OpenFlag = z.enum(['O_RDONLY', 'O_WRONLY', 'O_RDWR', 'O_NONBLOCK', 'O_NOCTTY', 'O_DIRECT', 'O_CLOEXEC', 'O_SYNC']);
/**
 * An ioctl or sequence of the vocabulary (suites/vocabulary: checked, with its args, when the suite
 * loads), or a bare number: {raw, arg?|size?}.
 */
const IoctlRequest = z.union([
  z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an ioctl name of suites/vocabulary, or {raw: N}'),
  z.strictObject({ raw: z.number().int().nonnegative(), arg: z.number().int().optional(), size: z.number().int().positive().optional() }),
]);
/** The argument's fields in the kernel's names (a number for an ioctl that takes an integer); "${var}" substitutes. */
const IoctlArgs = z.unknown();
const Ms = z.number().int().positive();

/** A QEMU device as data; the VM layer turns it into flags (no QEMU syntax here). */
export const DeviceSchema = z.strictObject({
  id: Name,
  driver: z.string().min(1),
  props: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  /** PCI device on its own pcie-root-port (rp-<id>) so it can be device_del'd and re-added */
  hotplug: z.boolean().default(false),
  /** explicit bus, e.g. `xhci0.0` for a USB device, `vser0.0` for a virtserialport (not with hotplug) */
  bus: z.string().min(1).optional(),
  /** a chardev backend for the device (usb-serial, virtserialport): its id is `<id>-chr` */
  chardev: z.enum(['ringbuf']).optional(),
  /** a scratch disk for block devices: its id is `<id>-drive` */
  drive: z.strictObject({ sizeMiB: z.number().int().positive() }).optional(),
});
export type DeviceDecl = z.infer<typeof DeviceSchema>;
const DeviceChecked = DeviceSchema.refine((d) => !(d.hotplug && d.bus), 'a hotplug device sits on its own root port; drop bus');

/** How a value the case needs is found in the guest at run time (never hard-coded). */
export const DiscoverSchema = z
  .strictObject({
    var: z.string().regex(/^[a-z][a-z0-9_]*$/, 'variable names are lower-case identifiers'),
    /** first path matching a shell glob, e.g. /sys/bus/pci/devices/0000:00:1f.3/i2c-* */
    glob: z.string().optional(),
    /** the trimmed content of a file, e.g. gpio-sim's bank0/chip_name */
    file: z.string().optional(),
    /** with glob: only a match whose file content equals this (e.g. an adapter's `name`); yields its dirname */
    contentEquals: z.string().optional(),
    /** what to keep of the match: its basename (default) or the whole path */
    take: z.enum(['basename', 'path']).default('basename'),
    timeoutMs: Ms.default(10000),
  })
  .refine((d) => (d.glob ? 1 : 0) + (d.file ? 1 : 0) === 1, 'give exactly one of glob, file')
  .refine((d) => !d.contentEquals || d.glob, 'contentEquals needs glob');
export type Discover = z.infer<typeof DiscoverSchema>;

/** An ioctl on an fd the agent holds (a prepare `hold`, or a holder): UI_DEV_SETUP, UI_DEV_DESTROY… */
const AgentIoctl = z.strictObject({ on: Name, request: IoctlRequest, args: IoctlArgs.optional() });
/** A struct of the vocabulary written to a held fd (a uhid event): encoded by the host, written whole. */
const AgentSend = z.strictObject({ on: Name, struct: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), value: z.unknown().optional() });

/** A preparation or restore step: exactly one kind key. */
export const StepSchema = z
  .strictObject({
    modprobe: z.string().optional(),
    params: z.record(z.string(), z.union([z.string(), z.number()])).optional(),
    rmmod: z.string().optional(),
    mkdir: z.string().optional(),
    rmdir: z.string().optional(),
    write: z.strictObject({ path: z.string(), value: z.union([z.string(), z.number()]) }).optional(),
    new_device: z.strictObject({ adapter: z.string(), name: z.string(), addr: z.number().int().min(0).max(0x7f) }).optional(),
    delete_device: z.strictObject({ adapter: z.string(), addr: z.number().int().min(0).max(0x7f) }).optional(),
    device_add: z.union([z.string(), DeviceChecked]).optional(),
    discover: DiscoverSchema.optional(),
    shell: z.string().optional(),
    /** an fd the agent opens now and holds for the whole case (/dev/uinput, /dev/uhid): later steps and the removal act through it */
    hold: z.strictObject({ name: Name, open: z.strictObject({ path: z.string(), flags: z.array(OpenFlag).min(1) }) }).optional(),
    /** an ioctl on a held fd */
    ioctl: AgentIoctl.optional(),
    /** a struct written to a held fd */
    send: AgentSend.optional(),
    /** a failure of this step does not fail the case (cleanup of what may already be gone) */
    optional: z.boolean().default(false),
    timeoutMs: Ms.optional(),
  })
  .superRefine((s, ctx) => {
    const kinds = STEP_KINDS.filter((k) => s[k] !== undefined);
    if (kinds.length !== 1)
      ctx.addIssue({ code: 'custom', message: `a step needs exactly one of ${STEP_KINDS.join(', ')} (got ${kinds.join(', ') || 'none'})` });
    if (s.params && !s.modprobe) ctx.addIssue({ code: 'custom', message: 'params only go with modprobe' });
  });
export const STEP_KINDS = ['modprobe', 'rmmod', 'mkdir', 'rmdir', 'write', 'new_device', 'delete_device', 'device_add', 'discover', 'shell', 'hold', 'ioctl', 'send'] as const;
export type Step = z.infer<typeof StepSchema>;

/** An fd the agent holds: opened from a path, or returned by an ioctl on another held fd. */
export const HolderSchema = z
  .strictObject({
    name: Name,
    open: z.strictObject({ path: z.string(), flags: z.array(OpenFlag).min(1) }).optional(),
    ioctl: z.strictObject({ on: Name, request: IoctlRequest, args: IoctlArgs.optional() }).optional(),
  })
  .refine((h) => (h.open ? 1 : 0) + (h.ioctl ? 1 : 0) === 1, 'a holder needs exactly one of open, ioctl');
export type Holder = z.infer<typeof HolderSchema>;

const OpFields = {
  size: z.number().int().positive().optional(),
  offset: z.number().int().nonnegative().optional(),
  text: z.string().optional(),
  events: z.array(PollFlag).optional(),
  timeoutMs: z.number().int().nonnegative().optional(),
  request: IoctlRequest.optional(),
  args: IoctlArgs.optional(),
};
const OpName = z.enum(['read', 'write', 'pread', 'poll', 'ioctl'], { error: (iss) => `unknown op ${JSON.stringify(iss.input)} (read, write, pread, poll, ioctl)` });

/** What a probe on the zombie fd may return for the case to count as handled. */
export const AcceptSchema = z
  .strictObject({
    errno: z.array(Errno).default([]),
    /** poll: revents must contain at least one of these */
    revents: z.array(PollFlag).default([]),
    /** poll: and nothing else (the gpio selftest's rule: only POLLHUP|POLLERR) */
    reventsOnly: z.boolean().default(false),
    /** read: 0 bytes (EOF, e.g. on a hung-up tty) */
    eof: z.boolean().default(false),
  })
  .refine((a) => a.errno.length + a.revents.length > 0 || a.eof, 'accept needs at least one of errno, revents, eof');
export type Accept = z.infer<typeof AcceptSchema>;

/** A probe template (suite `ops:`): an op without the fd it runs on. */
export const OpTemplateSchema = z.strictObject({ op: OpName, ...OpFields, accept: AcceptSchema });
export const ProbeSchema = z.strictObject({ on: Name, op: OpName, ...OpFields, accept: AcceptSchema });
export type Probe = z.infer<typeof ProbeSchema>;

/** An in-flight loop: the agent keeps calling into the fd while the removal runs. */
export const LoopSchema = z.strictObject({
  on: Name,
  op: OpName,
  ...OpFields,
  /** a reader blocked in the kernel must be woken by the removal with one of these errnos */
  expectWake: z.strictObject({ errno: z.array(Errno).min(1) }).optional(),
});
export type Loop = z.infer<typeof LoopSchema>;

export const REMOVAL_METHODS = ['qmp-device-del', 'sysfs-unbind', 'sysfs-remove', 'rmmod', 'configfs', 'i2c-delete-device', 'ioctl', 'send', 'close'] as const;
export type RemovalMethod = (typeof REMOVAL_METHODS)[number];
export const RemovalSchema = z
  .strictObject({
    'qmp-device-del': z.strictObject({ device: Name }).optional(),
    /** driver directory (/sys/bus/X/drivers/Y) and the device name to write to its unbind */
    'sysfs-unbind': z.strictObject({ driver: z.string(), device: z.string() }).optional(),
    /** device directory (/sys/bus/X/devices/Y); writes 1 to its remove */
    'sysfs-remove': z.strictObject({ device: z.string() }).optional(),
    rmmod: z.strictObject({ module: z.string() }).optional(),
    /** gpio-sim chip directory: live=0, then rmdir of its lines, banks and itself */
    configfs: z.strictObject({ dir: z.string() }).optional(),
    'i2c-delete-device': z.strictObject({ adapter: z.string(), addr: z.number().int().min(0).max(0x7f) }).optional(),
    /** through an fd the agent holds: an ioctl (uinput UI_DEV_DESTROY), a struct written (uhid UHID_DESTROY), or closing it */
    ioctl: AgentIoctl.optional(),
    send: AgentSend.optional(),
    close: z.strictObject({ on: Name }).optional(),
    /**
     * the removal must finish within this while the fds are held. Removals that do not block take
     * 50–150 ms under TCG (measured); one that waits for the fds waits forever, so a longer bound
     * only costs time — but it must stay well below the guest's 20 s hung-task timeout.
     */
    timeoutMs: Ms.default(5000),
    /** after closing the fds, how long a blocked removal may take to finish */
    closeWaitMs: Ms.default(15000),
    /** errnos with which refusing the removal counts as handled (rmmod while held: EBUSY) */
    refused: z.array(Errno).default([]),
    /**
     * a guest path that exists until the guest has processed the removal: it completes when the
     * path is gone. QEMU reports a USB device deleted before the guest's disconnect has run.
     */
    gone: z.string().optional(),
  })
  .superRefine((r, ctx) => {
    const kinds = REMOVAL_METHODS.filter((k) => r[k] !== undefined);
    if (kinds.length !== 1)
      ctx.addIssue({ code: 'custom', message: `a removal needs exactly one method of ${REMOVAL_METHODS.join(', ')} (got ${kinds.join(', ') || 'none'})` });
  });
export type Removal = z.infer<typeof RemovalSchema>;

/** A named fd kind (suite `fds:`): how to get it, which fd the probes target, loops that go with it. */
export const FdKindSchema = z.strictObject({
  holders: z.array(HolderSchema).min(1),
  target: Name,
  loops: z.array(LoopSchema).default([]),
  /** per-op changes for this fd kind, e.g. which ioctl the `ioctl` op issues on it */
  ops: z.record(z.string(), z.strictObject({ ...OpFields, accept: AcceptSchema.optional() })).default({}),
  /** its part of the case id ("" leaves it out, e.g. canary/buggy-unbind-read) */
  label: z.union([IdPart, z.literal('')]).optional(),
});
export type FdKind = z.infer<typeof FdKindSchema>;

export const ControlSchema = z.strictObject({
  verdict: z.enum(['handled', 'blocked', 'silent', 'crashed', 'hung']),
  /** the finding title must start with this (crashed controls) */
  title: z.string().optional(),
});

export const TimeoutsSchema = z.strictObject({
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
};
export const TemplateSchema = z.strictObject(CaseBody);
export type Template = z.infer<typeof TemplateSchema>;

export const CaseEntrySchema = z
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
  .refine((w) => !w.startsWith('huci.'), 'huci.* words are the harness\'s own');

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
}

export const DEFAULT_TIMEOUTS = { stepMs: 20000, probeMs: 4000, settleMs: 4000 } as const;

export function removalMethodOf(r: Removal): RemovalMethod {
  const m = REMOVAL_METHODS.find((k) => r[k] !== undefined);
  if (!m) throw new Error('removal without a method (schema should have caught this)');
  return m;
}
