// Machine.start's checks before anything is spawned. Booting is in test/integration/machine-boot.test.ts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, MissingDependencyError } from '../errors.js';
import { liveCount } from '../util/reaper.js';
import { Machine } from './machine.js';

const saved = process.env.HOTUNPLUG_QEMU;
afterEach(() => {
  if (saved === undefined) delete process.env.HOTUNPLUG_QEMU;
  else process.env.HOTUNPLUG_QEMU = saved;
});

describe('Machine.start refuses before spawning', () => {
  it('missing QEMU → MissingDependencyError with the apt-get line', async () => {
    process.env.HOTUNPLUG_QEMU = 'qemu-system-does-not-exist';
    const err = await Machine.start({ kernel: '/k', accel: 'tcg', runDir: os.tmpdir() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MissingDependencyError);
    expect((err as MissingDependencyError).message).toBe('qemu-system-does-not-exist is missing; install it with: apt-get install -y qemu-system-x86');
    expect((err as MissingDependencyError).exitCode).toBe(3);
  });

  it('a bad spec → ConfigError naming the field', async () => {
    const err = await Machine.start({ kernel: '/k', accel: 'tcg', runDir: '/tmp/x', cpus: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(/^machine spec: cpus: /);
  });

  it('a runDir too long for the QMP socket path → ConfigError on runDir', async () => {
    const runDir = path.join(os.tmpdir(), 'x'.repeat(120));
    const err = await Machine.start({ kernel: '/k', accel: 'tcg', runDir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).path).toBe('runDir');
    expect(fs.existsSync(runDir)).toBe(false);
    expect(liveCount()).toBe(0);
  });
});
