// Kconfig fragments and .config files: parsing, and checking that a finished .config holds every
// option a fragment asked for. merge_config.sh and olddefconfig silently drop options whose
// dependencies are unmet, so a build must verify rather than trust the merge. Pure: no file system.
import { ConfigError } from '../errors.js';

/** One `CONFIG_X=value` (or `# CONFIG_X is not set`) request, with where it came from. */
export interface FragmentOption {
  name: string; // CONFIG_ prefix included, as in .config
  value: string; // y, m, n, a number, or a quoted string exactly as written
  file: string;
  line: number;
}

export interface Fragment {
  file: string;
  options: FragmentOption[];
}

const ASSIGN = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/;
const UNSET = /^# (CONFIG_[A-Za-z0-9_]+) is not set$/;

/** Parse a fragment; anything that is neither an assignment, an "is not set" line, a comment nor blank is an error. */
export function parseFragment(text: string, file: string): Fragment {
  const options: FragmentOption[] = [];
  const seen = new Map<string, number>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    const lineNo = i + 1;
    if (!line) return;
    let name: string;
    let value: string;
    const unset = UNSET.exec(line);
    const assign = ASSIGN.exec(line);
    if (unset) {
      name = unset[1]!;
      value = 'n';
    } else if (assign) {
      name = assign[1]!;
      value = assign[2]!.trim();
      if (value === '') throw new ConfigError(file, `line ${lineNo}`, `${name} has no value`);
      if (!/^(y|m|n|-?\d+|0x[0-9a-fA-F]+|"(?:[^"\\]|\\.)*")$/.test(value)) {
        throw new ConfigError(file, `line ${lineNo}`, `${name}=${value}: expected y, m, n, a number or a "quoted string"`);
      }
    } else if (line.startsWith('#')) {
      return;
    } else {
      throw new ConfigError(file, `line ${lineNo}`, `not a Kconfig assignment: ${JSON.stringify(line)}`);
    }
    const prev = seen.get(name);
    if (prev !== undefined) {
      throw new ConfigError(file, `line ${lineNo}`, `${name} is already set on line ${prev}`);
    }
    seen.set(name, lineNo);
    options.push({ name, value, file, line: lineNo });
  });
  return { file, options };
}

/** .config text → option name → value ('n' for "is not set"). Options absent from the file are absent from the map. */
export function parseDotConfig(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const unset = UNSET.exec(line);
    if (unset) {
      values.set(unset[1]!, 'n');
      continue;
    }
    const assign = ASSIGN.exec(line);
    if (assign) values.set(assign[1]!, assign[2]!);
  }
  return values;
}

/**
 * The options fragments ask for, in order, later fragments overriding earlier ones (merge_config.sh
 * semantics). An override is reported so a silent contradiction between fragments is visible.
 */
export function mergeRequests(fragments: readonly Fragment[]): { wanted: FragmentOption[]; overrides: string[] } {
  const byName = new Map<string, FragmentOption>();
  const overrides: string[] = [];
  for (const frag of fragments) {
    for (const opt of frag.options) {
      const prev = byName.get(opt.name);
      if (prev && prev.value !== opt.value) {
        overrides.push(`${opt.name}=${opt.value} (${opt.file}:${opt.line}) overrides ${prev.value} (${prev.file}:${prev.line})`);
      }
      byName.delete(opt.name); // re-insert so order follows the last request
      byName.set(opt.name, opt);
    }
  }
  return { wanted: [...byName.values()], overrides };
}

export interface MissingOption {
  name: string;
  wanted: string;
  /** What the final .config holds: a value, 'n' for "is not set", or null when the option is absent (unmet dependencies or unknown to this kernel). */
  got: string | null;
  file: string;
  line: number;
}

/**
 * Every requested option whose final value differs. `=n` is satisfied by "is not set" or by absence
 * (an option that cannot be enabled is off).
 */
export function verifyConfig(fragments: readonly Fragment[], config: ReadonlyMap<string, string>): MissingOption[] {
  const missing: MissingOption[] = [];
  for (const opt of mergeRequests(fragments).wanted) {
    const got = config.get(opt.name) ?? null;
    const ok = opt.value === 'n' ? got === null || got === 'n' : got === opt.value;
    if (!ok) missing.push({ name: opt.name, wanted: opt.value, got, file: opt.file, line: opt.line });
  }
  return missing;
}

export function describeMissing(m: MissingOption): string {
  const got = m.got === null ? 'absent (unmet dependencies or not in this kernel)' : m.got === 'n' ? 'not set' : m.got;
  return `${m.name}=${m.wanted} from ${m.file}:${m.line}: got ${got}`;
}

/**
 * Options a fragment asks for that do not exist at all in a kernel tree (no `config NAME` in any
 * Kconfig): for an older kernel these are dropped with a note rather than failing the build.
 */
export function unknownOptions(wanted: readonly FragmentOption[], knownSymbols: ReadonlySet<string>): FragmentOption[] {
  return wanted.filter((o) => !knownSymbols.has(o.name.slice('CONFIG_'.length)));
}

/** Kconfig source text → the symbols it declares (`config X` / `menuconfig X`). */
export function kconfigSymbols(kconfigText: string): string[] {
  const out: string[] = [];
  for (const m of kconfigText.matchAll(/^\s*(?:menu)?config\s+([A-Za-z0-9_]+)\s*$/gm)) out.push(m[1]!);
  return out;
}
