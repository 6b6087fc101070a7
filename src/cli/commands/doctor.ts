// `hotunplug-ci doctor`: what this host can do, and the exact line that fixes what it cannot.
import { statfs, mkdir } from 'node:fs/promises';
import { loadExeca } from '../../util/execa.js';
import { aptInstallLine, missingHostPackages } from '../../util/host-packages.js';
import { cacheRoot } from '../../util/paths.js';
import { chooseAccelerator } from '../../vm/accel.js';
import { listImages, resolveImage } from '../../image/index.js';
import { errorMessage } from '../../errors.js';

export interface DoctorOptions {
  json?: boolean;
}

export interface DoctorReport {
  qemu: { path: string | null; version: string | null };
  accelerator: { accel: 'kvm' | 'tcg' | null; reason: string };
  missingPackages: string[];
  installLine: string | null;
  cacheDir: string;
  freeDiskGiB: number | null;
  images: { name: string; cached: boolean }[];
  ok: boolean;
}

export async function doctor(opts: DoctorOptions): Promise<number> {
  const report = await diagnose();
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    const line = (k: string, v: string): void => void process.stdout.write(`${k.padEnd(14)} ${v}\n`);
    line('qemu', report.qemu.path ? `${report.qemu.path} (${report.qemu.version})` : 'missing');
    line('accelerator', report.accelerator.accel ? `${report.accelerator.accel} — ${report.accelerator.reason}` : report.accelerator.reason);
    line('packages', report.missingPackages.length ? `missing: ${report.missingPackages.join(' ')}` : 'all installed');
    if (report.installLine) line('install with', report.installLine);
    line('cache', report.cacheDir);
    line('free disk', report.freeDiskGiB === null ? 'unknown' : `${report.freeDiskGiB.toFixed(1)} GiB`);
    line('images', report.images.map((i) => `${i.name}${i.cached ? ' (cached)' : ''}`).join(', '));
  }
  return report.ok ? 0 : 1;
}

export async function diagnose(): Promise<DoctorReport> {
  const qemu = await qemuInfo();
  const missing = await missingHostPackages();
  const cacheDir = cacheRoot();
  await mkdir(cacheDir, { recursive: true });
  let freeDiskGiB: number | null = null;
  try {
    const s = await statfs(cacheDir);
    freeDiskGiB = (s.bavail * s.bsize) / 2 ** 30;
  } catch {
    freeDiskGiB = null;
  }
  const images: DoctorReport['images'] = [];
  let probeKernel: string | null = null;
  for (const def of listImages()) {
    let cached = false;
    try {
      const art = await resolveImage(def.name, { build: false });
      cached = true;
      probeKernel ??= art.kernel;
    } catch {
      cached = false;
    }
    images.push({ name: def.name, cached });
  }
  let accelerator: DoctorReport['accelerator'];
  if (!qemu.path) accelerator = { accel: null, reason: 'not probed: QEMU is missing' };
  else if (!probeKernel) accelerator = { accel: null, reason: 'not probed: no image is built yet (hotunplug-ci image build)' };
  else {
    try {
      accelerator = await chooseAccelerator(probeKernel);
    } catch (e) {
      accelerator = { accel: null, reason: `probe failed: ${errorMessage(e)}` };
    }
  }
  return {
    qemu,
    accelerator,
    missingPackages: missing.map((p) => p.name),
    installLine: missing.length ? aptInstallLine(missing) : null,
    cacheDir,
    freeDiskGiB,
    images,
    ok: Boolean(qemu.path) && missing.length === 0,
  };
}

async function qemuInfo(): Promise<DoctorReport['qemu']> {
  const execa = await loadExeca();
  const which = await execa('sh', ['-c', 'command -v qemu-system-x86_64'], { reject: false });
  const path = which.exitCode === 0 ? which.stdout.trim() : null;
  if (!path) return { path: null, version: null };
  const v = await execa(path, ['--version'], { reject: false });
  const m = /version\s+(\S+)/.exec(v.stdout);
  return { path, version: m?.[1] ?? null };
}
