// Suite loader: parse YAML/JSON, validate strictly, expand `use:` templates and `matrix:` into
// resolved cases, and check cross-references. Runs before any machine exists, so a bad suite file
// costs one line naming file and path, never a boot.
import { readdirSync, existsSync, statSync } from 'node:fs';
import { formatPath, parseLocated, readLocated, type LocatedDoc } from '../util/yaml-file.js';
import { agentCall, knowsCall, loadVocabulary, type Vocabulary } from '../vocabulary/load.js';
import { mapStrings, REFERENCE, WHOLE_REFERENCE } from '../vocabulary/substitute.js';
import { encode } from '../vocabulary/codec.js';
import path from 'node:path';
import type { z } from 'zod';
import { ConfigError, errorMessage } from '../errors.js';
import { projectPath } from '../util/paths.js';
import {
  SuiteFileSchema,
  DEFAULT_TIMEOUTS,
  REMOVAL_METHODS,
  STEP_KINDS,
  type CaseEntry,
  type ResolvedCase,
  type SuiteFile,
  type Template,
  type Loop,
  type Probe,
  type DeviceDecl,
} from './suite-schema.js';

export interface LoadedSuite {
  name: string;
  file: string;
  description: string;
  images: string[];
  cases: ResolvedCase[];
}

const SUITE_EXT = /\.(ya?ml|json)$/;

export function defaultSuitesDir(): string {
  return projectPath('suites');
}

/** Suite files in a directory, sorted by name. */
function listSuiteFiles(dir: string): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ConfigError(dir, '', 'suites directory not found');
  return readdirSync(dir)
    .filter((f) => SUITE_EXT.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}

/**
 * Load suites by name (file stem or `suite:` value) or path; all suites in `dir` when `names` is empty.
 * Case ids are checked for uniqueness across everything loaded.
 */
export function loadSuites(names: readonly string[], dir = defaultSuitesDir()): LoadedSuite[] {
  const files = names.length === 0 ? listSuiteFiles(dir) : names.map((n) => resolveSuiteFile(n, dir));
  const suites = files.map((f) => loadSuiteFile(f));
  const seen = new Map<string, string>();
  const names_ = new Map<string, string>();
  for (const s of suites) {
    const sameName = names_.get(s.name);
    if (sameName !== undefined && sameName !== s.file) throw new ConfigError(s.file, 'suite', `suite "${s.name}" is also defined by ${sameName}`);
    if (sameName !== undefined) continue; // the same file named twice on the command line
    names_.set(s.name, s.file);
    for (const c of s.cases) {
      const other = seen.get(c.id);
      if (other !== undefined && other !== s.file) throw new ConfigError(s.file, `case ${c.id}`, `duplicate case id (also in ${other})`);
      seen.set(c.id, s.file);
    }
  }
  return suites;
}

function resolveSuiteFile(name: string, dir: string): string {
  if (SUITE_EXT.test(name) || name.includes('/')) {
    if (!existsSync(name)) throw new ConfigError(name, '', 'suite file not found');
    return name;
  }
  for (const ext of ['.yaml', '.yml', '.json']) {
    const f = path.join(dir, name + ext);
    if (existsSync(f)) return f;
  }
  const known = existsSync(dir) ? listSuiteFiles(dir).map((f) => path.basename(f).replace(SUITE_EXT, '')) : [];
  throw new ConfigError('--suite', name, `no such suite (known: ${known.join(', ') || 'none'})`);
}

function loadSuiteFile(file: string): LoadedSuite {
  return suiteFromDoc(readLocated(file));
}

/** Parse + validate + expand one suite's text; `file` is only used in messages and records. */
export function parseSuiteText(text: string, file: string): LoadedSuite {
  return suiteFromDoc(parseLocated(text, file));
}

function suiteFromDoc(doc: LocatedDoc): LoadedSuite {
  const file = doc.file;
  const parsed = SuiteFileSchema.safeParse(doc.data);
  if (!parsed.success) {
    const { where, message } = describeIssue(parsed.error.issues[0]!);
    throw doc.error(where, message);
  }
  const suite = parsed.data;
  const locate = (p: (string | number)[]): string => {
    const line = doc.lineOf(p);
    return formatPath(p) + (line ? ` (line ${line})` : '');
  };
  checkIoctlsWhereWritten(doc.data, [], (where, msg) => {
    throw doc.error(where, msg);
  });
  return { name: suite.suite, file, description: suite.description, images: suite.images, cases: expandSuite(suite, file, locate) };
}

