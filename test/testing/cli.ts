// Run the built CLI (dist/) as a user would.
import { execa, type ResultPromise } from 'execa';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../bin/hotunplug-ci.js', import.meta.url));

export function cli(args: string[], env: Record<string, string> = {}): ResultPromise<{ reject: false; all: true; env: Record<string, string> }> {
  return execa(process.execPath, [CLI, ...args], { reject: false, all: true, env });
}
