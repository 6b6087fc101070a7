// Bad input → one line, exit 2 (usage/config) or 3 (infrastructure); every exit path leaves no QEMU.
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { BootError } from '../../src/errors.js';
import { resolveImage } from '../../src/image/resolve.js';
import { bootGuest } from '../../src/scenario/vm-session.js';
import { CLI, cli } from '../testing/cli.js';
import { qemuPidsFor } from '../testing/guest.js';

beforeAll(async () => {
  await execa('npx', ['tsc', '-p', 'tsconfig.json']);
  await resolveImage('debian-6.12', { build: true });
}, 600_000);

describe('bad input: one line, the right exit code', () => {
  const rows: { name: string; args: string[]; env?: Record<string, string>; code: number; message: RegExp }[] = [
    { name: 'unknown image lists the images', args: ['boot', '--image', 'nope-9.9'], code: 2, message: /nope-9\.9.*debian-6\.12/ },
    {
      name: 'missing --kernel file names the path',
      args: ['boot', '--kernel', '/nonexistent/bzImage', '--modules', '/tmp'],
      code: 2,
      message: /\/nonexistent\/bzImage/,
    },
    { name: '--kernel without --modules', args: ['boot', '--kernel', '/nonexistent/bzImage'], code: 2, message: /--kernel and --modules/ },
    { name: 'unknown flag', args: ['boot', '--frobnicate'], code: 2, message: /unknown option '--frobnicate'/ },
    { name: 'unknown command', args: ['reboot-the-world'], code: 2, message: /unknown command/ },
    {
      name: 'QEMU missing gives the apt-get line',
      args: ['boot', '--image', 'debian-6.12', '--exec', 'true'],
      env: { HOTUNPLUG_QEMU: '/nonexistent/qemu-system-x86_64', HOTUNPLUG_ACCEL: 'tcg' },
      code: 3,
      message: /apt-get install -y qemu-system-x86/,
    },
  ];
  it.each(rows)('$name', async ({ args, env, code, message }) => {
    const r = await cli(args, env);
    expect(r.exitCode, r.all).toBe(code);
    expect(r.stderr).toMatch(message);
    const ours = r.stderr.split('\n').filter((l) => l.startsWith('hotunplug-ci:') || l.startsWith('error:'));
    expect(ours, r.stderr).toHaveLength(1);
  });
});

describe('no orphan QEMU', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)(
    '%s to a kept guest kills its QEMU',
    async (signal) => {
      const child = execa(process.execPath, [CLI, 'boot', '--image', 'debian-6.12', '--keep'], { reject: false, all: true });
      let out = '';
      const ready = new Promise<string>((resolve, reject) => {
        child.all!.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /console (\/\S+)\/console\.log/.exec(out);
          if (m && out.includes('guest kept')) resolve(m[1]!);
        });
        void child.then(() => reject(new Error(`exited before ready: ${out}`)));
      });
      const runDir = await ready;
      expect(await qemuPidsFor(runDir)).toHaveLength(1);
      child.kill(signal);
      const r = await child;
      expect(r.exitCode === 0 || r.signal === signal || r.exitCode === 130 || r.exitCode === 143, r.all).toBe(true);
      expect(await qemuPidsFor(runDir)).toEqual([]);
    },
    240_000,
  );

  it('sshd never answering: bounded timeout carrying the console tail, QEMU killed', async () => {
    const image = await resolveImage('debian-6.12', { build: false });
    const started = Date.now();
    const err = await bootGuest({
      image,
      sshTimeoutMs: 1_500,
      onProgress: () => undefined,
      // an init that never starts sshd: a shell waiting on the console
      append: ['rdinit=/bin/sh'],
    }).then(
      () => null,
      (e: unknown) => e,
    );
    // a guest that never becomes ready is a boot error of its own (the kernel's side), with the tail
    expect(err).toBeInstanceOf(BootError);
    const b = err as BootError;
    expect(b.kind).toBe('timeout');
    expect(b.title).toMatch(/^guest not ready within 2 s: sshd on 127\.0\.0\.1:\d+: no answer within 2 s after \d+ attempts/);
    expect(b.title).not.toContain('console tail');
    expect(b.consoleTail.length).toBeGreaterThan(0);
    expect(b.message).toMatch(/\(console: \/.+\/console\.log\)$/);
    expect(Date.now() - started).toBeLessThan(60_000);
    const left = await execa('pgrep', ['-af', 'qemu-system-x86_64'], { reject: false });
    expect(left.stdout.includes('rdinit=/bin/sh')).toBe(false);
  }, 120_000);
});
