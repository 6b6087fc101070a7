// `write: {path, value}`: a sysfs/configfs file written whole — a step, or a removal (gpio-sim's
// `live` = 0, a driver's `unbind`, any file whose write takes the device away).
import { z } from '../../zod.js';
import { endOf, opStepKind, removalKind } from './kind.js';

const Write = z.strictObject({ path: z.string(), value: z.union([z.string(), z.number()]) });

export const writeStep = opStepKind({
  key: 'write',
  fields: { write: Write.optional() },
  label: (s) => `write ${s.write!.path}`,
  one: { op: (s, ctx) => ({ op: 'write', path: ctx.sub(s.write!.path), value: ctx.sub(String(s.write!.value)) }) },
});

export const writeRemoval = removalKind({
  key: 'write',
  fields: { write: Write.optional() },
  label: (r) => `write ${r.write!.value} > ${r.write!.path}`,
  issue: async (r, ctx, horizonMs) => ({
    pending: endOf(ctx, ctx.guest({ op: 'write', path: ctx.sub(r.write!.path), value: ctx.sub(String(r.write!.value)) }, horizonMs)),
  }),
});
