import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { formatProgress, isCompiledObjectLine, kernelProgressReporter } from './kernel-progress.js';

describe('isCompiledObjectLine', () => {
  it.each([
    ['  CC      /obj/kernel/fork.o', true],
    ['  CC [M]  /obj/drivers/gpio/gpio-sim.o', true],
    ['  AS      arch/x86/entry/entry_64.o', true],
    ['  LD [M]  drivers/gpio/gpio-sim.ko', false],
    ['  CC      ', false],
    ['  HOSTCC  scripts/basic/fixdep', false],
    ['make[1]: Entering directory', false],
    ['CC foo.o', false],
  ])('%j → %s', (line, want) => {
    expect(isCompiledObjectLine(line)).toBe(want);
  });
});

describe('formatProgress', () => {
  it.each([
    [{ stage: 'compile' as const, objects: 120, expectedObjects: null, elapsedMs: 65_000 }, 'kernel: compile 120 objects, 1m05s'],
    [{ stage: 'compile' as const, objects: 500, expectedObjects: 2000, elapsedMs: 1000 }, 'kernel: compile 500/~2000 (25%) objects, 0m01s'],
    [{ stage: 'compile' as const, objects: 2100, expectedObjects: 2000, elapsedMs: 0 }, 'kernel: compile 2100/~2000 (99%) objects, 0m00s'],
    [{ stage: 'configure' as const, objects: 0, expectedObjects: null, elapsedMs: 3000, message: 'x' }, 'kernel: configure — x, 0m03s'],
  ])('%j', (p, want) => {
    expect(formatProgress(p)).toBe(want);
  });
});

describe('kernelProgressReporter (plain)', () => {
  it('prints on stage change and at most once per interval while compiling', () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d) => (text += String(d)));
    const r = kernelProgressReporter(out as unknown as NodeJS.WriteStream, { tty: false, intervalMs: 10_000 });
    r.update({ stage: 'configure', objects: 0, expectedObjects: null, elapsedMs: 0 });
    r.update({ stage: 'compile', objects: 1, expectedObjects: null, elapsedMs: 1000 });
    r.update({ stage: 'compile', objects: 2, expectedObjects: null, elapsedMs: 5000 });
    r.update({ stage: 'compile', objects: 3, expectedObjects: null, elapsedMs: 11_001 });
    r.stop('kernel: done');
    expect(text.trim().split('\n')).toEqual([
      'kernel: configure, 0m00s',
      'kernel: compile 1 objects, 0m01s',
      'kernel: compile 3 objects, 0m11s',
      'kernel: done',
    ]);
  });
});
