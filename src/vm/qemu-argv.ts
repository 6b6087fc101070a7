// QEMU's argv as a pure function of the spec: same spec, same argv (golden-tested), no I/O.
import path from 'node:path';
import { agentPortIds, runFiles, rootPortId, spareRootPortId, type ChardevSpec, type DeviceSpec, type DriveSpec, type MachineSpec } from './machine-spec.js';

/** Cmdline words every boot gets: the console on the serial port, and panic → reboot → (-no-reboot) QEMU exits. */
const BASE_APPEND = ['console=ttyS0', 'panic=-1'] as const;

/** The CPU model under TCG: everything TCG emulates but 5-level paging (see qemuArgv). */
const TCG_CPU = 'max,la57=off';

const INCOMING = ['-incoming', 'defer'] as const;

/** The argv that boots the machine a restore would give: what a reproducer runs. */
export function bootArgv(argv: readonly string[]): string[] {
  const at = argv.findIndex((w, i) => w === INCOMING[0] && argv[i + 1] === INCOMING[1]);
  return at < 0 ? [...argv] : [...argv.slice(0, at), ...argv.slice(at + 2)];
}

export function qemuArgv(spec: MachineSpec): string[] {
  const argv: string[] = ['-machine', 'q35', '-nodefaults', '-no-user-config', '-display', 'none', '-vga', 'none', '-no-reboot'];
  // TCG's `max` offers 5-level paging, and 6.12 takes interrupts while identify_cpu() has cleared the
  // LA57 bit: an interrupt then computes 4-level addresses on a 5-level kernel and KASAN reports a
  // wild-memory-access at boot (seen once). Our guests need no 57-bit addresses: no window.
  argv.push(...(spec.accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg', '-cpu', TCG_CPU]));
  argv.push('-m', `${spec.memMiB}M`, '-smp', String(spec.cpus));

  argv.push('-kernel', spec.kernel);
  if (spec.initrd) argv.push('-initrd', spec.initrd);
  argv.push('-append', [...BASE_APPEND, ...spec.append].join(' '));

  // QEMU writes the console to console.log itself and node follows the file (src/vm/console.ts):
  // far cheaper than a pipe, and whatever the kernel printed last is in the file when QEMU exits.
  argv.push('-chardev', `file,id=con,path=${opt(path.join(spec.runDir, runFiles.console))}`, '-serial', 'chardev:con');
  argv.push('-qmp', `unix:${opt(path.join(spec.runDir, runFiles.qmpSocket))},server=on,wait=off`);

  if (spec.sshHostPort !== undefined) {
    argv.push('-netdev', `user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:${spec.sshHostPort}-:22`);
    argv.push('-device', 'virtio-net-pci,netdev=net0');
  }

  for (const c of spec.chardevs) argv.push('-chardev', chardevOpt(c));
  for (const d of spec.drives) argv.push('-drive', driveOpt(d));

  // Root ports first so that the slots they take on pcie.0 do not depend on device order.
  let chassis = 0;
  const port = (id: string): string => {
    chassis++;
    return `pcie-root-port,id=${id},bus=pcie.0,chassis=${chassis},slot=${chassis}`;
  };
  for (const d of spec.devices) if (d.hotplug) argv.push('-device', port(rootPortId(d.id)));
  for (let n = 0; n < spec.spareRootPorts; n++) argv.push('-device', port(spareRootPortId(n)));
  for (const d of spec.devices) argv.push('-device', deviceOpt(d));
  if (spec.agentPort !== undefined) {
    // The agent's channel: a virtio-serial port on a controller of its own, cold-plugged on pcie.0
    // (not removable) and last, so every other device keeps the PCI slot it would have without it.
    const ids = agentPortIds;
    argv.push('-chardev', `socket,id=${ids.chardev},path=${opt(path.join(spec.runDir, runFiles.agentSocket))},server=on,wait=off`);
    argv.push('-device', `virtio-serial-pci,id=${ids.controller}`);
    argv.push('-device', `virtserialport,bus=${ids.controller}.0,chardev=${ids.chardev},id=${ids.port},name=${opt(spec.agentPort)}`);
  }
  // deferred: the host connects the agent's port before the state arrives (a port without a host
  // end reads EOF in the guest)
  if (spec.incoming) argv.push(...INCOMING);
  return argv;
}

/** The `-device` option string for a device (also what device_add gets, as an args object, via deviceAddArgs). */
function deviceOpt(d: DeviceSpec): string {
  return Object.entries(deviceAddArgs(d))
    .map(([k, v]) => (k === 'driver' ? opt(String(v)) : `${k}=${opt(propString(v))}`))
    .join(',');
}

/** QMP `device_add` arguments for a device spec (hotplug devices go to their root port). */
export function deviceAddArgs(d: DeviceSpec, bus?: string): Record<string, string | number | boolean> {
  const args: Record<string, string | number | boolean> = { driver: d.driver, id: d.id };
  const b = bus ?? (d.hotplug ? rootPortId(d.id) : d.bus);
  if (b) args.bus = b;
  for (const [k, v] of Object.entries(d.props)) args[k] = v;
  return args;
}

function chardevOpt(c: ChardevSpec): string {
  switch (c.backend) {
    case 'ringbuf':
      return `ringbuf,id=${c.id}${c.sizeBytes ? `,size=${c.sizeBytes}` : ''}`;
    case 'null':
      return `null,id=${c.id}`;
    case 'file':
      return `file,id=${c.id},path=${opt(c.path)}`;
  }
}

function driveOpt(d: DriveSpec): string {
  return `if=none,id=${d.id},file=${opt(d.file)},format=${d.format}${d.readOnly ? ',readonly=on' : ''}`;
}

function propString(v: string | number | boolean): string {
  return typeof v === 'boolean' ? (v ? 'on' : 'off') : String(v);
}

/** QEMU option values escape ',' by doubling it. */
function opt(s: string): string {
  return s.replaceAll(',', ',,');
}
