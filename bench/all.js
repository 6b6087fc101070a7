#!/usr/bin/env node
// npm run bench — every performance figure of hotunplug-ci in one run (dist/ is built by prebench).
//   boot      QEMU start → agent ready per image, median of 3 (kasan-6.12 = default image, debian-6.12),
//             booted vs restored from the saved ready guest
//   cases     per-case wall on one reused VM vs a fresh VM (a CLI run) per case, same small case set
//   suite     `run --suite gpio,i2c,nvmem` wall time, and orchestrator (node) CPU vs QEMU CPU from /proc;
//             the same cut to one case, for what a further case costs each
//   catalog   `run --suite all` (every suite on the images it declares) wall time, VMs at once as
//             the CLI chooses them unless --jobs is given
//   detect    detector throughput over the shared syzkaller corpus (else src/detect/testdata)
// Usage: node bench/all.js [--json] [--quick] [--skip boot,cases,suite,catalog,old,detect] [--jobs N] [--repeat N]
//   --quick: one boot per image, two fresh cases, no suite run (minutes, not a quarter hour)
//   --repeat N: the main job N times; the orchestrator's share is their median (one run's share
//            moves by half a point with the host's speed from one run to the next)
//   --json:  ONE JSON object on stdout; progress goes to stderr
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freshBundle } from '../bin/fresh-bundle.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const json = args.includes('--json');
const quick = args.includes('--quick');
const flagValue = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const skip = new Set((flagValue('--skip') ?? '').split(',').filter(Boolean));
for (const s of skip) {
  if (!['boot', 'cases', 'suite', 'catalog', 'old', 'detect'].includes(s)) {
    console.error(`bench: --skip: unknown part "${s}" (boot, cases, suite, catalog, old, detect)`);
    process.exit(2);
  }
}
const suiteJobs = flagValue('--jobs') ?? '1';
const repeat = Number(flagValue('--repeat') ?? '1');
if (!Number.isInteger(repeat) || repeat < 1 || repeat > 20) {
  console.error(`bench: --repeat: "${flagValue('--repeat')}" is not a whole number from 1 to 20`);
  process.exit(2);
}
// the catalog runs as users run it (VMs at once from cores and memory) unless --jobs says otherwise
const catalogJobs = flagValue('--jobs') ? ['--jobs', flagValue('--jobs')] : [];
const log = (s) => (json ? process.stderr : process.stdout).write(`${s}\n`);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? null : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x, d = 2) => (x === null || x === undefined ? null : Math.round(x * 10 ** d) / 10 ** d);
const CLK_TCK = 100; // USER_HZ on Linux x86-64

// ---- /proc sampling: CPU of a process tree (the CLI's node process and its QEMU descendants) ----

function readStat(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = s.lastIndexOf(')');
    const comm = s.slice(s.indexOf('(') + 1, close);
    const f = s.slice(close + 2).split(' '); // f[0] = state (field 3)
    return { comm, ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) /* utime + stime */, start: f[19] };
  } catch {
    return null;
  }
}

/** utime+stime and cutime+cstime (reaped descendants) of a pid, in ticks. */
function selfAndChildren(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { self: Number(f[11]) + Number(f[12]), children: Number(f[13]) + Number(f[14]) };
  } catch {
    return null;
  }
}

/**
 * CPU of the CLI (node) and of the QEMUs it starts. Exact when the CLI says at its exit what its
 * reaped descendants used (bench/exit-cpu.cjs, preloaded): the QEMUs and the helpers they ran (a
 * restore's `exec:cat` of the saved state), to the last tick; node's own total is this process's
 * cutime+cstime growth once the CLI is reaped, less that. Without the file (a CLI that died), from
 * /proc samples: the CLI's cutime+cstime at the last sample plus the QEMUs still running then —
 * which gives node the last half second of the last QEMU (its exit, its helpers): ~0.4 s a main job.
 */
