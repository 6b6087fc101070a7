// Orders for sorting what reports and runs list. By code point, not localeCompare: that follows the
// host's locale (two machines could order one report two ways), and its first call in a process
// loads ICU's collation data (~14 ms of a run's start-up).

/** a before b by code point */
export function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const CHUNK = /\d+|\D+/g;

/** vm-2 before vm-10: runs of digits compare as numbers, the rest by code point */
export function byNumberInText(a: string, b: string): number {
  const x = a.match(CHUNK) ?? [];
  const y = b.match(CHUNK) ?? [];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const p = x[i]!;
    const q = y[i]!;
    if (p === q) continue;
    if (isDigit(p) && isDigit(q)) {
      // as numbers of any length: fewer significant digits is smaller, else digit by digit
      const m = p.replace(/^0+(?=\d)/, '');
      const n = q.replace(/^0+(?=\d)/, '');
      if (m.length !== n.length) return m.length - n.length;
      if (m !== n) return byText(m, n);
      // 007 and 7: the same number; the shorter text first, as a tie-break
      return p.length - q.length;
    }
    return byText(p, q);
  }
  return x.length - y.length;
}

const isDigit = (s: string): boolean => s.charCodeAt(0) >= 48 && s.charCodeAt(0) <= 57;
