import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InfraError, MissingDependencyError } from '../errors.js';
import { killAll } from '../util/reaper.js';
import { runLong } from './exec.js';

/** Running (a killed process may linger as a zombie until its new parent reaps it). */
const alive = (pid: number): boolean => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

describe('runLong', () => {
  it('returns stdout, streams every line of both streams', async () => {
    const lines: string[] = [];
    const out = await runLong('bash', ['-c', 'echo one; echo two >&2; echo three'], { onLine: (l) => lines.push(l) });
    expect(out).toBe('one\nthree');
    expect(lines.sort()).toEqual(['one', 'three', 'two']);
  });

  it.each([
    [
      'the first compiler error, not make’s summary',
      'echo "  CC a.o"; echo "a.c:3:1: error: expected ;"; echo "  CC b.o"; echo "make: *** [x] Error 1"; exit 2',
      /failed \(exit 2\): a\.c:3:1: error: expected ;$/,
    ],
    [
      'make’s summary when there is no error line',
      'echo building; echo "make[2]: *** [Makefile:9: y] Error 1"; exit 2',
      /: make\[2\]: \*\*\* \[Makefile:9: y\] Error 1$/,
    ],
    ['the last line otherwise', 'echo last words; exit 3', /failed \(exit 3\): last words$/],
  ])('a failure names %s', async (_what, script, msg) => {
    const err = await runLong('bash', ['-c', script]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InfraError);
    expect((err as Error).message).toMatch(msg);
  });

  it('names the package of a missing tool', async () => {
    await expect(runLong('huci-no-such-tool', [])).rejects.toBeInstanceOf(MissingDependencyError);
  });

  it('the reaper kills the whole process group (compilers under make), not just the child', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'huci-kexec-'));
    const pidFile = join(dir, 'grandchild');
    const run = runLong('bash', ['-c', `sleep 60 & echo $! > ${pidFile}; wait`]);
    const settled = run.then(
      () => 'resolved',
      (e: unknown) => e,
    );
    for (let i = 0; i < 200 && !(existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim()); i++) await new Promise((r) => setTimeout(r, 25));
    const grandchild = Number(readFileSync(pidFile, 'utf8').trim());
    expect(alive(grandchild)).toBe(true);
    killAll();
    expect(await settled).toBeInstanceOf(InfraError);
    for (let i = 0; i < 40 && alive(grandchild); i++) await new Promise((r) => setTimeout(r, 25));
    expect(alive(grandchild)).toBe(false);
  });
});
