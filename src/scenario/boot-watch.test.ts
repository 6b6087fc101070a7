// The boot watch on consoles captured from real guests (testdata/boot: debian-6.12 booting to
// `huci: ready`, and the same kernel with rdinit=/bin/false panicking) and the canary's KASAN report
// spliced into a boot.
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BootError, InfraError } from '../errors.js';
import { watchBoot, type WatchedConsole } from './boot-watch.js';

const data = (f: string): string[] =>
  readFileSync(new URL(`testdata/${f}`, import.meta.url), 'utf8')
    .replace(/\n$/, '')
    .split('\n');
const READY = data('boot/debian-6.12-ready.console');
const PANIC = data('boot/debian-6.12-rdinit-false.console');
const KASAN = data('kasan-canary-read.log');
// the KASAN report lands in the middle of a boot that goes on afterwards
const KASAN_BOOT = [...READY.slice(0, 200), ...KASAN, ...READY.slice(200)];

class FakeConsole extends EventEmitter implements WatchedConsole {
  lines: Array<{ text: string; hostMs: number; lineNo: number }> = [];
  retained() {
    return this.lines;
  }
  tail(n: number): string[] {
    return this.lines.slice(-n).map((l) => l.text);
  }
  print(texts: readonly string[], hostMs = Date.now()): void {
    for (const text of texts) {
      const l = { text, hostMs, lineNo: this.lines.length + 1 };
      this.lines.push(l);
      this.emit('line', l);
    }
  }
}

type Exit = { code: number | null; signal: string | null };
function deferred(): { promise: Promise<Exit>; resolve: (e: Exit) => void } {
  let resolve!: (e: Exit) => void;
  return { promise: new Promise<Exit>((r) => (resolve = r)), resolve };
}
const settled = async <T>(p: Promise<T>): Promise<T | 'pending'> => Promise.race([p, new Promise<'pending'>((r) => setImmediate(() => r('pending')))]);

afterEach(() => void vi.useRealTimers());

describe('watchBoot', () => {
  it.each([
    { name: 'a boot to ready: nothing', lines: READY, exit: null, want: null },
    {
      name: 'rdinit=/bin/false, QEMU exits 0 (panic=-1, -no-reboot)',
      lines: PANIC,
      exit: { code: 0, signal: null },
      want: { kind: 'crash', title: 'kernel panic: Attempted to kill init!' },
    },
    {
      name: 'KASAN report while booting: failed at its closing ruler',
      lines: KASAN_BOOT,
      exit: null,
      want: { kind: 'crash', title: 'KASAN: slab-use-after-free Read in canary_read' },
    },
    {
      name: 'a guest that reboots without a report',
      lines: READY,
      exit: { code: 0, signal: null },
      want: { kind: 'exited', title: 'guest went away while booting (reboot or power-off)' },
    },
  ])('$name', async ({ lines, exit, want }) => {
    const con = new FakeConsole();
    const exited = deferred();
    const watch = watchBoot(con, exited.promise);
    con.print(lines);
    if (exit) exited.resolve(exit);
    const got = await settled(watch.failed);
    if (!want) {
      expect(got).toBe('pending');
      expect(watch.stop()).toBeNull();
      return;
    }
    expect(got).toBeInstanceOf(BootError);
    const e = got as BootError;
    expect({ kind: e.kind, title: e.title }).toEqual(want);
    expect(e.consoleTail.length).toBeGreaterThan(0);
    if (want.kind === 'crash') {
      expect(e.findings[0]!.title).toBe(want.title);
      expect(e.reportHostMs).not.toBeNull();
    }
  });

  it('a panic that never ends QEMU fails the boot after the settle time, not a boot bound', async () => {
    vi.useFakeTimers({ now: 1_000_000, toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const con = new FakeConsole();
    const watch = watchBoot(con, deferred().promise, { settleMs: 3000 });
    con.print(PANIC, Date.now());
    expect(await settled(watch.failed)).toBe('pending');
    await vi.advanceTimersByTimeAsync(4000);
    const e = (await settled(watch.failed)) as BootError;
    expect(e.title).toBe('kernel panic: Attempted to kill init!');
    expect(Date.now() - e.reportHostMs!).toBeLessThanOrEqual(4000);
  });

  it('reads the lines printed before it started', async () => {
    const con = new FakeConsole();
    con.print(KASAN_BOOT);
    const watch = watchBoot(con, deferred().promise);
    expect(((await settled(watch.failed)) as BootError).kind).toBe('crash');
  });

  it('QEMU killed or failing is the machinery: an InfraError', async () => {
    for (const exit of [
      { code: null, signal: 'SIGKILL' },
      { code: 1, signal: null },
    ]) {
      const con = new FakeConsole();
      const exited = deferred();
      const watch = watchBoot(con, exited.promise);
      con.print(READY.slice(0, 50));
      exited.resolve(exit);
      const e = await watch.failed;
      expect(e).toBeInstanceOf(InfraError);
      expect(e).not.toBeInstanceOf(BootError);
    }
  });

  it('stop() with a report still open: that report fails the boot; after stop() nothing resolves', async () => {
    const con = new FakeConsole();
    const exited = deferred();
    const watch = watchBoot(con, exited.promise);
    con.print([...READY.slice(0, 100), ...KASAN.slice(0, 12)]);
    const late = watch.stop();
    expect(late?.title).toMatch(/^KASAN: slab-use-after-free/);
    con.print(KASAN.slice(12));
    exited.resolve({ code: 0, signal: null });
    expect(await settled(watch.failed)).toBe('pending');
  });
});
