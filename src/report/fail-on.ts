// Which verdicts count as failures (JUnit <failure>, compare regressions, exit code 1).
import { UsageError } from '../errors.js';
import { VERDICTS, type Verdict } from '../model/run.js';

export const DEFAULT_FAIL_ON: readonly Verdict[] = ['crashed', 'hung'];

/** Parses `--fail-on crashed,hung,blocked`; error/skipped have their own JUnit elements and are refused. */
export function parseFailOn(list: string | readonly string[] | undefined, flag = '--fail-on'): Verdict[] {
  if (list === undefined) return [...DEFAULT_FAIL_ON];
  const items = (typeof list === 'string' ? list.split(',') : list.flatMap((l) => l.split(','))).map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new UsageError(`${flag}: empty list; give verdicts such as crashed,hung`);
  const allowed = VERDICTS.filter((v) => v !== 'error' && v !== 'skipped');
  const out: Verdict[] = [];
  for (const it of items) {
    if (!(allowed as readonly string[]).includes(it)) {
      throw new UsageError(`${flag}: unknown verdict "${it}"; expected a comma-separated list of ${allowed.join(', ')}`);
    }
    if (!out.includes(it as Verdict)) out.push(it as Verdict);
  }
  return out;
}
