// Agreement with syzkaller's own golden console logs (../shared/corpus/syzkaller-report, Apache-2.0,
// not part of this repo). Each file: header lines (TITLE:, ALT:, TYPE:, CORRUPTED: …), a blank line,
// then the log; no TITLE: means no report is expected. Every log is checked exactly — report or
// not, title, alternative titles, corrupted — against its header, and every log where we differ is
// listed, with what we produce and why, in testdata/syzkaller-deviations.json. A deviation that
// appears or goes away fails the test; UPDATE_CORPUS=1 rewrites the list (new entries need a reason).
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { detect } from './index.js';

const here = dirname(fileURLToPath(import.meta.url));
const corpusDir = join(resolve(here, '..', '..'), '..', 'shared', 'corpus', 'syzkaller-report');
const deviationsFile = join(here, 'testdata', 'syzkaller-deviations.json');
const UPDATE = process.env.UPDATE_CORPUS === '1';

type Field = 'report' | 'title' | 'alt' | 'corrupted';
interface Outcome {
  title: string | null;
  alt: string[];
  corrupted: boolean;
}
interface Deviation {
  fields: Field[];
  /** what syzkaller's header says, and what we produce */
  want: Outcome;
  got: Outcome;
  /** a key of `reasons` */
  reason: string;
}
interface Deviations {
  reasons: Record<string, string>;
  logs: Record<string, Deviation>;
}

interface Log {
  name: string;
  want: Outcome;
  log: string;
}

function load(): Log[] {
  return readdirSync(corpusDir)
    .filter((n) => /^\d+$/.test(n))
    .sort((a, b) => Number(a) - Number(b))
    .map((name) => {
      const text = readFileSync(join(corpusDir, name), 'latin1');
      const split = text.indexOf('\n\n');
      const head = (split === -1 ? '' : text.slice(0, split)).split('\n');
      const field = (k: string): string[] => head.filter((l) => l.startsWith(`${k}: `)).map((l) => l.slice(k.length + 2));
      return {
        name,
        // "TITLE: " with nothing after it, as syzkaller's testdata writes it, means no report
        want: { title: field('TITLE')[0] || null, alt: field('ALT').sort(), corrupted: field('CORRUPTED')[0] === 'Y' },
        log: split === -1 ? text : text.slice(split + 2),
      };
    });
}

function observe(log: string): Outcome {
  const f = detect(log)[0];
  return f ? { title: f.title, alt: [...f.altTitles].sort(), corrupted: f.corrupted } : { title: null, alt: [], corrupted: false };
}

/** Which parts differ; alt and corrupted only count when the titles agree (else the title says it). */
function differs(want: Outcome, got: Outcome): Field[] {
  if ((want.title === null) !== (got.title === null)) return ['report'];
  if (want.title === null) return [];
  if (want.title !== got.title) return ['title'];
  const out: Field[] = [];
  if (JSON.stringify(want.alt) !== JSON.stringify(got.alt)) out.push('alt');
  if (want.corrupted !== got.corrupted) out.push('corrupted');
  return out;
}

/** A new deviation's reason until someone writes a better one: the general cause of its kind. */
function defaultReason(fields: Field[]): string {
  return fields[0] === 'report' ? 'unexplained' : fields[0] === 'title' ? 'title-frame' : fields.includes('alt') ? 'alt-titles' : 'corrupted-flag';
}

describe('syzkaller corpus', () => {
  it('is beside the repo (../shared): CI always has it', () => {
    expect(existsSync(corpusDir), `the syzkaller corpus is missing at ${corpusDir}; the detector cannot be checked without it`).toBe(true);
  });

  it.runIf(existsSync(corpusDir))('every log as syzkaller titles it, or a listed deviation with its reason', () => {
    const logs = load();
    const known: Deviations = JSON.parse(readFileSync(deviationsFile, 'utf8'));
    const found: Record<string, Deviation> = {};
    const tally = { report: 0, title: 0, alt: 0, corrupted: 0, withTitle: 0 };
    for (const l of logs) {
      const got = observe(l.log);
      const fields = differs(l.want, got);
      if (!fields.includes('report')) tally.report++;
      if (l.want.title !== null) {
        tally.withTitle++;
        if (!fields.includes('report') && !fields.includes('title')) {
          tally.title++;
          if (!fields.includes('alt')) tally.alt++;
          if (!fields.includes('corrupted')) tally.corrupted++;
        }
      }
      if (fields.length === 0) continue;
      const prev = known.logs[l.name];
      const same = prev && JSON.stringify(prev.fields) === JSON.stringify(fields);
      found[l.name] = { fields, want: l.want, got, reason: same ? prev.reason : defaultReason(fields) };
    }
    const pct = (n: number, d: number): string => `${((100 * n) / d).toFixed(1)}% (${n}/${d})`;
    console.log(
      `syzkaller corpus: ${logs.length} logs; report/no-report ${pct(tally.report, logs.length)}; exact title ${pct(tally.title, tally.withTitle)}; ` +
        `and alternative titles ${pct(tally.alt, tally.withTitle)}; corrupted flag ${pct(tally.corrupted, tally.withTitle)}; ${Object.keys(found).length} deviations listed`,
    );
    if (UPDATE) writeFileSync(deviationsFile, `${JSON.stringify({ reasons: known.reasons, logs: found }, null, 2)}\n`);
    const listed = UPDATE ? found : known.logs;
    const problems: string[] = [];
    for (const [name, d] of Object.entries(found)) {
      const k = listed[name];
      if (!k) problems.push(`${name}: new deviation ${d.fields.join('+')}: want ${JSON.stringify(d.want)} got ${JSON.stringify(d.got)}`);
      else if (JSON.stringify(k.got) !== JSON.stringify(d.got) || JSON.stringify(k.fields) !== JSON.stringify(d.fields))
        problems.push(`${name}: deviation changed: listed ${JSON.stringify(k.got)}, now ${JSON.stringify(d.got)}`);
    }
    for (const name of Object.keys(listed)) if (!found[name]) problems.push(`${name}: agrees with syzkaller now; drop it from the list (UPDATE_CORPUS=1)`);
    for (const [name, d] of Object.entries(listed)) {
      if (!known.reasons[d.reason] || d.reason === 'unexplained')
        problems.push(`${name}: deviation without a reason ("${d.reason}"): write one in ${deviationsFile}`);
    }
    expect(problems, problems.join('\n')).toEqual([]);
    expect(logs.length).toBeGreaterThan(500);
  });
});
