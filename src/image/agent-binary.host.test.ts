import { mkdtemp, readFile, rm, stat, writeFile, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MissingDependencyError, InfraError } from '../errors.js';
import { AGENT_SOURCE_DIR, buildAgent, hashAgentSources } from './agent-binary.js';

/** True when the ELF file has a PT_INTERP program header, i.e. needs a dynamic loader. */
function hasInterpreter(elf: Buffer): boolean {
  expect(elf.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) if (elf.readUInt32LE(phoff + i * phentsize) === 3) return true;
  return false;
}

describe('buildAgent', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'huci-agent-bin-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('builds a static binary under the source hash and reuses it', async () => {
    const cacheRoot = join(root, 'cache');
    const hash = await hashAgentSources();
    const path = await buildAgent({ cacheRoot });
    expect(path).toBe(join(cacheRoot, hash, 'huci-agent'));
    const elf = await readFile(path);
    expect(hasInterpreter(elf)).toBe(false);
    const first = await stat(path);
    expect(first.mode & 0o111).not.toBe(0);
    expect(await buildAgent({ cacheRoot })).toBe(path);
    expect((await stat(path)).mtimeMs).toBe(first.mtimeMs);
  }, 120_000);

  it('hashes sources: a changed file gives a new key', async () => {
    const src = join(root, 'src');
    await cp(AGENT_SOURCE_DIR, src, { recursive: true, filter: (p) => !p.includes('/build') });
    const before = await hashAgentSources(src);
    expect(before).toBe(await hashAgentSources());
    await writeFile(join(src, 'extra.h'), '/* x */\n');
    expect(await hashAgentSources(src)).not.toBe(before);
  });

  it('names the apt-get line when gcc is missing', async () => {
    const err = await buildAgent({ cacheRoot: join(root, 'nogcc'), pathEnv: join(root, 'empty-bin') }).catch((e) => e);
    expect(err).toBeInstanceOf(MissingDependencyError);
    expect((err as MissingDependencyError).installLine).toMatch(/^apt-get install .*gcc.*libc6-dev/);
    expect((err as Error).message).toContain('gcc');
  });

  it('reports a compile error as InfraError with the compiler output', async () => {
    const src = join(root, 'broken');
    await cp(AGENT_SOURCE_DIR, src, { recursive: true, filter: (p) => !p.includes('/build') });
    await writeFile(join(src, 'json.c'), 'this is not C;\n');
    const err = await buildAgent({ cacheRoot: join(root, 'broken-cache'), sourceDir: src }).catch((e) => e);
    expect(err).toBeInstanceOf(InfraError);
    expect((err as InfraError).transcript.join('\n')).toMatch(/json\.c.*error/);
  }, 120_000);
});
