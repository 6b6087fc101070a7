// Device declarations (suite data) → what the VM layer and QMP take. Pure. Conventions shared with
// the session (src/scenario/vm-session.ts): a device's chardev is `<id>-chr`, its drive `<id>-drive`,
// a hotplug device sits on root port `rp-<id>` (src/vm/machine-spec.ts rootPortId).
import type { ChardevSpec, DeviceSpec } from '../vm/machine-spec.js';
import { rootPortId } from '../vm/machine-spec.js';
import type { DeviceDecl, ResolvedCase } from './suite-schema.js';
import type { VmConfig } from './port.js';
import { byText } from '../util/compare.js';

const chardevId = (deviceId: string): string => `${deviceId}-chr`;
const driveId = (deviceId: string): string => `${deviceId}-drive`;

/** Props the device needs beyond its own: its chardev and drive backends. */
function backendProps(d: DeviceDecl): Record<string, string> {
  return { ...(d.chardev ? { chardev: chardevId(d.id) } : {}), ...(d.drive ? { drive: driveId(d.id) } : {}) };
}

/** QMP device_add arguments that re-create a declared device where it was at boot. */
export function deviceAddArgs(d: DeviceDecl): Record<string, unknown> {
  const bus = d.bus ?? (d.hotplug ? rootPortId(d.id) : undefined);
  return { driver: d.driver, id: d.id, ...(bus ? { bus } : {}), ...d.props, ...backendProps(d) };
}

/** What the session passes to Machine for devices present at boot (drives: the session creates the files). */
export function machineDevices(devices: readonly DeviceDecl[]): {
  devices: DeviceSpec[];
  chardevs: ChardevSpec[];
  drives: Array<{ id: string; sizeMiB: number }>;
} {
  return {
    devices: devices.map((d) => ({
      id: d.id,
      driver: d.driver,
      props: { ...d.props, ...backendProps(d) },
      hotplug: d.hotplug,
      ...(d.bus ? { bus: d.bus } : {}),
    })),
    chardevs: devices.filter((d) => d.chardev).map((d) => ({ id: chardevId(d.id), backend: 'ringbuf' as const })),
    drives: devices.filter((d) => d.drive).map((d) => ({ id: driveId(d.id), sizeMiB: d.drive!.sizeMiB })),
  };
}

/** The VM a case needs: its image and devices at boot (spare root ports for new PCI devices added later). */
export function vmConfigFor(c: ResolvedCase, image: string): VmConfig {
  const spare = [...c.prepare, ...c.restore].filter((s) => typeof s.device_add === 'object' && s.device_add.hotplug).length;
  return { image, kernelArgs: c.kernelArgs, devices: c.devices, spareRootPorts: spare };
}

/** Cases with equal keys can share one boot. */
export function vmConfigKey(cfg: VmConfig): string {
  const devices = [...cfg.devices].sort((a, b) => byText(a.id, b.id)).map((d) => canonical(d));
  return `${cfg.image}|${cfg.kernelArgs.join(' ')}|${cfg.spareRootPorts}|${devices.join(';')}`;
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${k}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}
