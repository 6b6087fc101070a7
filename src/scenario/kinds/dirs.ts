// `mkdir: PATH` / `rmdir: PATH`: configfs items (gpio-sim chips, banks, lines) and the like.
import { z } from '../../zod.js';
import { opStep, stepKind } from './kind.js';

export const mkdirStep = stepKind({
  key: 'mkdir',
  fields: { mkdir: z.string().optional() },
  label: (s) => `mkdir ${s.mkdir}`,
  run: (s, ctx, timeoutMs) => opStep(ctx, { op: 'mkdir', path: ctx.sub(s.mkdir!) }, timeoutMs),
});

export const rmdirStep = stepKind({
  key: 'rmdir',
  fields: { rmdir: z.string().optional() },
  label: (s) => `rmdir ${s.rmdir}`,
  run: (s, ctx, timeoutMs) => opStep(ctx, { op: 'rmdir', path: ctx.sub(s.rmdir!) }, timeoutMs),
});
