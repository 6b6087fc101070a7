import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
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

describe('compilerIdentity', () => {
  const fresh = async (): Promise<typeof import('./exec.js')> => {
    vi.resetModules();
    return import('./exec.js');
  };

  it('asks gcc once, then answers from the cache while the gcc binary is the same file', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'huci-cc-'));
    vi.stubEnv('XDG_CACHE_HOME', cache);
    try {
      const asked = execFileSync('gcc', ['--version'], { encoding: 'utf8' }).split('\n')[0];
      expect(await (await fresh()).compilerIdentity()).toBe(asked);
      const memo = join(cache, 'hotunplug-ci', 'compiler.json');
      const kept = JSON.parse(readFileSync(memo, 'utf8')) as { key: string; value: string };
      expect(kept.value).toBe(asked);
      // what is kept under the binary's key is the answer (gcc is not asked again)
      writeFileSync(memo, JSON.stringify({ key: kept.key, value: 'gcc (kept)' }));
      expect(await (await fresh()).compilerIdentity()).toBe('gcc (kept)');
      // another binary (a changed file): gcc is asked again
      writeFileSync(memo, JSON.stringify({ key: `${kept.key}x`, value: 'gcc (kept)' }));
      expect(await (await fresh()).compilerIdentity()).toBe(asked);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
