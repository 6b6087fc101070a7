// Kernel console crash detection: pure functions over text, no processes, no VM.
import type { Finding } from './finding.js';
import { StreamDetector } from './stream.js';

export { FindingSchema, type Finding } from './finding.js';
export { StreamDetector } from './stream.js';
export { LineSplitter } from './lines.js';

/** All reports in a whole log, in log order. Same engine as the live console, with no clock. */
export function detect(log: string): Finding[] {
  const d = new StreamDetector({ settleMs: Number.POSITIVE_INFINITY });
  const out: Finding[] = [];
  let pos = 0;
  while (pos <= log.length) {
    let nl = log.indexOf('\n', pos);
    if (nl === -1) nl = log.length;
    if (nl === log.length && pos === nl && pos > 0) break; // trailing newline: no empty last line
    out.push(...d.push(log.slice(pos, nl), 0));
    pos = nl + 1;
  }
  out.push(...d.flush());
  return out.sort((a, b) => a.startLine - b.startLine);
}
