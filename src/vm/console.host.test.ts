import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InfraError, TimeoutError } from '../errors.js';
import { ConsoleCapture, FLUSH_MS, FOLLOW_MS, IDLE_CHECK_MS, IDLE_CHECK_PROVEN_MS, readConsoleLines, type ConsoleLine } from './console.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'huci-console-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function capture(opts: { tailLines?: number } = {}): { c: ConsoleCapture; clock: { t: number } } {
  const clock = { t: 1000 };
  const c = new ConsoleCapture(path.join(dir, 'console.log'), { linesFile: path.join(dir, 'console.jsonl'), now: () => clock.t, ...opts });
  return { c, clock };
}

describe('ConsoleCapture', () => {
  const cases: { name: string; chunks: (string | Buffer)[]; lines: string[] }[] = [
    { name: 'plain lines', chunks: ['a\nb\n'], lines: ['a', 'b'] },
    { name: 'CRLF and stray CR stripped', chunks: ['a\r\nb\r\r\n', 'c\rd\n'], lines: ['a', 'b', 'cd'] },
    { name: 'line split across chunks', chunks: ['[    1.0] Kernel pa', 'nic - not syncing\n'], lines: ['[    1.0] Kernel panic - not syncing'] },
    { name: 'unterminated last line kept at end', chunks: ['x\n', 'end Kernel panic ]---'], lines: ['x', 'end Kernel panic ]---'] },
    { name: 'UTF-8 split mid-character', chunks: [Buffer.from([0x61, 0xe2, 0x94]), Buffer.from([0x80, 0x0a])], lines: ['a─'] },
    { name: 'empty lines count', chunks: ['\n\nx\n'], lines: ['', '', 'x'] },
  ];
  for (const tc of cases) {
    it(tc.name, async () => {
      const { c } = capture();
      const seen: ConsoleLine[] = [];
      c.on('line', (l: ConsoleLine) => seen.push(l));
      const raw = Buffer.concat(tc.chunks.map((x) => (typeof x === 'string' ? Buffer.from(x) : x)));
      for (const ch of tc.chunks) c.push(typeof ch === 'string' ? Buffer.from(ch) : ch);
      c.end();
      await c.closed;
      expect(seen.map((l) => l.text)).toEqual(tc.lines);
      expect(seen.map((l) => l.lineNo)).toEqual(tc.lines.map((_, i) => i + 1));
      expect(c.lineCount).toBe(tc.lines.length);
      // the raw file is byte-exact, CRs and all
      expect(fs.readFileSync(c.file).equals(raw)).toBe(true);
      expect((await readConsoleLines(path.join(dir, 'console.jsonl'))).map((l) => l.text)).toEqual(tc.lines);
    });
  }

  it('stamps each line with the host time its last byte arrived', async () => {
    const { c, clock } = capture();
    c.push(Buffer.from('one\ntw'));
    clock.t = 2000;
    c.push(Buffer.from('o\n'));
    c.end();
    await c.closed;
    expect(c.retained().map((l) => [l.text, l.hostMs])).toEqual([
      ['one', 1000],
      ['two', 2000],
    ]);
  });

  it('batches file writes: many chunks become one write, on disk within FLUSH_MS while the source is open', async () => {
    const { c } = capture();
    let writes = 0;
    const stream = (c as unknown as { raw: fs.WriteStream }).raw;
    const write = stream.write.bind(stream);
    stream.write = ((chunk: Buffer) => (writes++, write(chunk))) as typeof stream.write;
    for (let i = 0; i < 500; i++) c.push(Buffer.from(`line ${i}\n`));
    expect(writes).toBe(0);
    await new Promise((r) => setTimeout(r, FLUSH_MS + 100));
    expect(writes).toBe(1);
    expect(fs.readFileSync(c.file, 'utf8').split('\n').length).toBe(501);
    expect((await readConsoleLines(path.join(dir, 'console.jsonl'))).length).toBe(500);
    c.end();
    await c.closed;
  });

  it('writes at once when a flood fills the buffer', () => {
    const { c } = capture();
    let writes = 0;
    const stream = (c as unknown as { raw: fs.WriteStream }).raw;
    const write = stream.write.bind(stream);
    stream.write = ((chunk: Buffer) => (writes++, write(chunk))) as typeof stream.write;
    const line = Buffer.from(`${'x'.repeat(1023)}\n`);
    for (let i = 0; i < 1024; i++) c.push(line);
    expect(writes).toBeGreaterThanOrEqual(2);
    c.end();
  });

  it('follows a file another process appends to, and reads the rest (a partial last line too) at end()', async () => {
    const file = path.join(dir, 'qemu-console.log');
    fs.writeFileSync(file, '');
    const c = new ConsoleCapture(file, { linesFile: path.join(dir, 'console.jsonl'), writeRaw: false }).follow();
    const seen: string[] = [];
    c.on('line', (l: ConsoleLine) => seen.push(l.text));
    fs.appendFileSync(file, '[    0.1] Linux version 6.12\r\n[    0.2] half');
    await new Promise((r) => setTimeout(r, FOLLOW_MS * 4));
    expect(seen).toEqual(['[    0.1] Linux version 6.12']);
    // more than one read buffer at once, then the end of a panic without a newline
    const many = Array.from({ length: 5000 }, (_, i) => `line ${i} ${'x'.repeat(20)}`).join('\n');
    fs.appendFileSync(file, ` line\n${many}\nKernel panic - not syncing ]---`);
    c.end();
    await c.closed;
    expect(seen.length).toBe(1 + 1 + 5000 + 1);
    expect(seen[1]).toBe('[    0.2] half line');
    expect(seen.at(-1)).toBe('Kernel panic - not syncing ]---');
    // the followed file is not rewritten by the capture
    expect(fs.readFileSync(file, 'utf8').startsWith('[    0.1] Linux version 6.12\r\n')).toBe(true);
    expect(c.byteCount).toBe(fs.statSync(file).size);
    expect((await readConsoleLines(path.join(dir, 'console.jsonl'))).length).toBe(seen.length);
  });

  /** A capture following a file that QEMU wrote 'boot\n' to, once it has gone idle. */
  const followedIdle = async () => {
    const file = path.join(dir, 'qemu-console.log');
    fs.writeFileSync(file, 'boot\n');
    const c = new ConsoleCapture(file, { linesFile: path.join(dir, 'console.jsonl'), writeRaw: false }).follow();
    const seen: ConsoleLine[] = [];
    c.on('line', (l: ConsoleLine) => seen.push(l));
    await new Promise((r) => setTimeout(r, FOLLOW_MS * 4));
    return { file, c, seen };
  };

  it('does not read an idle followed file again until it changes, then sees the write at once', async () => {
    const { file, c, seen } = await followedIdle();
    expect(seen.map((l) => l.text)).toEqual(['boot']);
    // idle: what was read is in console.jsonl already, and nothing polls the file
    expect((await readConsoleLines(path.join(dir, 'console.jsonl'))).map((l) => l.text)).toEqual(['boot']);
    const reads = vi.spyOn(fs, 'readSync');
    await new Promise((r) => setTimeout(r, FOLLOW_MS * 12));
    expect(reads).not.toHaveBeenCalled();
    reads.mockRestore();
    // the change itself wakes the capture (no poll is left that could have found it)
    fs.appendFileSync(file, 'later\n');
    for (let i = 0; i < 200 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(seen.map((l) => l.text)).toEqual(['boot', 'later']);
    c.end();
    await c.closed;
  });

  it('reads a short burst that ends at a line end when its change is seen, and reads no more after it', async () => {
    const { file, c, seen } = await followedIdle();
    const reads = vi.spyOn(fs, 'readSync');
    fs.appendFileSync(file, 'huci: end x\n');
    for (let i = 0; i < 200 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    expect(seen.map((l) => l.text)).toEqual(['boot', 'huci: end x']);
    await new Promise((r) => setTimeout(r, FOLLOW_MS * 4));
    // the read that found the line, and none after it (the old way: a follow read FOLLOW_MS later)
    expect(reads).toHaveBeenCalledTimes(1);
    reads.mockRestore();
    expect((await readConsoleLines(path.join(dir, 'console.jsonl'))).map((l) => l.text)).toEqual(['boot', 'huci: end x']);
    // a line that comes in pieces is still read whole
    fs.appendFileSync(file, 'half');
    await new Promise((r) => setTimeout(r, 5));
    fs.appendFileSync(file, ' and the rest\n');
    for (let i = 0; i < 200 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 5));
    expect(seen.map((l) => l.text)).toEqual(['boot', 'huci: end x', 'half and the rest']);
    c.end();
    await c.closed;
  });

  it('once a watch fired, an idle file is not looked at every IDLE_CHECK_MS (wake-ups are dear)', async () => {
    const file = path.join(dir, 'qemu-console.log');
    fs.writeFileSync(file, 'boot\n');
    const c = new ConsoleCapture(file, { linesFile: null, writeRaw: false }).follow();
    const seen: string[] = [];
    c.on('line', (l: ConsoleLine) => seen.push(l.text));
    await new Promise((r) => setTimeout(r, FOLLOW_MS * 4));
    fs.appendFileSync(file, 'later\n');
    for (let i = 0; i < 200 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, FOLLOW_MS * 4));
    const reads = vi.spyOn(fs, 'readSync');
    await new Promise((r) => setTimeout(r, IDLE_CHECK_MS * 1.5));
    expect(reads).not.toHaveBeenCalled();
    reads.mockRestore();
    expect(IDLE_CHECK_PROVEN_MS).toBeGreaterThan(IDLE_CHECK_MS * 1.5);
    c.end();
    await c.closed;
  });

  it('an idle watch that never fires (no inotify events) delays a write by at most IDLE_CHECK_MS', async () => {
    const file = path.join(dir, 'qemu-console.log');
    fs.writeFileSync(file, 'boot\n');
    const deaf = vi.spyOn(fs, 'watch').mockImplementation(() => Object.assign(new EventEmitter(), { close: () => undefined }) as unknown as fs.FSWatcher);
    const c = new ConsoleCapture(file, { linesFile: null, writeRaw: false }).follow();
    const seen: string[] = [];
    c.on('line', (l: ConsoleLine) => seen.push(l.text));
    await new Promise((r) => setTimeout(r, FOLLOW_MS * 4));
    expect(deaf).toHaveBeenCalled();
    fs.appendFileSync(file, 'later\n');
    const t0 = Date.now();
    while (seen.length < 2 && Date.now() - t0 < IDLE_CHECK_MS * 3) await new Promise((r) => setTimeout(r, 20));
    expect(seen).toEqual(['boot', 'later']);
    expect(Date.now() - t0).toBeLessThan(IDLE_CHECK_MS * 2);
    deaf.mockRestore();
    c.end();
    await c.closed;
  });

  it('keeps a bounded tail', () => {
    const { c } = capture({ tailLines: 3 });
    for (let i = 1; i <= 10; i++) c.push(Buffer.from(`l${i}\n`));
    expect(c.tail(2)).toEqual(['l9', 'l10']);
    expect(c.tail(100)).toEqual(['l8', 'l9', 'l10']);
    expect(c.tail(0)).toEqual([]);
    expect(c.lineCount).toBe(10);
    c.end();
  });

  it('lines() streams from subscription on and ends with the source', async () => {
    const { c } = capture();
    const src = new PassThrough();
    c.attach(src);
    src.write('before\n');
    await new Promise((r) => setImmediate(r));
    const got: string[] = [];
    const done = (async () => {
      for await (const l of c.lines()) got.push(l.text);
    })();
    src.write('after1\nafter2\n');
    src.end('last');
    await done;
    // the capture's files are written and closed before the directory goes (afterEach)
    await c.closed;
    expect(got).toEqual(['after1', 'after2', 'last']);
  });

  it('waitForLine finds an earlier line, a later line, and fails on end/timeout with the tail', async () => {
    const { c } = capture();
    c.push(Buffer.from('[ 0.1] Linux version 6.12\n'));
    expect((await c.waitForLine(/Linux version/, { timeoutMs: 10 })).lineNo).toBe(1);
    const later = c.waitForLine(/ready/, { timeoutMs: 1000 });
    c.push(Buffer.from('huci: ready\n'));
    expect((await later).text).toBe('huci: ready');
    // fromLine skips what was already seen
    const t = c.waitForLine(/Linux version/, { timeoutMs: 30, fromLine: 2 });
    await expect(t).rejects.toBeInstanceOf(TimeoutError);
    await t.catch((e: TimeoutError) => expect(e.transcript).toContain('huci: ready'));
    const ended = c.waitForLine(/never/, { timeoutMs: 1000 });
    c.end();
    await expect(ended).rejects.toBeInstanceOf(InfraError);
    await expect(c.waitForLine(/never/, { timeoutMs: 1000 })).rejects.toThrow(/console ended/);
    await c.closed;
  });
});

describe('ConsoleCapture under a flood', () => {
  it('takes 100k lines in big chunks quickly and keeps counts and tail right', async () => {
    const { c } = capture({ tailLines: 1000 });
    const t0 = Date.now();
    for (let chunk = 0; chunk < 100; chunk++) {
      let s = '';
      for (let i = 0; i < 1000; i++) s += `[ ${chunk}.${i}] BUG: KASAN: slab-use-after-free in foo+0x1/0x2\r\n`;
      c.push(Buffer.from(s));
    }
    c.end();
    await c.closed;
    expect(c.lineCount).toBe(100_000);
    expect(c.tail(2)).toEqual(['[ 99.998] BUG: KASAN: slab-use-after-free in foo+0x1/0x2', '[ 99.999] BUG: KASAN: slab-use-after-free in foo+0x1/0x2']);
    expect(c.retained()).toHaveLength(1000);
    expect(c.retained()[0]!.lineNo).toBe(99_001);
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});
