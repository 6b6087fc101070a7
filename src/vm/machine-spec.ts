// The one description of a guest machine: zod schemas are the source of the types, and
// qemu-argv.ts turns a parsed spec into QEMU's argv. Nothing here names QEMU flags.
import { z } from '../zod.js';

// QEMU ids: letters first, then letters, digits, '-', '_', '.' (QEMU's id_wellformed rule).
const QemuId = z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]*$/, 'must be a QEMU id: a letter, then letters, digits, "-", "_", "."');

const PropValue = z.union([z.string(), z.number(), z.boolean()]);

const DeviceSpecSchema = z.strictObject({
  id: QemuId,
  driver: z.string().min(1),
  props: z.record(z.string(), PropValue).default({}),
  /** PCI device that gets its own pcie-root-port `rp-<id>` so it can be hot-removed. */
  hotplug: z.boolean().default(false),
  /** Explicit bus (e.g. `xhci.0` for USB devices); not allowed with hotplug. */
  bus: z.string().min(1).optional(),
});

const ChardevSpecSchema = z.discriminatedUnion('backend', [
  // usb-serial and friends need a chardev that opens; ringbuf does, null does not always.
  z.strictObject({ id: QemuId, backend: z.literal('ringbuf'), sizeBytes: z.number().int().positive().optional() }),
  z.strictObject({ id: QemuId, backend: z.literal('null') }),
  z.strictObject({ id: QemuId, backend: z.literal('file'), path: z.string().min(1) }),
]);

const DriveSpecSchema = z.strictObject({
  id: QemuId,
  file: z.string().min(1),
  format: z.enum(['raw', 'qcow2']).default('raw'),
  readOnly: z.boolean().default(false),
});

const AccelSchema = z.enum(['kvm', 'tcg']);

export const MachineSpecSchema = z
  .strictObject({
    kernel: z.string().min(1),
    /** Omitted: boot with no initrd (accelerator probe, panic tests). */
    initrd: z.string().min(1).optional(),
    append: z.array(z.string()).default([]),
    memMiB: z.number().int().min(64).default(1024),
    cpus: z.number().int().min(1).max(64).default(1),
    accel: AccelSchema,
    /** Per-run directory: qmp.sock, console.log, console.jsonl, qemu-stderr.txt. */
    runDir: z.string().min(1),
    /** Omitted: no network at all (probe/panic boots need none). */
    sshHostPort: z.number().int().min(1).max(65535).optional(),
    /**
     * Name of a virtio-serial port for the guest agent, its host end the unix socket agent.sock in
     * runDir (its own controller, last on the bus). Omitted: no such port.
     */
    agentPort: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, 'must be letters, digits, "-", "_", "."')
      .optional(),
    devices: z.array(DeviceSpecSchema).default([]),
    spareRootPorts: z.number().int().min(0).max(16).default(0),
    chardevs: z.array(ChardevSpecSchema).default([]),
    drives: z.array(DriveSpecSchema).default([]),
    /**
     * Start with the guest not running, waiting for a saved machine state (QMP migrate-incoming;
     * src/vm/machine-state.ts). The spec must describe the machine the state was saved from.
     */
    incoming: z.boolean().default(false),
  })
  .superRefine((spec, ctx) => {
    const seen = new Map<string, string>();
    const claim = (id: string, what: string, path: (string | number)[]): void => {
      const prev = seen.get(id);
      if (prev) ctx.addIssue({ code: 'custom', path, message: `id "${id}" is already used by ${prev}` });
      else seen.set(id, what);
    };
    spec.devices.forEach((d, i) => {
      claim(d.id, `devices[${i}]`, ['devices', i, 'id']);
      if (d.hotplug) claim(`rp-${d.id}`, `the root port of devices[${i}]`, ['devices', i, 'id']);
      if (d.hotplug && d.bus) {
        ctx.addIssue({ code: 'custom', path: ['devices', i, 'bus'], message: 'a hotplug device sits on its own root port; drop bus' });
      }
      for (const key of ['id', 'bus', 'driver']) {
        if (key in d.props) ctx.addIssue({ code: 'custom', path: ['devices', i, 'props', key], message: `set ${key} on the device, not in props` });
      }
    });
    for (let n = 0; n < spec.spareRootPorts; n++) claim(`rp-spare-${n}`, 'a spare root port', ['spareRootPorts']);
    spec.chardevs.forEach((c, i) => claim(c.id, `chardevs[${i}]`, ['chardevs', i, 'id']));
    spec.drives.forEach((d, i) => claim(d.id, `drives[${i}]`, ['drives', i, 'id']));
    for (const reserved of ['con', 'net0', ...AGENT_PORT_IDS]) {
      if (seen.has(reserved)) ctx.addIssue({ code: 'custom', path: [], message: `id "${reserved}" is reserved for the console/network/agent port` });
    }
  });

/** QEMU ids of the agent port's chardev, controller and port (reserved in every spec). */
export const agentPortIds = { chardev: 'huci-agent-chr', controller: 'huci-vser', port: 'huci-agent' } as const;
const AGENT_PORT_IDS = Object.values(agentPortIds);

/** What callers write (defaults optional). */
export type MachineSpecInput = z.input<typeof MachineSpecSchema>;
/** What the VM layer works with (defaults filled). */
export type MachineSpec = z.output<typeof MachineSpecSchema>;
export type DeviceSpec = z.output<typeof DeviceSpecSchema>;
export type ChardevSpec = z.output<typeof ChardevSpecSchema>;
export type DriveSpec = z.output<typeof DriveSpecSchema>;
export type Accel = z.output<typeof AccelSchema>;

/** Files a machine leaves in its runDir. */
export const runFiles = {
  qmpSocket: 'qmp.sock',
  agentSocket: 'agent.sock',
  console: 'console.log',
  consoleLines: 'console.jsonl',
  qemuStderr: 'qemu-stderr.txt',
} as const;

/** Id of the root port qemuArgv gives a hotplug device; spare ports are `rp-spare-N`. */
export function rootPortId(deviceId: string): string {
  return `rp-${deviceId}`;
}
export function spareRootPortId(n: number): string {
  return `rp-spare-${n}`;
}