function cpuSampler(rootPid, exitFile, everyMs = 500) {
  const before = selfAndChildren('self');
  let reaped = 0; // the CLI's cutime+cstime at the last sample
  let liveAtLast = 0;
  const qemus = new Set();
  const sample = () => {
    const r = selfAndChildren(rootPid);
    if (!r) return;
    reaped = Math.max(reaped, r.children);
    let live = 0;
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const st = readStat(name);
      if (!st?.comm.startsWith('qemu-system') || st.ppid !== rootPid) continue;
      qemus.add(`${name}@${st.start}`);
      live += st.ticks;
    }
    liveAtLast = live;
  };
  const timer = setInterval(sample, everyMs);
  sample();
  return {
    /** call once the CLI has exited and been reaped */
    stop() {
      clearInterval(timer);
      const after = selfAndChildren('self');
      const cliAndDescendants = after.children - before.children;
      let atExit = null;
      try {
        atExit = JSON.parse(readFileSync(exitFile, 'utf8'));
      } catch {
        // no word from the CLI: the samples
      }
      const children = atExit ? atExit.children : reaped + liveAtLast;
      // node's own CPU at its first child's spawn and its last child's exit (null without children)
      const phases =
        atExit?.firstSpawn != null && atExit.lastChildExit != null
          ? {
              toFirstChildSeconds: atExit.firstSpawn / CLK_TCK,
              whileChildrenSeconds: (atExit.lastChildExit - atExit.firstSpawn) / CLK_TCK,
              afterLastChildSeconds: (atExit.self - atExit.lastChildExit) / CLK_TCK,
            }
          : null;
      return {
        nodeCpuSeconds: (cliAndDescendants - children) / CLK_TCK,
        qemuCpuSeconds: children / CLK_TCK,
        qemuProcesses: qemus.size,
        counted: atExit ? "at the CLI's exit" : 'from samples',
        phases,
      };
    },
  };
}

// ---- the CLI as a child process ----

