// Shared by integration tests: boot a cached image (building it if needed) and assert no QEMU is left.
import { execa } from 'execa';
import { resolveImage } from '../../src/image/resolve.js';
import { bootGuest, type BootOptions, type GuestSession } from '../../src/scenario/vm-session.js';

export async function bootImage(name: string, opts: Omit<BootOptions, 'image'> = {}): Promise<GuestSession> {
  const image = await resolveImage(name, { build: true });
  return bootGuest({ ...opts, image });
}

/** pids of qemu-system processes whose command line mentions runDir */
export async function qemuPidsFor(runDir: string): Promise<number[]> {
  const r = await execa('pgrep', ['-f', `qemu-system-x86_64.*${runDir}`], { reject: false });
  return r.stdout.split('\n').filter(Boolean).map(Number);
}
