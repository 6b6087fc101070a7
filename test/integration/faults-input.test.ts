// Bad input to `run` at the CLI level (the built dist): every bad flag and malformed suite file gives
// exit 2 and one `hotunplug-ci:` line naming the flag or the file, before anything boots — QEMU is
// replaced by a script that records being called, and must not be.
import { execa } from 'execa';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../testing/cli.js';

let dir: string;
let fakeQemu: string;
let calls: string;

const BASE = `suite: bad
description: a suite the table below breaks one way at a time
images: [debian-6.12]
fds:
  fifo:
    holders:
      - { name: fifo, open: { path: /tmp/f, flags: [O_RDWR] } }
    target: fifo
ops:
  read: { op: read, size: 16, accept: { errno: [EAGAIN] } }
cases:
  - { provider: fx, method: ok, fd: fifo, op: read, removal: { rmmod: { module: i2c_stub } } }
`;

beforeAll(async () => {
  await execa('npx', ['tsc', '-p', 'tsconfig.json']);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'huci-badinput-'));
  calls = path.join(dir, 'qemu-calls');
  fakeQemu = path.join(dir, 'qemu-system-x86_64');
  fs.writeFileSync(fakeQemu, `#!/bin/sh\necho "$@" >> ${calls}\nexit 1\n`, { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'base.yaml'), BASE);
  fs.writeFileSync(path.join(dir, 'a-file'), 'not a directory\n');
}, 300_000);

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const env = (): Record<string, string> => ({ HOTUNPLUG_QEMU: fakeQemu, HOTUNPLUG_ACCEL: 'tcg' });
const qemuCalled = (): boolean => fs.existsSync(calls) && fs.readFileSync(calls, 'utf8').length > 0;

async function runBad(args: string[]): Promise<{ code: number | undefined; line: string; all: string }> {
  fs.rmSync(calls, { force: true });
  const r = await cli(['run', '--out', path.join(dir, 'out'), ...args], env());
  const ours = r.stderr.split('\n').filter((l) => l.startsWith('hotunplug-ci:') || l.startsWith('error:'));
  expect(ours, r.stderr).toHaveLength(1);
  expect(qemuCalled(), `QEMU was started: ${r.all}`).toBe(false);
  return { code: r.exitCode, line: ours[0]!, all: r.all ?? '' };
}

describe('run: bad flags → exit 2, one line naming the flag, no QEMU', () => {
  const base = (): string => path.join(dir, 'base.yaml');
  const rows: { name: string; args: () => string[]; message: RegExp }[] = [
    { name: '--iterations 0', args: () => ['--suite', base(), '--iterations', '0'], message: /--iterations 0/ },
    { name: '--iterations x', args: () => ['--suite', base(), '--iterations', 'x'], message: /--iterations x/ },
    { name: '--shard 5/4', args: () => ['--suite', base(), '--shard', '5/4'], message: /--shard/ },
    { name: '--shard x', args: () => ['--suite', base(), '--shard', 'x'], message: /--shard/ },
    { name: '--jobs -1', args: () => ['--suite', base(), '--jobs=-1'], message: /--jobs -1/ },
    { name: '--jobs 0', args: () => ['--suite', base(), '--jobs', '0'], message: /--jobs 0/ },
    { name: '--suite nosuch', args: () => ['--suite', 'nosuch'], message: /nosuch/ },
    { name: '--image nosuch', args: () => ['--suite', base(), '--image', 'nosuch-9.9'], message: /--image nosuch-9\.9.*debian-6\.12/ },
    { name: '--case matching nothing', args: () => ['--suite', base(), '--case', 'nomatch/*'], message: /--case nomatch\/\*/ },
    { name: '--fail-on bogus', args: () => ['--suite', base(), '--fail-on', 'bogus'], message: /bogus/ },
    { name: '--baseline missing', args: () => ['--suite', base(), '--baseline', '/nonexistent/run.json'], message: /\/nonexistent\/run\.json/ },
    { name: '--baseline not a run', args: () => ['--suite', base(), '--baseline', path.join(dir, 'a-file')], message: /a-file/ },
    { name: '--out under a regular file', args: () => ['--suite', base(), '--out', path.join(dir, 'a-file', 'out')], message: /--out .*a-file\/out/ },
    { name: '--kernel without --modules', args: () => ['--suite', base(), '--kernel', '/nonexistent/bzImage'], message: /--kernel and --modules/ },
    { name: 'missing --suite', args: () => [], message: /--suite/ },
    { name: 'unknown flag', args: () => ['--suite', base(), '--frobnicate'], message: /--frobnicate/ },
  ];
  it.each(rows)('$name', async ({ args, message }) => {
    const r = await runBad(args());
    expect(r.code, r.all).toBe(2);
    expect(r.line).toMatch(message);
  });
});

