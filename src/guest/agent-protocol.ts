// The guest agent's wire protocol (images/agent/README.md) as zod schemas: the single source of
// the request and reply types. Requests are what the client sends (without `id`, which the client
// assigns); replies are validated per op so a protocol drift shows up as an error, not as undefined.
import { z } from '../zod.js';

export const PROTOCOL_VERSION = 11;

/** The errno a timed-out request resolves with: the harness gave up, the kernel said nothing. */
export const HARNESS_TIMEOUT = 'ETIMEDOUT_HARNESS';

const ErrnoNameSchema = z.string().regex(/^E[A-Z0-9_]+$/);

const OpenFlagSchema = z.enum([
  'O_RDONLY',
  'O_WRONLY',
  'O_RDWR',
  'O_NONBLOCK',
  'O_NDELAY',
  'O_NOCTTY',
  'O_APPEND',
  'O_CREAT',
  'O_TRUNC',
  'O_EXCL',
  'O_SYNC',
  'O_DSYNC',
  'O_DIRECT',
  'O_CLOEXEC',
  'O_PATH',
  'O_DIRECTORY',
  'O_NOFOLLOW',
  'O_NOATIME',
]);
export type OpenFlag = z.infer<typeof OpenFlagSchema>;

const PollEventSchema = z.enum([
  'POLLIN',
  'POLLPRI',
  'POLLOUT',
  'POLLERR',
  'POLLHUP',
  'POLLNVAL',
  'POLLRDNORM',
  'POLLRDBAND',
  'POLLWRNORM',
  'POLLWRBAND',
  'POLLMSG',
  'POLLRDHUP',
]);
export type PollEvent = z.infer<typeof PollEventSchema>;

const uint = z.number().int().nonnegative();
const u32 = uint.max(0xffffffff);
const handle = uint;
const hex = z.string().regex(/^(?:[0-9a-fA-F]{2})*$/);
const _lineList = z.array(u32).min(1).max(64);

/**
 * One ioctl(2) call (protocol 3): the request number and its argument, an integer (`arg`) or a
 * buffer (`hex`, or `size` zero bytes) the host encoded from the vocabulary (src/vocabulary) and
 * gets back after the call. `relocs` [[at, to]]: the 8 bytes at `at` point at byte `to` of the same
 * buffer during the call. A new fd comes back in the buffer's 32-bit field at `fdAt`, or as
 * ioctl(2)'s result (`fdReturn`).
 */
const IoctlStepSchema = z.strictObject({
  number: u32,
  arg: uint.optional(),
  hex: hex.optional(),
  size: uint.max(1 << 20).optional(),
  relocs: z
    .array(z.tuple([uint, uint]))
    .max(16)
    .optional(),
  fdAt: uint.optional(),
  fdReturn: z.boolean().optional(),
});
/** One call, or calls run in order that stop at the first failure (its index is the reply's `stage`). */
const IoctlRequestSchema = z.union([IoctlStepSchema, z.array(IoctlStepSchema).min(1).max(8)]);
export type IoctlRequest = z.infer<typeof IoctlRequestSchema>;

// The fd operations, without a handle: the shape a loop repeats.
const readOp = z.strictObject({ op: z.literal('read'), size: uint.max(1 << 20).optional() });
const preadOp = z.strictObject({ op: z.literal('pread'), size: uint.max(1 << 20).optional(), offset: uint });
const writeOp = z.strictObject({ op: z.literal('write'), hex: hex.optional(), text: z.string().optional() });
const pollOp = z.strictObject({
  op: z.literal('poll'),
  events: z.array(PollEventSchema).optional(),
  timeoutMs: uint.max(2147483647).optional(),
});
const ioctlOp = z.strictObject({ op: z.literal('ioctl'), request: IoctlRequestSchema });
// mmap(2) MAP_SHARED read-only, then one read of its first byte, then munmap (protocol 5)
const mmapOp = z.strictObject({
  op: z.literal('mmap'),
  size: uint
    .min(1)
    .max(1 << 20)
    .optional(),
  offset: uint.optional(),
});

// a loop only (protocol 6): open(2) the path and close it again, as a stress worker racing a removal
const reopenOp = z.strictObject({ op: z.literal('reopen'), path: z.string().min(1), flags: z.array(OpenFlagSchema).optional() });

const LoopOpSchema = z.discriminatedUnion('op', [readOp, preadOp, writeOp, pollOp, ioctlOp, mmapOp, reopenOp]);
export type LoopOp = z.infer<typeof LoopOpSchema>;

