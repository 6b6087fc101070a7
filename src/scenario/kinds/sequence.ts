// `steps: [...]`: a removal that is several steps in order (gpio-sim's selftest takes a chip down with
// live = 0, then removes its configfs items). It completes when the last step has; the first step
// that fails ends it with that step's errno.
import { z } from '../../zod.js';
import { GuestLostError } from '../port.js';
import { removalKind, type KindContext, type RemovalEnd, type StepResult } from './kind.js';

export function sequenceRemoval<S extends z.ZodType>(step: S, runStep: (s: z.infer<S>, ctx: KindContext, timeoutMs: number) => Promise<StepResult>) {
  return removalKind({
    key: 'steps',
    fields: { steps: z.array(step).min(1).optional() },
    label: (r) => `${(r.steps ?? []).length} steps`,
    issue: async (r, ctx, horizonMs) => {
      const run = async (): Promise<RemovalEnd> => {
        for (const s of r.steps ?? []) {
          const x = await runStep(s, ctx, horizonMs);
          if (!x.ok) return { at: ctx.clock.now(), ok: false, errno: x.errno ?? null, detail: x.message };
        }
        return { at: ctx.clock.now(), ok: true, errno: null };
      };
      const pending = run().catch(
        (e: unknown): RemovalEnd =>
          e instanceof GuestLostError
            ? { at: ctx.clock.now(), ok: false, errno: null, lost: e.reason }
            : { at: ctx.clock.now(), ok: false, errno: null, detail: e instanceof Error ? e.message : String(e) },
      );
      return { pending };
    },
  });
}