/** Runs `hotunplug-ci run ARGS --json --out TMP`; returns wall, CPU split and run.json. */
async function cliRun(runArgs, { sampleCpu = false, env = {} } = {}) {
  const out = mkdtempSync(join(os.tmpdir(), 'huci-bench-'));
  const argv = [join(root, 'bin', 'hotunplug-ci.js'), 'run', ...runArgs, '--json', '--out', out];
  const t0 = performance.now();
  const exitFile = join(out, 'cpu-at-exit.json');
  const nodeOptions = `${process.env.NODE_OPTIONS ?? ''} --require ${JSON.stringify(join(root, 'bench', 'exit-cpu.cjs'))}`.trim();
  const child = spawn(process.execPath, argv, {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env, ...(sampleCpu ? { NODE_OPTIONS: nodeOptions, HUCI_BENCH_CPU_FILE: exitFile } : {}) },
  });
  const sampler = sampleCpu ? cpuSampler(child.pid, exitFile) : null;
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise((r) => child.on('close', (c) => r(c)));
  const wallSeconds = (performance.now() - t0) / 1000;
  const cpu = sampler?.stop() ?? null;
  let run = null;
  try {
    const dir = JSON.parse(stdout).dir;
    run = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
  } catch {
    /* reported below */
  }
  rmSync(out, { recursive: true, force: true });
  if (!run || code === 2 || code === 3) {
    throw new Error(`hotunplug-ci run ${runArgs.join(' ')} failed (exit ${code}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
  }
  return { wallSeconds, cpu, run, code };
}

const results = {
  date: new Date().toISOString(),
  machine: { cpus: os.cpus().length, memGiB: round(os.totalmem() / 2 ** 30, 1), loadavg1: round(os.loadavg()[0]) },
};

// The launcher's choice (bin/fresh-bundle.js): after a bare `tsc` (a full test's set-up does one)
// the CLI loads dist/ module by module, and every figure below would be that slower start's.
// `npm run bench` builds both first.
results.cliFrom = freshBundle(root) ? 'bundle' : 'dist';
if (results.cliFrom === 'dist')
  log("cli    runs dist/, not the bundle (older than tsc's output, or none): figures are not what users get; run `npm run build`");

// ---- 1. boot ----
if (!skip.has('boot')) {
  const { resolveImage } = await import(join(root, 'dist', 'image', 'resolve.js'));
  const { bootTimes, restoreTimes } = await import('./boot-times.js');
  const runs = quick ? 1 : 3;
  results.boot = [];
  for (const name of ['kasan-6.12', 'debian-6.12']) {
    let image;
    try {
      image = await resolveImage(name, { build: false });
    } catch (e) {
      log(`boot ${name}: not built (${e.message.split('\n')[0]}); run \`hotunplug-ci image build ${name}\``);
      continue;
    }
    const { accel, ready, agent } = await bootTimes(image, runs);
    const restored = await restoreTimes(image, runs);
    const r = {
      image: name,
      accelerator: accel,
      initReadySeconds: round(median(ready)),
      agentReadySeconds: round(median(agent)),
      runs: agent.map((x) => round(x)),
      restoredReadySeconds: round(median(restored.ready)),
      restoredLoadedSeconds: round(median(restored.loaded)),
      restoredRuns: restored.ready.map((x) => round(x)),
      saveSeconds: round(restored.saveSeconds),
      stateMB: round(restored.stateMB, 0),
    };
    results.boot.push(r);
    log(
      `boot   ${name.padEnd(12)} ${accel}  init ${r.initReadySeconds.toFixed(2)} s  agent ready ${r.agentReadySeconds.toFixed(2)} s  (median of ${runs}: ${r.runs.join(', ')})`,
    );
    log(
      `boot   ${name.padEnd(12)} restored: ready ${r.restoredReadySeconds.toFixed(2)} s (state loaded ${r.restoredLoadedSeconds.toFixed(2)} s; median of ${runs}: ${r.restoredRuns.join(', ')}) vs booted ${r.agentReadySeconds.toFixed(2)} s; saving it took ${r.saveSeconds} s, ${r.stateMB} MB`,
    );
  }
  const def = results.boot.find((b) => b.image === 'kasan-6.12') ?? results.boot[0];
  results.agentReadySeconds = def?.agentReadySeconds ?? null;
  results.restoredReadySeconds = def?.restoredReadySeconds ?? null;
}