/** Every (fd kind, op) a case of the suite pairs: the ops a stress worker loops on an fd by default. */
function opsByFd(suite: SuiteFile): Map<string, string[]> {
  const by = new Map<string, string[]>();
  const add = (fd: string, op: string): void => {
    const ops = by.get(fd) ?? [];
    if (!ops.includes(op)) ops.push(op);
    by.set(fd, ops);
  };
  for (const e of suite.cases) {
    const excluded = (fd: string, op: string): boolean => e.exclude.some((x) => (x.fd === undefined || x.fd === fd) && (x.op === undefined || x.op === op));
    if (e.matrix) for (const fd of e.matrix.fd) for (const op of e.matrix.op) if (!excluded(fd, op)) add(fd, op);
    if (e.fd && e.op) add(e.fd, e.op);
  }
  return by;
}

/** An op of the suite as it runs on an fd kind (the fd kind's per-op changes applied). */
function opOn(suite: SuiteFile, fdName: string, op: string): Probe {
  const fdKind = suite.fds[fdName]!;
  const opT = suite.ops[op]!;
  const override = fdKind.ops[op] ?? {};
  return { on: fdKind.target, ...opT, ...stripUndefined(override), accept: override.accept ?? opT.accept } as Probe;
}

function expandSuite(suite: SuiteFile, file: string, locate: (p: (string | number)[]) => string): ResolvedCase[] {
  const out: ResolvedCase[] = [];
  const ids = new Map<string, number>();
  const pairs = opsByFd(suite);
  suite.cases.forEach((entry, i) => {
    const fail = (sub: (string | number)[], msg: string): never => {
      throw new ConfigError(file, locate(['cases', i, ...sub]), msg);
    };
    const body = mergeTemplates(suite, entry, (msg) => fail(['use'], msg));
    const combos: Array<{ fd: string; op: string; from: (string | number)[] }> = entry.matrix
      ? entry.matrix.fd
          .flatMap((fd) => entry.matrix!.op.map((op) => ({ fd, op, from: ['matrix'] as (string | number)[] })))
          .filter((c) => !entry.exclude.some((x) => (x.fd === undefined || x.fd === c.fd) && (x.op === undefined || x.op === c.op)))
      : [{ fd: entry.fd!, op: entry.op!, from: [] }];
    if (combos.length === 0) fail(['exclude'], 'the exclusions leave no case');
    for (const combo of combos) {
      const fdKind = suite.fds[combo.fd];
      if (!fdKind) fail([...combo.from, 'fd'], `unknown fd kind "${combo.fd}" (suite fds: ${Object.keys(suite.fds).join(', ')})`);
      const opT = suite.ops[combo.op];
      if (!opT) fail([...combo.from, 'op'], `unknown op "${combo.op}" (suite ops: ${Object.keys(suite.ops).join(', ')})`);
      if (!body.provider) fail([], 'provider is required (here or in a template)');
      if (!body.method) fail([], 'method is required (here or in a template)');
      if (!body.removal) fail([], 'removal is required (here or in a template)');
      const probe = opOn(suite, combo.fd, combo.op);
      const stressOps = body.stress?.ops ?? pairs.get(combo.fd) ?? [combo.op];
      for (const op of stressOps) if (!suite.ops[op]) fail(['stress', 'ops'], `unknown op "${op}" (suite ops: ${Object.keys(suite.ops).join(', ')})`);
      const target = fdKind!.holders.find((h) => h.name === fdKind!.target);
      const stress: ResolvedCase['stress'] = {
        workers: body.stress?.workers ?? 0,
        // a loop is the op without its verdict: what it got is tallied, not judged
        ops: stressOps.map((op) => {
          const { accept: _a, ...loop } = opOn(suite, combo.fd, op);
          return loop as Loop;
        }),
        reopen: target?.open ? { path: target.open.path, flags: target.open.flags } : null,
      };
      const holders = [...fdKind!.holders, ...(body.holders ?? [])];
      const loops = [...fdKind!.loops, ...(body.loops ?? [])];
      const probes = [probe, ...(body.probes ?? [])];
      const devices = body.devices ?? [];
      const label = fdKind!.label ?? combo.fd;
      const id = `${suite.suite}/${[body.provider, body.method, label, combo.op].filter((s) => s).join('-')}`;
      const c: ResolvedCase = {
        id,
        suite: suite.suite,
        subsystem: suite.suite,
        provider: body.provider!,
        method: body.method!,
        fdKind: combo.fd,
        op: combo.op,
        description: body.description ?? suite.description,
        file,
        images: suite.images,
        kernelArgs: suite.kernelArgs,
        requires: [...new Set([...suite.requires, ...(body.requires ?? [])])].sort(),
        devices,
        prepare: body.prepare ?? [],
        holders,
        loops,
        removal: body.removal!,
        probes,
        restore: body.restore ?? [],
        timeouts: { ...DEFAULT_TIMEOUTS, ...stripUndefined(body.timeouts ?? {}) },
        ...(body.control ? { control: body.control } : {}),
        stress,
      };
      checkReferences(c, (msg) => fail([], `${id}: ${msg}`));
      const prev = ids.get(id);
      if (prev !== undefined) fail([], `duplicate case id ${id} (also from cases[${prev}])`);
      ids.set(id, i);
      out.push(c);
    }
  });
  return out;
}

