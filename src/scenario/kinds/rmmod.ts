// `rmmod`: unload a module — a step (`rmmod: NAME`) or a removal (`rmmod: {module}`; refused with
// EBUSY while a held fd pins it, which the suite's `refused:` may count as handled).
import { z } from '../../zod.js';
import { endOf, opStepKind, removalKind } from './kind.js';

export const rmmodStep = opStepKind({
  key: 'rmmod',
  fields: { rmmod: z.string().optional() },
  label: (s) => `rmmod ${s.rmmod}`,
  one: { op: (s, ctx) => ({ op: 'rmmod', module: ctx.sub(s.rmmod!) }) },
});

export const rmmodRemoval = removalKind({
  key: 'rmmod',
  fields: { rmmod: z.strictObject({ module: z.string() }).optional() },
  label: (r) => `rmmod ${r.rmmod!.module}`,
  issue: async (r, ctx, horizonMs) => ({ pending: endOf(ctx, ctx.guest({ op: 'rmmod', module: ctx.sub(r.rmmod!.module) }, horizonMs)) }),
});
