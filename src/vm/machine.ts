// One QEMU guest: spawned under `setpriv --pdeathsig KILL` (so even SIGKILL of node takes QEMU
// with it), tracked by the reaper (so every normal/error/signal exit path kills it), with QMP
// connected and the serial console captured from the first byte.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, InfraError } from '../errors.js';
import { track } from '../util/reaper.js';
import { ConsoleCapture } from './console.js';
import { qemuBinary, setprivBinary } from './host-tools.js';
import { MachineSpecSchema, runFiles, type MachineSpec, type MachineSpecInput } from './machine-spec.js';
import { qemuArgv } from './qemu-argv.js';
import { QmpClient } from './qmp/client.js';
import { QmpClosedError } from './qmp/errors.js';

export interface MachineExit {
  code: number | null;
  signal: string | null;
}

export interface MachineStartOptions {
  /** Bound for QMP to come up after spawn (QEMU creates the socket before the guest runs). */
  qmpTimeoutMs?: number;
  /** Bound for stop() to wait for QEMU after `quit` before SIGKILL. */
  stopGraceMs?: number;
}

// sun_path is 108 bytes including the NUL.
const MAX_UNIX_PATH = 107;
const STDERR_KEEP = 64 * 1024;

export class Machine {
  readonly spec: MachineSpec;
  /** QEMU's argv (without the binary). */
  readonly argv: string[];
  /** The whole command line as spawned: setpriv … qemu-system-x86_64 …argv. */
  readonly command: string[];
  readonly qmp: QmpClient;
  readonly console: ConsoleCapture;
  /** Resolves (never rejects) once QEMU exited and the console files are complete on disk. */
  readonly exited: Promise<MachineExit>;
  readonly pid: number;
  private readonly child: ChildProcess;
  private readonly stderrBuf: { text: string };
  private readonly graceMs: number;
  private exitInfo: MachineExit | null = null;
  private stopping: Promise<void> | null = null;

  private constructor(init: {
    spec: MachineSpec;
    argv: string[];
    command: string[];
    qmp: QmpClient;
    console: ConsoleCapture;
    exited: Promise<MachineExit>;
    child: ChildProcess;
    stderrBuf: { text: string };
    graceMs: number;
  }) {
    this.spec = init.spec;
    this.argv = init.argv;
    this.command = init.command;
    this.qmp = init.qmp;
    this.console = init.console;
    this.exited = init.exited;
    this.child = init.child;
    this.pid = init.child.pid!;
    this.stderrBuf = init.stderrBuf;
    this.graceMs = init.graceMs;
    void this.exited.then((e) => (this.exitInfo = e));
  }

  static async start(input: MachineSpecInput, opts: MachineStartOptions = {}): Promise<Machine> {
    const parsed = MachineSpecSchema.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new ConfigError('machine spec', issue.path.join('.'), issue.message);
    }
    const spec = parsed.data;
    const runDir = path.resolve(spec.runDir);
    const qmpPath = path.join(runDir, runFiles.qmpSocket);
    if (Buffer.byteLength(qmpPath) > MAX_UNIX_PATH) {
      throw new ConfigError('machine spec', 'runDir', `${runDir} is too long for a unix socket path (${qmpPath} > ${MAX_UNIX_PATH} bytes)`);
    }
    const qemu = qemuBinary();
    const setpriv = setprivBinary();
    // Files QEMU would only complain about in its own words: name them here, one clear line each.
    const files: [string, string][] = [['kernel', spec.kernel], ...(spec.initrd ? [['initrd', spec.initrd] as [string, string]] : [])];
    spec.drives.forEach((d, i) => files.push([`drives.${i}.file`, d.file]));
    for (const [field, file] of files) {
      if (!fs.existsSync(file)) throw new ConfigError('machine spec', field, `${file} does not exist`);
    }
    fs.mkdirSync(runDir, { recursive: true });
    fs.rmSync(qmpPath, { force: true });
    fs.rmSync(path.join(runDir, runFiles.agentSocket), { force: true });

