// Preloaded into the CLI by the bench (NODE_OPTIONS=--require, so the launcher's code cache is the
// plain runs'): at exit, once the CLI has reaped every QEMU it started, its own CPU and its reaped
// descendants' (the QEMUs with the helpers they ran), in ticks, to $HUCI_BENCH_CPU_FILE.
'use strict';
const { readFileSync, writeFileSync } = require('node:fs');

const file = process.env.HUCI_BENCH_CPU_FILE;
if (file) {
  process.on('exit', () => {
    const s = readFileSync('/proc/self/stat', 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    writeFileSync(file, JSON.stringify({ self: Number(f[11]) + Number(f[12]), children: Number(f[13]) + Number(f[14]) }));
  });
}
