// Resolves "func+0x1a/0x40" frames of a report to file:line (inline chains too) with binutils.
// Not part of the pure detector: it runs nm once per vmlinux and addr2line once per batch of PCs,
// and caches both (a vmlinux is identified by path, size and mtime).
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadExeca } from '../util/execa.js';
import { ConfigError, MissingDependencyError } from '../errors.js';
import { cacheRoot } from '../util/paths.js';

export interface SourceFrame {
  func: string;
  file: string;
  line: number;
  inline: boolean;
}

interface Sym {
  addr: bigint;
  size: bigint;
}

const FRAME = /(?:^|[\s(:])([a-zA-Z_][a-zA-Z0-9_.]*)\+0x([0-9a-f]+)\/0x([0-9a-f]+)/;

export class Symbolizer {
  private static tables = new Map<string, Promise<Map<string, Sym[]>>>();
  private readonly pcs = new Map<string, SourceFrame[]>();

  private constructor(
    readonly vmlinux: string,
    private readonly symbols: Map<string, Sym[]>,
  ) {}

  static async open(vmlinux: string): Promise<Symbolizer> {
    const st = await stat(vmlinux).catch(() => null);
    if (!st?.isFile()) throw new ConfigError(vmlinux, '', 'no such file (--vmlinux)');
    const key = `${vmlinux}:${st.size}:${st.mtimeMs}`;
    let table = Symbolizer.tables.get(key);
    if (!table) {
      table = cachedSymbols(vmlinux, key);
      Symbolizer.tables.set(key, table);
      table.catch(() => Symbolizer.tables.delete(key));
    }
    return new Symbolizer(vmlinux, await table);
  }

  /** The PC a frame line refers to: a return address (minus one) except on RIP/IP/pc lines. */
  pcOf(line: string): bigint | null {
    const m = FRAME.exec(line);
    if (!m) return null;
    const syms = this.symbols.get(m[1]!);
    if (!syms?.length) return null;
    const off = BigInt(`0x${m[2]}`);
    const size = BigInt(`0x${m[3]}`);
    const sym = syms.find((s) => s.size === size) ?? syms[0]!;
    const exact = /(?:^|\s)(?:R?IP|e?pc)\s*:/.test(line);
    return sym.addr + off - (exact ? 0n : 1n);
  }

  /** file:line chains for each frame line (null where the line is no resolvable frame). */
  async resolveLines(lines: readonly string[]): Promise<(SourceFrame[] | null)[]> {
    const pcs = lines.map((l) => this.pcOf(l));
    const missing = [...new Set(pcs.filter((p): p is bigint => p !== null).map(hex))].filter((h) => !this.pcs.has(h));
    for (let i = 0; i < missing.length; i += 500) await this.addr2line(missing.slice(i, i + 500));
    return pcs.map((p) => (p === null ? null : (this.pcs.get(hex(p)) ?? null)));
  }

  /** The report with " file:line" appended to each resolvable frame, inline callers on extra lines. */
  async annotate(report: string): Promise<string> {
    const lines = report.split('\n');
    const resolved = await this.resolveLines(lines);
    const out: string[] = [];
    lines.forEach((l, i) => {
      const chain = resolved[i];
      if (!chain?.length) {
        out.push(l);
        return;
      }
      // addr2line -i lists the innermost inlined function first; the outermost is the symbol itself.
      for (const f of chain) out.push(`${l} ${f.file}:${f.line}${f.inline ? ` [inline ${f.func}]` : ''}`);
    });
    return out.join('\n');
  }

  private async addr2line(addrs: string[]): Promise<void> {
    if (addrs.length === 0) return;
    const r = await run('addr2line', ['-a', '-i', '-f', '-e', this.vmlinux, ...addrs], this.vmlinux);
    let cur: string | null = null;
    let pending: string | null = null;
    const rows = r.split('\n');
    for (const row of rows) {
      if (/^0x[0-9a-f]+$/.test(row)) {
        cur = hex(BigInt(row));
        this.pcs.set(cur, []);
        pending = null;
      } else if (cur !== null && pending === null) {
        pending = row;
      } else if (cur !== null && pending !== null) {
        const m = /^(.*):(\d+|\?)(?: \(discriminator \d+\))?$/.exec(row);
        const chain = this.pcs.get(cur)!;
        if (m && m[1] !== '??') chain.push({ func: pending, file: m[1]!, line: m[2] === '?' ? 0 : Number(m[2]), inline: false });
        pending = null;
      }
    }
    // Every entry but the last of a chain is an inlined callee.
    for (const a of addrs) {
      const chain = this.pcs.get(a);
      if (chain) chain.forEach((f, i) => (f.inline = i < chain.length - 1));
    }
  }
}

const hex = (n: bigint): string => `0x${n.toString(16)}`;

/** The nm table of a vmlinux, kept on disk: nm over a debug vmlinux takes seconds, reading JSON does not. */
async function cachedSymbols(vmlinux: string, key: string): Promise<Map<string, Sym[]>> {
  const file = join(cacheRoot(), 'symbols', `${createHash('sha256').update(key).digest('hex').slice(0, 24)}.json`);
  try {
    const rows = JSON.parse(await readFile(file, 'utf8')) as [string, string, string][];
    const table = new Map<string, Sym[]>();
    for (const [name, addr, size] of rows) {
      const list = table.get(name) ?? [];
      list.push({ addr: BigInt(addr), size: BigInt(size) });
      table.set(name, list);
    }
    if (table.size > 0) return table;
  } catch {
    // No cache yet (or a damaged one): read the symbols again.
  }
  const table = await readSymbols(vmlinux);
  const rows = [...table].flatMap(([name, syms]) => syms.map((s) => [name, hex(s.addr), hex(s.size)]));
  try {
    await mkdir(join(cacheRoot(), 'symbols'), { recursive: true });
    await writeFile(`${file}.tmp${process.pid}`, JSON.stringify(rows));
    await rename(`${file}.tmp${process.pid}`, file);
  } catch {
    // The cache is an optimisation; a read-only cache dir must not fail triage.
  }
  return table;
}

async function readSymbols(vmlinux: string): Promise<Map<string, Sym[]>> {
  const out = await run('nm', ['-S', '--defined-only', vmlinux], vmlinux);
  const table = new Map<string, Sym[]>();
  for (const row of out.split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) [tTwW] (\S+)$/.exec(row);
    if (!m) continue;
    const list = table.get(m[3]!) ?? [];
    list.push({ addr: BigInt(`0x${m[1]}`), size: BigInt(`0x${m[2]}`) });
    table.set(m[3]!, list);
  }
  if (table.size === 0) throw new ConfigError(vmlinux, '', 'no function symbols (not an ELF with a symbol table?)');
  return table;
}

async function run(cmd: string, args: string[], file: string): Promise<string> {
  try {
    const r = await (await loadExeca())(cmd, args, { maxBuffer: 1 << 30, stripFinalNewline: false });
    return r.stdout;
  } catch (e) {
    const err = e as { code?: string; stderr?: string; shortMessage?: string };
    if (err.code === 'ENOENT') throw new MissingDependencyError(cmd, 'apt-get install binutils');
    throw new ConfigError(file, '', `${cmd} failed: ${(err.stderr ?? err.shortMessage ?? '').trim().split('\n')[0]}`);
  }
}
