// Fault injection on real guests (debian-6.12): a kernel panic, SSH and the agent's channel dropped, a
// printk flood from inside the guest (test/fixtures/fault-suites/faults.yaml), QEMU killed or frozen
// from the host, and SIGINT/SIGTERM to the CLI (slow.yaml). Each asserts the run goes on (or stops
// cleanly), run.json keeps everything measured before the fault, the verdict, and that no QEMU is left.
import { execa, type ResultPromise } from 'execa';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveImage } from '../../src/image/resolve.js';
import type { RunResult } from '../../src/model/run.js';
import { RunResultSchema } from '../../src/model/run.js';
import { classifyCase } from '../../src/classify/verdict.js';
import { detect, StreamDetector } from '../../src/detect/index.js';
import { runCase } from '../../src/scenario/engine.js';
import { loadSuites } from '../../src/scenario/load-suites.js';
import { portFromSession } from '../../src/scenario/session-port.js';
import { machineDevices } from '../../src/scenario/vm-config.js';
import { CLI } from '../testing/cli.js';
import { bootImage, qemuPidsFor } from '../testing/guest.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/fault-suites/', import.meta.url));
const outs: string[] = [];
const started: number[] = [];

beforeAll(async () => {
  await execa('npx', ['tsc', '-p', 'tsconfig.json']);
  await resolveImage('debian-6.12', { build: true });
}, 600_000);

afterAll(() => {
  // only if a test failed part-way: QEMUs this file's runs started (SIGKILL works on stopped ones)
  for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGKILL');
  for (const d of outs) fs.rmSync(d, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) [ZX] /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function startRun(suite: string): { child: ResultPromise<{ reject: false; all: true }>; out: string } {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'huci-faults-'));
  outs.push(out);
  const child = execa(process.execPath, [CLI, 'run', '--suite', path.join(FIXTURES, suite), '--image', 'debian-6.12', '--out', out, '--json'], {
    reject: false,
    all: true,
  });
  return { child, out };
}

/** run.json as on disk now (validated), or null before the first case is written. */
function runOnDisk(out: string): RunResult | null {
  const file = path.join(out, 'reports', 'latest', 'run.json');
  if (!fs.existsSync(file)) return null;
  return RunResultSchema.parse(JSON.parse(fs.readFileSync(file, 'utf8')));
}

async function waitFor<T>(what: string, probe: () => T | null | undefined | false, timeoutMs: number): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** QEMU processes the CLI started (setpriv execs QEMU, so the CLI is their parent). */
function qemuChildren(cliPid: number): number[] {
  const pids: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const [comm, rest] = [stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), stat.slice(stat.lastIndexOf(')') + 2).split(' ')];
      if (comm.startsWith('qemu-system') && Number(rest[1]) === cliPid && rest[0] !== 'Z') pids.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  for (const p of pids) if (!started.includes(p)) started.push(p);
  return pids;
}

/** The run dir of a QEMU (its QMP socket's directory), from its command line. */
function runDirOf(pid: number): string {
  const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  const m = argv.map((a) => /unix:(\/[^,]+)\/qmp\.sock/.exec(a)).find(Boolean);
  if (!m) throw new Error(`no qmp.sock in the command line of ${pid}`);
  return m[1]!;
}

/** A new QEMU of the CLI whose console shows the case began (so a fault lands inside the case). */
async function qemuInCase(cliPid: number, caseId: string, not: readonly number[], timeoutMs = 120_000): Promise<number> {
  return waitFor(
    `a QEMU running ${caseId}`,
    () =>
      qemuChildren(cliPid).find((p) => {
        if (not.includes(p)) return false;
        try {
          return fs.readFileSync(path.join(runDirOf(p), 'console.log'), 'utf8').includes(`huci: begin ${caseId}#`);
        } catch {
          return false;
        }
      }),
    timeoutMs,
  );
}

/** The run dirs named in run.json's VMs: no QEMU may still run with them. */
async function leftoverQemus(run: RunResult): Promise<number[]> {
  const dirs = new Set<string>();
  for (const c of run.cases)
    for (const a of c.vm?.qemuArgv ?? []) {
      const m = /unix:(\/[^,]+)\/qmp\.sock/.exec(a);
      if (m) dirs.add(m[1]!);
    }
  expect(dirs.size).toBeGreaterThan(0);
  return (await Promise.all([...dirs].map((d) => qemuPidsFor(d)))).flat();
}

const runDirOfCase = (c: RunResult['cases'][number]): string | undefined => c.vm?.qemuArgv.map((a) => /unix:(\/[^,]+)\/qmp\.sock/.exec(a)?.[1]).find(Boolean);

