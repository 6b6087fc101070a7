// The format table is data: check its invariants rather than trusting each row by eye.
import { describe, expect, it } from 'vitest';
import { CRASH_KINDS } from './finding.js';
import { OOPSES, REPORT_START_IGNORES } from './formats.js';
import { matchOops } from './stream.js';

describe('format table', () => {
  it('keeps crash kinds a sorted, duplicate-free closed list', () => {
    expect([...CRASH_KINDS]).toEqual([...new Set(CRASH_KINDS)].sort());
  });

  it.each(OOPSES.map((o) => [o.header, o] as const))('row %s has formats and kinds from the list', (_, row) => {
    expect(row.formats.length).toBeGreaterThan(0);
    expect(CRASH_KINDS).toContain(row.kind);
    for (const f of row.formats) {
      if (f.kind) expect(CRASH_KINDS).toContain(f.kind);
      expect(f.fmt).not.toBe('');
    }
  });

  it.each([
    ['[  1.0] BUG: KASAN: slab-use-after-free in foo+0x1/0x2', 'BUG:'],
    ['[  1.0][ T1] WARNING: CPU: 0 PID: 1 at a/b.c:1 foo+0x1/0x2', 'WARNING:'],
    ['WARNING: a/b.c:1 at foo+0x1/0x2, CPU#0: sh/1', 'WARNING:'],
    ['[  1.0] ODEBUG: BUG: something', null],
    ['[  1.0] WARNING: Unprivileged eBPF is enabled with eIBRS on, data leaks possible via Spectre v2 BHB attacks!', null],
    ['[  1.0] WARNING: Unprivileged eBPF is enabled', 'WARNING:'],
    ['[  1.0] usb 5-1: WARNING: ath10k USB support is incomplete', 'WARNING:'],
    ['traps: sh[1] general protection fault ip:1 sp:2 error:0 in libc.so.6[7f0000+1000]', null],
    ["xfs: Unknown parameter '  Booting the kernel.  '", null],
    ['[  1.0] Booting the kernel.', 'Booting the kernel.'],
    ['[  1.0] Kernel panic - not syncing: Fatal exception', 'Kernel panic'],
  ])('header line %j → %s', (line, header) => {
    expect(matchOops(line)?.header ?? null).toBe(header);
  });

  it('lets panics and arm "Internal error" lines continue an open report', () => {
    expect(REPORT_START_IGNORES.some((r) => r.test('Kernel panic - not syncing: panic_on_warn set'))).toBe(true);
    expect(REPORT_START_IGNORES.some((r) => r.test('Internal error: Oops: 96000004 [#1] SMP'))).toBe(true);
  });
});