describe('run: malformed suite files → exit 2, one line naming the file, no QEMU', () => {
  const rows: { name: string; text: (b: string) => string; message: RegExp }[] = [
    { name: 'not YAML', text: () => 'suite: [unclosed\n  - x: {\n', message: /./ },
    { name: 'empty file', text: () => '', message: /./ },
    { name: 'unknown top-level key', text: (b) => `${b}colour: blue\n`, message: /colour/ },
    { name: 'unknown errno name', text: (b) => b.replace('errno: [EAGAIN]', 'errno: [EWHATEVER]'), message: /EWHATEVER/ },
    { name: 'unknown removal method', text: (b) => b.replace('rmmod: { module: i2c_stub }', 'yank: { module: i2c_stub }'), message: /yank|removal/ },
    {
      name: 'duplicate case id',
      text: (b) => `${b}  - { provider: fx, method: ok, fd: fifo, op: read, removal: { rmmod: { module: x } } }\n`,
      message: /fx-ok-fifo-read|duplicate/i,
    },
    { name: 'dangling fd kind', text: (b) => b.replace('fd: fifo, op: read', 'fd: nosuchfd, op: read'), message: /nosuchfd/ },
    { name: 'unknown op', text: (b) => b.replace('fd: fifo, op: read', 'fd: fifo, op: nosuchop'), message: /nosuchop/ },
    { name: 'unknown open flag', text: (b) => b.replace('flags: [O_RDWR]', 'flags: [O_MAGIC]'), message: /O_MAGIC|flags/ },
    { name: 'bad suite name', text: (b) => b.replace('suite: bad', 'suite: Bad Suite'), message: /suite/ },
    { name: 'no cases', text: (b) => `${b.slice(0, b.indexOf('cases:'))}cases: []\n`, message: /cases/ },
    { name: 'no images', text: (b) => b.replace('images: [debian-6.12]', 'images: []'), message: /images/ },
    { name: 'bad kernel option', text: (b) => b.replace('images: [debian-6.12]', 'images: [debian-6.12]\nrequires: [GPIO]'), message: /CONFIG_NAME|requires/ },
    {
      name: 'matrix and fd together',
      text: (b) => b.replace('fd: fifo, op: read,', 'fd: fifo, op: read, matrix: { fd: [fifo], op: [read] },'),
      message: /matrix/,
    },
  ];
  it.each(rows)('$name', async ({ name, text, message }) => {
    const file = path.join(dir, `${name.replace(/\W+/g, '-')}.yaml`);
    fs.writeFileSync(file, text(BASE));
    const r = await runBad(['--suite', file]);
    expect(r.code, r.all).toBe(2);
    expect(r.line).toContain(file);
    expect(r.line).toMatch(message);
  });

  it('control: the unbroken suite does reach QEMU (so the recorder would have seen a start)', async () => {
    fs.rmSync(calls, { force: true });
    const r = await cli(['run', '--out', path.join(dir, 'out'), '--suite', path.join(dir, 'base.yaml'), '--image', 'debian-6.12'], env());
    expect(qemuCalled(), r.all).toBe(true);
    expect(r.exitCode, r.all).not.toBe(2);
  }, 120_000);
});
