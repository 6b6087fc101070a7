// `hotunplug-ci boot`: boot an image to a ready agent, optionally run one command, then power off.
import process from 'node:process';
import { UsageError } from '../../errors.js';
import { resolveImage, resolveUserKernel, type ImageArtifacts } from '../../image/index.js';
import { bootGuest } from '../../scenario/vm-session.js';
import { progressReporter } from '../progress.js';
import { userKernelGaps } from '../user-kernel.js';

export interface BootCommandOptions {
  image?: string;
  kernel?: string;
  modules?: string;
  exec?: string;
  keep?: boolean;
}

export async function boot(opts: BootCommandOptions): Promise<number> {
  const progress = progressReporter();
  const image = await imageFor(opts, progress.update);
  const session = await bootGuest({ image, onProgress: progress.update });
  try {
    progress.done(
      `${image.name} (${image.kernelRelease}) ready under ${session.accel}: init ${(session.timings.readyMs / 1000).toFixed(1)} s, agent ${(session.timings.agentReadyMs / 1000).toFixed(1)} s (${session.transport}); console ${session.machine.console.file}`,
    );
    let code = 0;
    if (opts.exec) {
      const r = await (await session.ssh()).exec(opts.exec, { timeoutMs: 120_000 });
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
      if (r.timedOut) process.stderr.write(`hotunplug-ci: "${opts.exec}" timed out after 120 s\n`);
      code = r.code === 0 && !r.timedOut ? 0 : 1;
    }
    if (opts.keep) {
      process.stderr.write(`guest kept: ssh -i ${session.key.privateKeyPath} -p ${session.machine.spec.sshHostPort} root@127.0.0.1 (Ctrl-C stops it)\n`);
      await new Promise<void>((resolve) => {
        const stop = (): void => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        void session.machine.exited.then(stop);
      });
    }
    return code;
  } finally {
    await session.stop();
  }
}

export async function imageFor(opts: { image?: string; kernel?: string; modules?: string }, onProgress: (s: string) => void): Promise<ImageArtifacts> {
  if (opts.kernel || opts.modules) {
    if (!opts.kernel || !opts.modules) throw new UsageError('--kernel and --modules go together');
    const image = await resolveUserKernel({ kernel: opts.kernel, modules: opts.modules, onProgress });
    for (const line of await userKernelGaps(opts.kernel, opts.modules)) process.stderr.write(`${line}\n`);
    return image;
  }
  return resolveImage(opts.image, { build: true, onProgress });
}
