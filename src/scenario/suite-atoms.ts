// The small schemas suite files and step/removal kinds share (names, errnos, flags, ioctl requests,
// QEMU devices), apart from suite-schema.ts so kind modules can use them without a cycle.
import { z } from '../zod.js';
import { ERRNO_NAMES } from './errno.js';

export const Name = z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'must be lower-case letters, digits, "-" or "_"');
/** Part of a case id: no "-" inside so ids stay parseable as <provider>-<method>-<fd>-<op>. */
export const IdPart = z.string().regex(/^[a-z0-9][a-z0-9_]*$/, 'must be lower-case letters, digits or "_" (no "-")');
export const KernelOption = z.string().regex(/^CONFIG_[A-Z0-9_]+$/, 'must look like CONFIG_NAME');
export const Errno = z.enum(ERRNO_NAMES, { error: (iss) => `unknown errno name ${JSON.stringify(iss.input)}` });
export const PollFlag = z.enum(['POLLIN', 'POLLPRI', 'POLLOUT', 'POLLERR', 'POLLHUP', 'POLLNVAL', 'POLLRDNORM', 'POLLWRNORM']);
export const OpenFlag = z.enum(['O_RDONLY', 'O_WRONLY', 'O_RDWR', 'O_NONBLOCK', 'O_NOCTTY', 'O_DIRECT', 'O_CLOEXEC', 'O_SYNC']);
/**
 * An ioctl or sequence of the vocabulary (suites/vocabulary: checked, with its args, when the suite
 * loads), or a bare number: {raw, arg?|size?}.
 */
export const IoctlRequest = z.union([
  z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an ioctl name of suites/vocabulary, or {raw: N}'),
  z.strictObject({ raw: z.number().int().nonnegative(), arg: z.number().int().optional(), size: z.number().int().positive().optional() }),
]);
/** The argument's fields in the kernel's names (a number for an ioctl that takes an integer); "${var}" substitutes. */
export const IoctlArgs = z.unknown();
/** A number, or a constant of suites/vocabulary by name (AF_PACKET, SOL_PACKET). */
export const NumberOrConstant = z.union([
  z.number().int().nonnegative(),
  z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'a number or a constant of suites/vocabulary'),
]);
/** A struct of the vocabulary and its value in the kernel's field names ("${var}" substitutes). */
export const StructValue = z.strictObject({ struct: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), value: z.unknown().optional() });
export const Ms = z.number().int().positive();

/** A QEMU device as data; the VM layer turns it into flags (no QEMU syntax here). */
const DeviceSchema = z.strictObject({
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
export const DeviceChecked = DeviceSchema.refine((d) => !(d.hotplug && d.bus), 'a hotplug device sits on its own root port; drop bus');

/** An ioctl on an fd the agent holds (a prepare `hold`, or a holder): UI_DEV_SETUP, UI_DEV_DESTROY… */
export const AgentIoctl = z.strictObject({ on: Name, request: IoctlRequest, args: IoctlArgs.optional() });
/** A struct of the vocabulary written to a held fd (a uhid event): encoded by the host, written whole. */
export const AgentSend = z.strictObject({ on: Name, struct: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), value: z.unknown().optional() });