// ---- 2. per case: reused VM vs fresh VM ----
// Small cases that share a VM within their suite and finish without a deliberate timeout.
const CASE_SETS = [
  { suite: 'gpio', glob: 'gpio/sim-unbind-chip-*' },
  { suite: 'canary', glob: 'canary/fixed-unbind-*' },
];
// on the default image only: a suite may name others too (canary: kasan-6.12-heavy), and a machine
// without them would build one first (a kernel: a quarter of an hour) inside a figure
const CASE_IMAGE = ['--image', 'kasan-6.12'];
// the older way beside the new one, measured in the same run: every VM booted, the settle by
// console quiet, a blocked removal waited out to its bound
const OLD = { env: { HUCI_SETTLE: 'quiet', HUCI_BLOCKED_EVIDENCE_MS: 'off' }, args: ['--no-snapshots'] };
const OLD_HOW = 'booted VMs (--no-snapshots), quiet window (HUCI_SETTLE=quiet), blocked waited out (HUCI_BLOCKED_EVIDENCE_MS=off)';
if (!skip.has('cases')) {
  const reused = [];
  const reusedOld = [];
  const ids = [];
  let reusedWall = 0;
  for (const set of CASE_SETS) {
    // --no-controls: the per-case cost, without the canary controls a run adds on KASAN images
    const old = await cliRun(['--suite', set.suite, '--case', set.glob, ...CASE_IMAGE, '--no-controls', ...OLD.args], { env: OLD.env });
    for (const c of old.run.cases.filter((x) => x.id.startsWith(`${set.suite}/`) && x.verdict !== 'skipped')) reusedOld.push(c.timings.durationMs / 1000);
    const r = await cliRun(['--suite', set.suite, '--case', set.glob, ...CASE_IMAGE, '--no-controls']);
    reusedWall += r.wallSeconds;
    // only the selected cases: a run may add its calibration (canary) controls
    const mine = r.run.cases.filter((c) => c.id.startsWith(`${set.suite}/`) && c.verdict !== 'skipped');
    for (const c of mine) {
      reused.push(c.timings.durationMs / 1000);
      ids.push({ suite: set.suite, id: c.id, verdict: c.verdict });
    }
    log(
      `cases  reused VM: ${set.glob}: ${mine.length} cases in ${r.wallSeconds.toFixed(1)} s wall, ${r.run.cases.length} with controls (${mine.map((c) => `${(c.timings.durationMs / 1000).toFixed(2)}`).join(', ')} s each)`,
    );
  }
  const freshIds = quick ? [ids[0], ids[ids.length - 1]].filter(Boolean) : ids;
  const fresh = [];
  for (const c of freshIds) {
    const r = await cliRun(['--suite', c.suite, '--case', c.id, ...CASE_IMAGE, '--no-controls']);
    fresh.push(r.wallSeconds);
    log(`cases  fresh VM:  ${c.id}: ${r.wallSeconds.toFixed(1)} s wall (boot + case + shutdown)`);
  }
  results.cases = {
    ids: ids.map((c) => c.id),
    reusedSeconds: reused.map((x) => round(x)),
    freshSeconds: fresh.map((x) => round(x)),
    reusedRunWallSeconds: round(reusedWall),
    reusedSecondsQuietSettle: reusedOld.map((x) => round(x)),
  };
  results.perCaseSecondsReused = round(median(reused));
  results.perCaseSecondsReusedQuietSettle = round(median(reusedOld));
  log(`cases  per case on a reused VM: flush ${results.perCaseSecondsReused} s; the older quiet window ${results.perCaseSecondsReusedQuietSettle} s (median)`);
  results.perCaseSecondsFresh = round(median(fresh));
  results.freshOverReused = round(results.perCaseSecondsFresh / results.perCaseSecondsReused, 1);
  log(`cases  per case: reused VM ${results.perCaseSecondsReused} s, fresh VM ${results.perCaseSecondsFresh} s (median; ${results.freshOverReused}x)`);
}

// ---- 3. the main job, with the orchestrator's CPU against QEMU's ----
/** the main job's case the one-case run keeps (with the controls), for the cost of a further case */
const ONE_CASE = 'nvmem/at24-unbind-nvmem-pread';
/** The run's VM starts by how (boot/restore): how many, median seconds (asking for the VM → agent ready). */
function vmStarts(run) {
  const by = {};
  for (const b of run.boots.filter((x) => x.ok)) (by[b.start?.how ?? 'boot'] ??= []).push(b.ms / 1000);
  return Object.fromEntries(Object.entries(by).map(([how, xs]) => [how, { n: xs.length, medianSeconds: round(median(xs)) }]));
}
const describeStarts = (s) =>
  Object.entries(s)
    .map(([how, v]) => `${v.n} ${how === 'restore' ? 'restored' : 'booted'} (median ${v.medianSeconds} s)`)
    .join(', ') || 'none';

/** node's CPU as a share of its QEMUs' (null when no QEMU ran) */
const share = (cpu) => (cpu.qemuCpuSeconds > 0 ? cpu.nodeCpuSeconds / cpu.qemuCpuSeconds : null);
const percent = (x) => (x === null ? '-' : `${(x * 100).toFixed(1)} %`);
/** node's and QEMU's CPU of a run, with the share */
const cpuPair = (cpu) => `${cpu.nodeCpuSeconds.toFixed(1)} s of QEMU's ${cpu.qemuCpuSeconds.toFixed(1)} s (${percent(share(cpu))})`;
/** node's share of QEMU's CPU while its QEMUs ran: the orchestration without its start and final reports */
const shareWhileGuestsRan = (cpu) =>
  cpu.phases === null ? null : share({ nodeCpuSeconds: cpu.phases.whileChildrenSeconds, qemuCpuSeconds: cpu.qemuCpuSeconds });
