// The live-console side of the engine: completion by end marker, by settle timeout, by the next
// report; bounded memory on a printk flood; hostile input (garbage, binary, CRLF, no timestamps).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { detect, LineSplitter, StreamDetector, type Finding } from './index.js';

const golden = (name: string): string => {
  const t = readFileSync(join(import.meta.dirname, 'testdata', name), 'utf8');
  return t.slice(t.indexOf('\n\n') + 2);
};

const lockdep = golden('lockdep-circular.console').split('\n');
const kasan = golden('kasan-misc-read.console').split('\n');

describe('StreamDetector', () => {
  it('emits a report at its end marker, not before', () => {
    const d = new StreamDetector({ settleMs: 5000 });
    const end = kasan.findIndex((l, i) => i > 3 && /={20,}/.test(l));
    for (let i = 0; i < end; i++) expect(d.push(kasan[i]!, 1000 + i)).toEqual([]);
    const done = d.push(kasan[end]!, 2000);
    expect(done.map((f) => f.title)).toEqual(['KASAN: slab-use-after-free Read in canary_read']);
    expect(done[0]!.endLine).toBe(end + 1);
    expect(d.flush()).toEqual([]);
  });

  it('emits a report without end marker once the console settles', () => {
    const d = new StreamDetector({ settleMs: 3000 });
    let t = 10_000;
    for (const l of lockdep) expect(d.push(l, (t += 5))).toEqual([]);
    expect(d.tick(t + 2990)).toEqual([]); // the last report line came at t - 5
    const done = d.tick(t + 3000);
    expect(done.map((f) => f.title)).toEqual(['possible deadlock in gpio_chrdev_release']);
    expect(d.tick(t + 10_000)).toEqual([]);
  });

  it("a new report in the same task context starts its own finding, and the open one reads on through it (syzkaller's rule)", () => {
    const d = new StreamDetector();
    const out: Finding[] = [];
    for (const l of lockdep) out.push(...d.push(l, 0));
    expect(out).toEqual([]);
    out.push(...d.push('[  302.000001][  T245] BUG: scheduling while atomic: huci-agent/245/0x00000002', 0));
    expect(out).toEqual([]);
    const done = d.flush();
    expect(done.map((f) => f.kind)).toEqual(['lockdep', 'sleep-in-atomic']);
    expect(done[0]!.title).toBe('possible deadlock in gpio_chrdev_release');
    expect(done[0]!.report).toContain('BUG: scheduling while atomic');
  });

  it('on a console without caller ids a new report ends the open one at once', () => {
    const d = new StreamDetector();
    const strip = (l: string) => l.replace(/^(\[ *[0-9.]+\])\[ *[CT][0-9]+\]/, '$1');
    const out: Finding[] = [];
    for (const l of lockdep) out.push(...d.push(strip(l), 0));
    out.push(...d.push('[  302.000001] BUG: scheduling while atomic: huci-agent/245/0x00000002', 0));
    expect(out.map((f) => f.title)).toEqual(['possible deadlock in gpio_chrdev_release']);
    expect(d.flush().map((f) => f.kind)).toEqual(['sleep-in-atomic']);
  });

  it('matches detect() on a whole log', () => {
    const log = [golden('gpio-warning.console'), golden('captured-kasan-6.12-lkdtm-hung-task.console'), golden('kasan-misc-read.console')].join('\n');
    const d = new StreamDetector({ settleMs: 1e9 });
    const streamed: Finding[] = [];
    for (const l of log.split('\n')) streamed.push(...d.push(l, 0));
    streamed.push(...d.flush());
    streamed.sort((a, b) => a.startLine - b.startLine);
    expect(streamed).toEqual(detect(log));
    expect(streamed.map((f) => f.kind)).toEqual(['warning', 'hung-task', 'kasan']);
  });

  it('accepts a chunk of several lines as several lines', () => {
    const d = new StreamDetector();
    const out = d.push(kasan.join('\n'), 0);
    expect(out.map((f) => [f.title, f.startLine])).toEqual([['KASAN: slab-use-after-free Read in canary_read', 3]]);
  });

  it('stays bounded on a printk flood inside an open report', () => {
    const d = new StreamDetector({ maxBufferedLines: 500 });
    const out: Finding[] = [];
    out.push(...d.push('[    1.000000] WARNING: CPU: 0 PID: 1 at drivers/gpio/gpiolib.c:1 gpiod_request+0x1/0x2', 0));
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 300_000; i++) out.push(...d.push(`[    1.${String(i).padStart(6, '0')}] flood ${'x'.repeat(100)} ${i}`, 0));
    out.push(...d.flush());
    expect(out).toHaveLength(1);
    expect(out[0]!.report.split('\n').length).toBeLessThanOrEqual(500 + 5);
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * 1024 * 1024);
  });
});

describe('hostile input', () => {
  it('garbage and binary bytes produce no findings and no exceptions', () => {
    let seed = 42;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const bytes = Buffer.alloc(2_000_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rnd() * 256);
    expect(detect(bytes.toString('latin1'))).toEqual([]);
    expect(detect(bytes.toString('utf8'))).toEqual([]);
    expect(detect('\0\0\0BUG\0WARNING\u0000:\n\n\n')).toEqual([]);
    expect(detect('')).toEqual([]);
  });

  it('a report in the middle of binary junk is still found', () => {
    const junk = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) % 256))
      .toString('latin1')
      .replace(/[BWIK]/g, '.');
    const titles = detect(`${junk}\n${golden('null-deref.console')}\n${junk}`).map((f) => f.title);
    expect(titles).toEqual(['BUG: unable to handle kernel NULL pointer dereference in i2c_smbus_xfer']);
  });

  it('CRLF line endings give the same findings', () => {
    const log = golden('gpio-warning.console');
    const crlf = detect(log.replace(/\n/g, '\r\n'));
    const lf = detect(log);
    expect(crlf.map((f) => [f.title, f.startLine, f.endLine])).toEqual(lf.map((f) => [f.title, f.startLine, f.endLine]));
    expect(crlf[0]!.report).not.toContain('\r');
  });

  it('logs without timestamps and with [T]/[C] callers give the same titles', () => {
    const log = golden('kasan-misc-read.console');
    const bare = log.replace(/^\[[ 0-9.]+\]\[ *T\d+\] /gm, '');
    const plain = log.replace(/^(\[[ 0-9.]+\])\[ *T\d+\] /gm, '$1 ');
    const want = detect(log).map((f) => f.title);
    expect(detect(bare).map((f) => f.title)).toEqual(want);
    expect(detect(plain).map((f) => f.title)).toEqual(want);
  });

  it('caps titles at 120 characters and normalises numbers and addresses', () => {
    const long = `[    1.000000] Kernel panic - not syncing: ${'very long reason 12345 at 0xffffffff81234567 '.repeat(10)}`;
    const [f] = detect(long);
    expect(f!.title.length).toBeLessThanOrEqual(120);
    expect(f!.title).toMatch(/^kernel panic: very long reason NUM at ADDR/);
  });

  it('splits lines with bounded memory when a line never ends', () => {
    const s = new LineSplitter(1000);
    expect(s.push('x'.repeat(5000))).toEqual([]);
    expect(s.push('y'.repeat(5000))).toEqual([]);
    const [line] = s.push('\nnext');
    expect(line).toHaveLength(1000);
    expect(s.end()).toEqual(['next']);
  });
});
