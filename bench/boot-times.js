// Boots an image `runs` times: the accelerator and each boot's QEMU start → sshd / agent ready, in
// seconds. Shared by bench/all.js and bench/boot.js.
import { bootGuest } from '../dist/scenario/vm-session.js';

export async function bootTimes(image, runs) {
  const ssh = [];
  const agent = [];
  let accel = '';
  for (let i = 0; i < runs; i++) {
    const s = await bootGuest({ image });
    accel = s.accel;
    ssh.push(s.timings.sshReadyMs / 1000);
    agent.push(s.timings.agentReadyMs / 1000);
    await s.stop();
  }
  return { accel, ssh, agent };
}