function mergeTemplates(suite: SuiteFile, entry: CaseEntry, fail: (msg: string) => never): Template {
  const uses = entry.use === undefined ? [] : Array.isArray(entry.use) ? entry.use : [entry.use];
  let merged: Template = {};
  for (const u of uses) {
    const t = suite.templates[u];
    if (!t) fail(`unknown template "${u}" (templates: ${Object.keys(suite.templates).join(', ') || 'none'})`);
    merged = { ...merged, ...stripUndefined(t!) };
  }
  const { use: _u, fd: _f, op: _o, matrix: _m, exclude: _e, ...own } = entry;
  return { ...merged, ...stripUndefined(own) };
}

/** Holders, loops, probes and device ids must name things that exist, in order. */
function checkReferences(c: ResolvedCase, fail: (msg: string) => never): void {
  // fds held from a prepare step on: later steps, the holders and the removal may act through them
  const prepared = new Set<string>();
  for (const st of c.prepare) {
    const on = st.ioctl?.on ?? st.send?.on;
    if (on !== undefined && !prepared.has(on)) fail(`prepare acts on "${on}", which no earlier prepare step holds`);
    if (st.hold) {
      if (prepared.has(st.hold.name)) fail(`prepare holds "${st.hold.name}" twice`);
      prepared.add(st.hold.name);
    }
  }
  for (const st of c.restore) if (st.hold || st.ioctl || st.send) fail('restore runs after every fd is closed: no hold, ioctl or send there');
  const held = new Set<string>(prepared);
  for (const h of c.holders) {
    if (held.has(h.name)) fail(`holder "${h.name}" declared twice`);
    if (h.ioctl && !held.has(h.ioctl.on)) fail(`holder "${h.name}" ioctls on "${h.ioctl.on}", which is not held before it`);
    held.add(h.name);
  }
  for (const h of c.holders) if (h.ioctl) checkIoctl(h.ioctl.request, h.ioctl.args, `holder "${h.name}"`, fail, true);
  for (const l of c.loops) checkIoctl(l.request, l.args, `loop on "${l.on}"`, fail);
  for (const p of c.probes) checkIoctl(p.request, p.args, `probe ${p.op} on "${p.on}"`, fail);
  for (const l of c.loops) if (!held.has(l.on)) fail(`loop on "${l.on}", which no holder provides`);
  for (const p of c.probes) if (!held.has(p.on)) fail(`probe on "${p.on}", which no holder provides`);
  if (c.probes.length === 0) fail('no probes');
  const devices = new Map<string, DeviceDecl>(c.devices.map((d) => [d.id, d]));
  const steps = [...c.prepare, ...c.restore];
  for (const s of steps) {
    if (typeof s.device_add === 'string' && !devices.has(s.device_add)) fail(`device_add "${s.device_add}" is not a declared device`);
    if (s.device_add && typeof s.device_add === 'object') devices.set(s.device_add.id, s.device_add);
  }
  const through = (c.removal.ioctl ?? c.removal.send ?? c.removal.close)?.on;
  if (through !== undefined && !held.has(through)) fail(`removal through "${through}", which nothing holds`);
  const del = c.removal['qmp-device-del'];
  if (del && !devices.has(del.device)) fail(`qmp-device-del of "${del.device}", which is not a declared device`);
}

/**
 * A named ioctl must be in the vocabulary and its args must encode ("${var}" taken as 0 or ""); a
 * holder's ioctl must return an fd.
 */
