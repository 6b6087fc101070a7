// Which build the launcher runs, in one place for it and the bench: dist/bundle/main.cjs when it is
// at least as new as tsc's output (a stale bundle is never run), dist/ module by module otherwise.
import { statSync } from 'node:fs';
import { join } from 'node:path';

// The bundle's file is CommonJS's module wrapper around esbuild's output (bin/bundle writes it,
// the launcher calls it): a function expression, not a module to require. Strict, as dist/'s ES
// modules are (esbuild's own "use strict" comes after its banner, where it is no directive).
export const BUNDLE_HEAD = '(function (exports, require, module, __filename, __dirname) {"use strict";';
export const BUNDLE_TAIL = '\n})';

/** The bundle's stat when the launcher would run it, else null (it runs dist/cli/main.js). */
export function freshBundle(root) {
  const bundled = statSync(join(root, 'dist', 'bundle', 'main.cjs'), { throwIfNoEntry: false });
  const compiled = statSync(join(root, 'dist', 'cli', 'main.js'), { throwIfNoEntry: false });
  return bundled && bundled.mtimeMs >= (compiled?.mtimeMs ?? -1) ? bundled : null;
}
