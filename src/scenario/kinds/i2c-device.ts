// i2c clients instantiated and deleted from user space (Documentation/i2c/instantiating-devices):
// `new_device` / `delete_device` steps and the `i2c-delete-device` removal share the adapter's files.
import { z } from '../../zod.js';
import type { GuestOp } from '../../guest/guest-ops.js';
import { endOf, opStepKind, type KindContext, removalKind } from './kind.js';

const Addr = z.number().int().min(0).max(0x7f);
const Client = z.strictObject({ adapter: z.string(), addr: Addr });
type Client = z.infer<typeof Client>;

const adapterFile = (ctx: KindContext, adapter: string, file: string): string => `/sys/bus/i2c/devices/${ctx.sub(adapter)}/${file}`;
const hex = (addr: number): string => `0x${addr.toString(16)}`;
const deleteOp = (ctx: KindContext, c: Client): GuestOp => ({ op: 'write', path: adapterFile(ctx, c.adapter, 'delete_device'), value: hex(c.addr) });

export const newDeviceStep = opStepKind({
  key: 'new_device',
  fields: { new_device: z.strictObject({ adapter: z.string(), name: z.string(), addr: Addr }).optional() },
  label: (s) => `new_device ${s.new_device!.name} ${hex(s.new_device!.addr)}`,
  one: {
    op: (s, ctx) => {
      const d = s.new_device!;
      return { op: 'write', path: adapterFile(ctx, d.adapter, 'new_device'), value: `${ctx.sub(d.name)} ${hex(d.addr)}` };
    },
  },
});

export const deleteDeviceStep = opStepKind({
  key: 'delete_device',
  fields: { delete_device: Client.optional() },
  label: (s) => `delete_device ${hex(s.delete_device!.addr)}`,
  one: { op: (s, ctx) => deleteOp(ctx, s.delete_device!) },
});

export const i2cDeleteDeviceRemoval = removalKind({
  key: 'i2c-delete-device',
  fields: { 'i2c-delete-device': Client.optional() },
  label: (r) => `delete_device ${hex(r['i2c-delete-device']!.addr)}`,
  issue: async (r, ctx, horizonMs) => ({ pending: endOf(ctx, ctx.guest(deleteOp(ctx, r['i2c-delete-device']!), horizonMs)) }),
});
