// Builds the static guest agent (images/agent) once per source version into
// ${XDG_CACHE_HOME:-~/.cache}/hotunplug-ci/agent/<sha256 of sources>/huci-agent, so image builds
// can embed it. The build runs in a temp dir and the binary is renamed into place, so a killed
// build never leaves a half-written agent behind.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadExeca } from '../util/execa.js';
import { InfraError, MissingDependencyError } from '../errors.js';
import { findInPath } from '../vm/host-tools.js';
import { cacheDir } from './cache.js';

export const AGENT_SOURCE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../images/agent');
const AGENT_INSTALL_LINE = 'apt-get install -y --no-install-recommends gcc libc6-dev make linux-libc-dev';

export interface BuildAgentOptions {
  /** Defaults to ${cacheDir()}/agent. */
  cacheRoot?: string;
  /** Defaults to images/agent in this checkout. */
  sourceDir?: string;
  /** PATH used to find gcc and make (tests point it elsewhere). */
  pathEnv?: string;
}

const inFlight = new Map<string, Promise<string>>();

/** Absolute path of the static huci-agent binary for the current sources, building it if needed. */
export async function buildAgent(opts: BuildAgentOptions = {}): Promise<string> {
  const sourceDir = opts.sourceDir ?? AGENT_SOURCE_DIR;
  const hash = await hashAgentSources(sourceDir);
  const dir = join(opts.cacheRoot ?? join(cacheDir(), 'agent'), hash);
  const binary = join(dir, 'huci-agent');
  if (existsSync(binary)) return binary;
  let p = inFlight.get(binary);
  if (!p) {
    p = build(sourceDir, dir, binary, opts.pathEnv ?? process.env.PATH ?? '').finally(() => inFlight.delete(binary));
    inFlight.set(binary, p);
  }
  return p;
}

/** sha256 over the name and bytes of every source file (*.c, *.h, Makefile), in name order. */
export async function hashAgentSources(sourceDir: string = AGENT_SOURCE_DIR): Promise<string> {
  let names: string[];
  try {
    names = readdirSync(sourceDir)
      .filter((n) => /\.[ch]$/.test(n) || n === 'Makefile')
      .sort();
  } catch (e) {
    throw new InfraError(`agent sources not found in ${sourceDir}`, [], { cause: e });
  }
  if (!names.includes('Makefile')) throw new InfraError(`${sourceDir}: no Makefile for the guest agent`);
  const h = createHash('sha256');
  for (const n of names) {
    // synchronous: every command asks this, and each async read is four thread-pool trips
    const data = readFileSync(join(sourceDir, n));
    h.update(`${n}\0${data.length}\0`).update(data);
  }
  return h.digest('hex');
}

async function checkToolchain(pathEnv: string): Promise<{ gcc: string; make: string }> {
  const gcc = findInPath('gcc', pathEnv);
  const make = findInPath('make', pathEnv);
  if (!gcc) throw new MissingDependencyError('gcc (to build the static guest agent)', AGENT_INSTALL_LINE);
  if (!make) throw new MissingDependencyError('make (to build the static guest agent)', AGENT_INSTALL_LINE);
  // gcc prints the bare name back when it has no static libc to link against.
  const execa = await loadExeca();
  const { stdout } = await execa(gcc, ['-print-file-name=libc.a'], { reject: false });
  if (!stdout.trim().startsWith('/')) {
    throw new MissingDependencyError('static libc (libc.a, for the guest agent)', AGENT_INSTALL_LINE);
  }
  const hdr = await execa(gcc, ['-E', '-x', 'c', '-'], { input: '#include <linux/gpio.h>\n', reject: false });
  if (hdr.exitCode !== 0) {
    throw new MissingDependencyError('kernel UAPI headers (linux/gpio.h, for the guest agent)', AGENT_INSTALL_LINE);
  }
  return { gcc, make };
}

async function build(sourceDir: string, dir: string, binary: string, pathEnv: string): Promise<string> {
  const { gcc, make } = await checkToolchain(pathEnv);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const r = await (await loadExeca())(make, ['-C', sourceDir, `BUILD=${tmp}`, `CC=${gcc}`], {
      reject: false,
      all: true,
      env: { PATH: pathEnv },
    });
    if (r.exitCode !== 0) {
      const lines = (r.all ?? '').split('\n');
      throw new InfraError(`building the guest agent failed (make exited ${r.exitCode})`, lines.slice(-40));
    }
    await rename(join(tmp, 'huci-agent'), binary);
    return binary;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
