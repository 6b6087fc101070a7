// The vocabulary against the kernel's own UAPI headers: a C program prints sizeof/offsetof of every
// described struct and field, every ioctl number, constant and flag bit, compiled with the host's
// linux-libc-dev headers (UAPI layouts never change, so they are the guest's too); each must equal
// what the TypeScript layout computes.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { StructLayout } from './layout.js';
import { loadVocabulary, type Vocabulary } from './load.js';

const vocab = loadVocabulary();
const work = mkdtempSync(path.join(tmpdir(), 'huci-vocab-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Probe {
  key: string;
  expr: string;
  want: number | bigint;
}

/** Every figure to check, with the C expression that gives it. */
function probes(v: Vocabulary): Probe[] {
  const out: Probe[] = [];
  const fieldsOf = (s: StructLayout, base: number, cType: string, prefix: string): void => {
    for (const f of s.fields) {
      if (f.anonymous && f.type.kind === 'struct') {
        // C names an anonymous member's fields as the parent's
        fieldsOf(v.structs.get(f.type.name)!, base + f.offset, cType, prefix);
        continue;
      }
      out.push({ key: `offsetof(${cType}, ${prefix}${f.name})`, expr: `offsetof(${cType}, ${prefix}${f.name})`, want: base + f.offset });
      out.push({ key: `sizeof(((${cType} *)0)->${prefix}${f.name})`, expr: `sizeof(((${cType} *)0)->${prefix}${f.name})`, want: f.size });
    }
  };
  for (const s of v.structs.values()) {
    if (s.c === false) continue;
    out.push({ key: `sizeof(${s.c})`, expr: `sizeof(${s.c})`, want: s.size });
    out.push({ key: `_Alignof(${s.c})`, expr: `_Alignof(${s.c})`, want: s.align });
    fieldsOf(s, 0, s.c, '');
  }
  for (const io of v.ioctls.values()) out.push({ key: io.name, expr: `(unsigned long)(${io.c})`, want: io.number });
  for (const [name, value] of v.constants) out.push({ key: name, expr: `(unsigned long)(${name})`, want: value });
  for (const [set, prefix] of v.flagPrefixes) {
    for (const [name, bit] of v.codec.flags.get(set)!) out.push({ key: `${prefix}${name}`, expr: `(unsigned long long)(${prefix}${name})`, want: bit });
  }
  return out;
}

function cProgram(v: Vocabulary, ps: readonly Probe[]): string {
  return [
    '#include <stddef.h>',
    '#include <stdio.h>',
    ...v.headers.map((h) => `#include <${h}>`),
    'int main(void) {',
    ...ps.map((p) => `  printf("%s=%llu\\n", ${JSON.stringify(p.key)}, (unsigned long long)(${p.expr}));`),
    '  return 0;',
    '}',
  ].join('\n');
}

describe('vocabulary vs the kernel headers', () => {
  const ps = probes(vocab);
  const src = path.join(work, 'layout.c');
  writeFileSync(src, cProgram(vocab, ps));
  const bin = path.join(work, 'layout');
  execFileSync('gcc', ['-Wall', '-Werror', '-o', bin, src], { stdio: 'pipe' });
  const got = new Map(
    execFileSync(bin, { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.lastIndexOf('=')), BigInt(l.slice(l.lastIndexOf('=') + 1))] as const),
  );

  it('covers every struct, ioctl, constant and flag set of the vocabulary files', () => {
    expect(vocab.files.map((f) => path.basename(f))).toEqual(expect.arrayContaining(['gpio.yaml', 'i2c.yaml', 'tty.yaml']));
    expect(ps.length).toBeGreaterThan(100);
  });

  it.each(ps.map((p) => [p.key, p.want] as const))('%s = %s', (key, want) => {
    expect(got.get(key)).toBe(BigInt(want));
  });
});