function checkIoctl(request: Probe['request'], args: unknown, what: string, fail: (msg: string) => never, holder = false): void {
  if (request === undefined || typeof request !== 'string') return;
  if (!knowsCall(vocabulary(), request)) fail(`${what}: unknown ioctl "${request}" (see suites/vocabulary)`);
  let call;
  try {
    call = placeholderCall(request, args);
  } catch (e) {
    fail(`${what}: ${request} ${errorMessage(e)}`);
  }
  if (holder && !call.returnsFd) fail(`${what}: ${request} returns no fd to hold`);
}

/**
 * Every named ioctl where the file writes it (an op, an fd kind's override, a holder, a loop, a
 * probe) against the vocabulary, so the error names that very line; a holder's must return an fd.
 */
function checkIoctlsWhereWritten(v: unknown, at: (string | number)[], fail: (where: (string | number)[], msg: string) => never): void {
  if (Array.isArray(v)) return v.forEach((x, i) => checkIoctlsWhereWritten(x, [...at, i], fail));
  if (!v || typeof v !== 'object') return;
  const o = v as Record<string, unknown>;
  if (at[at.length - 1] === 'socket' || (at[at.length - 2] === 'setsockopt' && at.includes('socket'))) {
    for (const k of ['domain', 'type', 'protocol', 'level', 'name'])
      for (const [i, x] of [o[k]].flat().entries())
        if (typeof x === 'string' && !vocabulary().constants.has(x))
          fail(Array.isArray(o[k]) ? [...at, k, i] : [...at, k], `unknown constant ${x} (see suites/vocabulary)`);
  }
  if (typeof o.struct === 'string' && (at.includes('send') || at.includes('socket'))) {
    try {
      encode({ kind: 'struct', name: o.struct }, withPlaceholders(o.value, 0), vocabulary().codec, 'value');
    } catch (e) {
      fail(
        [...at, vocabulary().structs.has(o.struct) ? 'value' : 'struct'],
        vocabulary().structs.has(o.struct) ? `${o.struct} ${errorMessage(e)}` : `unknown struct ${o.struct} (see suites/vocabulary)`,
      );
    }
  }
  if (typeof o.request === 'string') {
    if (!knowsCall(vocabulary(), o.request)) fail([...at, 'request'], `unknown ioctl "${o.request}" (see suites/vocabulary)`);
    let call;
    try {
      call = placeholderCall(o.request, o.args);
    } catch (e) {
      fail([...at, 'args'], `${o.request} ${errorMessage(e)}`);
    }
    if (at[at.length - 1] === 'ioctl' && at.includes('holders') && !call.returnsFd) fail([...at, 'request'], `${o.request} returns no fd to hold`);
  }
  for (const [k, x] of Object.entries(o)) checkIoctlsWhereWritten(x, [...at, k], fail);
}

/** Suite args before their "${var}" are known: a whole-value reference as 0, inside a string as "". */
function withPlaceholders(v: unknown, whole: 0 | ''): unknown {
  return mapStrings(v, (str) => (WHOLE_REFERENCE.test(str) ? whole : str.replace(REFERENCE, '')));
}

/** The call with "${var}" taken as 0 (a number field), or as "" where only a string encodes (a name). */
function placeholderCall(request: string, args: unknown): ReturnType<typeof agentCall> {
  try {
    return agentCall(vocabulary(), request, withPlaceholders(args, 0));
  } catch (e) {
    try {
      return agentCall(vocabulary(), request, withPlaceholders(args, ''));
    } catch {
      throw e;
    }
  }
}

let loaded: Vocabulary | null = null;
/** The guest's vocabulary (suites/vocabulary), loaded once per process. */
export function vocabulary(): Vocabulary {
  return (loaded ??= loadVocabulary());
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function describeIssue(issue: z.core.$ZodIssue): { where: (string | number)[]; message: string } {
  const where = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0]!;
    const parent = where[where.length - 1];
    if (parent === 'removal') return { where: [...where, key], message: `unknown removal method "${key}" (one of ${REMOVAL_METHODS.join(', ')})` };
    if (
      parent === 'prepare' ||
      parent === 'restore' ||
      (typeof parent === 'number' && (where[where.length - 2] === 'prepare' || where[where.length - 2] === 'restore'))
    )
      return { where: [...where, key], message: `unknown step kind "${key}" (one of ${STEP_KINDS.join(', ')})` };
    return { where: [...where, key], message: `unknown key "${key}"` };
  }
  return { where, message: issue.message };
}