const withHandle = { handle };
/** Steps in one `seq` request, at most. */
export const SEQ_MAX = 16;
const SocketCallSchema = z.discriminatedUnion('call', [
  z.strictObject({ call: z.literal('bind'), hex }),
  z.strictObject({ call: z.literal('connect'), hex }),
  z.strictObject({ call: z.literal('setsockopt'), level: uint, name: uint, hex }),
]);
const path = z.string().min(1);
// a shell command (protocol 2): replaces an SSH exec channel per command
const shOp = z.strictObject({ op: z.literal('sh'), command: z.string().min(1), timeoutMs: z.number().nonnegative().optional() });
// file operations the agent does itself (protocol 9): a set-up step or a marker without a shell
const fileOps = [
  /** as `echo text > path`: created if absent, truncated, the text and a newline in one write */
  z.strictObject({ op: z.literal('writefile'), path, text: z.string() }),
  z.strictObject({ op: z.literal('mkdir'), path }),
  z.strictObject({ op: z.literal('rmdir'), path }),
  /**
   * a file's content, or the first (sorted) match of a glob — with contentEquals, the directory of
   * the first whose content equals it — looked for again until waitMs; with node (protocol 10), until
   * the found name is also a device node in that directory
   */
  z.strictObject({
    op: z.literal('find'),
    glob: path.optional(),
    file: path.optional(),
    contentEquals: z.string().optional(),
    node: path.optional(),
    waitMs: z.number().nonnegative().optional(),
  }),
  /** a line written to the kernel log (`mark`), then the log as dmesg prints it from the last line containing `from` on */
  z.strictObject({ op: z.literal('klog'), mark: z.string().optional(), from: z.string().optional() }),
  /** (protocol 11) a restored guest's wall clock set (`unixMs`), its CRNG given `seedHex` and reseeded */
  z.strictObject({ op: z.literal('refresh'), unixMs: z.number().nonnegative().optional(), seedHex: hex.optional() }),
] as const;
/** What one step of a `seq` does: a shell command or a file operation. */
export type SeqStep = z.infer<typeof shOp> | z.infer<(typeof fileOps)[number]>;
type FileOp = z.infer<(typeof fileOps)[number]>['op'];
const seqStepOpts = { timeoutMs: z.number().nonnegative().optional(), stopOnFailure: z.boolean().optional() };
export const RequestSchema = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('ping') }),
  z.strictObject({
    op: z.literal('open'),
    path: z.string().min(1),
    flags: z.array(OpenFlagSchema).optional(),
    mode: uint.optional(),
  }),
  // socket(2) and the calls that set it up (protocol 4), each on host-encoded bytes
  z.strictObject({ op: z.literal('socket'), domain: uint, type: uint, protocol: uint, calls: z.array(SocketCallSchema).optional() }),
  z.strictObject({ op: z.literal('close'), ...withHandle }),
  readOp.extend(withHandle),
  preadOp.extend(withHandle),
  writeOp.extend(withHandle),
  pollOp.extend(withHandle),
  ioctlOp.extend(withHandle),
  mmapOp.extend(withHandle),
  z.strictObject({
    op: z.literal('spawn'),
    ...withHandle,
    loop: LoopOpSchema,
    intervalMs: z.number().nonnegative().max(60000).optional(),
  }),
  z.strictObject({ op: z.literal('stop'), loop: uint, timeoutMs: z.number().nonnegative().optional() }),
  z.strictObject({ op: z.literal('loops') }),
  shOp,
  ...fileOps,
  // tasks asleep in the kernel (D) and the agent's own shell commands, with where they wait (protocol 7)
  z.strictObject({ op: z.literal('tasks') }),
  // steps one after the other in one request (protocol 8; file ops since 9); it stops after a failed one that says so
  z.strictObject({
    op: z.literal('seq'),
    steps: z
      .array(z.discriminatedUnion('op', [shOp.extend(seqStepOpts), ...fileOps.map((o) => o.extend(seqStepOpts))]))
      .min(1)
      .max(SEQ_MAX),
  }),
]);
export type AgentRequest = z.infer<typeof RequestSchema>;
export type Op = AgentRequest['op'];
export type RequestFor<O extends Op> = Extract<AgentRequest, { op: O }>;

// ---- replies ----

const idSchema = z.union([z.number(), z.string(), z.null()]);
const failureBase = {
  id: idSchema,
  ok: z.literal(false),
  errno: ErrnoNameSchema,
  ms: z.number(),
  error: z.string().optional(),
};
const successBase = { id: idSchema, ok: z.literal(true), errno: z.null(), ms: z.number() };

/** A reply for one op: the success shape (fields required) or a failure with optional extras. */
function reply<S extends z.core.$ZodLooseShape, F extends z.core.$ZodLooseShape = Record<never, never>>(ok: S, fail?: F) {
  return z.discriminatedUnion('ok', [z.strictObject({ ...successBase, ...ok }), z.strictObject({ ...failureBase, ...((fail ?? {}) as F) })]);
}

const TransitionSchema = z.strictObject({ key: z.string(), iteration: uint, ms: z.number() });
const LoopStatsSchema = z.strictObject({
  loop: uint,
  handle,
  op: z.enum(['read', 'pread', 'write', 'poll', 'ioctl', 'mmap', 'reopen']),
  running: z.boolean(),
  iterations: uint,
  /** result key (OK, EOF, TIMEOUT, POLLIN|POLLHUP, errno name) → count */
  counts: z.record(z.string(), uint),
  /** the first 31 changes of key and the latest one */
  transitions: z.array(TransitionSchema),
  /** changes replaced in the last transitions slot */
  transitionsDropped: uint,
  elapsedMs: z.number(),
  /** the agent refused the loop's arguments; the loop ended */
  error: z.string().optional(),
});
export type LoopStats = z.infer<typeof LoopStatsSchema>;

