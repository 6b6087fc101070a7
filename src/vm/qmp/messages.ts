// QMP wire messages (server → client), validated with zod. QMP sends one JSON object per line.
// Unknown keys are allowed: newer QEMUs add fields, and a client must not break on them.
import { z } from '../../zod.js';

const QmpGreetingSchema = z.object({
  QMP: z.object({
    version: z.object({
      qemu: z.object({ major: z.number(), minor: z.number(), micro: z.number() }),
      package: z.string().optional(),
    }),
    capabilities: z.array(z.string()),
  }),
});

const QmpErrorBodySchema = z.object({ class: z.string(), desc: z.string() });

const QmpReturnSchema = z.object({ return: z.unknown(), id: z.unknown().optional() });
const QmpErrorReplySchema = z.object({ error: QmpErrorBodySchema, id: z.unknown().optional() });

const QmpEventSchema = z.object({
  event: z.string(),
  data: z.record(z.string(), z.unknown()).optional(),
  timestamp: z.object({ seconds: z.number(), microseconds: z.number() }),
});

export type QmpGreeting = z.infer<typeof QmpGreetingSchema>;
export type QmpEvent = z.infer<typeof QmpEventSchema> & { /** host Date.now() at arrival */ hostMs: number /** arrival order */; seq: number };

export type QmpMessage =
  | { kind: 'greeting'; msg: QmpGreeting }
  | { kind: 'return'; id: unknown; value: unknown }
  | { kind: 'error'; id: unknown; class: string; desc: string }
  | { kind: 'event'; msg: z.infer<typeof QmpEventSchema> };

/** Classify one parsed line; null if it is none of the QMP message shapes. */
export function classify(obj: unknown): QmpMessage | null {
  if (obj === null || typeof obj !== 'object') return null;
  if ('QMP' in obj) {
    const g = QmpGreetingSchema.safeParse(obj);
    return g.success ? { kind: 'greeting', msg: g.data } : null;
  }
  if ('event' in obj) {
    const e = QmpEventSchema.safeParse(obj);
    return e.success ? { kind: 'event', msg: e.data } : null;
  }
  if ('error' in obj) {
    const e = QmpErrorReplySchema.safeParse(obj);
    return e.success ? { kind: 'error', id: e.data.id, class: e.data.error.class, desc: e.data.error.desc } : null;
  }
  if ('return' in obj) {
    const r = QmpReturnSchema.safeParse(obj);
    return r.success ? { kind: 'return', id: r.data.id, value: r.data.return } : null;
  }
  return null;
}

/** Replies of the commands the VM layer reads; validate with `execute(cmd, args, { schema })`. */
export const QueryStatusSchema = z.object({ running: z.boolean(), status: z.string() });
