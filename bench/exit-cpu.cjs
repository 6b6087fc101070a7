// Preloaded into the CLI by the bench (NODE_OPTIONS=--require, so the launcher's code cache is the
// plain runs'): at exit, once the CLI has reaped every QEMU it started, its own CPU and its reaped
// descendants' (the QEMUs with the helpers they ran), in ticks, to $HUCI_BENCH_CPU_FILE; with its own
// CPU when it started its first child process and when its last child exited, which split node's
// CPU into its start, the time its guests ran, and what it did after them (the final reports).
'use strict';
const { readFileSync, writeFileSync } = require('node:fs');
const { ChildProcess } = require('node:child_process');

/** [own ticks, reaped children's ticks] from /proc/self/stat */
function ticks() {
  const s = readFileSync('/proc/self/stat', 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return [Number(f[11]) + Number(f[12]), Number(f[13]) + Number(f[14])];
}

const file = process.env.HUCI_BENCH_CPU_FILE;
if (file) {
  let firstSpawn = null;
  let lastChildExit = null;
  const spawn = ChildProcess.prototype.spawn;
  ChildProcess.prototype.spawn = function (...args) {
    firstSpawn ??= ticks()[0];
    const r = spawn.apply(this, args);
    this.once('exit', () => {
      lastChildExit = ticks()[0];
    });
    return r;
  };
  process.on('exit', () => {
    const [self, children] = ticks();
    writeFileSync(file, JSON.stringify({ self, children, firstSpawn, lastChildExit }));
  });
}
