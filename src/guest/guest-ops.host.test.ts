import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAgent } from '../image/agent-binary.js';
import { AgentClient } from './agent.js';
import { agentStepFor, shellFor, type GuestOp } from './guest-ops.js';

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

describe("the agent's own file operations", () => {
  it.each<[string, GuestOp, boolean, unknown]>([
    ['write', { op: 'write', path: '/sys/x/unbind', value: 'd.0' }, false, { op: 'writefile', path: '/sys/x/unbind', text: 'd.0' }],
    ['mkdir', { op: 'mkdir', path: '/c/g' }, false, { op: 'mkdir', path: '/c/g' }],
    ['find a file', { op: 'find', file: '/c/g/name', timeoutMs: 500 }, false, { op: 'find', file: '/c/g/name', waitMs: 500 }],
    [
      'find by content',
      { op: 'find', glob: '/s/i2c-*/name', contentEquals: 'stub', timeoutMs: 9 },
      false,
      { op: 'find', glob: '/s/i2c-*/name', contentEquals: 'stub', waitMs: 9 },
    ],
    [
      'find with its node',
      { op: 'find', glob: '/s/hidraw/hidraw*', node: '/dev', timeoutMs: 9 },
      false,
      { op: 'find', glob: '/s/hidraw/hidraw*', node: '/dev', waitMs: 9 },
    ],
    ['a mark', { op: 'mark', text: 'huci: begin a' }, false, { op: 'klog', mark: 'huci: begin a' }],
    [
      'a mark that reads the log',
      { op: 'mark', text: 'huci: end a', dmesgFrom: 'huci: begin a' },
      false,
      { op: 'klog', mark: 'huci: end a', from: 'huci: begin a' },
    ],
    ['the log', { op: 'dmesgFrom', marker: 'huci: begin a' }, false, { op: 'klog', from: 'huci: begin a' }],
    ['a module stays a command', { op: 'modprobe', module: 'm', params: {} }, false, { op: 'sh', command: "modprobe 'm'" }],
    [
      "a removal's write in a process of its own",
      { op: 'write', path: '/sys/x/unbind', value: 'd.0' },
      true,
      { op: 'sh', command: "echo 'd.0' > '/sys/x/unbind'" },
    ],
  ])('%s', (_, op, ownProcess, step) => {
    expect(agentStepFor(op, ownProcess)).toEqual(step);
  });

  describe('do what the shell text does: the same outcome and the same files, step by step', () => {
    let agent: { client: AgentClient; kill: () => void };
    const roots = [mkdtempSync(path.join(tmpdir(), 'huci-sh-')), mkdtempSync(path.join(tmpdir(), 'huci-agent-'))] as const;
    beforeAll(async () => {
      const child = spawn(await buildAgent(), [], { stdio: ['pipe', 'pipe', 'inherit'] });
      agent = { client: new AgentClient(child.stdin, child.stdout), kill: () => child.kill('SIGKILL') };
    }, 120_000);
    afterAll(() => agent.kill());
    for (const root of roots) {
      mkdirSync(path.join(root, 'i2c-0'));
      mkdirSync(path.join(root, 'i2c-1'));
      writeFileSync(path.join(root, 'i2c-0', 'name'), 'SMBus I801 adapter\n');
      writeFileSync(path.join(root, 'i2c-1', 'name'), 'i2c-stub\n');
      // a "/dev" with i2c-1's node only
      mkdirSync(path.join(root, 'dev'));
      writeFileSync(path.join(root, 'dev', 'i2c-1'), '');
    }
    const steps: Array<(root: string) => GuestOp> = [
      (r) => ({ op: 'mkdir', path: path.join(r, 'g') }),
      (r) => ({ op: 'mkdir', path: path.join(r, 'g') }),
      (r) => ({ op: 'write', path: path.join(r, 'g', 'live'), value: '1' }),
      (r) => ({ op: 'write', path: path.join(r, 'g', 'live'), value: "it's $x" }),
      (r) => ({ op: 'write', path: path.join(r, 'none', 'live'), value: '1' }),
      (r) => ({ op: 'find', file: path.join(r, 'g', 'live'), timeoutMs: 1000 }),
      (r) => ({ op: 'find', glob: path.join(r, 'i2c-*'), timeoutMs: 1000 }),
      (r) => ({ op: 'find', glob: path.join(r, 'i2c-*', 'name'), contentEquals: 'i2c-stub', timeoutMs: 1000 }),
      (r) => ({ op: 'find', glob: path.join(r, 'nothing-*'), timeoutMs: 1000 }),
      (r) => ({ op: 'find', glob: path.join(r, 'i2c-*', 'name'), contentEquals: 'i2c-stub', node: path.join(r, 'dev'), timeoutMs: 1000 }),
      (r) => ({ op: 'find', glob: path.join(r, 'i2c-*'), node: path.join(r, 'dev'), timeoutMs: 1000 }),
      (r) => ({ op: 'write', path: path.join(r, 'g', 'chip'), value: 'i2c-1' }),
      (r) => ({ op: 'find', file: path.join(r, 'g', 'chip'), node: path.join(r, 'dev'), timeoutMs: 1000 }),
      (r) => ({ op: 'find', file: path.join(r, 'g', 'live'), node: path.join(r, 'dev'), timeoutMs: 1000 }),
      (r) => ({ op: 'rmdir', path: path.join(r, 'g') }),
      (r) => ({ op: 'rmdir', path: path.join(r, 'i2c-9') }),
    ];
    const tree = (root: string): string =>
      execFileSync('sh', ['-c', 'find . | sort | while read -r f; do [ -f "$f" ] && echo "$f: $(cat "$f")" || echo "$f"; done'], {
        cwd: root,
        encoding: 'utf8',
      });
    it.each(steps.map((f, i) => [i, f(roots[0]).op, f] as const))('step %i (%s)', async (_i, _what, f) => {
      const bySh = sh(f(roots[0]));
      const byAgent = await agent.client.request(agentStepFor(f(roots[1])) as never, { timeoutMs: 10_000 });
      const found = byAgent.ok && 'found' in byAgent ? String(byAgent.found) : '';
      expect({ ok: byAgent.ok, out: found.replaceAll(roots[1], '<root>') }).toEqual({
        ok: bySh.code === 0,
        out: bySh.stdout.trim().replaceAll(roots[0], '<root>'),
      });
      expect(tree(roots[1])).toBe(tree(roots[0]));
    });
  });
});
