// The guest agent's wire protocol (images/agent/README.md) as zod schemas: the single source of
// the request and reply types. Requests are what the client sends (without `id`, which the client
// assigns); replies are validated per op so a protocol drift shows up as an error, not as undefined.
import { z } from 'zod';

export const PROTOCOL_VERSION = 2;

/** The errno a timed-out request resolves with: the harness gave up, the kernel said nothing. */
export const HARNESS_TIMEOUT = 'ETIMEDOUT_HARNESS';

export const ErrnoNameSchema = z.string().regex(/^E[A-Z0-9_]+$/);

export const OpenFlagSchema = z.enum([
  'O_RDONLY', 'O_WRONLY', 'O_RDWR', 'O_NONBLOCK', 'O_NDELAY', 'O_NOCTTY', 'O_APPEND', 'O_CREAT', 'O_TRUNC',
  'O_EXCL', 'O_SYNC', 'O_DSYNC', 'O_DIRECT', 'O_CLOEXEC', 'O_PATH', 'O_DIRECTORY', 'O_NOFOLLOW', 'O_NOATIME',
]);
export type OpenFlag = z.infer<typeof OpenFlagSchema>;

export const PollEventSchema = z.enum([
  'POLLIN', 'POLLPRI', 'POLLOUT', 'POLLERR', 'POLLHUP', 'POLLNVAL', 'POLLRDNORM', 'POLLRDBAND', 'POLLWRNORM',
  'POLLWRBAND', 'POLLMSG', 'POLLRDHUP',
]);
export type PollEvent = z.infer<typeof PollEventSchema>;

export const GpioV2FlagSchema = z.enum([
  'USED', 'ACTIVE_LOW', 'INPUT', 'OUTPUT', 'EDGE_RISING', 'EDGE_FALLING', 'OPEN_DRAIN', 'OPEN_SOURCE',
  'BIAS_PULL_UP', 'BIAS_PULL_DOWN', 'BIAS_DISABLED', 'EVENT_CLOCK_REALTIME', 'EVENT_CLOCK_HTE',
]);
export const GpioV1HandleFlagSchema = z.enum([
  'INPUT', 'OUTPUT', 'ACTIVE_LOW', 'OPEN_DRAIN', 'OPEN_SOURCE', 'BIAS_PULL_UP', 'BIAS_PULL_DOWN', 'BIAS_DISABLE',
]);
export const GpioV1EventFlagSchema = z.enum(['RISING_EDGE', 'FALLING_EDGE', 'BOTH_EDGES', 'EDGE_RISING', 'EDGE_FALLING']);
export const GpioV1LineFlagSchema = z.enum([
  'KERNEL', 'IS_OUT', 'ACTIVE_LOW', 'OPEN_DRAIN', 'OPEN_SOURCE', 'BIAS_PULL_UP', 'BIAS_PULL_DOWN', 'BIAS_DISABLE',
]);

const uint = z.number().int().nonnegative();
const u32 = uint.max(0xffffffff);
const handle = uint;
const hex = z.string().regex(/^(?:[0-9a-fA-F]{2})*$/);
const lineList = z.array(u32).min(1).max(64);

