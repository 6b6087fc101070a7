// Benchmark: triage every log of the shared syzkaller corpus with the compiled detector.
// Prints total time and throughput; the target is <= 2 s for all logs on the 2-core CI machine.
//   npm run bench:detect          (builds dist/ first if it is missing)
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const corpus = join(root, '..', 'shared', 'corpus', 'syzkaller-report');
if (!existsSync(corpus)) {
  console.log(`bench:detect skipped: corpus not found at ${corpus}`);
  process.exit(0);
}
if (!existsSync(join(root, 'dist', 'detect', 'index.js'))) {
  execFileSync('npx', ['tsc', '-p', join(root, 'tsconfig.json')], { stdio: 'inherit', cwd: root });
}
const { detect } = await import(join(root, 'dist', 'detect', 'index.js'));

const logs = readdirSync(corpus)
  .filter((n) => /^\d+$/.test(n))
  .map((n) => readFileSync(join(corpus, n), 'utf8'));
const bytes = logs.reduce((n, l) => n + Buffer.byteLength(l), 0);

const runs = [];
let findings = 0;
for (let i = 0; i < 5; i++) {
  const t0 = process.hrtime.bigint();
  findings = 0;
  for (const log of logs) findings += detect(log).length;
  runs.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
const first = runs[0];
const best = Math.min(...runs);
const mb = bytes / 1e6;
console.log(
  `bench:detect: ${logs.length} logs, ${mb.toFixed(2)} MB, ${findings} findings; ` +
    `cold ${(first / 1000).toFixed(3)} s (${(mb / (first / 1000)).toFixed(1)} MB/s), ` +
    `best of ${runs.length} ${(best / 1000).toFixed(3)} s (${(mb / (best / 1000)).toFixed(1)} MB/s); target <= 2 s`,
);
if (first > 2000) process.exitCode = 1;
