// One case's run.json entry from what the engine measured and what the classifier said.
import type { Classification } from '../classify/verdict.js';
import type { CaseResult, VmInfo } from '../model/run.js';
import type { CaseRun } from './engine.js';
import type { ResolvedCase } from './suite-schema.js';

/** `customKernel`: the flags that name a kernel that is not a catalog image (--kernel/--modules, --kernel-src…). */
export function reproCommand(c: ResolvedCase, image: string, customKernel?: readonly string[]): string {
  const target = customKernel ? customKernel.map(shArg).join(' ') : `--image ${shArg(image)}`;
  return `hotunplug-ci run --suite ${shArg(c.suite)} ${target} --case ${shArg(c.id)}${c.stress.workers > 0 ? ` --stress ${c.stress.workers}` : ''}`;
}

function shArg(s: string): string {
  return /^[A-Za-z0-9_./:=@-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export function toCaseResult(
  c: ResolvedCase,
  run: CaseRun,
  cls: Classification,
  opts: { iteration: number; image: string; vm: VmInfo | null; repro: string },
): CaseResult {
  const rm = run.record.removal;
  return {
    id: c.id,
    subsystem: c.subsystem,
    provider: c.provider,
    method: c.method,
    fdKind: c.fdKind,
    op: c.op,
    iteration: opts.iteration,
    image: opts.image,
    verdict: cls.verdict,
    reason: cls.reason,
    probes: run.record.probes.map((p) => ({ ...p })),
    loops: run.record.loops.map((l) => ({
      fd: l.fd,
      op: l.op,
      iterations: l.iterations,
      counts: l.counts,
      ...(l.stress ? { stress: true } : {}),
      ...(l.stuck ? { stuck: true } : {}),
    })),
    removal: rm?.issued
      ? {
          method: rm.method,
          completed: rm.completed,
          ms: rm.ms,
          completedAfterCloseMs: rm.completed ? null : rm.completedAfterCloseMs,
          errno: rm.errno,
          ...(rm.detail ? { detail: rm.detail } : {}),
          ...(rm.blockedIn ? { blockedIn: rm.blockedIn } : {}),
        }
      : null,
    findings: run.findings.map((f) => ({ ...f, altTitles: [...f.altTitles] })),
    timings: {
      startedAt: run.startedAt,
      durationMs: run.durationMs,
      removalMs: rm?.ms ?? null,
    },
    timeline: run.timeline,
    consoleExcerpt: run.consoleExcerpt,
    // findings were detected on the excerpt itself, so their line numbers count from its first line
    consoleExcerptFirstLine: 1,
    vm: opts.vm,
    requires: c.requires,
    missingOptions: run.record.missingOptions,
    ...(cls.verdict === 'error' ? { error: cls.reason } : {}),
    repro: opts.repro,
    // a handled or skipped case needs no reproducer; the others keep what they did for one
    ...(cls.verdict !== 'handled' && cls.verdict !== 'skipped' && run.replay.length > 0 ? { replay: run.replay } : {}),
  };
}
