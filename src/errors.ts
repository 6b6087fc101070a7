// Typed errors. Commands throw these; only src/cli/main.ts turns them into exit codes.
// Exit codes (README, --help): 0 ok, 1 failures/regressions/findings, 2 usage/config, 3 infrastructure.

import type { Finding } from './detect/finding.js';

export const ExitCode = {
  ok: 0,
  failures: 1,
  usage: 2,
  infra: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** `bisect-step` speaks `git bisect run`'s language: 1–127 but 125 are "bad", so errors cannot keep 2 and 3. */
export const BisectExit = { good: 0, bad: 1, skip: 125, abort: 128 } as const;

/** An error's exit code under bisect-step: the machinery failing skips the commit, a usage error aborts the bisection. */
export function bisectExitFor(code: number): number {
  if (code === ExitCode.ok) return BisectExit.good;
  return code === ExitCode.infra ? BisectExit.skip : BisectExit.abort;
}

export abstract class HotunplugError extends Error {
  abstract readonly exitCode: ExitCode;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A bad flag or argument on the command line. */
export class UsageError extends HotunplugError {
  readonly exitCode = ExitCode.usage;
}

/** A bad file the user gave us (suite, fragment, run.json…): names the file and the path inside it. */
export class ConfigError extends HotunplugError {
  readonly exitCode = ExitCode.usage;
  constructor(
    readonly file: string,
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${file}${path ? `: ${path}` : ''}: ${problem}`);
  }
}

/** The machinery failed (QEMU, SSH, disk, a build): not a verdict about the kernel. */
export class InfraError extends HotunplugError {
  readonly exitCode = ExitCode.infra;
  constructor(
    message: string,
    readonly transcript: readonly string[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A tool or package the host lacks; the message carries the install line. */
export class MissingDependencyError extends InfraError {
  constructor(
    what: string,
    readonly installLine: string,
  ) {
    super(`${what} is missing; install it with: ${installLine}`);
  }
}

/** Something did not happen within its bound; carries what was seen meanwhile (e.g. console tail). */
export class TimeoutError extends InfraError {
  constructor(
    message: string,
    readonly seconds: number,
    transcript: readonly string[] = [],
  ) {
    super(message, transcript);
  }
}

/**
 * How a boot failed, as syzkaller keeps BootError apart from InfraError: the kernel reported a bug
 * on the console (crash), the guest went away (exited: a panic with panic=-1 reboots, and QEMU runs
 * with -no-reboot), or it never became ready within its bound (timeout).
 */
export type BootFailureKind = 'crash' | 'exited' | 'timeout';

const BOOT_FAILURE_PHRASE: Record<BootFailureKind, string> = {
  crash: 'the kernel crashed while booting',
  exited: 'the guest went away while booting',
  timeout: 'the guest did not finish booting',
};

/** The kernel failed to boot: a finding about the kernel, not about the machinery (InfraError). */
export class BootError extends HotunplugError {
  readonly exitCode = ExitCode.failures;
  constructor(
    readonly kind: BootFailureKind,
    /** the report's title (crash), or what was seen instead */
    readonly title: string,
    /** the last console lines */
    readonly consoleTail: readonly string[],
    /** the kernel reports seen while booting */
    readonly findings: readonly Finding[] = [],
  ) {
    super(`${BOOT_FAILURE_PHRASE[kind]}: ${title}`);
  }
  /** host time (ms since epoch) the first report's first line arrived, when known */
  reportHostMs: number | null = null;
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
