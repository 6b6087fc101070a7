// `qmp-device-del: {device}`: QEMU unplugs a declared device; done at DEVICE_DELETED.
import { z } from '../../zod.js';
import { errorMessage } from '../../errors.js';
import { GuestLostError } from '../port.js';
import { Name } from '../suite-atoms.js';
import { HarnessFailure, type KindContext, type RemovalEnd, removalKind } from './kind.js';

export const deviceDelRemoval = removalKind({
  key: 'qmp-device-del',
  fields: { 'qmp-device-del': z.strictObject({ device: Name }).optional() },
  label: (r) => `device_del ${r['qmp-device-del']!.device}`,
  issue: async (r, ctx, horizonMs) => {
    const id = r['qmp-device-del']!.device;
    // armed before the command: the event may come before device_del's reply
    const deleted = ctx.port.waitForQmpEvent('DEVICE_DELETED', { device: id }, horizonMs);
    try {
      await ctx.port.qmp('device_del', { id }, 10_000);
    } catch (e) {
      void deleted.catch(() => undefined);
      if (e instanceof GuestLostError) throw e;
      throw new HarnessFailure(`device_del ${id} failed: ${errorMessage(e)}`);
    }
    const event = deleted.then(
      (ok): RemovalEnd => ({ at: ctx.clock.now(), ok, errno: null, ...(ok ? {} : { timedOut: true }) }),
      (e: unknown): RemovalEnd => ({ at: ctx.clock.now(), ok: false, errno: null, lost: errorMessage(e) }),
    );
    // QEMU 7.2 never emits DEVICE_DELETED for some devices (qemu-xhci) although the guest ejected
    // them and they left /machine/peripheral: that counts as completed too.
    return { pending: Promise.race([event, leftPeripherals(ctx, id, horizonMs)]) };
  },
});

/** Resolves once `id` is no longer a child of /machine/peripheral (polled; stops when the case ends). */
async function leftPeripherals(ctx: KindContext, id: string, horizonMs: number): Promise<RemovalEnd> {
  const until = ctx.clock.now() + horizonMs;
  while (!ctx.finished() && ctx.clock.now() < until) {
    await ctx.clock.sleep(100);
    if (ctx.finished()) break;
    try {
      const list = (await ctx.port.qmp('qom-list', { path: '/machine/peripheral' }, 5000)) as Array<{ name: string }>;
      if (Array.isArray(list) && !list.some((p) => p.name === id)) {
        return { at: ctx.clock.now(), ok: true, errno: null, detail: `${id} left /machine/peripheral without a DEVICE_DELETED event` };
      }
    } catch (e) {
      if (e instanceof GuestLostError) return { at: ctx.clock.now(), ok: false, errno: null, lost: e.reason };
    }
  }
  return new Promise<RemovalEnd>(() => undefined);
}