/** node's CPU by phase: its start (to its first child, a QEMU in a warm run), while its QEMUs ran, after them */
const describePhases = (cpu) =>
  cpu.phases === null
    ? 'no phases (no word from the CLI)'
    : `node's CPU to its first child process ${cpu.phases.toFirstChildSeconds.toFixed(2)} s, while its QEMUs ran ${cpu.phases.whileChildrenSeconds.toFixed(2)} s ` +
      `(${percent(shareWhileGuestsRan(cpu))} of QEMU's), after the last ${cpu.phases.afterLastChildSeconds.toFixed(2)} s`;

if (!skip.has('suite') && !quick) {
  const MAIN_JOB = ['--suite', 'gpio,i2c,nvmem', '--jobs', suiteJobs];
  const r = await cliRun(MAIN_JOB, { sampleCpu: true });
  const slow = [...r.run.cases].sort((a, b) => b.timings.durationMs - a.timings.durationMs).slice(0, 3);
  results.suiteWallSeconds = round(r.wallSeconds, 1);
  results.suite = {
    command: `run --suite gpio,i2c,nvmem --jobs ${suiteJobs}`,
    cases: r.run.cases.length,
    vms: r.run.consoles.length,
    exitCode: r.code,
    caseSecondsMedian: round(median(r.run.cases.filter((c) => c.verdict !== 'skipped').map((c) => c.timings.durationMs / 1000))),
    slowest: slow.map((c) => ({ id: c.id, image: c.image, seconds: round(c.timings.durationMs / 1000) })),
    vmStarts: vmStarts(r.run),
    ...r.cpu,
  };
  results.orchestratorCpuRatio = round(share(r.cpu), 4);
  log(
    `suite  ${results.suite.command}: ${r.run.cases.length} cases on ${results.suite.vms} VMs in ${results.suiteWallSeconds} s wall (exit ${r.code}); ` +
      `slowest ${slow.map((c) => `${c.id}@${c.image} ${(c.timings.durationMs / 1000).toFixed(1)} s`).join(', ')}; VM starts ${describeStarts(results.suite.vmStarts)}`,
  );
  // per case too: node's share moves with QEMU's CPU for the same cases, which the host's hour and
  // the guest's own work decide, while node's CPU is per request
  const perCase = (sec) => Math.round((sec * 1000) / Math.max(1, r.run.cases.length));
  results.suite.nodeCpuMsPerCase = perCase(r.cpu.nodeCpuSeconds);
  results.suite.qemuCpuMsPerCase = perCase(r.cpu.qemuCpuSeconds);
  log(
    `cpu    orchestrator ${r.cpu.nodeCpuSeconds.toFixed(1)} s vs QEMU ${r.cpu.qemuCpuSeconds.toFixed(1)} s (${r.cpu.qemuProcesses} processes; ${r.cpu.counted}): ` +
      `${percent(results.orchestratorCpuRatio)}; per case ${results.suite.nodeCpuMsPerCase} ms vs ${results.suite.qemuCpuMsPerCase} ms; ${describePhases(r.cpu)}`,
  );
  if (repeat > 1) {
    const runs = [r.cpu];
    for (let i = 1; i < repeat; i++) runs.push((await cliRun(MAIN_JOB, { sampleCpu: true })).cpu);
    const shares = runs.map(share).filter((x) => x !== null);
    results.suite.cpuRuns = runs.map((x) => ({
      nodeCpuSeconds: x.nodeCpuSeconds,
      qemuCpuSeconds: x.qemuCpuSeconds,
      ratio: round(share(x), 4),
      phases: x.phases,
    }));
    results.orchestratorCpuRatio = round(median(shares), 4);
    const running = runs.map(shareWhileGuestsRan).filter((x) => x !== null);
    results.suite.whileGuestsRanCpuRatio = running.length > 0 ? round(median(running), 4) : null;
    log(
      `cpu    orchestrator over ${repeat} runs of the job: ${runs.map((x) => `${x.nodeCpuSeconds.toFixed(2)} s vs ${x.qemuCpuSeconds.toFixed(1)} s`).join(', ')}; ` +
        `shares ${shares.map((x) => (x * 100).toFixed(2)).join(', ')} %, median ${((results.orchestratorCpuRatio ?? 0) * 100).toFixed(2)} %; ` +
        `while the guests ran ${running.map((x) => (x * 100).toFixed(2)).join(', ')} %`,
    );
  }
  // what a further case costs: the same job cut to one case (the two canary controls run too) takes
  // the start-up, the final render and a VM start; the slope between the two runs is per case
  const one = await cliRun([...MAIN_JOB, '--case', ONE_CASE], { sampleCpu: true });
  const more = r.run.cases.length - one.run.cases.length;
  // a case that did not run as in the job (error, skipped) would make the slope another job's
  const unlike = one.run.cases.filter((c) => c.verdict === 'error' || c.verdict === 'skipped').map((c) => `${c.id}: ${c.verdict}`);
  if (unlike.length > 0) log(`cpu    per further case: not measured (${unlike.join(', ')} in the one-case run)`);
  else if (more > 0) {
    const node = (r.cpu.nodeCpuSeconds - one.cpu.nodeCpuSeconds) / more;
    const qemu = (r.cpu.qemuCpuSeconds - one.cpu.qemuCpuSeconds) / more;
    results.suite.marginal = {
      fixedRun: { cases: one.run.cases.length, nodeCpuSeconds: one.cpu.nodeCpuSeconds, qemuCpuSeconds: one.cpu.qemuCpuSeconds },
      nodeCpuMsPerCase: Math.round(node * 1000),
      qemuCpuMsPerCase: Math.round(qemu * 1000),
      ratio: qemu > 0 ? round(node / qemu, 4) : null,
    };
    log(
      `cpu    per further case: orchestrator ${Math.round(node * 1000)} ms vs QEMU ${Math.round(qemu * 1000)} ms (${qemu > 0 ? ((node / qemu) * 100).toFixed(1) : '-'} %); ` +
        `a run of ${one.run.cases.length} cases: ${one.cpu.nodeCpuSeconds.toFixed(2)} s vs ${one.cpu.qemuCpuSeconds.toFixed(1)} s`,
    );
  }
  if (!skip.has('old')) {
    const o = await cliRun([...MAIN_JOB, ...OLD.args], { sampleCpu: true, env: OLD.env });
    results.suiteOld = { how: OLD_HOW, wallSeconds: round(o.wallSeconds, 1), exitCode: o.code, vmStarts: vmStarts(o.run), ...o.cpu };
    log(
      `suite  the same the older way (${OLD_HOW}): ${round(o.wallSeconds, 1)} s wall vs ${results.suiteWallSeconds} s; orchestrator CPU ` +
        // the seconds too: a share moves with either side, and the older way's QEMU did more (boots, quiet windows)
        `${cpuPair(o.cpu)} vs ${cpuPair(r.cpu)}; ` +
        `VM starts ${describeStarts(results.suiteOld.vmStarts)} vs ${describeStarts(results.suite.vmStarts)}`,
    );
  }
}

