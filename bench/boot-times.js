// Boots an image `runs` times: the accelerator and each boot's QEMU start → init ready / agent
// ready, in seconds; and the same machine restored from its saved ready state. Shared by
// bench/all.js and bench/boot.js.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootGuest } from '../dist/scenario/vm-session.js';

export async function bootTimes(image, runs) {
  const ready = [];
  const agent = [];
  let accel = '';
  for (let i = 0; i < runs; i++) {
    const s = await bootGuest({ image });
    accel = s.accel;
    ready.push(s.timings.readyMs / 1000);
    agent.push(s.timings.agentReadyMs / 1000);
    await s.stop();
  }
  return { accel, ready, agent };
}

/**
 * One boot that saves the guest (in a directory of the bench's own, not the image cache), then
 * `runs` restores of it: state loaded (s) and ready (agent answers, clock and CRNG refreshed, s).
 */
export async function restoreTimes(image, runs) {
  const dir = mkdtempSync(join(tmpdir(), 'huci-bench-snap-'));
  const own = { ...image, dir };
  try {
    const first = await bootGuest({ image: own, snapshots: true });
    const saved = first.start.saved;
    await first.stop();
    if (!saved || 'failed' in saved) throw new Error(`saving the ${image.name} guest failed: ${saved?.failed ?? 'not saved'}`);
    const loaded = [];
    const ready = [];
    for (let i = 0; i < runs; i++) {
      const s = await bootGuest({ image: own, snapshots: true });
      if (s.start.how !== 'restore') throw new Error(`the ${image.name} guest was not restored: ${s.start.restoreFailed ?? 'booted'}`);
      loaded.push(s.timings.readyMs / 1000);
      ready.push(s.timings.agentReadyMs / 1000);
      await s.stop();
    }
    return { saveSeconds: saved.ms / 1000, stateMB: saved.bytes / 1e6, loaded, ready };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
