// `modprobe: NAME` with optional `params: {key: value}`: load a module in the guest.
import { z } from '../../zod.js';
import { opStepKind } from './kind.js';

export const modprobeStep = opStepKind({
  key: 'modprobe',
  fields: { modprobe: z.string().optional(), params: z.record(z.string(), z.union([z.string(), z.number()])).optional() },
  label: (s) => `modprobe ${s.modprobe}`,
  one: {
    op: (s, ctx) => ({
      op: 'modprobe',
      module: ctx.sub(s.modprobe!),
      params: Object.fromEntries(Object.entries(s.params ?? {}).map(([k, v]) => [k, ctx.sub(String(v))])),
    }),
  },
});
