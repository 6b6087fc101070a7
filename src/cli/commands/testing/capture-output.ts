// For command tests: what a command printed on stdout/stderr (process writes are replaced per test).
import { afterEach, beforeEach, vi } from 'vitest';

export function captureOutput(): { out: string; err: string } {
  const captured = { out: '', err: '' };
  beforeEach(() => {
    captured.out = '';
    captured.err = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((captured.out += String(s)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((captured.err += String(s)), true));
  });
  afterEach(() => vi.restoreAllMocks());
  return captured;
}
