// Progress of a kernel build: which stage, and how many objects make has compiled so far (counted
// from kbuild's "  CC      path" lines). Shown with ora on a TTY, as periodic plain lines otherwise.
import { spinner as ora } from '../util/spinner.js';

export type KernelBuildStage =
  | 'source' // download / unpack the source package
  | 'configure' // allnoconfig + merge_config + olddefconfig + verify
  | 'compile' // bzImage modules
  | 'install' // modules_install
  | 'extra' // out-of-tree module sets (the canary)
  | 'initramfs'
  | 'done';

export interface KernelBuildProgress {
  stage: KernelBuildStage;
  /** Objects compiled in this make run (C and assembly, built-in and modules). */
  objects: number;
  /** Objects the previous full build of this object dir compiled, when known: a rough total. */
  expectedObjects: number | null;
  elapsedMs: number;
  message?: string;
}

// kbuild quiet output: two spaces, a short tag, padding, a path. CC [M] for module objects.
const COMPILED = /^ {2}(?:CC|AS)(?: \[M\])? +\S/;

export function isCompiledObjectLine(line: string): boolean {
  return COMPILED.test(line);
}

export function formatProgress(p: KernelBuildProgress): string {
  const mins = Math.floor(p.elapsedMs / 60000);
  const secs = Math.floor((p.elapsedMs % 60000) / 1000);
  const t = `${mins}m${String(secs).padStart(2, '0')}s`;
  if (p.stage === 'compile') {
    const of = p.expectedObjects ? `/~${p.expectedObjects} (${Math.min(99, Math.floor((100 * p.objects) / p.expectedObjects))}%)` : '';
    return `kernel: compile ${p.objects}${of} objects, ${t}`;
  }
  return `kernel: ${p.stage}${p.message ? ` — ${p.message}` : ''}, ${t}`;
}

export interface ProgressReporter {
  update(p: KernelBuildProgress): void;
  stop(finalText?: string): void;
}

/** ora spinner on a TTY; otherwise a plain line on each stage change and every `intervalMs` while compiling. */
export function kernelProgressReporter(stream: NodeJS.WriteStream = process.stderr, opts: { intervalMs?: number; tty?: boolean } = {}): ProgressReporter {
  // a terminal of no width (a pty nobody sized) makes ora clear "Infinity" lines on every frame
  const tty = opts.tty ?? Boolean(stream.isTTY && (stream.columns ?? 0) > 0);
  if (tty && ora) {
    const spinner = ora({ stream, text: 'kernel: starting' }).start();
    return {
      update: (p) => {
        spinner.text = formatProgress(p);
      },
      stop: (finalText) => {
        if (finalText) spinner.succeed(finalText);
        else spinner.stop();
      },
    };
  }
  const interval = opts.intervalMs ?? 30_000;
  let lastStage: KernelBuildStage | null = null;
  let lastAt = 0;
  return {
    update: (p) => {
      if (p.stage !== lastStage || p.elapsedMs - lastAt >= interval) {
        lastStage = p.stage;
        lastAt = p.elapsedMs;
        stream.write(`${formatProgress(p)}\n`);
      }
    },
    stop: (finalText) => {
      if (finalText) stream.write(`${finalText}\n`);
    },
  };
}
