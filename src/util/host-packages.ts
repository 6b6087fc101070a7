// Debian packages the host needs: images/host-packages.txt is the single list (bin/setup reads it too).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
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
  const installed = await installedVersions(pkgs.map((p) => p.name));
  return pkgs.filter((p) => installed[p.name] === undefined);
}

/** The installed version of each of `names` that dpkg reports as installed (the others are absent). */
export async function installedVersions(names: readonly string[]): Promise<Record<string, string>> {
  // one dpkg-query for all, through child_process (not execa: a start need not load it); it lists
  // the installed ones and exits 1 when any is unknown
  const stdout = await new Promise<string>((resolve) =>
    execFile('dpkg-query', ['-W', '-f=${Package}\t${Status}\t${Version}\n', ...names], (_e, out) => resolve(String(out ?? ''))),
  );
  const versions: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const [name, status, version] = line.split('\t');
    if (name && version && status?.includes('install ok installed')) versions[name.replace(/:.*$/, '')] = version;
  }
  return versions;
}

export function aptInstallLine(pkgs: readonly HostPackage[]): string {
  return `apt-get update && apt-get install -y --no-install-recommends ${pkgs.map((p) => p.name).join(' ')}`;
}
