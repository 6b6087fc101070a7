// The tool's version: package.json's, the one place it is written.
import { readFileSync } from 'node:fs';
import { projectPath } from './util/paths.js';

let version: string | undefined;
export function toolVersion(): string {
  return (version ??= (JSON.parse(readFileSync(projectPath('package.json'), 'utf8')) as { version: string }).version);
}
