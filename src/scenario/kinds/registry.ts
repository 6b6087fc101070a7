// Every holder, step and removal kind a suite may use, and the schemas they make up.
// A new kind is a module in this folder and one line in a list here; the engine dispatches by the key present.
import { z } from '../../zod.js';
import { closeRemoval, holdStep, ioctlRemoval, ioctlStep, sendRemoval, sendStep } from './agent-call.js';
import { deviceAddStep } from './device-add.js';
import { deviceDelRemoval } from './device-del.js';
import { mkdirStep, rmdirStep } from './dirs.js';
import { discoverStep } from './discover.js';
import { ioctlHolder, openHolder, socketHolder, type HolderKind } from './holders.js';
import { deleteDeviceStep, i2cDeleteDeviceRemoval, newDeviceStep } from './i2c-device.js';
import type { KindContext, OneOp, RemovalKind, StepKind, StepResult } from './kind.js';
import { modprobeStep } from './modprobe.js';
import { retireVmStep } from './retire-vm.js';
import { rmmodRemoval, rmmodStep } from './rmmod.js';
import { sequenceRemoval } from './sequence.js';
import { shellStep } from './shell.js';
import { sysfsRemoveRemoval, sysfsUnbindRemoval } from './sysfs.js';
import { writeRemoval, writeStep } from './write.js';
import { Errno, Ms, Name } from '../suite-atoms.js';

// the lists dispatch on the key present; each kind's own fields were checked by the schema
type AnyStep = StepKind<z.ZodRawShape>;
type AnyRemoval = RemovalKind<z.ZodRawShape>;

type Intersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;

/** Every kind's own fields in one shape, typed as the intersection of theirs (so a kind is listed once). */
function fieldsOf<const K extends readonly { fields: z.ZodRawShape }[]>(kinds: K): Intersection<K[number]['fields']> {
  return Object.assign({}, ...kinds.map((k) => k.fields)) as Intersection<K[number]['fields']>;
}

const stepKinds = [
  modprobeStep,
  rmmodStep,
  mkdirStep,
  rmdirStep,
  writeStep,
  newDeviceStep,
  deleteDeviceStep,
  deviceAddStep,
  discoverStep,
  shellStep,
  holdStep,
  ioctlStep,
  sendStep,
  retireVmStep,
] as const;
export const STEP_KINDS: readonly string[] = stepKinds.map((k) => k.key);

/** A preparation or restore step: exactly one kind key, and the fields every step has. */
export const StepSchema = z
  .strictObject({
    ...fieldsOf(stepKinds),
    /** a failure of this step does not fail the case (cleanup of what may already be gone) */
    optional: z.boolean().default(false),
    timeoutMs: Ms.optional(),
  })
  .superRefine((s, ctx) => {
    const kinds = STEP_KINDS.filter((k) => (s as Record<string, unknown>)[k] !== undefined);
    if (kinds.length !== 1)
      ctx.addIssue({ code: 'custom', message: `a step needs exactly one of ${STEP_KINDS.join(', ')} (got ${kinds.join(', ') || 'none'})` });
    // fields a kind owns besides its key go only with that key
    for (const k of stepKinds as readonly AnyStep[])
      for (const f of Object.keys(k.fields))
        if (f !== k.key && (s as Record<string, unknown>)[f] !== undefined && (s as Record<string, unknown>)[k.key] === undefined)
          ctx.addIssue({ code: 'custom', message: `${f} only goes with ${k.key}` });
  });
export type Step = z.infer<typeof StepSchema>;

function stepKindOf(s: Step): AnyStep {
  const k = (stepKinds as readonly AnyStep[]).find((x) => (s as Record<string, unknown>)[x.key] !== undefined);
  if (!k) throw new Error('step without a kind (the schema should have caught this)');
  return k;
}

export async function runStep(s: Step, ctx: KindContext, timeoutMs: number): Promise<StepResult> {
  return stepKindOf(s).run(s, ctx, timeoutMs);
}

/** How the step is one guest operation, when its kind is just that (else null). */
export function stepOne(s: Step): OneOp<Step> | null {
  return (stepKindOf(s).one as OneOp<Step> | undefined) ?? null;
}

const stepsRemoval = sequenceRemoval(StepSchema, runStep, stepOne);
const removalKinds = [
  deviceDelRemoval,
  sysfsUnbindRemoval,
  sysfsRemoveRemoval,
  rmmodRemoval,
  writeRemoval,
  i2cDeleteDeviceRemoval,
  ioctlRemoval,
  sendRemoval,
  closeRemoval,
  stepsRemoval,
] as const;
export const REMOVAL_METHODS: readonly string[] = removalKinds.map((k) => k.key);

export const RemovalSchema = z
  .strictObject({
    ...fieldsOf(removalKinds),
    /**
     * the removal must finish within this while the fds are held. Removals that do not block take
     * 50–150 ms under TCG; one that waits for the fds waits forever, so a longer bound only costs
     * time — but it must stay well below the guest's 20 s hung-task timeout.
     */
    timeoutMs: Ms.default(5000),
    /** after closing the fds, how long a blocked removal may take to finish */
    closeWaitMs: Ms.default(15000),
    /** errnos with which refusing the removal counts as handled (rmmod while held: EBUSY) */
    refused: z.array(Errno).default([]),
    /**
     * a guest path that exists until the guest has processed the removal: it completes when the
     * path is gone. QEMU reports a USB device deleted before the guest's disconnect has run.
     */
    gone: z.string().optional(),
  })
  .superRefine((r, ctx) => {
    const kinds = REMOVAL_METHODS.filter((k) => (r as Record<string, unknown>)[k] !== undefined);
    if (kinds.length !== 1)
      ctx.addIssue({ code: 'custom', message: `a removal needs exactly one method of ${REMOVAL_METHODS.join(', ')} (got ${kinds.join(', ') || 'none'})` });
  });
export type Removal = z.infer<typeof RemovalSchema>;

export function removalKindOf(r: Removal): AnyRemoval {
  const k = (removalKinds as readonly AnyRemoval[]).find((x) => (r as Record<string, unknown>)[x.key] !== undefined);
  if (!k) throw new Error('removal without a method (the schema should have caught this)');
  return k;
}

export function removalMethodOf(r: Removal): string {
  return removalKindOf(r).key;
}

type AnyHolder = HolderKind<z.ZodRawShape>;
const holderKinds = [openHolder, socketHolder, ioctlHolder] as const;
const HOLDER_KINDS: readonly string[] = holderKinds.map((k) => k.key);

/** An fd the agent holds for the whole case: exactly one holder kind. */
export const HolderSchema = z.strictObject({ name: Name, ...fieldsOf(holderKinds) }).superRefine((h, ctx) => {
  const kinds = HOLDER_KINDS.filter((k) => (h as Record<string, unknown>)[k] !== undefined);
  if (kinds.length !== 1)
    ctx.addIssue({ code: 'custom', message: `a holder needs exactly one of ${HOLDER_KINDS.join(', ')} (got ${kinds.join(', ') || 'none'})` });
});
export type Holder = z.infer<typeof HolderSchema>;

export function holderKindOf(h: Holder): AnyHolder {
  const k = (holderKinds as readonly AnyHolder[]).find((x) => (h as Record<string, unknown>)[x.key] !== undefined);
  if (!k) throw new Error('holder without a kind (the schema should have caught this)');
  return k;
}
