// The default KASAN image end to end: it boots, says CONFIG_KASAN=y, gpio-sim makes a chip through
// configfs, and the canary pair behaves as the controls of the whole tool must: unbinding
// canary-buggy under a held fd and reading through it gives a KASAN slab-use-after-free report;
// the same on canary-fixed gives ENODEV and no report. The fd is held by the guest agent.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detect } from '../../src/detect/index.js';
import type { AgentClient } from '../../src/guest/agent.js';
import type { SshGuest } from '../../src/guest/ssh.js';
import { checkKernelConfig } from '../../src/image/kernel-config-check.js';
import { resolveImage, type ImageArtifacts } from '../../src/image/resolve.js';
import { projectPath } from '../../src/util/paths.js';
import { bootGuest, type GuestSession } from '../../src/scenario/vm-session.js';
import type { Machine } from '../../src/vm/machine.js';
import { agentCall, loadVocabulary } from '../../src/vocabulary/load.js';

let image: ImageArtifacts;
let session: GuestSession;
let machine: Machine;
let ssh: SshGuest;
let agent: AgentClient;
let runDir: string;
let timings: Record<string, number | string> = {};

async function sh(cmd: string, timeoutMs = 30_000): Promise<string> {
  const r = await ssh.exec(cmd, { timeoutMs });
  if (r.code !== 0) throw new Error(`guest: ${cmd} → exit ${r.code}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

/** Console lines from `from` on (1-based), as one log. */
function consoleSince(from: number): string {
  return machine.console
    .retained()
    .filter((l) => l.lineNo >= from)
    .map((l) => l.text)
    .join('\n');
}

/** Guest seconds from a console line's printk timestamp. */
function guestSeconds(text: string): number | null {
  const m = /^\[\s*(\d+\.\d+)\]/.exec(text);
  return m ? Number(m[1]) : null;
}

// kasan-6.12 is the default image and the only one CI builds (90-minute budget);
// HUCI_KASAN_IMAGES=kasan-6.12,kasan-6.1 also checks 6.1, which shares its fragments.
const IMAGES = (process.env.HUCI_KASAN_IMAGES ?? 'kasan-6.12').split(',').filter(Boolean);

describe.each(IMAGES)('%s image', (name) => {
  beforeAll(async () => {
    timings = {};
    const t0 = Date.now();
    image = await resolveImage(name, { build: true });
    timings.resolveMs = Date.now() - t0;
    runDir = await mkdtemp(join(tmpdir(), 'huci-kasan-'));
    session = await bootGuest({ image, runDir, sshTimeoutMs: 240_000 });
    ({ machine, agent } = session);
    ssh = await session.ssh();
    timings.accel = session.accel;
    timings.transport = session.transport;
    timings.agentReadyMs = Math.round(session.timings.agentReadyMs);
    const init = await machine.console.waitForLine(/Run \/init as init process/, { timeoutMs: 1000 });
    timings.guestSecondsToInit = guestSeconds(init.text) ?? -1;
  }, 45 * 60_000);

  afterAll(async () => {
    console.log(`${name} timings: ${JSON.stringify(timings)}`);
    await session?.stop();
    // HUCI_KEEP_RUN=1 keeps console.log & co. for a look at the actual reports.
    if (runDir && process.env.HUCI_KEEP_RUN) console.log(`${name} run dir kept: ${runDir}`);
    else if (runDir) await rm(runDir, { recursive: true, force: true });
  }, 60_000);

  it('is a real KASAN kernel with its config readable in the guest', async () => {
    expect((await stat(image.kernel)).size).toBeGreaterThan(1_000_000);
    const cfg = await sh('zcat /proc/config.gz');
    expect(cfg).toMatch(/^CONFIG_KASAN=y$/m);
    expect(cfg).toMatch(/^CONFIG_KASAN_GENERIC=y$/m);
    expect(cfg).toMatch(/^CONFIG_GPIO_SIM=m$/m);
    expect(await sh('cat /proc/cmdline')).toContain('kasan_multi_shot');
    // nothing went wrong while booting
    expect(detect(consoleSince(1)).map((f) => f.title)).toEqual([]);
  });

  it('its bzImage carries the config (IKCONFIG): the --kernel check finds our fragments satisfied, lockdep not', async () => {
    const frag = (n: string) => projectPath('images', 'kernel', `${n}.config`);
    const ours = await checkKernelConfig({ kernel: image.kernel, fragments: ['base', 'debug', 'subsystems'].map(frag) });
    expect(ours.configSource).toBe(`${image.kernel} (IKCONFIG)`);
    expect(ours.missing).toEqual([]);
    const lockdep = await checkKernelConfig({ kernel: image.kernel, fragments: [frag('lockdep')] });
    expect(lockdep.missing.map((m) => m.name)).toContain('CONFIG_PROVE_LOCKING');
  });

  it('creates a gpio-sim chip through configfs and it appears as /dev/gpiochipN', async () => {
    await sh('modprobe gpio-sim');
    const d = '/sys/kernel/config/gpio-sim/huci-test';
    await sh(`mkdir ${d} ${d}/bank0 && echo 8 > ${d}/bank0/num_lines && echo 1 > ${d}/live`);
    const chip = (await sh(`cat ${d}/bank0/chip_name`)).trim();
    expect(chip).toMatch(/^gpiochip\d+$/);
    await sh(`test -c /dev/${chip}`);
    const opened = await agent.open(`/dev/${chip}`, ['O_RDWR']);
    expect(opened.ok).toBe(true);
    if (!opened.ok) return;
    // encoded and decoded by the vocabulary (suites/vocabulary/gpio.yaml); the agent only runs ioctl(2)
    const chipinfo = agentCall(loadVocabulary(), 'GPIO_GET_CHIPINFO_IOCTL', undefined);
    const info = await agent.ioctl(opened.handle, chipinfo.request);
    expect(info.ok).toBe(true);
    expect(chipinfo.decode(info.ok ? info.hex : undefined)).toMatchObject({ name: chip, lines: 8 });
    // a line request returns its fd through a field of the struct: the agent holds it as a handle
    const line = await agent.ioctl(
      opened.handle,
      agentCall(loadVocabulary(), 'GPIO_V2_GET_LINE_IOCTL', { offsets: [1], num_lines: 1, consumer: 'huci', config: { flags: ['INPUT'] } }).request,
    );
    expect(line).toMatchObject({ ok: true, ret: 0 });
    if (line.ok) await agent.close(line.handle!);
    await agent.close(opened.handle);
    await sh(`echo 0 > ${d}/live && rmdir ${d}/bank0 ${d}`);
  });

  it('canary-buggy: read through a held fd after unbind is a KASAN (slab-)use-after-free', async () => {
    await sh('modprobe canary_buggy');
    const fd = await agent.open('/dev/canary-buggy', ['O_RDWR']);
    expect(fd.ok).toBe(true);
    if (!fd.ok) return;
    const before = await agent.read(fd.handle, 128);
    expect(before.ok).toBe(true);
    const mark = machine.console.lineCount + 1;
    await sh('echo canary-buggy.0 > /sys/bus/platform/drivers/canary-buggy/unbind');
    await agent.read(fd.handle, 16); // the use-after-free; the call itself returns (KASAN only reports)
    const first = await machine.console.waitForLine(/BUG: KASAN: /, { timeoutMs: 60_000, fromLine: mark });
    // 6.1 names it plain "use-after-free"; the slab- prefix came with the 6.4 report rework.
    const kind = name === 'kasan-6.1' ? 'use-after-free' : 'slab-use-after-free';
    expect(first.text).toMatch(new RegExp(`BUG: KASAN: ${kind} in canary_read`));
    await machine.console.waitForLine(/^\[[\s\d.]+\] ={20,}/, { timeoutMs: 60_000, fromLine: first.lineNo + 1 });
    const findings = detect(consoleSince(mark));
    expect(findings.map((f) => f.kind)).toContain('kasan');
    expect(findings.find((f) => f.kind === 'kasan')?.title).toMatch(new RegExp(`^KASAN: ${kind} Read in canary_read`));
    await agent.close(fd.handle);
  });

  it('canary-fixed: read through a held fd after unbind returns ENODEV and no report', async () => {
    await sh('modprobe canary_fixed');
    const fd = await agent.open('/dev/canary-fixed', ['O_RDWR']);
    expect(fd.ok).toBe(true);
    if (!fd.ok) return;
    const before = await agent.read(fd.handle, 128);
    expect(before.ok).toBe(true);
    const mark = machine.console.lineCount + 1;
    await sh('echo canary-fixed.0 > /sys/bus/platform/drivers/canary-fixed/unbind');
    const after = await agent.read(fd.handle, 16);
    expect(after).toMatchObject({ ok: false, errno: 'ENODEV' });
    const ioctl = await agent.ioctl(fd.handle, { number: 0x80084301, size: 8 }); // CANARY_IOC_GET_BINDING
    expect(ioctl).toMatchObject({ ok: false, errno: 'ENODEV' });
    const closed = await agent.close(fd.handle);
    expect(closed.ok).toBe(true);
    // The fixed driver's last close frees the state: prove the guest lives on and logged nothing bad.
    await sh('echo canary-fixed.0 > /sys/bus/platform/drivers/canary-fixed/bind && test -c /dev/canary-fixed');
    await sh('echo huci-fixed-done > /dev/kmsg');
    await machine.console.waitForLine(/huci-fixed-done/, { timeoutMs: 30_000, fromLine: mark });
    expect(detect(consoleSince(mark)).map((f) => f.title)).toEqual([]);
  });
});