/** Arguments of each named ioctl (they travel beside `request` in the ioctl request). */
export const IoctlArgsSchemas = {
  GPIO_GET_CHIPINFO_IOCTL: z.strictObject({}),
  GPIO_V2_GET_LINEINFO_IOCTL: z.strictObject({ offset: u32 }),
  GPIO_V2_GET_LINE_IOCTL: z.strictObject({
    offsets: lineList,
    flags: z.array(GpioV2FlagSchema).optional(),
    consumer: z.string().max(31).optional(),
    values: z.array(z.union([z.literal(0), z.literal(1)])).max(64).optional(),
    eventBufferSize: u32.optional(),
  }),
  GPIO_V2_LINE_GET_VALUES_IOCTL: z.strictObject({ mask: uint.max(Number.MAX_SAFE_INTEGER).optional() }),
  GPIO_V2_LINE_SET_VALUES_IOCTL: z.strictObject({ values: z.array(z.union([z.literal(0), z.literal(1)])).min(1).max(64) }),
  GPIO_V2_GET_LINEINFO_WATCH_IOCTL: z.strictObject({ offset: u32 }),
  GPIO_GET_LINEINFO_UNWATCH_IOCTL: z.strictObject({ offset: u32 }),
  GPIO_GET_LINEHANDLE_IOCTL: z.strictObject({
    offsets: lineList,
    flags: z.array(GpioV1HandleFlagSchema).optional(),
    consumer: z.string().max(31).optional(),
    values: z.array(z.union([z.literal(0), z.literal(1)])).max(64).optional(),
  }),
  GPIOHANDLE_GET_LINE_VALUES_IOCTL: z.strictObject({ count: uint.max(64).optional() }),
  GPIOHANDLE_SET_LINE_VALUES_IOCTL: z.strictObject({ values: z.array(z.union([z.literal(0), z.literal(1)])).max(64) }),
  GPIO_GET_LINEEVENT_IOCTL: z.strictObject({
    offset: u32,
    flags: z.array(GpioV1HandleFlagSchema).optional(),
    eventFlags: z.array(GpioV1EventFlagSchema).optional(),
    consumer: z.string().max(31).optional(),
  }),
  GPIO_GET_LINEINFO_IOCTL: z.strictObject({ offset: u32 }),
  I2C_SMBUS_READ_BYTE: z.strictObject({
    addr: uint.max(0x3ff),
    force: z.boolean().optional(),
    command: uint.max(255).optional(),
  }),
  I2C_FUNCS: z.strictObject({}),
  TCGETS: z.strictObject({}),
} as const;
export type IoctlName = keyof typeof IoctlArgsSchemas;
export type IoctlArgs<N extends IoctlName> = z.infer<(typeof IoctlArgsSchemas)[N]>;
export const IoctlNameSchema = z.enum(Object.keys(IoctlArgsSchemas) as [IoctlName, ...IoctlName[]]);

/** A numeric ioctl: `arg` passed as an integer, or a buffer (`hex` bytes / `size` zero bytes) passed and returned. */
export const RawIoctlSchema = z.strictObject({
  raw: u32,
  arg: uint.optional(),
  hex: hex.optional(),
  size: uint.max(1 << 20).optional(),
});
export type RawIoctl = z.infer<typeof RawIoctlSchema>;

// Every named ioctl's arguments may appear in an ioctl request; the agent checks which apply.
const ioctlArgFields = {
  offset: u32.optional(),
  offsets: lineList.optional(),
  flags: z.array(z.string()).optional(),
  eventFlags: z.array(GpioV1EventFlagSchema).optional(),
  consumer: z.string().max(31).optional(),
  values: z.array(z.union([z.literal(0), z.literal(1)])).max(64).optional(),
  eventBufferSize: u32.optional(),
  mask: uint.max(Number.MAX_SAFE_INTEGER).optional(),
  count: uint.max(64).optional(),
  addr: uint.max(0x3ff).optional(),
  force: z.boolean().optional(),
  command: uint.max(255).optional(),
};

// The fd operations, without a handle: the shape a loop repeats.
const readOp = z.strictObject({ op: z.literal('read'), size: uint.max(1 << 20).optional() });
const preadOp = z.strictObject({ op: z.literal('pread'), size: uint.max(1 << 20).optional(), offset: uint });
const writeOp = z.strictObject({ op: z.literal('write'), hex: hex.optional(), text: z.string().optional() });
const pollOp = z.strictObject({
  op: z.literal('poll'),
  events: z.array(PollEventSchema).optional(),
  timeoutMs: uint.max(2147483647).optional(),
});
const ioctlOp = z.strictObject({
  op: z.literal('ioctl'),
  request: z.union([IoctlNameSchema, RawIoctlSchema]),
  ...ioctlArgFields,
});

