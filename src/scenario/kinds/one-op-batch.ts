// Consecutive steps that are each one guest operation, planned for one request (the agent's `seq`):
// a phase's set-up and restore steps, and a removal that is several steps.
import type { GuestOp } from '../../guest/guest-ops.js';
import { mapStrings } from '../../vocabulary/substitute.js';
import { HarnessFailure, type KindContext, type OneOp } from './kind.js';

/** "${name}" in suite text: a variable a step discovered */
export const VAR = /\$\{([a-z][a-z0-9_]*)\}/g;

/** A step that is one guest operation, planned for a request with its neighbours. */
export interface PlannedOp<S> {
  step: S;
  one: OneOp<S>;
  op: GuestOp;
  timeoutMs: number;
}

/**
 * From list[i] on, at most `max` steps that are each one guest operation (`oneOf`) and need nothing
 * an earlier one of them finds. `stepMs`: a step's bound before its kind's own (OneOp.timeoutMs).
 */
export function planOneOps<S>(
  list: readonly S[],
  i: number,
  ctx: KindContext,
  max: number,
  oneOf: (s: S) => OneOp<S> | null,
  stepMs: (s: S) => number,
): PlannedOp<S>[] {
  const seq: PlannedOp<S>[] = [];
  // variables steps of this request set: a step that uses one waits for the result
  const setting = new Set<string>();
  const sub = (str: string): string => {
    for (const m of str.matchAll(VAR)) if (setting.has(m[1]!)) throw new HarnessFailure(`\${${m[1]}} is found by a step before`);
    return ctx.sub(str);
  };
  const planning: KindContext = { ...ctx, sub, subArgs: (v) => mapStrings(v, sub) };
  for (let j = i; j < list.length && seq.length < max; j++) {
    const step = list[j]!;
    const one = oneOf(step);
    if (one === null) break;
    let op: GuestOp;
    try {
      op = one.op(step, planning);
    } catch (e) {
      // a variable the step needs is not discovered yet: it waits for a request of its own
      if (e instanceof HarnessFailure) break;
      throw e;
    }
    const ms = stepMs(step);
    seq.push({ step, one, op, timeoutMs: one.timeoutMs?.(step, ms) ?? ms });
    const sets = one.sets?.(step);
    if (sets !== undefined) setting.add(sets);
  }
  return seq;
}
