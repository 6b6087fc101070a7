// `modprobe: NAME` with optional `params: {key: value}`: load a module in the guest.
import { z } from '../../zod.js';
import { opStep, stepKind } from './kind.js';

export const modprobeStep = stepKind({
  key: 'modprobe',
  fields: { modprobe: z.string().optional(), params: z.record(z.string(), z.union([z.string(), z.number()])).optional() },
  label: (s) => `modprobe ${s.modprobe}`,
  run: (s, ctx, timeoutMs) =>
    opStep(
      ctx,
      { op: 'modprobe', module: ctx.sub(s.modprobe!), params: Object.fromEntries(Object.entries(s.params ?? {}).map(([k, v]) => [k, ctx.sub(String(v))])) },
      timeoutMs,
    ),
});