export const LoopOpSchema = z.discriminatedUnion('op', [readOp, preadOp, writeOp, pollOp, ioctlOp]);
export type LoopOp = z.infer<typeof LoopOpSchema>;

const withHandle = { handle };
export const RequestSchema = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('ping') }),
  z.strictObject({
    op: z.literal('open'),
    path: z.string().min(1),
    flags: z.array(OpenFlagSchema).optional(),
    mode: uint.optional(),
  }),
  z.strictObject({ op: z.literal('close'), ...withHandle }),
  readOp.extend(withHandle),
  preadOp.extend(withHandle),
  writeOp.extend(withHandle),
  pollOp.extend(withHandle),
  ioctlOp.extend(withHandle),
  z.strictObject({
    op: z.literal('spawn'),
    ...withHandle,
    loop: LoopOpSchema,
    intervalMs: z.number().nonnegative().max(60000).optional(),
  }),
  z.strictObject({ op: z.literal('stop'), loop: uint, timeoutMs: z.number().nonnegative().optional() }),
  z.strictObject({ op: z.literal('loops') }),
  // a shell command (protocol 2): replaces an SSH exec channel per command
  z.strictObject({ op: z.literal('sh'), command: z.string().min(1), timeoutMs: z.number().nonnegative().optional() }),
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
function reply<S extends z.core.$ZodLooseShape, F extends z.core.$ZodLooseShape = {}>(ok: S, fail?: F) {
  return z.discriminatedUnion('ok', [
    z.strictObject({ ...successBase, ...ok }),
    z.strictObject({ ...failureBase, ...((fail ?? {}) as F) }),
  ]);
}

export const TransitionSchema = z.strictObject({ key: z.string(), iteration: uint, ms: z.number() });
export const LoopStatsSchema = z.strictObject({
  loop: uint,
  handle,
  op: z.enum(['read', 'pread', 'write', 'poll', 'ioctl']),
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

const ioctlReplyFields = {
  handle: handle.optional(),
  fd: uint.optional(),
  name: z.string().optional(),
  label: z.string().optional(),
  lines: uint.optional(),
  consumer: z.string().optional(),
  offset: uint.optional(),
  flags: z.array(z.string()).optional(),
  bits: uint.optional(),
  values: z.array(uint).optional(),
  value: uint.optional(),
  funcs: uint.optional(),
  iflag: uint.optional(),
  oflag: uint.optional(),
  cflag: uint.optional(),
  lflag: uint.optional(),
  ret: z.number().int().optional(),
  hex: hex.optional(),
};

export const ReplySchemas = {
  ping: reply({ pid: uint, protocol: uint }),
  open: reply({ handle, fd: uint }),
  close: reply({ deferred: z.boolean() }),
  read: reply({ n: uint, hex }),
  pread: reply({ n: uint, hex }),
  write: reply({ n: uint }),
  poll: reply({ ready: uint, revents: z.array(PollEventSchema) }),
  ioctl: reply(ioctlReplyFields, { stage: z.enum(['I2C_SLAVE', 'I2C_SLAVE_FORCE', 'I2C_SMBUS']).optional() }),
  spawn: reply({ loop: uint }),
  stop: reply({ ...LoopStatsSchema.shape, interrupted: z.boolean(), stuck: z.boolean() }),
  loops: reply({ loops: z.array(LoopStatsSchema) }),
  sh: reply({
    code: z.number().int().nullable(),
    signal: z.string().nullable(),
    stdout: z.string(),
    stderr: z.string(),
    timedOut: z.boolean(),
    truncated: z.boolean(),
  }),
} as const satisfies Record<Op, z.ZodType>;

/** Any agent reply, before we know which op it answers (used to route by id). */
export const AnyReplySchema = z.looseObject({ id: idSchema, ok: z.boolean(), errno: ErrnoNameSchema.nullable(), ms: z.number() });

/** What a request resolves with when no reply came in time. */
export const TimedOutReplySchema = z.strictObject({
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
export type AgentReply = ReplyFor<Op>;
