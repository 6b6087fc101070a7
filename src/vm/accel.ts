// KVM or TCG? /dev/kvm can exist, open, and still not run a guest (PVM hosts: "KVM internal error",
// failed MSR writes), so KVM is chosen only after a real short boot of the given kernel under it.
// The decision is cached per host boot and QEMU version; HOTUNPLUG_ACCEL=tcg|kvm overrides it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from '../zod.js';
import { UsageError, errorMessage } from '../errors.js';
import { cacheRoot } from '../util/paths.js';
import { qemuVersion } from './host-tools.js';
import { Machine } from './machine.js';
import type { Accel } from './machine-spec.js';

export interface AccelChoice {
  accel: Accel;
  reason: string;
  /** True when the decision came from the cache file rather than a probe now. */
  cached: boolean;
}

export interface ChooseAcceleratorOptions {
  env?: NodeJS.ProcessEnv;
  cacheFile?: string;
  /** Skip the cache (read and write). */
  noCache?: boolean;
  probeTimeoutMs?: number;
  kvmDevice?: string;
}

/** Console lines that prove the kernel ran well past early boot. */
const PROBE_SUCCESS = /Kernel panic - not syncing|VFS: Unable to mount root|Freeing unused kernel|Run \S+ as init process/;
const KVM_FAILURE = /KVM internal error|kvm_.*Assertion|failed to set MSR|kvm: /i;

const CacheSchema = z.object({ key: z.string(), accel: z.enum(['kvm', 'tcg']), reason: z.string(), decidedAt: z.string() });

function accelCacheFile(): string {
  return path.join(cacheRoot(), 'accel.json');
}

export async function chooseAccelerator(kernel: string, opts: ChooseAcceleratorOptions = {}): Promise<AccelChoice> {
  const env = opts.env ?? process.env;
  const forced = env.HOTUNPLUG_ACCEL;
  if (forced !== undefined && forced !== '') {
    if (forced !== 'tcg' && forced !== 'kvm') throw new UsageError(`HOTUNPLUG_ACCEL must be "tcg" or "kvm", got "${forced}"`);
    return { accel: forced, reason: `HOTUNPLUG_ACCEL=${forced}`, cached: false };
  }
  const dev = opts.kvmDevice ?? '/dev/kvm';
  try {
    const fh = await fs.promises.open(dev, 'r+');
    await fh.close();
  } catch (e) {
    return { accel: 'tcg', reason: `${dev} cannot be opened (${(e as NodeJS.ErrnoException).code ?? errorMessage(e)}); using TCG`, cached: false };
  }

  const cacheFile = opts.cacheFile ?? accelCacheFile();
  const key = await cacheKey();
  if (!opts.noCache) {
    const hit = readCache(cacheFile, key);
    if (hit) return { accel: hit.accel, reason: `${hit.reason} (cached ${hit.decidedAt})`, cached: true };
  }
  const probe = await probeKvm(kernel, opts.probeTimeoutMs ?? 20_000);
  const choice: AccelChoice = probe.ok
    ? { accel: 'kvm', reason: `KVM boot probe passed in ${probe.ms} ms: ${probe.detail}`, cached: false }
    : { accel: 'tcg', reason: `KVM boot probe failed (${probe.detail}); using TCG`, cached: false };
  if (!opts.noCache) writeCache(cacheFile, { key, accel: choice.accel, reason: choice.reason, decidedAt: new Date().toISOString() });
  return choice;
}

/** Host boot + QEMU version: a reboot or a QEMU upgrade can change whether KVM works. */
export function cacheKey(): Promise<string> {
  // neither changes while this process runs; a run boots many VMs
  cacheKeyMemo ??= (async () => {
    const bootId = (await fs.promises.readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
    return `${bootId} ${await qemuVersion()}`;
  })();
  cacheKeyMemo.catch(() => (cacheKeyMemo = null)); // a failure is not remembered
  return cacheKeyMemo;
}
let cacheKeyMemo: Promise<string> | null = null;

interface ProbeResult {
  ok: boolean;
  ms: number;
  detail: string;
}

/** Boot `kernel` under KVM with no initrd; it should get as far as failing to mount root. */
async function probeKvm(kernel: string, timeoutMs: number): Promise<ProbeResult> {
  const t0 = Date.now();
  const runDir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'huci-accel-'));
  const ms = (): number => Date.now() - t0;
  let machine: Machine | null = null;
  try {
    try {
      machine = await Machine.start({ kernel, accel: 'kvm', runDir, memMiB: 256, cpus: 1 });
    } catch (e) {
      return { ok: false, ms: ms(), detail: errorMessage(e) };
    }
    const m = machine;
    let timer: NodeJS.Timeout | undefined;
    let poll: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      m.console.waitForLine(PROBE_SUCCESS, { timeoutMs }).then(
        (l) => ({ ok: true, detail: `console reached "${l.text.trim()}"` }),
        // Console ended or timed out: the exit/timeout branches below say why.
        () => new Promise<never>(() => {}),
      ),
      m.exited.then((e) => ({
        ok: false,
        detail: `QEMU exited (code ${e.code}, signal ${e.signal}) before the kernel got past early boot${stderrSummary(m.stderr())}`,
      })),
      new Promise<{ ok: boolean; detail: string }>((resolve) => {
        // KVM internal errors pause the VM rather than exit QEMU: watch stderr.
        poll = setInterval(() => {
          if (KVM_FAILURE.test(m.stderr())) resolve({ ok: false, detail: `QEMU reported a KVM failure${stderrSummary(m.stderr())}` });
        }, 100);
      }),
      new Promise<{ ok: boolean; detail: string }>((resolve) => {
        timer = setTimeout(
          () =>
            resolve({
              ok: false,
              detail: `no sign of boot within ${timeoutMs} ms; last console line: "${m.console.tail(1)[0] ?? ''}"${stderrSummary(m.stderr())}`,
            }),
          timeoutMs,
        );
      }),
    ]);
    clearTimeout(timer);
    clearInterval(poll);
    return { ok: outcome.ok, ms: ms(), detail: outcome.detail };
  } finally {
    await machine?.stop();
    await fs.promises.rm(runDir, { recursive: true, force: true });
  }
}

function stderrSummary(stderr: string): string {
  const lines = stderr.trim().split('\n').filter(Boolean).slice(-3);
  return lines.length ? `: ${lines.join(' | ')}` : '';
}

function readCache(file: string, key: string): z.infer<typeof CacheSchema> | null {
  try {
    const parsed = CacheSchema.safeParse(JSON.parse(fs.readFileSync(file, 'utf8')));
    return parsed.success && parsed.data.key === key ? parsed.data : null;
  } catch {
    return null;
  }
}

function writeCache(file: string, entry: z.infer<typeof CacheSchema>): void {
  // The cache only saves a probe; failing to write it must not fail the run.
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, `${JSON.stringify(entry, null, 2)}\n`);
    fs.renameSync(tmp, file);
  } catch {
    // ignore
  }
}
