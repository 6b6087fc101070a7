// SIGKILL of the node process that started a Machine must not leave QEMU running: nothing in node
// runs on SIGKILL, so this is setpriv --pdeathsig KILL's job alone.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { findTestKernel } from '../../src/vm/testing/test-kernel.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let dir: string;
let kernel: string;
let qemuPid = 0;

beforeAll(async () => {
  kernel = await findTestKernel();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'huci-orphan-'));
}, 300_000);

afterAll(() => {
  if (qemuPid && alive(qemuPid)) process.kill(qemuPid, 'SIGKILL'); // only if the test failed
  fs.rmSync(dir, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function ppid(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

it('QEMU dies when the node process that started it is SIGKILLed', async () => {
  const script = path.join(dir, 'start-machine.ts');
  fs.writeFileSync(
    script,
    `import { Machine } from ${JSON.stringify(path.join(root, 'src/vm/machine.ts'))};
const m = await Machine.start({ kernel: ${JSON.stringify(kernel)}, accel: 'tcg', runDir: ${JSON.stringify(path.join(dir, 'run'))}, memMiB: 256, append: ['panic=0'] });
process.stdout.write(JSON.stringify({ node: process.pid, qemu: m.pid }) + '\\n');
setInterval(() => {}, 1000);
`,
  );
  const child = spawn(path.join(root, 'node_modules/.bin/vite-node'), [script], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const pids = await new Promise<{ node: number; qemu: number }>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line));
    });
    child.on('exit', (code) => reject(new Error(`script exited ${code}: ${err}`)));
  });
  qemuPid = pids.qemu;
  expect(alive(pids.qemu)).toBe(true);
  expect(ppid(pids.qemu)).toBe(pids.node); // setpriv exec'd QEMU: node is its parent
  expect(fs.readFileSync(`/proc/${pids.qemu}/cmdline`, 'utf8')).toMatch(/qemu-system-x86_64/);

  process.kill(pids.node, 'SIGKILL');
  const t0 = Date.now();
  while (alive(pids.qemu) && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
  expect(alive(pids.qemu)).toBe(false);
  console.log(`QEMU ${pids.qemu} gone ${Date.now() - t0} ms after SIGKILL of node ${pids.node}`);
}, 120_000);
