// `shell: TEXT`: the suite's own guest shell command, run as written ("${var}" filled in). For checks
// and set-up no other kind says; exit 0 is success.
import { z } from '../../zod.js';
import { opStepKind } from './kind.js';

export const shellStep = opStepKind({
  key: 'shell',
  fields: { shell: z.string().optional() },
  label: () => 'shell',
  one: { op: (s, ctx) => ({ op: 'sh', command: ctx.sub(s.shell!) }) },
});
