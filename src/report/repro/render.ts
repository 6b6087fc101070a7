// The stand-alone reproducer of a case that was not handled: cases/<case>/reproducer/ with run.sh
// (plain QEMU, images/repro/run.sh), guest.sh (the recorded steps, guest-script.ts), its initramfs
// overlay, QEMU's arguments and the drives to make; the kernel, initramfs and .config it ran on
// go once per image to kernels/<image>/. Nothing in it needs Node or hotunplug-ci.
import { existsSync } from 'node:fs';
import { copyFile, link, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { CaseResult, RunResult } from '../../model/run.js';
import { projectPath } from '../../util/paths.js';
import { cpioGz } from './cpio.js';
import { guestScript } from './guest-script.js';
import { reproArgv } from './qemu-args.js';

export const REPRO_DIR = 'reproducer';
const KERNELS_DIR = 'kernels';

export interface ReproFiles {
  /** relative path → contents (mode 0o755 for the scripts) */
  files: { rel: string; data: string | Buffer; mode?: number }[];
  /** kernel files to place under kernels/<image>/ (from → name) */
  kernel: { image: string; from: string; name: string }[];
}

let templates: { runSh: string; libSh: string } | null = null;
async function loadTemplates(): Promise<{ runSh: string; libSh: string }> {
  templates ??= {
    runSh: await readFile(projectPath('images/repro/run.sh'), 'utf8'),
    libSh: await readFile(projectPath('images/repro/lib.sh'), 'utf8'),
  };
  return templates;
}

/** What a case's reproducer consists of; null for a case without one (handled, skipped, no VM). */
export async function reproducerOf(run: RunResult, c: CaseResult, caseRel: string, image: string): Promise<ReproFiles | null> {
  if (!c.replay?.length || !c.vm) return null;
  const { runSh, libSh } = await loadTemplates();
  const argv = reproArgv(c.vm.qemuArgv);
  const title = c.findings[0]?.title ?? null;
  const guest = guestScript(c.replay, { caseId: c.id, runId: run.runId, verdict: c.verdict, title });
  const rel = (f: string): string => path.join(caseRel, REPRO_DIR, f);
  const files: ReproFiles['files'] = [
    { rel: rel('run.sh'), data: runSh, mode: 0o755 },
    { rel: rel('guest.sh'), data: guest, mode: 0o755 },
    { rel: rel('qemu-args'), data: `${argv.args.join('\n')}\n` },
    { rel: rel('image'), data: `${image}\n` },
    {
      rel: rel('overlay.cpio.gz'),
      data: cpioGz([
        { path: 'repro', mode: 0o755 },
        { path: 'repro/guest.sh', data: guest, mode: 0o755 },
        { path: 'repro/lib.sh', data: libSh, mode: 0o644 },
      ]),
    },
    { rel: rel('README.md'), data: readme(run, c, image, title) },
  ];
  if (c.vm.drives?.length) files.push({ rel: rel('drives'), data: c.vm.drives.map((d) => `${d.file} ${d.sizeMiB}\n`).join('') });
  const kernel: ReproFiles['kernel'] = [];
  if (argv.kernel) {
    kernel.push({ image, from: argv.kernel, name: 'bzImage' }, { image, from: path.join(path.dirname(argv.kernel), 'config'), name: 'config' });
  }
  if (argv.initrd) kernel.push({ image, from: argv.initrd, name: 'initrd.gz' });
  return { files, kernel };
}

/** Hard-links (else copies) a kernel file into kernels/<image>/ once; false when its source is gone. */
export async function placeKernelFile(runDir: string, k: ReproFiles['kernel'][number]): Promise<boolean> {
  const to = path.join(runDir, KERNELS_DIR, k.image, k.name);
  if (existsSync(to)) return true;
  if (!existsSync(k.from)) return false;
  await mkdir(path.dirname(to), { recursive: true });
  await link(k.from, to).catch(() => copyFile(k.from, to));
  return true;
}

function readme(run: RunResult, c: CaseResult, image: string, title: string | null): string {
  return `# ${c.id}: ${c.verdict}${title ? ` — ${title}` : ''}

A stand-alone reproducer of this case of hotunplug-ci run \`${run.runId}\` on ${image}
(${c.vm?.kernelRelease ?? 'unknown kernel'}). It needs bash, coreutils, grep and
qemu-system-x86_64, and nothing of hotunplug-ci:

    ./run.sh

boots the same kernel (\`../../../${KERNELS_DIR}/${image}/\`: bzImage, initrd.gz and the kernel's
config), kernel command line and devices with plain QEMU and runs \`guest.sh\` as the guest's
first program: it makes the devices, holds their fds in a live process (\`huci-agent\`, the guest
agent already in the initramfs), removes the device, and probes the fds, as the case did, with the
replies the recorded run got as \`# was:\` comments. The kernel console goes to stdout; run.sh ends
with the first kernel report it shows. Another kernel: \`KERNEL=… INITRD=… ./run.sh\` (the initramfs
must carry modules for it).

The case said: ${c.reason}

| file | what |
|---|---|
| run.sh | boots QEMU, answers guest.sh's QMP requests (device_add, device_del, waits for their events) |
| guest.sh | the case's steps, replayed through the agent (helpers: /repro/lib.sh) |
| qemu-args | QEMU's arguments as the case had them, one per line (@KERNEL@, @INITRD@, @WORK@: run.sh's) |
| overlay.cpio.gz | guest.sh and lib.sh as an initramfs archive run.sh appends to the image's |
${c.vm?.drives?.length ? '| drives | the empty raw drives run.sh makes (file, MiB) |\n' : ''}`;
}
