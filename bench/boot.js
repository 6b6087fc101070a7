#!/usr/bin/env node
// npm run bench:boot — median of 3 boots per image: QEMU start → sshd ready → agent ready.
// Usage: node bench/boot.js [--json] [image...]   (default: debian-6.12, and kasan-6.12 when cached)
import { resolveImage } from '../dist/image/resolve.js';
import { bootTimes } from './boot-times.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
let images = args.filter((a) => !a.startsWith('--'));
if (images.length === 0) {
  images = ['debian-6.12'];
  try {
    await resolveImage('kasan-6.12', { build: false });
    images.unshift('kasan-6.12');
  } catch {
    if (!json) console.error('kasan-6.12 is not built yet; benchmarking debian-6.12 only (hotunplug-ci image build kasan-6.12)');
  }
}
const RUNS = 3;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = [];
for (const name of images) {
  const image = await resolveImage(name, { build: true });
  const { accel, ready, agent } = await bootTimes(image, RUNS);
  const r = { image: name, accelerator: accel, initReadySeconds: median(ready), agentReadySeconds: median(agent), runs: agent };
  results.push(r);
  if (!json) {
    console.log(
      `${name.padEnd(12)} accel=${accel}  init ready ${r.initReadySeconds.toFixed(2)} s  agent ready ${r.agentReadySeconds.toFixed(2)} s  (median of ${RUNS}: ${agent.map((x) => x.toFixed(2)).join(', ')})`,
    );
  }
}
if (json) console.log(JSON.stringify({ boot: results }));
