// Debian packages the host needs: images/host-packages.txt is the single list (bin/setup reads it too).
import { readFileSync } from 'node:fs';
import { loadExeca } from './execa.js';
import { projectPath } from './paths.js';

export interface HostPackage {
  name: string;
  purpose: string;
}

function hostPackages(): HostPackage[] {
  const text = readFileSync(projectPath('images', 'host-packages.txt'), 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map((l) => {
      const [name = '', ...rest] = l.trim().split(/\s+/);
      return { name, purpose: rest.join(' ') };
    });
}

/** Packages from the list that dpkg does not report as installed. */
export async function missingHostPackages(pkgs: readonly HostPackage[] = hostPackages()): Promise<HostPackage[]> {
  const r = await (await loadExeca())('dpkg-query', ['-W', '-f=${Package} ${Status}\\n', ...pkgs.map((p) => p.name)], { reject: false });
  const installed = new Set(
    r.stdout
      .split('\n')
      .filter((l) => l.endsWith('install ok installed'))
      .map((l) => l.split(' ')[0]),
  );
  return pkgs.filter((p) => !installed.has(p.name));
}

export function aptInstallLine(pkgs: readonly HostPackage[]): string {
  return `apt-get update && apt-get install -y --no-install-recommends ${pkgs.map((p) => p.name).join(' ')}`;
}
