// Guests that crash while booting (debian-6.12 with rdinit=/bin/false: init exits, the kernel panics
// "Attempted to kill init!", panic=-1 reboots it and QEMU exits): the boot error carries the panic's
// title within seconds, boots are retried on fresh QEMUs, every attempt's console lands in the report,
// other groups run, and no QEMU is left. And a first boot that crashes with a second that works.
import { execa } from 'execa';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detect, StreamDetector } from '../../src/detect/index.js';
import { BootError } from '../../src/errors.js';
import { resolveImage } from '../../src/image/resolve.js';
import { RunResultSchema, type RunResult } from '../../src/model/run.js';
import { writeRunReports } from '../../src/report/write.js';
import { loadSuites } from '../../src/scenario/load-suites.js';
import type { DetectorPort, SessionFactory } from '../../src/scenario/port.js';
import { planCases, runLoop } from '../../src/scenario/run-loop.js';
import { RealSessions } from '../../src/scenario/session-port.js';
import { CLI } from '../testing/cli.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/fault-suites/', import.meta.url));
const TITLE = 'kernel panic: Attempted to kill init!';
const outs: string[] = [];
const tmp = (): string => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'huci-bootfail-'));
  outs.push(d);
  return d;
};

/** QEMU processes running now. */
function qemus(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter((pid) => {
      try {
        return (
          fs.readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('qemu-system') && !/^\d+ \(.*\) [ZX] /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))
        );
      } catch {
        return false;
      }
    });
}

let before: number[] = [];
beforeAll(async () => {
  await execa('npx', ['tsc', '-p', 'tsconfig.json']);
  await execa('node', ['bin/bundle']);
  await resolveImage('debian-6.12', { build: true });
  before = qemus();
}, 600_000);

afterAll(() => {
  for (const d of outs) fs.rmSync(d, { recursive: true, force: true });
});