describe('faults inside the guest', () => {
  it('panic → crashed and a fresh VM; SSH and agent channel dropped → hung, no wedge; printk flood → panic still found, memory bounded', async () => {
    const t0 = Date.now();
    const { child, out } = startRun('faults.yaml');
    // peak RSS of the CLI, sampled until it exits (VmHWM is the kernel's high-water mark)
    let hwmKiB = 0;
    const sampler = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) hwmKiB = Math.max(hwmKiB, Number(m[1]));
      } catch {
        // exited
      }
    }, 100);
    const r = await child;
    clearInterval(sampler);
    const secs = (Date.now() - t0) / 1000;
    expect(r.exitCode, r.all).toBe(1); // crashed/hung are --fail-on by default
    const run = runOnDisk(out)!;
    expect(run.complete).toBe(true);
    const by = Object.fromEntries(run.cases.map((c) => [c.id.replace(/^faults\/fx-/, '').replace(/-.*/, ''), c]));
    expect(run.cases.map((c) => c.verdict)).toEqual(['handled', 'crashed', 'hung', 'crashed', 'handled']);
    expect(by.b_panic!.reason).toMatch(/sysrq triggered crash/);
    expect(by.b_panic!.findings.map((f) => f.kind)).toContain('panic');
    expect(by.c_chandrop!.reason).toMatch(/guest stopped answering/);
    expect(by.d_flood!.reason).toMatch(/sysrq triggered crash/);
    // the flood really reached the harness (~4000 records of 999 zeros before the panic), but the
    // case's excerpt in run.json is capped: dropped stretches are one line each, the panic kept
    const d = by.d_flood!;
    const excerpt = d.consoleExcerpt.split('\n');
    const kept = excerpt.filter((l) => l.includes('0'.repeat(900))).length;
    const dropped = excerpt.reduce((n, l) => n + Number(/^\[hotunplug-ci: (\d+) console lines dropped/.exec(l)?.[1] ?? 0), 0);
    const floodLines = kept + dropped;
    expect(floodLines).toBeGreaterThan(3000);
    expect(Buffer.byteLength(d.consoleExcerpt)).toBeLessThan(1024 * 1024);
    const panic = d.findings.find((f) => f.kind === 'panic')!;
    expect(excerpt[panic.startLine - 1]).toMatch(/Kernel panic - not syncing: sysrq triggered crash/);
    const vm3 = run.consoles[2]!;
    expect(fs.statSync(path.join(out, 'reports', 'latest', vm3.file)).size).toBeGreaterThan(3_500_000);
    // the panic's VM was not reused: a, b share vm1; c, d, e each got a fresh one
    const dirs = run.cases.map(runDirOfCase);
    expect(dirs[1]).toBe(dirs[0]);
    expect(new Set(dirs.slice(1)).size).toBe(4);
    expect(run.consoles).toHaveLength(4);
    expect(await leftoverQemus(run)).toEqual([]);
    const hwmMiB = hwmKiB / 1024;
    console.log(`guest faults: ${secs.toFixed(1)} s, CLI peak RSS ${hwmMiB.toFixed(0)} MiB with a ${floodLines}-line (~4 MB) printk flood`);
    expect(hwmKiB).toBeGreaterThan(0);
    // one quiet case peaks at ~90 MiB; uncapped excerpts made this run peak at 254 MiB
    expect(hwmMiB).toBeLessThan(200);
  }, 300_000);
});

