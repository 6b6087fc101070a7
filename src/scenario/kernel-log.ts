// The kernel log of one case, from two sources: the serial console (live, but may drop or garble
// lines) and `dmesg` over SSH (complete while the guest answers). Merged in printk-timestamp order
// without counting a line twice: a line's identity is its printk timestamp + text.

const PRINTK = /^(?:<\d+>)?\[\s*(\d+\.\d+)\]\s?(.*)$/;

export interface KernelLine {
  /** printk timestamp in seconds; null for lines without one (userspace on the console, garbage) */
  ts: number | null;
  /** the line as it should appear in the merged log (level prefix and CR stripped) */
  text: string;
  /** identity for de-duplication; null when the line has no timestamp */
  key: string | null;
}

export function parseKernelLine(raw: string): KernelLine {
  const line = raw
    .replace(/\r/g, '')
    .replace(/\s+$/, '')
    .replace(/^<\d+>(?=\[)/, '');
  const m = PRINTK.exec(line);
  if (!m) return { ts: null, text: line, key: null };
  return { ts: Number(m[1]), text: line, key: `${m[1]}|${m[2]!.trim()}` };
}

/**
 * Console lines in their own order, with dmesg lines the console lacks slotted in by timestamp.
 * A dmesg line is dropped when the console (or dmesg itself) already had the same timestamp+text.
 */
export function mergeKernelLog(consoleLines: readonly string[], dmesgLines: readonly string[]): string[] {
  const con = consoleLines.map(parseKernelLine);
  const seen = new Set<string>();
  for (const l of con) if (l.key) seen.add(l.key);
  const missing: KernelLine[] = [];
  for (const raw of dmesgLines) {
    const l = parseKernelLine(raw);
    if (l.key === null || seen.has(l.key)) continue;
    seen.add(l.key);
    missing.push(l);
  }
  missing.sort((a, b) => a.ts! - b.ts!);
  const out: string[] = [];
  let j = 0;
  for (const l of con) {
    if (l.ts !== null) while (j < missing.length && missing[j]!.ts! < l.ts) out.push(missing[j++]!.text);
    out.push(l.text);
  }
  while (j < missing.length) out.push(missing[j++]!.text);
  return out;
}

/** The lines after the last line containing `begin` (inclusive) and before `end` (exclusive, if present). */
export function sliceBetween(lines: readonly string[], begin: string, end: string | null): string[] | null {
  let from = -1;
  for (let i = lines.length - 1; i >= 0; i--)
    if (lines[i]!.includes(begin)) {
      from = i;
      break;
    }
  if (from < 0) return null;
  let to = lines.length;
  if (end !== null)
    for (let i = from + 1; i < lines.length; i++)
      if (lines[i]!.includes(end)) {
        to = i + 1;
        break;
      }
  return lines.slice(from, to);
}
