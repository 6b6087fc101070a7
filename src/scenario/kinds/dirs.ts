// `mkdir: PATH` / `rmdir: PATH`: configfs items (gpio-sim chips, banks, lines) and the like.
import { z } from '../../zod.js';
import { opStepKind } from './kind.js';

export const mkdirStep = opStepKind({
  key: 'mkdir',
  fields: { mkdir: z.string().optional() },
  label: (s) => `mkdir ${s.mkdir}`,
  one: { op: (s, ctx) => ({ op: 'mkdir', path: ctx.sub(s.mkdir!) }) },
});

export const rmdirStep = opStepKind({
  key: 'rmdir',
  fields: { rmdir: z.string().optional() },
  label: (s) => `rmdir ${s.rmdir}`,
  one: { op: (s, ctx) => ({ op: 'rmdir', path: ctx.sub(s.rmdir!) }) },
});