describe('a guest that crashes while booting', () => {
  it("every boot fails at once with the panic's title; retried 3 times; consoles kept; the other group runs; exit 1; no QEMU left", async () => {
    const out = tmp();
    const t0 = Date.now();
    const r = await execa(
      process.execPath,
      [CLI, 'run', '--suite', `${FIXTURES}boot-panic.yaml,${FIXTURES}slow.yaml`, '--case', '*fifo-read', '--image', 'debian-6.12', '--jobs', '1', '--out', out],
      { reject: false, all: true },
    );
    const wallMs = Date.now() - t0;
    expect(r.exitCode, r.all).toBe(1);
    expect(r.all).toContain(`debian-6.12 crashes while booting: ${TITLE} (3 of 3 boots)`);
    const dir = path.join(out, 'reports', 'latest');
    const run: RunResult = RunResultSchema.parse(JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8')));

    const failed = run.boots.filter((b) => !b.ok);
    expect(failed.map((b) => [b.vm, b.attempt, b.failure?.kind, b.failure?.title, b.gaveUp])).toEqual([
      ['vm1-debian-6.12', 1, 'crash', TITLE, false],
      ['vm1.2-debian-6.12', 2, 'crash', TITLE, false],
      ['vm1.3-debian-6.12', 3, 'crash', TITLE, true],
    ]);
    for (const b of failed) {
      // from the report to the boot error: seconds, not the 240 s boot bound
      expect(b.failure!.msAfterReport).not.toBeNull();
      expect(b.failure!.msAfterReport!).toBeLessThan(30_000);
      expect(b.ms).toBeLessThan(60_000);
      expect(b.findings[0]!.kind).toBe('panic');
      // the whole console of every attempt is in the report
      const c = run.consoles.find((x) => x.vm === b.vm)!;
      expect(fs.readFileSync(path.join(dir, c.file), 'utf8')).toContain('Kernel panic - not syncing: Attempted to kill init!');
    }
    expect(run.cases.filter((c) => c.subsystem === 'bootpanic').map((c) => [c.verdict, c.reason])).toEqual([
      ['error', `VM did not boot: debian-6.12 crashes while booting: ${TITLE} (3 of 3 boots)`],
    ]);
    expect(run.cases.filter((c) => c.subsystem === 'slow').map((c) => c.verdict)).toEqual(['handled', 'handled']);
    expect(fs.readFileSync(path.join(dir, 'index.html'), 'utf8')).toContain('<section id="boot">');
    expect(fs.readFileSync(path.join(dir, 'junit.xml'), 'utf8')).toContain(`<failure type="crashed" message="${TITLE}">`);
    expect(
      JSON.parse(fs.readFileSync(path.join(dir, 'kcidb.json'), 'utf8'))
        .tests.filter((t: { path: string; status: string }) => t.path === 'boot')
        .map((t: { status: string }) => t.status),
    ).toEqual(['FAIL', 'FAIL', 'FAIL', 'PASS']);
    expect(qemus().filter((p) => !before.includes(p))).toEqual([]);
    console.log(
      `boot-failures: 3 crashing boots + 1 good boot and 2 cases in ${(wallMs / 1000).toFixed(1)} s; report → boot error ${failed.map((b) => b.failure!.msAfterReport).join(', ')} ms; attempts ${failed.map((b) => b.ms).join(', ')} ms`,
    );
  });

  it('a panic that leaves QEMU running (panic=0) fails the boot within seconds of the report, and QEMU is stopped', async () => {
    const sessions = new RealSessions({ image: (name) => resolveImage(name), append: ['rdinit=/bin/false', 'panic=0'] });
    const t0 = Date.now();
    try {
      const e = await sessions.boot({ image: 'debian-6.12', kernelArgs: [], devices: [], spareRootPorts: 0 }).then(
        () => null,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(BootError);
      const b = e as BootError;
      expect(b.title).toBe(TITLE);
      const afterReport = Date.now() - b.reportHostMs!;
      expect(afterReport).toBeLessThan(30_000);
      console.log(`boot-failures: panic=0 guest failed ${afterReport} ms after the report, ${Date.now() - t0} ms after QEMU was asked for`);
    } finally {
      await sessions.dispose();
    }
    expect(qemus().filter((p) => !before.includes(p))).toEqual([]);
  });

  it('a first boot that crashes and a second that works: the cases run, the crash is a boot finding', async () => {
    const [suite] = loadSuites([path.join(FIXTURES, 'slow.yaml')]);
    const image = (name: string) => resolveImage(name);
    const crashing = new RealSessions({ image, append: ['rdinit=/bin/false'] });
    const normal = new RealSessions({ image });
    let boots = 0;
    const sessions: SessionFactory = { boot: (cfg, hooks) => (boots++ === 0 ? crashing : normal).boot(cfg, hooks) };
    const detector: DetectorPort = { live: () => new StreamDetector(), detect };
    const out = tmp();
    let last: { run: RunResult; consoles: ReadonlyArray<{ vm: string; image: string; file: string }> } | null = null;
    try {
      const run = await runLoop({
        suites: [suite!],
        plan: planCases([suite!], { images: ['debian-6.12'], iterations: 1, caseGlob: '*fifo-read' }),
        sessions,
        detector,
        kernelConfig: async () => null,
        write: async (r, consoles) => void (last = { run: r(), consoles }),
        runId: 'first-boot-crashes',
        command: ['test'],
        images: ['debian-6.12'],
        jobs: 1,
        version: 'test',
      });
      const written = await writeRunReports(out, last!.run, last!.consoles);
      expect(run.cases.map((c) => c.verdict)).toEqual(['handled', 'handled']);
      expect(run.boots.map((b) => [b.vm, b.ok, b.failure?.title ?? null])).toEqual([
        ['vm1-debian-6.12', false, TITLE],
        ['vm1.2-debian-6.12', true, null],
      ]);
      expect(run.boots[0]!.findings.map((f) => f.title)).toEqual([TITLE]);
      expect(written.run.consoles.map((c) => c.vm)).toEqual(['vm1-debian-6.12', 'vm1.2-debian-6.12']);
      expect(fs.readFileSync(path.join(written.dir, written.run.consoles[0]!.file), 'utf8')).toContain('Attempted to kill init!');
    } finally {
      await crashing.dispose();
      await normal.dispose();
    }
    expect(qemus().filter((p) => !before.includes(p))).toEqual([]);
  });
});
