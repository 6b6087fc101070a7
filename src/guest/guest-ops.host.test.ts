import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { shellFor, type GuestOp } from './guest-ops.js';

/** Runs an op's command in a POSIX shell, as the guest's shell would. */
const sh = (op: GuestOp): { code: number; stdout: string; stderr: string } => {
  const r = spawnSync('/bin/sh', ['-c', shellFor(op)], { encoding: 'utf8', timeout: 10_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
};

describe('guest operations as shell text', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'huci-ops-'));

  it.each<[string, GuestOp, string]>([
    [
      'write',
      { op: 'write', path: '/sys/bus/platform/drivers/gpio-sim/unbind', value: 'gpio-sim.0' },
      `echo 'gpio-sim.0' > '/sys/bus/platform/drivers/gpio-sim/unbind'`,
    ],
    [
      'modprobe with params',
      { op: 'modprobe', module: 'gpio-mockup', params: { gpio_mockup_ranges: '-1,8' } },
      `modprobe 'gpio-mockup' gpio_mockup_ranges='-1,8'`,
    ],
    ['rmmod', { op: 'rmmod', module: 'gpio_sim' }, `rmmod 'gpio_sim'`],
    ['a quote in a value', { op: 'write', path: '/tmp/x', value: "it's" }, `echo 'it'\\''s' > '/tmp/x'`],
    ['mark', { op: 'mark', text: 'huci: begin a#1@2' }, `printf '%s\\n' 'huci: begin a#1@2' > /dev/kmsg`],
    ['sh as written', { op: 'sh', command: 'test -e /x || echo 1 > /y' }, 'test -e /x || echo 1 > /y'],
  ])('%s', (_, op, text) => {
    expect(shellFor(op)).toBe(text);
  });

  it('write and mkdir/rmdir do what they say; a failure exits non-zero with the strerror', () => {
    const f = path.join(dir, 'value');
    expect(sh({ op: 'write', path: f, value: "a 'b' $c" }).code).toBe(0);
    expect(readFileSync(f, 'utf8')).toBe("a 'b' $c\n");
    const d = path.join(dir, 'sub');
    expect(sh({ op: 'mkdir', path: d }).code).toBe(0);
    expect(existsSync(d)).toBe(true);
    const again = sh({ op: 'mkdir', path: d });
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/File exists/);
    expect(sh({ op: 'rmdir', path: d }).code).toBe(0);
    expect(existsSync(d)).toBe(false);
  });

  it("find: a file's content, a glob's first match, a match by content (its directory); nothing → exit 1 at the bound", () => {
    mkdirSync(path.join(dir, 'i2c-0'));
    mkdirSync(path.join(dir, 'i2c-1'));
    writeFileSync(path.join(dir, 'i2c-0', 'name'), 'SMBus I801 adapter\n');
    writeFileSync(path.join(dir, 'i2c-1', 'name'), 'i2c-stub\n');
    expect(sh({ op: 'find', file: path.join(dir, 'i2c-1', 'name'), timeoutMs: 1000 }).stdout).toBe('i2c-stub\n');
    expect(sh({ op: 'find', glob: path.join(dir, 'i2c-*'), timeoutMs: 1000 }).stdout).toBe(`${path.join(dir, 'i2c-0')}\n`);
    expect(sh({ op: 'find', glob: path.join(dir, 'i2c-*', 'name'), contentEquals: 'i2c-stub', timeoutMs: 1000 }).stdout).toBe(`${path.join(dir, 'i2c-1')}\n`);
    const none = sh({ op: 'find', glob: path.join(dir, 'nothing-*'), timeoutMs: 1000 });
    expect(none.code).toBe(1);
    expect(none.stdout).toBe('');
  });

  it('gone returns once the path is removed', () => {
    const f = path.join(dir, 'present');
    writeFileSync(f, '');
    const t0 = Date.now();
    execFileSync('/bin/sh', ['-c', `(sleep 0.3; rm ${f}) & ${shellFor({ op: 'gone', path: f })}`], { timeout: 10_000 });
    expect(existsSync(f)).toBe(false);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
  });

  it('dmesgFrom keeps the lines from the last marker on', () => {
    const log = path.join(dir, 'dmesg');
    writeFileSync(log, ['boot', 'huci: begin a', 'old', 'huci: begin a', 'new 1', 'new 2', ''].join('\n'));
    const cmd = shellFor({ op: 'dmesgFrom', marker: 'huci: begin a' }).replace(/^dmesg \|/, `cat ${log} |`);
    expect(execFileSync('/bin/sh', ['-c', cmd], { encoding: 'utf8' })).toBe('huci: begin a\nnew 1\nnew 2\n');
  });

  it("a mark with dmesgFrom writes the mark, then reads the log from the marker on, the mark's line last", () => {
    const log = path.join(dir, 'kmsg');
    writeFileSync(log, ['boot', "huci: begin 'a'", 'old', "huci: begin 'a'", 'new 1', ''].join('\n'));
    const cmd = shellFor({ op: 'mark', text: "huci: end 'a'", dmesgFrom: "huci: begin 'a'" })
      .replace('> /dev/kmsg', `>> ${log}`)
      .replace('dmesg |', `cat ${log} |`);
    expect(execFileSync('/bin/sh', ['-c', cmd], { encoding: 'utf8' })).toBe("huci: begin 'a'\nnew 1\nhuci: end 'a'\n");
    // no log read when the mark cannot be written
    const unwritable = shellFor({ op: 'mark', text: 'x', dmesgFrom: 'x' })
      .replace('> /dev/kmsg', `> ${path.join(dir, 'no', 'such')}`)
      .replace('dmesg |', `cat ${log} |`);
    const r = spawnSync('/bin/sh', ['-c', unwritable], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stdout).toBe('');
  });
});
