// Boots an image `runs` times: the accelerator and each boot's QEMU start → init ready / agent
// ready, in seconds. Shared by bench/all.js and bench/boot.js.
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
