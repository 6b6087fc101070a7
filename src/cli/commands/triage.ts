// `hotunplug-ci triage FILE`: stream a console log through the detector and list its findings.
// Exit 0 = no findings, 1 = findings; a missing/unreadable file is a ConfigError (exit 2).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import process from 'node:process';
import type { Readable } from 'node:stream';
import { ConfigError, ExitCode, HotunplugError, errorMessage } from '../../errors.js';
import { LineSplitter, StreamDetector, type Finding } from '../../detect/index.js';
import { Symbolizer } from '../../detect/symbolize.js';

export interface TriageOptions {
  json?: boolean;
  vmlinux?: string;
  /** Where to write (tests pass a collector); defaults to stdout. */
  out?: (s: string) => void;
  /** Input instead of stdin when file is "-" (tests). */
  stdin?: Readable;
}

export async function triage(file: string, opts: TriageOptions = {}): Promise<number> {
  const write = opts.out ?? ((s: string) => void process.stdout.write(s));
  const input = await openInput(file, opts.stdin);
  const symbolizer = opts.vmlinux ? await Symbolizer.open(opts.vmlinux) : null;

  const detector = new StreamDetector({ settleMs: Number.POSITIVE_INFINITY });
  const splitter = new LineSplitter();
  // Reports can complete out of order (interleaved CPUs); hold each until no older report is open.
  let pending: Finding[] = [];
  let count = 0;
  if (opts.json) write('{"findings":[');

  const emit = async (f: Finding): Promise<void> => {
    const location = symbolizer ? await locate(symbolizer, f) : undefined;
    if (opts.json) {
      const row = { title: f.title, kind: f.kind, corrupted: f.corrupted, frame: f.frame, startLine: f.startLine, endLine: f.endLine };
      write(`${count ? ',' : ''}${JSON.stringify(location === undefined ? row : { ...row, location })}`);
    } else {
      const flags = f.corrupted ? ' [corrupted]' : '';
      write(`${file}:${f.startLine}-${f.endLine}: ${f.kind}: ${f.title}${flags}${location ? ` (${location})` : ''}\n`);
      if (symbolizer) write(`${indent(await symbolizer.annotate(f.report))}\n`);
    }
    count++;
  };
  const release = async (all: boolean): Promise<void> => {
    if (pending.length === 0) return;
    const oldest = all ? null : detector.oldestOpenLine;
    pending.sort((a, b) => a.startLine - b.startLine);
    const ready = oldest === null ? pending : pending.filter((f) => f.startLine < oldest);
    pending = oldest === null ? [] : pending.filter((f) => f.startLine >= oldest);
    for (const f of ready) await emit(f);
  };

  try {
    for await (const chunk of input) {
      for (const line of splitter.push(chunk as string)) pending.push(...detector.push(line, 0));
      await release(false);
    }
  } catch (e) {
    if (e instanceof HotunplugError) throw e;
    throw new ConfigError(file, '', `cannot read: ${errorMessage(e)}`);
  }
  for (const line of splitter.end()) pending.push(...detector.push(line, 0));
  pending.push(...detector.flush());
  await release(true);

  if (opts.json) write(']}\n');
  else if (count === 0) write(`${file}: no kernel reports (${detector.lines} lines)\n`);
  return count > 0 ? ExitCode.failures : ExitCode.ok;
}

async function openInput(file: string, stdin?: Readable): Promise<AsyncIterable<unknown>> {
  if (file === '-') {
    const s = stdin ?? process.stdin;
    s.setEncoding('utf8');
    return s;
  }
  const st = await stat(file).catch((e: NodeJS.ErrnoException) => {
    throw new ConfigError(file, '', e.code === 'ENOENT' ? 'no such file' : `cannot read: ${e.message}`);
  });
  if (st.isDirectory()) throw new ConfigError(file, '', 'is a directory, expected a console log');
  return createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 });
}

/** file:line of the culprit frame, innermost inline first ("a.c:1 < b.c:9"). */
async function locate(sym: Symbolizer, f: Finding): Promise<string | null> {
  if (!f.frame) return null;
  const lines = f.report.split('\n').filter((l) => new RegExp(`(?:^|[\\s(:])${f.frame}(?:\\.[a-z0-9.]+)?\\+0x`).test(l));
  for (const chain of await sym.resolveLines(lines.slice(0, 3))) {
    if (chain?.length) return chain.map((c) => `${c.file}:${c.line}`).join(' < ');
  }
  return null;
}

const indent = (s: string): string =>
  s
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