// ---- 4. the whole catalog ----
if (!skip.has('catalog') && !quick) {
  // the orchestrator's share here too: the start and the final render are spread over ten times the cases
  const r = await cliRun(['--suite', 'all', ...catalogJobs], { sampleCpu: true });
  const ran = r.run.cases.filter((c) => c.verdict !== 'skipped').length;
  results.catalog = {
    command: ['run --suite all', ...catalogJobs].join(' '),
    cases: r.run.cases.length,
    ran,
    wallSeconds: round(r.wallSeconds, 1),
    vmStarts: vmStarts(r.run),
    ...r.cpu,
    orchestratorCpuRatio: round(share(r.cpu), 4),
  };
  results.catalogWallSeconds = results.catalog.wallSeconds;
  let old = '';
  if (!skip.has('old')) {
    const o = await cliRun(['--suite', 'all', ...catalogJobs, ...OLD.args], { sampleCpu: true, env: OLD.env });
    results.catalogOld = {
      how: OLD_HOW,
      wallSeconds: round(o.wallSeconds, 1),
      vmStarts: vmStarts(o.run),
      ...o.cpu,
      orchestratorCpuRatio: round(share(o.cpu), 4),
    };
    old = `; the older way ${results.catalogOld.wallSeconds} s (VM starts ${describeStarts(results.catalogOld.vmStarts)}; orchestrator CPU ${cpuPair(o.cpu)})`;
  }
  log(
    `catalog ${results.catalog.command}: ${r.run.cases.length} cases (${ran} ran) in ${results.catalog.wallSeconds} s wall (VM starts ${describeStarts(results.catalog.vmStarts)}); ` +
      `orchestrator CPU ${cpuPair(r.cpu)}; ${describePhases(r.cpu)}${old}`,
  );
}

