// Driver-model removals through sysfs: unbind a device from its driver, or remove a (PCI) device.
import { z } from '../../zod.js';
import { endOf, removalKind } from './kind.js';

/** driver directory (/sys/bus/X/drivers/Y) and the device name written to its `unbind` */
export const sysfsUnbindRemoval = removalKind({
  key: 'sysfs-unbind',
  fields: { 'sysfs-unbind': z.strictObject({ driver: z.string(), device: z.string() }).optional() },
  label: (r) => `unbind ${r['sysfs-unbind']!.device}`,
  issue: async (r, ctx, horizonMs) => {
    const u = r['sysfs-unbind']!;
    return { pending: endOf(ctx, ctx.guest({ op: 'write', path: `${ctx.sub(u.driver)}/unbind`, value: ctx.sub(u.device) }, horizonMs)) };
  },
});

/** device directory (/sys/bus/X/devices/Y): 1 written to its `remove` */
export const sysfsRemoveRemoval = removalKind({
  key: 'sysfs-remove',
  fields: { 'sysfs-remove': z.strictObject({ device: z.string() }).optional() },
  label: (r) => `remove ${r['sysfs-remove']!.device}`,
  issue: async (r, ctx, horizonMs) => ({
    pending: endOf(ctx, ctx.guest({ op: 'write', path: `${ctx.sub(r['sysfs-remove']!.device)}/remove`, value: '1' }, horizonMs)),
  }),
});
