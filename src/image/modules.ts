// Kernel module names, modules.dep parsing and dependency closure. Pure: no file system here, so
// the resolution is tested on fixture text (testdata/modules.dep).

/** `i2c-i801`, `i2c_i801.ko.xz`, `kernel/drivers/i2c/busses/i2c-i801.ko` → `i2c_i801` (the kernel's own rule). */
export function moduleName(pathOrName: string): string {
  const base = pathOrName.slice(pathOrName.lastIndexOf('/') + 1);
  return base.replace(/\.ko(\.(xz|zst|gz))?$/, '').replaceAll('-', '_');
}

/** Relative module path → its dependencies (relative paths), as modules.dep lists them. */
export type ModuleDeps = ReadonlyMap<string, readonly string[]>;

export function parseModulesDep(text: string): Map<string, string[]> {
  const deps = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const mod = line.slice(0, colon).trim();
    const rest = line.slice(colon + 1).trim();
    deps.set(mod, rest ? rest.split(/\s+/) : []);
  }
  return deps;
}

/** modules.builtin lists `kernel/…/name.ko` per builtin module. */
export function parseModulesBuiltin(text: string): Set<string> {
  return new Set(
    text
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .map(moduleName),
  );
}

export interface ModuleResolution {
  /** Relative paths (as in modules.dep) of every module file to ship, dependencies included, sorted. */
  files: string[];
  /** Requested names that are compiled into the kernel: nothing to ship, modprobe is a no-op. */
  builtin: string[];
  /** Requested names found neither as a module nor builtin. */
  missing: string[];
}

export function resolveModules(requested: readonly string[] | 'all', deps: ModuleDeps, builtin: ReadonlySet<string> = new Set()): ModuleResolution {
  if (requested === 'all') return { files: [...deps.keys()].sort(), builtin: [], missing: [] };
  const byName = new Map<string, string>();
  for (const path of deps.keys()) byName.set(moduleName(path), path);

  const files = new Set<string>();
  const builtins: string[] = [];
  const missing: string[] = [];
  const visit = (path: string): void => {
    if (files.has(path)) return;
    files.add(path);
    for (const dep of deps.get(path) ?? []) visit(dep);
  };
  for (const req of requested) {
    const name = moduleName(req);
    const path = byName.get(name);
    if (path) visit(path);
    else if (builtin.has(name)) builtins.push(name);
    else missing.push(req);
  }
  return { files: [...files].sort(), builtin: builtins.sort(), missing: missing.sort() };
}
