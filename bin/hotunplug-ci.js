#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (npm run build). dist/bundle/ (bin/bundle) is the
// same code in a few files, quicker to load; it is used only when at least as new as tsc's output.
import { statSync } from 'node:fs';

const mtime = (rel) => {
  try {
    return statSync(new URL(rel, import.meta.url)).mtimeMs;
  } catch {
    return -1;
  }
};
const bundled = mtime('../dist/bundle/main.js');
const entry = bundled >= 0 && bundled >= mtime('../dist/cli/main.js') ? '../dist/bundle/main.js' : '../dist/cli/main.js';
const { main } = await import(entry);

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    console.error(e);
    process.exitCode = 3;
  },
);