    const resolved = { ...spec, runDir };
    const argv = qemuArgv(resolved);
    const command = [setpriv, '--pdeathsig', 'KILL', '--', qemu, ...argv];
    // QEMU appends the console to this file (qemu-argv.ts); it exists before QEMU starts so the
    // capture can follow it from the first byte
    const consoleFile = path.join(runDir, runFiles.console);
    fs.writeFileSync(consoleFile, '');
    const consoleCapture = new ConsoleCapture(consoleFile, { linesFile: path.join(runDir, runFiles.consoleLines), writeRaw: false });
    const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    const untrack = track(child);
    consoleCapture.follow();

    const stderrBuf = { text: '' };
    const stderrFile = fs.createWriteStream(path.join(runDir, runFiles.qemuStderr));
    stderrFile.on('error', () => {});
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      stderrFile.write(d);
      stderrBuf.text = (stderrBuf.text + d).slice(-STDERR_KEEP);
    });

    let spawnError: Error | null = null;
    const exited = new Promise<MachineExit>((resolve) => {
      const done = (code: number | null, signal: string | null): void => {
        untrack();
        consoleCapture.end();
        void Promise.all([consoleCapture.closed, new Promise<void>((r) => stderrFile.end(r))]).then(() => resolve({ code, signal }));
      };
      child.on('error', (e) => {
        spawnError = e;
        if (child.pid === undefined) done(null, null);
      });
      child.on('close', (code, signal) => done(code, signal));
    });
    let hasExited: MachineExit | null = null;
    void exited.then((e) => (hasExited = e));

    const describe = (why: string): InfraError =>
      new InfraError(
        `QEMU ${why}${stderrBuf.text.trim() ? `: ${stderrBuf.text.trim().split('\n').slice(-5).join(' | ')}` : ''}`,
        [`$ ${command.join(' ')}`, ...stderrBuf.text.split('\n').filter(Boolean), ...consoleCapture.tail(20)],
        spawnError ? { cause: spawnError } : undefined,
      );

    let qmp: QmpClient | null;
    try {
      qmp = await connectQmp(qmpPath, opts.qmpTimeoutMs ?? 20_000, exited, () => hasExited);
    } catch (e) {
      child.kill('SIGKILL');
      await exited;
      throw describe(`did not bring up QMP on ${qmpPath}: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (!qmp) {
      const e = await exited;
      const err = spawnError as Error | null;
      throw describe(err ? `could not be started (${err.message})` : `exited (code ${e.code}, signal ${e.signal}) before QMP came up`);
    }
    return new Machine({ spec: resolved, argv, command, qmp, console: consoleCapture, exited, child, stderrBuf, graceMs: opts.stopGraceMs ?? 3000 });
  }

  get runDir(): string {
    return this.spec.runDir;
  }

  /** Exit status once QEMU has exited (and the console is flushed), else null. */
  get exitStatus(): MachineExit | null {
    return this.exitInfo;
  }

  /** The last bytes QEMU wrote to stderr. */
  stderr(): string {
    return this.stderrBuf.text;
  }

  /** Idempotent: QMP `quit`, then SIGKILL if QEMU is still there after the grace period. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (!this.exitInfo) {
        // QEMU may close the socket before it replies to quit; that is success too.
        await this.qmp.execute('quit', {}, { timeoutMs: 1000 }).catch(() => {});
        let timer: NodeJS.Timeout | undefined;
        const inTime = await Promise.race([this.exited.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), this.graceMs)))]);
        clearTimeout(timer);
        if (!inTime) this.kill('SIGKILL');
        await this.exited;
      }
      this.qmp.close();
    })();
    return this.stopping;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.exitInfo) return;
    try {
      this.child.kill(signal);
    } catch {
      // already gone
    }
  }
}

/** Retry until QEMU's socket accepts us; null if QEMU exits first. */
async function connectQmp(socketPath: string, timeoutMs: number, exited: Promise<MachineExit>, hasExited: () => MachineExit | null): Promise<QmpClient | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (hasExited()) return null;
    const left = deadline - Date.now();
    if (left <= 0) throw new InfraError(`QMP socket did not accept a connection within ${timeoutMs} ms`);
    if (fs.existsSync(socketPath)) {
      try {
        const qmp = await Promise.race([QmpClient.connect(socketPath, { timeoutMs: left }), exited.then(() => null)]);
        return qmp;
      } catch (e) {
        // Socket file present but not listening yet, or QEMU died during the handshake.
        if (!(e instanceof QmpClosedError)) throw e;
      }
    }
    await Promise.race([new Promise((r) => setTimeout(r, 25)), exited]);
  }
}
