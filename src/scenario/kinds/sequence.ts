// `steps: [...]`: a removal that is several steps in order (gpio-sim's selftest takes a chip down with
// live = 0, then removes its configfs items). It completes when the last step has; the first step
// that fails ends it with that step's errno. Consecutive steps that are each one guest operation go
// in one request (each still a guest process of its own), as a phase's set-up steps do.
import { SEQ_MAX } from '../../guest/agent-protocol.js';
import { z } from '../../zod.js';
import { GuestLostError } from '../port.js';
import { oneResult, removalKind, type KindContext, type OneOp, type RemovalEnd, type StepResult } from './kind.js';
import { planOneOps } from './one-op-batch.js';

export function sequenceRemoval<S extends z.ZodType>(
  step: S,
  runStep: (s: z.infer<S>, ctx: KindContext, timeoutMs: number) => Promise<StepResult>,
  oneOf: (s: z.infer<S>) => OneOp<z.infer<S>> | null,
) {
  /** The steps from list[i] on as one request; how many ran and the first failure among them (null: none). */
  const inOneRequest = async (
    list: readonly z.infer<S>[],
    i: number,
    ctx: KindContext,
    horizonMs: number,
  ): Promise<{ ran: number; failed: StepResult | null } | null> => {
    const planned = ctx.seq ? planOneOps(list, i, ctx, SEQ_MAX, oneOf, () => horizonMs) : [];
    if (planned.length < 2) return null;
    let failed: StepResult | null = null;
    const results = await ctx.seq!(
      planned.map((p) => ({ op: p.op, timeoutMs: p.timeoutMs, stopOnFailure: true })),
      (r, k) => {
        const { one, step, op, timeoutMs } = planned[k]!;
        const res = oneResult(one, step, op, r, ctx, timeoutMs);
        if (!res.ok) failed ??= res;
      },
    );
    return { ran: results.length, failed };
  };
  return removalKind({
    key: 'steps',
    fields: { steps: z.array(step).min(1).optional() },
    label: (r) => `${(r.steps ?? []).length} steps`,
    issue: async (r, ctx, horizonMs) => {
      const list = r.steps ?? [];
      const run = async (): Promise<RemovalEnd> => {
        for (let i = 0; i < list.length; ) {
          const batch = await inOneRequest(list, i, ctx, horizonMs);
          if (batch?.ran === 0) return { at: ctx.clock.now(), ok: false, errno: null, detail: 'the guest ran none of the steps' };
          const x = batch ? batch.failed : await runStep(list[i]!, ctx, horizonMs);
          if (x && !x.ok) return { at: ctx.clock.now(), ok: false, errno: x.errno ?? null, detail: x.message };
          i += batch ? batch.ran : 1;
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
