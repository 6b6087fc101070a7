#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (npm run build). dist/bundle/main.cjs (bin/bundle)
// is the same code in one file; it is used only when at least as new as tsc's output, and run
// through V8's code cache, kept in the user's cache by command, the bundle's identity and node's
// version: what a command compiled (most of a run's functions) is read back by the next one instead
// of compiled again. A cache V8 refuses (another build, another node) is written anew after it.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { freshBundle } from './fresh-bundle.js';

// V8's memory reducer runs up to three full collections once a small heap that grew goes quiet: a
// run that waits on its guests looks quiet to it every few seconds, and the CLI exits soon anyway.
// Read by V8 when the old generation grows, so setting it here, before the bundle loads, is in time.
v8.setFlagsFromString('--no-memory-reducer-for-small-heaps');
// A scavenge of our young generation (1-16 MB) split across V8's worker threads wakes each of them,
// dear on a host where a wake-up costs CPU of its own, for work one thread does as well: the main
// job's worker threads went from 0.18 to 0.12 s of CPU and from 278 to 139 wake-ups. Read at each
// scavenge, so in time here too.
v8.setFlagsFromString('--no-parallel-scavenge');

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bundle = join(root, 'dist', 'bundle', 'main.cjs');

/** A short name for a string (FNV-1a, 32 bits): node:crypto is not loaded for this. */
function fnv1a(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16);
}

/** code caches kept in all, each ~1.3 MB */
const KEEP_CACHES = 8;

const stat = (file) => {
  try {
    return statSync(file);
  } catch {
    return null;
  }
};

/** The bundle's main, and what to do once it returned (keep the code it compiled). */
function loadBundle(st) {
  // as src/util/paths.ts cacheRoot()
  const dir = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'hotunplug-ci', 'code-cache');
  // node's flags are part of V8's check too (a cache made under other flags is refused)
  const flags = process.execArgv.length === 0 ? '' : `-${fnv1a(process.execArgv.join('\0'))}`;
  const build = `${st.ino}-${st.size}-${Math.round(st.mtimeMs)}-${process.version}-${process.arch}${flags}`;
  // one per command: a cache holds what its first command compiled (`list` compiles little of `run`)
  const command = /^[a-z][a-z-]{0,30}$/.test(process.argv[2] ?? '') ? process.argv[2] : 'other';
  const name = `${command}-${build}.bin`;
  let cachedData;
  try {
    cachedData = readFileSync(join(dir, name));
  } catch {
    // none yet: this command compiles, and keeps what it compiled
  }
  // pure ASCII (bin/bundle): read as latin1, it is a one-byte string without a UTF-8 decode
  const source = readFileSync(bundle, 'latin1');
  const script = new vm.Script(source, { filename: bundle, cachedData });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(bundle), module, bundle, dirname(bundle));
  const keep = (code) => {
    // a command that ended early (bad input: exit 2, a fault: 3) compiled too little to keep
    if ((cachedData && !script.cachedDataRejected) || code > 1) return;
    try {
      mkdirSync(dir, { recursive: true });
      // the newest few builds' caches stay (two trees or two flag sets taking turns); older ones go
      const others = readdirSync(dir)
        .filter((f) => f.endsWith('.bin') && f !== name)
        .map((f) => ({ f, mtimeMs: stat(join(dir, f))?.mtimeMs ?? 0 }))
        .sort((a, b) => b.mtimeMs - a.mtimeMs);
      for (const { f } of others.slice(KEEP_CACHES - 1)) rmSync(join(dir, f), { force: true });
      const tmp = join(dir, `.${name}.${process.pid}`);
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, join(dir, name));
    } catch {
      // without a cache the next command compiles again, nothing else
    }
  };
  return { main: module.exports.main, keep };
}

const bundled = freshBundle(root);
const { main, keep } = bundled ? loadBundle(bundled) : { main: (await import('../dist/cli/main.js')).main, keep: () => undefined };

main(process.argv.slice(2)).then(
  (code) => {
    keep(code);
    process.exitCode = code;
  },
  (e) => {
    console.error(e);
    process.exitCode = 3;
  },
);
