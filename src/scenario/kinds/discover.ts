// `discover: {var, glob|file, …}`: a value the case needs, found in the guest at run time (never
// hard-coded) and waited for (bounded): device nodes come and go asynchronously.
import { z } from '../../zod.js';
import { Ms } from '../suite-atoms.js';
import { opStepKind } from './kind.js';

/** How a value the case needs is found in the guest at run time (never hard-coded). */
const DiscoverSchema = z
  .strictObject({
    var: z.string().regex(/^[a-z][a-z0-9_]*$/, 'variable names are lower-case identifiers'),
    /** first path matching a shell glob, e.g. /sys/bus/pci/devices/0000:00:1f.3/i2c-* */
    glob: z.string().optional(),
    /** the trimmed content of a file, e.g. gpio-sim's bank0/chip_name */
    file: z.string().optional(),
    /** with glob: only a match whose file content equals this (e.g. an adapter's `name`); yields its dirname */
    contentEquals: z.string().optional(),
    /**
     * the /dev directory where the found name (the match's basename, or the file's content) is the
     * device node the case opens, e.g. /dev or /dev/dri: the discovery waits for the node too — a
     * device's sysfs entry appears before devtmpfs makes its node
     */
    node: z.string().startsWith('/', 'node is an absolute directory').optional(),
    /** what to keep of the match: its basename (default) or the whole path */
    take: z.enum(['basename', 'path']).default('basename'),
    timeoutMs: Ms.default(10000),
  })
  .refine((d) => (d.glob ? 1 : 0) + (d.file ? 1 : 0) === 1, 'give exactly one of glob, file')
  .refine((d) => !d.contentEquals || d.glob, 'contentEquals needs glob');

export const discoverStep = opStepKind({
  key: 'discover',
  fields: { discover: DiscoverSchema.optional() },
  label: (s) => `discover ${s.discover!.var}`,
  one: {
    op: (s, ctx) => {
      const d = s.discover!;
      const where =
        d.file !== undefined
          ? { file: ctx.sub(d.file) }
          : { glob: ctx.sub(d.glob!), ...(d.contentEquals !== undefined ? { contentEquals: d.contentEquals } : {}) };
      return { op: 'find', ...where, ...(d.node !== undefined ? { node: ctx.sub(d.node) } : {}), timeoutMs: d.timeoutMs };
    },
    // the guest waits up to the discovery's own bound; the rest covers a slow guest
    timeoutMs: (s) => s.discover!.timeoutMs + 10000,
    result: (s, r, ctx) => {
      const d = s.discover!;
      const out = r.ok ? (r.out.trim().split('\n')[0] ?? '') : '';
      if (out === '') {
        const what = `${d.file ?? d.glob}${d.contentEquals !== undefined ? ` with content "${d.contentEquals}"` : ''}${d.node !== undefined ? ` with a node in ${d.node}` : ''}`;
        return { ok: false, message: `${ctx.phase}: discover ${d.var}: nothing matched ${what} within ${d.timeoutMs} ms` };
      }
      const value = d.file !== undefined || d.take === 'path' ? out : out.slice(out.lastIndexOf('/') + 1);
      ctx.setVar(d.var, value);
      ctx.note('step', `${ctx.phase}: ${d.var} = ${value}`);
      return { ok: true };
    },
    sets: (s) => s.discover!.var,
  },
});