/** A task asleep in the kernel, or one of the agent's shell commands: where it waits. */
const TaskSchema = z.strictObject({
  pid: uint,
  ppid: uint,
  /** /proc/PID/stat's state: D (uninterruptible), S, R… */
  state: z.string().length(1),
  comm: z.string(),
  /** /proc/PID/wchan: the kernel function it sleeps in ("0" when running) */
  wchan: z.string(),
  /** the top of /proc/PID/stack, function names joined by commas ("" when unreadable) */
  stack: z.string(),
});
export type GuestTask = z.infer<typeof TaskSchema>;

/** the last call's result and buffer; a new fd's handle */
const ioctlReplyFields = {
  ret: z.number().int(),
  hex: hex.optional(),
  handle: handle.optional(),
  fd: uint.optional(),
};

/** how a shell command ended, and what it printed */
const shellFields = {
  code: z.number().int().nullable(),
  signal: z.string().nullable(),
  stdout: z.string(),
  stderr: z.string(),
  timedOut: z.boolean(),
  truncated: z.boolean(),
};

/** what a file op found or read (every file op has its entry: the compiler checks) */
const fileFields = {
  writefile: {},
  mkdir: {},
  rmdir: {},
  find: { found: z.string() },
  klog: { log: z.string().optional() },
  refresh: {},
} as const satisfies Record<FileOp, z.core.$ZodLooseShape>;

/** One step's result in a `seq`: its op, its own `ms`, its outcome and its op's fields. */
function stepResult<O extends string, S extends z.core.$ZodLooseShape>(op: O, fields: S) {
  const base = { op: z.literal(op), ms: z.number() };
  return z.discriminatedUnion('ok', [
    z.strictObject({ ...base, ok: z.literal(true), errno: z.null(), ...fields }),
    z.strictObject({ ...base, ok: z.literal(false), errno: ErrnoNameSchema, error: z.string().optional() }),
  ]);
}
// by op, then by outcome: a union would try each shape in turn; every step op has its entry
const seqResultByOp = {
  sh: stepResult('sh', shellFields),
  writefile: stepResult('writefile', fileFields.writefile),
  mkdir: stepResult('mkdir', fileFields.mkdir),
  rmdir: stepResult('rmdir', fileFields.rmdir),
  find: stepResult('find', fileFields.find),
  klog: stepResult('klog', fileFields.klog),
  refresh: stepResult('refresh', fileFields.refresh),
} as const satisfies Record<SeqStep['op'], z.ZodType>;
const SeqResultSchema = z.discriminatedUnion('op', Object.values(seqResultByOp) as [(typeof seqResultByOp)[keyof typeof seqResultByOp]]);
export type SeqResult = z.infer<typeof SeqResultSchema>;

export const ReplySchemas = {
  ping: reply({ pid: uint, protocol: uint }),
  open: reply({ handle, fd: uint }),
  socket: reply({ handle, fd: uint }),
  close: reply({ deferred: z.boolean() }),
  read: reply({ n: uint, hex }),
  pread: reply({ n: uint, hex }),
  write: reply({ n: uint }),
  poll: reply({ ready: uint, revents: z.array(PollEventSchema) }),
  ioctl: reply(ioctlReplyFields, { stage: uint.optional() }),
  /** the mapping worked; `fault`: the signal its first read raised (a revoked mapping's answer) */
  mmap: reply({ n: uint, fault: z.enum(['SIGBUS', 'SIGSEGV']).nullable() }),
  spawn: reply({ loop: uint }),
  stop: reply({ ...LoopStatsSchema.shape, interrupted: z.boolean(), stuck: z.boolean() }),
  loops: reply({ loops: z.array(LoopStatsSchema) }),
  sh: reply(shellFields),
  writefile: reply(fileFields.writefile),
  mkdir: reply(fileFields.mkdir),
  rmdir: reply(fileFields.rmdir),
  find: reply(fileFields.find),
  klog: reply(fileFields.klog),
  refresh: reply(fileFields.refresh),
  /** one result per step that ran, in order */
  seq: reply({ results: z.array(SeqResultSchema) }),
  tasks: reply({ tasks: z.array(TaskSchema) }),
} as const satisfies Record<Op, z.ZodType>;

/** What a request resolves with when no reply came in time. */
const TimedOutReplySchema = z.strictObject({
  id: idSchema,
  ok: z.literal(false),
  errno: z.literal(HARNESS_TIMEOUT),
  timedOut: z.literal(true),
  ms: z.number(),
  error: z.string(),
});
export type TimedOutReply = z.infer<typeof TimedOutReplySchema>;

export type ReplyFor<O extends Op> = z.infer<(typeof ReplySchemas)[O]> | TimedOutReply;
export type SuccessFor<O extends Op> = Extract<z.infer<(typeof ReplySchemas)[O]>, { ok: true }>;