// ---- 5. detector throughput ----
if (!skip.has('detect')) {
  const { detect } = await import(join(root, 'dist', 'detect', 'index.js'));
  const corpus = join(root, '..', 'shared', 'corpus', 'syzkaller-report');
  const files = [];
  const walk = (d) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else files.push(p);
    }
  };
  let source;
  if (existsSync(corpus)) {
    source = corpus;
    for (const n of readdirSync(corpus)) if (/^\d+$/.test(n)) files.push(join(corpus, n));
  } else {
    source = join(root, 'src', 'detect', 'testdata');
    walk(source);
  }
  const logs = files.map((f) => readFileSync(f, 'utf8'));
  const mb = logs.reduce((n, l) => n + Buffer.byteLength(l), 0) / 1e6;
  const times = [];
  let findings = 0;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    findings = 0;
    for (const l of logs) findings += detect(l).length;
    times.push((performance.now() - t0) / 1000);
  }
  results.detect = { source, logs: logs.length, MB: round(mb), findings, coldSeconds: round(times[0], 3), bestSeconds: round(Math.min(...times), 3) };
  results.detectorMBps = round(mb / Math.min(...times), 1);
  log(
    `detect ${logs.length} logs, ${mb.toFixed(2)} MB, ${findings} findings: ${results.detectorMBps} MB/s (best of 5; cold ${(mb / times[0]).toFixed(1)} MB/s)`,
  );
}

// ---- targets (2 cores, TCG, warm cache) ----
const bootOf = (n) => results.boot?.find((b) => b.image === n)?.agentReadySeconds;
const targets = [
  ['agent ready kasan-6.12 <= 6 s', bootOf('kasan-6.12'), (v) => v <= 6],
  ['agent ready debian-6.12 <= 8 s', bootOf('debian-6.12'), (v) => v <= 8],
  ['restored guest ready (kasan-6.12) <= 1 s', results.restoredReadySeconds, (v) => v <= 1],
  ['per case on a reused VM <= 0.4 s', results.perCaseSecondsReused, (v) => v <= 0.4],
  ['run --suite gpio,i2c,nvmem <= 60 s', results.suiteWallSeconds, (v) => v <= 60],
  ['orchestrator CPU <= 5 % of QEMU', results.orchestratorCpuRatio, (v) => v <= 0.05],
  ['run --suite all <= 480 s', results.catalogWallSeconds, (v) => v <= 480],
];
results.targets = targets.filter(([, v]) => v !== undefined && v !== null).map(([name, v, ok]) => ({ name, value: v, met: ok(v) }));
if (results.machine.loadavg1 > results.machine.cpus * 0.5) results.note = 'measured under load: indicative only';
if (json) console.log(JSON.stringify(results));
else {
  for (const t of results.targets) log(`target ${t.met ? 'met    ' : 'MISSED '} ${t.name}: ${t.value}`);
  if (results.note) log(`note: ${results.note} (load average ${results.machine.loadavg1} at start on ${results.machine.cpus} cores)`);
}
