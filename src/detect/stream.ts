// The one engine: consumes console lines one at a time (a live console or a whole log) and emits a
// Finding when its report is complete — an end marker, the next report in the same context, a
// settle timeout, a size cap, or end of stream. Memory is bounded: a ring of recent lines for
// report prefixes, a capped number of open reports, each capped in lines and line length.
import { CONSOLE, isCpuContext, isTaskContext, parseLine, type ConsoleLine } from './console.js';
import { corruptionOf, describe } from './describe.js';
import type { Finding } from './finding.js';
import { INFO_WITH_STACK, OOPSES, REPORT_START_IGNORES, type OopsRow } from './formats.js';
import { normaliseTitle, titleFrame } from './title.js';

export interface StreamOptions {
  /** Quiet time after which an open report is considered complete (live consoles only). */
  settleMs?: number;
  /** Most lines kept per open report; a longer report is closed at this size. */
  maxBufferedLines?: number;
}

const DEFAULT_SETTLE_MS = 3000;
const DEFAULT_MAX_LINES = 2000;
const MAX_LINE_CHARS = 4096;
const MAX_OPEN_REPORTS = 8;
const PREFIX_RING = 64;
/** After a report ends, panic lines that follow it (panic_on_warn, Fatal exception) belong to it. */
const TAIL_LINES = 200;

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const ANY_HEADER = new RegExp(OOPSES.map((o) => escapeRe(o.header)).join('|'));
/** Lines that close a report: the kernel's own end-of-report markers. */
const END_MARKERS = [/---\[ end trace/, /---\[ end Kernel panic/];
const RULER = /^={20,}\s*$/;
const REPLAY = /\*\* replaying previous printk message \*\*/;

export function matchOops(raw: string): OopsRow | null {
  if (!ANY_HEADER.test(raw)) return null;
  for (const oops of OOPSES) {
    if (!raw.includes(oops.header)) continue;
    if (oops.headerIf && !oops.headerIf.test(raw)) continue;
    if (oops.suppressions?.some((s) => s.test(raw))) continue;
    return oops;
  }
  return null;
}

interface OpenReport {
  oops: OopsRow;
  context: string;
  startLine: number;
  endLine: number;
  lastMs: number;
  prefix: string[];
  lines: string[];
  textLines: number;
  skipText: boolean;
  cpuTraceback: boolean;
}

interface Tail {
  context: string;
  untilLine: number;
}

export class StreamDetector {
  private readonly settleMs: number;
  private readonly maxLines: number;
  private lineNo = 0;
  private open: OpenReport[] = [];
  private ring: ConsoleLine[] = [];
  private tails: Tail[] = [];

  constructor(opts: StreamOptions = {}) {
    this.settleMs = opts.settleMs ?? DEFAULT_SETTLE_MS;
    this.maxLines = Math.max(50, opts.maxBufferedLines ?? DEFAULT_MAX_LINES);
  }

  /** Feed one line (without its newline). Returns the findings this line completed. */
  push(line: string, nowMs: number = Date.now()): Finding[] {
    if (line.includes('\n')) return line.split('\n').flatMap((l) => this.push(l, nowMs));
    const out = this.tick(nowMs);
    this.lineNo++;
    const ln = parseLine(line.length > MAX_LINE_CHARS ? line.slice(0, MAX_LINE_CHARS) : line);
    // a header cut short by a printk replay does not count (syzkaller's isTruncatedByReplay): drop
    // the report it just opened; the replayed copy of the line opens it again
    if (REPLAY.test(ln.raw)) this.open = this.open.filter((r) => r.startLine !== this.lineNo - 1 || r.lines.length > 1);
    const oops = matchOops(ln.raw);
    const ignorable = oops !== null && REPORT_START_IGNORES.some((r) => r.test(ln.raw));
    let absorbed = false;

    for (const rep of [...this.open]) {
      const sameContext = ln.context === rep.context;
      if (oops && !ignorable && (rep.context === CONSOLE || rep.context === '')) {
        // A new report on a console without printk caller ids ends the open one before this line;
        // with caller ids (syzkaller's rule) the open report reads on through its task's next one.
        this.complete(rep, out);
        continue;
      }
      if (!oops && (rep.context === CONSOLE || rep.context === '') && INFO_WITH_STACK.some((p) => ln.raw.includes(p))) {
        this.complete(rep, out);
        continue;
      }
      const mine = sameContext || (rep.cpuTraceback && isCpuContext(ln.context));
      if (!mine || ln.questionable) continue;
      if (oops && ignorable) absorbed = true;
      rep.textLines++;
      rep.endLine = this.lineNo;
      rep.lastMs = nowMs;
      let skipLine = rep.skipText;
      if (ln.raw.includes('Disabling lock debugging due to kernel taint')) skipLine = true;
      else if (ln.raw.includes('Sending NMI from CPU')) rep.cpuTraceback = true;
      else if (
        rep.textLines > (rep.lines[0]!.includes('BUG: KMSAN:') ? 16 : 22) &&
        (ln.raw.includes('Kernel panic - not syncing') || ln.raw.includes('WARNING: possible circular locking dependency detected'))
      ) {
        // A panic_on_warn panic (or an oops-induced lockdep splat) repeats what we already have.
        rep.skipText = true;
        skipLine = true;
      }
      if (!skipLine) rep.lines.push(ln.text);
      if (END_MARKERS.some((m) => m.test(ln.text)) || (rep.lines.length > 1 && RULER.test(ln.text))) {
        this.complete(rep, out, true);
      } else if (rep.lines.length >= this.maxLines) {
        this.complete(rep, out, true);
      }
    }

    if (oops && !absorbed) {
      const inTail = ignorable && this.tails.some((t) => t.context === ln.context && t.untilLine >= this.lineNo);
      if (!inTail) this.start(oops, ln, nowMs, out);
    }
    this.ring.push(ln);
    if (this.ring.length > PREFIX_RING) this.ring.shift();
    if (this.tails.length && this.tails[0]!.untilLine < this.lineNo) this.tails = this.tails.filter((t) => t.untilLine >= this.lineNo);
    return out;
  }

  /** Start line of the oldest report still open (findings before it are final), or null. */
  get oldestOpenLine(): number | null {
    return this.open.length ? Math.min(...this.open.map((r) => r.startLine)) : null;
  }

  /** Lines consumed so far. */
  get lines(): number {
    return this.lineNo;
  }

  /** Completes open reports that have been quiet for settleMs. */
  tick(nowMs: number): Finding[] {
    const out: Finding[] = [];
    for (const rep of [...this.open]) {
      if (nowMs - rep.lastMs >= this.settleMs) this.complete(rep, out);
    }
    return out;
  }

  /** End of stream: every open report is complete. */
  flush(): Finding[] {
    const out: Finding[] = [];
    for (const rep of [...this.open]) this.complete(rep, out);
    return out;
  }

  private start(oops: OopsRow, ln: ConsoleLine, nowMs: number, out: Finding[]): void {
    const maxPrefix = isTaskContext(ln.context) ? 50 : 5;
    const prefix = this.ring
      .filter((p) => p.context === ln.context && p.text !== '' && !p.questionable)
      .slice(-maxPrefix)
      .map((p) => p.text);
    if (this.open.length >= MAX_OPEN_REPORTS) this.complete(this.open[0]!, out);
    this.open.push({
      oops,
      context: ln.context,
      startLine: this.lineNo,
      endLine: this.lineNo,
      lastMs: nowMs,
      prefix,
      lines: [ln.text],
      textLines: 1,
      skipText: false,
      cpuTraceback: false,
    });
  }

  private complete(rep: OpenReport, out: Finding[], ended = false): void {
    this.open = this.open.filter((r) => r !== rep);
    if (ended) this.tails.push({ context: rep.context, untilLine: this.lineNo + TAIL_LINES });
    out.push(buildFinding(rep));
  }
}

function buildFinding(rep: OpenReport): Finding {
  const text = `${rep.lines.join('\n')}\n`;
  const desc = describe(text, rep.oops);
  let rawTitle = desc.title;
  if (rawTitle === '') rawTitle = rep.lines[0] ?? rep.oops.header;
  const title = normaliseTitle(rawTitle) || normaliseTitle(rep.oops.header);
  // syzkaller checks the title for merged timestamps before it normalises the numbers away
  const corruptedReason = desc.corruptedReason || corruptionOf(rawTitle, text, desc.format);
  const frame = titleFrame(title);
  const finding: Finding = {
    kind: desc.format?.kind ?? rep.oops.kind,
    title,
    altTitles: [...new Set(desc.altTitles.map(normaliseTitle))].filter((t) => t !== '' && t !== title),
    frame: frame === 'corrupted' ? null : frame,
    startLine: rep.startLine,
    endLine: rep.endLine,
    report: [...rep.prefix, ...rep.lines].join('\n'),
    corrupted: corruptedReason !== '',
    ...(corruptedReason ? { corruptedReason } : {}),
    ...taskInfo(rep.lines),
  };
  return finding;
}

const CPU_PID_COMM = /CPU: (\d+) (?:UID: \d+ )?PID: (\d+) Comm: (\S+)/;
const WARN_OLD = /WARNING: CPU: (\d+) PID: (\d+) at /;
const WARN_NEW = /, CPU#(\d+): (\S+)\/(\d+)/;
const TAINT = /Tainted: ([A-Z ]+)/;

function taskInfo(lines: readonly string[]): Pick<Finding, 'cpu' | 'pid' | 'comm' | 'taint'> {
  const info: Pick<Finding, 'cpu' | 'pid' | 'comm' | 'taint'> = {};
  for (const l of lines.slice(0, 200)) {
    let m = info.comm === undefined ? CPU_PID_COMM.exec(l) : null;
    if (m) Object.assign(info, { cpu: Number(m[1]), pid: Number(m[2]), comm: m[3] });
    else if (info.cpu === undefined && (m = WARN_OLD.exec(l))) Object.assign(info, { cpu: Number(m[1]), pid: Number(m[2]) });
    else if (info.comm === undefined && (m = WARN_NEW.exec(l))) Object.assign(info, { cpu: Number(m[1]), comm: m[2], pid: Number(m[3]) });
    if (info.taint === undefined) {
      const t = TAINT.exec(l);
      if (t) info.taint = t[1]!.replace(/[ G]/g, '');
    }
    if (info.cpu !== undefined && info.comm !== undefined && info.taint !== undefined) break;
  }
  return info;
}
