// `triage` end to end: JSON shape, exit codes, stdin, bad input, a 100 MB streamed log, --vmlinux.
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../errors.js';
import { main } from '../main.js';
import { triage } from './triage.js';

const testdata = join(import.meta.dirname, '..', '..', 'detect', 'testdata');
const work = mkdtempSync(join(tmpdir(), 'huci-triage-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function run(file: string, opts: Record<string, unknown> = {}): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await triage(file, { ...opts, out: (s) => (out += s) });
  return { code, out };
}

describe('triage', () => {
  it('prints findings as JSON in log order and exits 1', async () => {
    const { code, out } = await run(join(testdata, 'two-findings-interleaved.console'), { json: true });
    expect(code).toBe(1);
    expect(JSON.parse(out)).toEqual({
      findings: [
        { title: 'WARNING in usb_serial_disconnect', kind: 'warning', corrupted: false, frame: 'usb_serial_disconnect', startLine: 7, endLine: 23 },
        { title: 'KASAN: slab-use-after-free Write in serial_write', kind: 'kasan', corrupted: false, frame: 'serial_write', startLine: 10, endLine: 29 },
      ],
    });
  });

  it('exits 0 with no findings', async () => {
    const { code, out } = await run(join(testdata, 'quiet-boot.console'), { json: true });
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({ findings: [] });
    expect((await run(join(testdata, 'quiet-boot.console'))).out).toMatch(/no kernel reports/);
  });

  it('reads stdin for "-"', async () => {
    const stdin = Readable.from([readFileSync(join(testdata, 'captured-kasan-6.12-lkdtm-hung-task.console'))]);
    const { code, out } = await run('-', { json: true, stdin });
    expect(code).toBe(1);
    expect(JSON.parse(out).findings[0].title).toBe('INFO: task hung in lkdtm_HUNG_TASK');
  });

  it('names a missing file in one line and exits 2', async () => {
    const missing = join(work, 'nope.log');
    await expect(triage(missing, {})).rejects.toThrow(ConfigError);
    await expect(triage(missing, {})).rejects.toThrow(`${missing}: no such file`);
    await expect(triage(work, {})).rejects.toThrow(/is a directory/);
    const err: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => (err.push(s), true)) as typeof process.stderr.write;
    try {
      expect(await main(['triage', missing])).toBe(2);
    } finally {
      process.stderr.write = write;
    }
    expect(err.join('')).toBe(`hotunplug-ci: ${missing}: no such file\n`);
  });

  it('streams a 100 MB log with bounded memory', async () => {
    const file = join(work, 'big.log');
    const report = readFileSync(join(testdata, 'kasan-misc-read.console'), 'utf8').split('\n\n').slice(1).join('\n\n');
    const noise = Array.from(
      { length: 1000 },
      (_, i) => `[ ${(100 + i / 1000).toFixed(6)}][  T77] gpio-sim gpio-sim.0: line ${i} value toggled, nothing to see here ok\n`,
    ).join('');
    const ws = createWriteStream(file);
    let bytes = 0;
    let reports = 0;
    while (bytes < 100 * 1024 * 1024) {
      const chunk = reports < 5 && bytes > reports * 20 * 1024 * 1024 ? (reports++, noise + report) : noise;
      if (!ws.write(chunk)) await new Promise<void>((r) => ws.once('drain', () => r()));
      bytes += chunk.length;
    }
    await new Promise<void>((r) => ws.end(() => r()));
    const before = process.memoryUsage().rss;
    let peak = before;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
    const t0 = Date.now();
    const { code, out } = await run(file, { json: true }).finally(() => clearInterval(timer));
    const seconds = (Date.now() - t0) / 1000;
    const findings = JSON.parse(out).findings;
    expect(code).toBe(1);
    expect(findings.map((f: { title: string }) => f.title)).toEqual(Array(5).fill('KASAN: slab-use-after-free Read in canary_read'));
    console.log(`triage 100 MB: ${seconds.toFixed(1)} s, peak RSS growth ${((peak - before) / 1e6).toFixed(0)} MB`);
    expect(peak - before).toBeLessThan(200 * 1024 * 1024);
  }, 180_000);
});

const hasGcc = (() => {
  try {
    execFileSync('gcc', ['--version'], { stdio: 'ignore' });
    execFileSync('addr2line', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!hasGcc)('triage --vmlinux', () => {
  it('resolves the culprit frame to file:line, inline frames included', async () => {
    const src = join(work, 'fake_driver.c');
    writeFileSync(
      src,
      [
        'static inline __attribute__((always_inline)) int canary_peek(volatile int *p) {',
        '  return *p + 1;', // line 2: the inlined load
        '}',
        '__attribute__((noinline)) int canary_read(volatile int *p) {',
        '  int v = canary_peek(p);',
        '  return v * 3;',
        '}',
        'int main(void) { int x = 1; return canary_read(&x); }',
        '',
      ].join('\n'),
    );
    const elf = join(work, 'vmlinux');
    execFileSync('gcc', ['-g', '-O1', '-o', elf, src]);
    // Find the offset of the load inside canary_read: the first address addr2line maps to line 2.
    const nm = execFileSync('nm', ['-S', elf], { encoding: 'utf8' });
    const [, addr, size] = /^([0-9a-f]+) ([0-9a-f]+) T canary_read$/m.exec(nm)!;
    const start = BigInt(`0x${addr}`);
    let off = -1n;
    for (let o = 0n; o < BigInt(`0x${size}`); o++) {
      const r = execFileSync('addr2line', ['-e', elf, `0x${(start + o).toString(16)}`], { encoding: 'utf8' });
      if (r.trim().endsWith('fake_driver.c:2')) {
        off = o;
        break;
      }
    }
    expect(off).toBeGreaterThanOrEqual(0n);
    const log = join(work, 'console.log');
    writeFileSync(
      log,
      [
        '[   10.000000] BUG: kernel NULL pointer dereference, address: 0000000000000000',
        '[   10.000001] Oops: Oops: 0000 [#1] PREEMPT SMP NOPTI',
        `[   10.000002] RIP: 0010:canary_read+0x${off.toString(16)}/0x${size!.replace(/^0+/, '')}`,
        '[   10.000003] Call Trace:',
        '[   10.000004]  <TASK>',
        '[   10.000005]  main+0x10/0x20',
        '[   10.000006]  </TASK>',
        '',
      ].join('\n'),
    );
    const cache = join(work, 'cache');
    const oldCache = process.env.XDG_CACHE_HOME;
    process.env.XDG_CACHE_HOME = cache;
    const { code, out } = await run(log, { json: true, vmlinux: elf }).finally(() => {
      if (oldCache === undefined) delete process.env.XDG_CACHE_HOME;
      else process.env.XDG_CACHE_HOME = oldCache;
    });
    expect(readdirSync(join(cache, 'hotunplug-ci', 'symbols'))).toHaveLength(1);
    expect(code).toBe(1);
    const [f] = JSON.parse(out).findings;
    expect(f.title).toBe('BUG: unable to handle kernel NULL pointer dereference in canary_read');
    expect(f.location).toMatch(/fake_driver\.c:2 < .*fake_driver\.c:5$/);
    const text = await run(log, { vmlinux: elf });
    expect(text.out).toMatch(/canary_read\+0x[0-9a-f]+\/0x[0-9a-f]+ .*fake_driver\.c:2 \[inline canary_peek\]/);
    await expect(triage(log, { vmlinux: join(work, 'missing-vmlinux') })).rejects.toThrow(/missing-vmlinux: no such file/);
  });
});
