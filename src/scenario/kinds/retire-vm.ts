// `retire-vm: WHY`: a restore that cannot be done in this QEMU (a device it cannot plug in again):
// the case keeps its verdict, and the next case boots a fresh VM instead of reusing this one.
import { z } from '../../zod.js';
import { stepKind } from './kind.js';

export const retireVmStep = stepKind({
  key: 'retire-vm',
  fields: { 'retire-vm': z.string().min(1).optional() },
  label: () => 'retire the VM',
  run: async (s, ctx) => {
    ctx.retireVm(s['retire-vm']!);
    return { ok: true };
  },
});