describe('faults from the host', () => {
  it('QEMU SIGKILLed → error and a new VM; QEMU SIGSTOPped → hung within a bound, then killed', async () => {
    const { child, out } = startRun('slow.yaml');
    const cli = child.pid!;
    // 1. SIGKILL QEMU while slow/fx-b_slow blocks in its read
    const q1 = await qemuInCase(cli, 'slow/fx-b_slow-slow-wait', []);
    process.kill(q1, 'SIGKILL');
    const killedAt = Date.now();
    const afterKill = await waitFor('case b in run.json', () => runOnDisk(out)?.cases.length === 2 && runOnDisk(out), 60_000);
    const killMs = Date.now() - killedAt;
    expect(afterKill.complete).toBe(false);
    expect(afterKill.cases[0]!.verdict).toBe('handled');
    expect(afterKill.cases[1]!.verdict, afterKill.cases[1]!.reason).toBe('error');
    expect(afterKill.cases[1]!.reason).toMatch(/QEMU \(pid \d+\) was killed by SIGKILL during the case/);

    // 2. freeze the next VM (SIGSTOP) while slow/fx-c_slow blocks in its read
    const q2 = await qemuInCase(cli, 'slow/fx-c_slow-slow-wait', [q1]);
    process.kill(q2, 'SIGSTOP');
    const frozenAt = Date.now();
    const afterFreeze = await waitFor('case c in run.json', () => runOnDisk(out)?.cases.length === 3 && runOnDisk(out), 120_000);
    const hungMs = Date.now() - frozenAt;
    const c = afterFreeze.cases[2]!;
    expect(c.verdict, c.reason).toBe('hung');
    expect(c.reason).toMatch(/guest stopped answering/);
    // bound: the probe's own timeout (20 s) + the liveness check (agent 3 s + SSH 8 s) + settle (3 s)
    expect(hungMs).toBeLessThan(60_000);
    await waitFor(`frozen QEMU ${q2} killed`, () => !alive(q2), 30_000);
    const goneMs = Date.now() - frozenAt;

    const r = await child;
    expect(r.exitCode, r.all).toBe(1);
    const run = runOnDisk(out)!;
    expect(run.complete).toBe(true);
    expect(run.cases.map((x) => x.verdict)).toEqual(['handled', 'error', 'hung', 'handled']);
    expect(new Set(run.cases.map(runDirOfCase)).size).toBe(3);
    expect(await leftoverQemus(run)).toEqual([]);
    console.log(
      `host faults: SIGKILL → error recorded ${killMs} ms later; SIGSTOP → hung recorded ${hungMs} ms later, QEMU gone ${goneMs} ms after the freeze`,
    );
  }, 300_000);

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)(
    '%s to the CLI mid-case: prompt exit %i, run.json keeps the cases done, no QEMU',
    async (signal, code) => {
      const { child, out } = startRun('slow.yaml');
      const q = await qemuInCase(child.pid!, 'slow/fx-b_slow-slow-wait', []);
      const runDir = runDirOf(q);
      child.kill(signal);
      const t = Date.now();
      const r = await child;
      const exitMs = Date.now() - t;
      expect(r.exitCode, r.all).toBe(code);
      expect(exitMs).toBeLessThan(10_000);
      const run = runOnDisk(out)!;
      expect(run.complete).toBe(false);
      expect(run.finishedAt).toBeNull();
      expect(run.cases.map((x) => [x.id, x.verdict])).toEqual([['slow/fx-a_ok-fifo-read', 'handled']]);
      expect(alive(q)).toBe(false);
      expect(await qemuPidsFor(runDir)).toEqual([]);
      expect(fs.existsSync(runDir), `${runDir} left behind`).toBe(false);
      console.log(`${signal}: exit ${r.exitCode} after ${exitMs} ms`);
    },
    180_000,
  );
});

describe('QMP connection lost (engine on a real guest)', () => {
  // Nothing outside the CLI can close its QMP socket, so the engine runs the case here, on a real
  // guest whose QMP client the test closes: device_del then fails on a monitor that is gone while
  // QEMU still runs — a harness fault (error), and stopping the VM still ends QEMU (SIGKILL).
  it('device_del on a closed QMP connection → error, the VM marked for restart, QEMU stopped', async () => {
    const [suite] = loadSuites([path.join(FIXTURES, 'qmp.yaml')]);
    const c = suite!.cases[0]!;
    const m = machineDevices(c.devices);
    const session = await bootImage('debian-6.12', { devices: m.devices, chardevs: m.chardevs, memMiB: 1024, onProgress: () => undefined });
    const qemu = session.machine.pid;
    started.push(qemu);
    try {
      const port = portFromSession(session, 'debian-6.12');
      session.machine.qmp.close();
      const t0 = Date.now();
      const run = await runCase(c, { port, detector: { live: () => new StreamDetector(), detect }, iteration: 1 });
      const caseMs = Date.now() - t0;
      const v = classifyCase(run.record);
      expect(v.verdict, v.reason).toBe('error');
      expect(v.reason).toMatch(/device_del rng0 failed: the QMP connection to QEMU \(pid \d+\) closed while QEMU still runs/);
      expect(run.needsRestart).toBe(true);
      expect(caseMs).toBeLessThan(30_000);
      const t1 = Date.now();
      await port.stop();
      const stopMs = Date.now() - t1;
      expect(alive(qemu)).toBe(false);
      expect(await qemuPidsFor(session.runDir)).toEqual([]);
      console.log(`QMP closed: case error after ${caseMs} ms; stop() killed QEMU in ${stopMs} ms`);
    } finally {
      await session.stop();
    }
  }, 180_000);
});
