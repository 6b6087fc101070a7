import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { progressReporter } from './progress.js';

afterEach(() => void vi.useRealTimers());

function capture(): { stream: NodeJS.WriteStream; lines: () => string[] } {
  const s = new PassThrough();
  let text = '';
  s.on('data', (d) => (text += d));
  return { stream: s as unknown as NodeJS.WriteStream, lines: () => text.split('\n').filter(Boolean) };
}

describe('progressReporter without a TTY', () => {
  it('repeats a quiet step every heartbeat with how long it has run, and stops at done', async () => {
    vi.useFakeTimers({ now: 0 });
    const c = capture();
    const p = progressReporter(c.stream, { heartbeatMs: 30_000 });
    p.update('kernel: source — linux-source-6.12, 0m00s');
    await vi.advanceTimersByTimeAsync(20_000);
    p.update('kernel: configure, 0m20s');
    await vi.advanceTimersByTimeAsync(95_000);
    p.done('built');
    await vi.advanceTimersByTimeAsync(120_000);
    expect(c.lines()).toEqual([
      '[   0.0 s] kernel: source — linux-source-6.12, 0m00s',
      '[  20.0 s] kernel: configure, 0m20s',
      '[  50.0 s] kernel: configure, 0m20s (still at it, 30 s)',
      '[  80.0 s] kernel: configure, 0m20s (still at it, 60 s)',
      '[ 110.0 s] kernel: configure, 0m20s (still at it, 90 s)',
      '[ 115.0 s] built',
    ]);
  });

  it('a busy log gets no heartbeat lines', async () => {
    vi.useFakeTimers({ now: 0 });
    const c = capture();
    const p = progressReporter(c.stream, { heartbeatMs: 30_000 });
    for (let i = 0; i < 10; i++) {
      p.update(`[${i}/10] case`);
      await vi.advanceTimersByTimeAsync(15_000);
    }
    p.done('done');
    expect(c.lines().filter((l) => l.includes('still at it'))).toEqual([]);
    expect(c.lines()).toHaveLength(11);
  });
});
