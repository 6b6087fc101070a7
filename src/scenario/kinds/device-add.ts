// `device_add: ID | {device}`: a QEMU device plugged in over QMP (a declared one by id, or one given here).
import { z } from '../../zod.js';
import { errorMessage } from '../../errors.js';
import { GuestLostError } from '../port.js';
import { DeviceChecked } from '../suite-atoms.js';
import { deviceAddArgs } from '../vm-config.js';
import { type KindContext, stepKind } from './kind.js';

/**
 * QEMU deletes a -drive backend with the device that used it: plug the same image file in again as
 * a block node of that name. A backend that is still there (the first plug) answers with a name
 * conflict, which is fine. Returns what went wrong, or null.
 */
async function plugDriveBackend(ctx: KindContext, driveId: string, timeoutMs: number): Promise<string | null> {
  const file = ctx.port.driveFile?.(driveId);
  if (file === undefined) return null;
  try {
    await ctx.port.qmp('blockdev-add', { driver: 'raw', 'node-name': driveId, file: { driver: 'file', filename: file } }, timeoutMs);
    ctx.note('qmp', `${ctx.phase}: blockdev-add ${driveId}`, file);
    return null;
  } catch (e) {
    if (e instanceof GuestLostError) throw e;
    if (/conflict|Duplicate|already (exists|in use)/i.test(errorMessage(e))) return null;
    return `blockdev-add ${driveId} failed: ${errorMessage(e)}`;
  }
}

/** QEMU frees a removed device's backends (chardev, id) a little after the guest ejected it. */
const STILL_IN_USE = /is in use|already in use|Duplicate (ID|device)|already exists/i;

export const deviceAddStep = stepKind({
  key: 'device_add',
  fields: { device_add: z.union([z.string(), DeviceChecked]).optional() },
  label: (s) => `device_add ${typeof s.device_add === 'string' ? s.device_add : s.device_add!.id}`,
  run: async (s, ctx, timeoutMs) => {
    const decl = typeof s.device_add === 'string' ? ctx.device(s.device_add) : s.device_add;
    if (!decl) return { ok: false, message: `${ctx.phase}: device_add of unknown device ${String(s.device_add)}` };
    const args = deviceAddArgs(decl);
    const until = ctx.clock.now() + timeoutMs;
    if (decl.drive) {
      const backend = await plugDriveBackend(ctx, String(args.drive), timeoutMs);
      if (backend) return { ok: false, message: `${ctx.phase}: device_add ${decl.id}: ${backend}` };
    }
    for (;;) {
      try {
        await ctx.port.qmp('device_add', args, timeoutMs);
        ctx.note('qmp', `${ctx.phase}: device_add ${decl.id}`, JSON.stringify(args));
        return { ok: true };
      } catch (e) {
        if (e instanceof GuestLostError) throw e;
        if (STILL_IN_USE.test(errorMessage(e)) && ctx.clock.now() < until) {
          await ctx.clock.sleep(250);
          continue;
        }
        ctx.note('qmp', `${ctx.phase}: device_add ${decl.id} failed`, errorMessage(e));
        return { ok: false, message: `${ctx.phase}: device_add ${decl.id} failed: ${errorMessage(e)}` };
      }
    }
  },
});
