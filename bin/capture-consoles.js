#!/usr/bin/env node
// npm run capture:consoles — boots the KASAN image once per report kind, provokes the report with
// lkdtm (drivers/misc/lkdtm, CONFIG_LKDTM) and keeps the whole console as a golden log in
// src/detect/testdata/captured-<image>-<name>.console. The header (what the detector must find) is
// written here from syzkaller's title rules, not from what the detector says: the golden test then
// checks the detector against real kernel output.
// Usage: node bin/capture-consoles.js [--image kasan-6.12] [name…]   (after npm run build)
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveImage } from '../dist/image/index.js';
import { bootGuest } from '../dist/scenario/vm-session.js';
import { detect } from '../dist/detect/index.js';

const DIRECT = '/sys/kernel/debug/provoke-crash/DIRECT';

/**
 * name, lkdtm trigger (null: a quiet boot), the console line that says the report is complete,
 * and the header: TITLE/KIND/FRAME/CORRUPTED per syzkaller's pkg/report rules for that log.
 */
const CAPTURES = [
  { name: 'quiet-boot', trigger: null, done: null, header: [] },
  {
    name: 'lkdtm-bug',
    trigger: 'BUG',
    done: /---\[ end trace/,
    header: ['TITLE: kernel BUG in lkdtm_BUG', 'KIND: bug', 'FRAME: lkdtm_BUG'],
  },
  {
    name: 'lkdtm-warning',
    trigger: 'WARNING',
    done: /---\[ end trace/,
    header: ['TITLE: WARNING in lkdtm_WARNING', 'KIND: warning', 'FRAME: lkdtm_WARNING'],
  },
  {
    name: 'lkdtm-access-null',
    trigger: 'ACCESS_NULL',
    done: /---\[ end trace/,
    header: ['TITLE: general protection fault in lkdtm_ACCESS_NULL', 'KIND: gpf', 'FRAME: lkdtm_ACCESS_NULL'],
  },
  {
    name: 'lkdtm-slab-oob',
    trigger: 'SLAB_LINEAR_OVERFLOW',
    done: /^\[[ \d.]+\] ={20,}/m,
    header: ['TITLE: KASAN: slab-out-of-bounds Write in lkdtm_SLAB_LINEAR_OVERFLOW', 'KIND: kasan', 'FRAME: lkdtm_SLAB_LINEAR_OVERFLOW'],
  },
  {
    name: 'lkdtm-list-corruption',
    trigger: 'CORRUPT_LIST_ADD',
    done: /---\[ end trace/,
    // not BUG_ON_DATA_CORRUPTION: the report is a WARNING (a kind of ours), the title syzkaller's
    header: ['TITLE: BUG: corrupted list in lkdtm_CORRUPT_LIST_ADD', 'KIND: warning', 'FRAME: lkdtm_CORRUPT_LIST_ADD'],
  },
  {
    name: 'lkdtm-refcount-underflow',
    trigger: 'REFCOUNT_DEC_NEGATIVE',
    done: /---\[ end trace/,
    header: ['TITLE: WARNING: refcount bug in lkdtm_REFCOUNT_DEC_NEGATIVE', 'KIND: warning', 'FRAME: lkdtm_REFCOUNT_DEC_NEGATIVE'],
  },
  {
    name: 'lkdtm-hung-task',
    trigger: 'HUNG_TASK',
    done: /INFO: task .* blocked for more than[\s\S]*?<\/TASK>/,
    header: ['TITLE: INFO: task hung in lkdtm_HUNG_TASK', 'KIND: hung-task', 'FRAME: lkdtm_HUNG_TASK'],
  },
  {
    name: 'lkdtm-soft-lockup',
    trigger: 'SOFTLOCKUP',
    done: /soft lockup[\s\S]*?<\/TASK>/,
    // The RCU stall comes first; with no interrupt frame before its RIP line syzkaller finds no frame
    // (its testdata/linux/report/718); the soft lockup takes the frame before vfs_write, an anchor.
    header: [
      'TITLE: INFO: rcu detected stall in corrupted',
      'KIND: rcu-stall',
      'CORRUPTED: Y',
      'TITLE: BUG: soft lockup in full_proxy_write',
      'KIND: soft-lockup',
    ],
  },
  {
    name: 'lkdtm-panic',
    trigger: 'PANIC',
    done: /Kernel panic - not syncing: dumptest/,
    header: ['TITLE: kernel panic: dumptest', 'KIND: panic'],
  },
];

const args = process.argv.slice(2);
const imageAt = args.indexOf('--image');
const imageName = imageAt >= 0 ? args[imageAt + 1] : 'kasan-6.12';
const names = args.filter((a, i) => !a.startsWith('--') && i !== imageAt + 1);
const chosen = names.length ? CAPTURES.filter((c) => names.includes(c.name)) : CAPTURES;
const outDir = join(import.meta.dirname, '..', 'src', 'detect', 'testdata');
const image = await resolveImage(imageName, { build: true });

for (const c of chosen) {
  const s = await bootGuest({ image });
  try {
    const consoleFile = s.machine.console.file;
    if (c.trigger) {
      const ssh = await s.ssh();
      const load = await ssh.exec('modprobe lkdtm', { timeoutMs: 30_000 });
      if (load.code !== 0) throw new Error(`modprobe lkdtm: ${load.stderr || load.stdout}`);
      // in the background: the writer oopses, hangs or spins
      await ssh.exec(`(echo ${c.trigger} > ${DIRECT}) >/dev/null 2>&1 &`, { timeoutMs: 10_000 }).catch(() => undefined);
      await waitFor(consoleFile, c.done, 120_000);
    } else {
      await new Promise((r) => setTimeout(r, 2000));
    }
    await new Promise((r) => setTimeout(r, 1000)); // the lines right after the report's end
    const text = readFileSync(consoleFile, 'utf8');
    const file = join(outDir, `captured-${imageName}-${c.name}.console`);
    const stamp = new Date().toISOString().slice(0, 10);
    const how = c.trigger ? `echo ${c.trigger} > ${DIRECT}` : 'boot, nothing provoked';
    writeFileSync(file, `# captured: bin/capture-consoles.js on ${imageName} (${how}), ${stamp}\n${c.header.map((h) => `${h}\n`).join('')}\n${text}`);
    const found = detect(text).map((f) => f.title);
    const wanted = c.header.filter((h) => h.startsWith('TITLE: ')).map((h) => h.slice(7));
    const same = JSON.stringify(found) === JSON.stringify(wanted);
    console.log(`${c.name.padEnd(26)} ${same ? 'ok  ' : 'DIFF'} detector: ${JSON.stringify(found)}${same ? '' : ` wanted ${JSON.stringify(wanted)}`}`);
  } finally {
    await s.stop();
  }
}

async function waitFor(file, re, timeoutMs) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (re.test(readFileSync(file, 'utf8'))) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`no ${re} on the console within ${timeoutMs / 1000} s (${file})`);
}
