// The shape of one kernel report found in a console log. zod is the single source of the type;
// the run report schema imports FindingSchema from here.
import { z } from '../zod.js';

/** Closed, sorted list of crash kinds. Adding one is a deliberate schema change. */
export const CRASH_KINDS = [
  'bug',
  'divide-error',
  'double-fault',
  'gpf',
  'hard-lockup',
  'hung-task',
  'invalid-opcode',
  'kasan',
  'kcsan',
  'kfence',
  'kmemleak',
  'kmsan',
  'lockdep',
  'other',
  'page-fault',
  'panic',
  'rcu-stall',
  'reboot',
  'sleep-in-atomic',
  'soft-lockup',
  'ubsan',
  'warning',
] as const;

const CrashKindSchema = z.enum(CRASH_KINDS);
export type CrashKind = z.infer<typeof CrashKindSchema>;

export const FindingSchema = z.strictObject({
  kind: CrashKindSchema,
  /** syzkaller-compatible title, normalised (ADDR, NUM, LINE) and capped at 120 characters. */
  title: z.string().min(1).max(120),
  altTitles: z.array(z.string()),
  /** The culprit function (the frame the title names), null when none could be extracted. */
  frame: z.string().nullable(),
  /** 1-based line numbers in the log/stream: the header line and the last line of the report. */
  startLine: z.number().int().positive(),
  endLine: z.number().int().positive(),
  report: z.string(),
  corrupted: z.boolean(),
  corruptedReason: z.string().optional(),
  /** Taint letters from `Tainted: G        W` (the G placeholder dropped), e.g. "W". */
  taint: z.string().optional(),
  cpu: z.number().int().nonnegative().optional(),
  pid: z.number().int().nonnegative().optional(),
  comm: z.string().optional(),
});
export type Finding = z.infer<typeof FindingSchema>;
