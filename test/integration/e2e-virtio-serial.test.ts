// Issue 2's end-to-end slice: hold a virtio-serial port open in the agent, device_del the
// controller from the host, and see what the held fd says afterwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detect } from '../../src/detect/index.js';
import type { GuestSession } from '../../src/scenario/vm-session.js';
import { bootImage, qemuPidsFor } from '../testing/guest.js';

describe('debian-6.12: virtio-serial controller removed while its port is held', () => {
  let session: GuestSession;
  let runDir: string;

  beforeAll(async () => {
    session = await bootImage('debian-6.12', {
      devices: [
        { id: 'vser', driver: 'virtio-serial-pci', hotplug: true },
        { id: 'vport', driver: 'virtserialport', bus: 'vser.0', props: { chardev: 'vsc', name: 'huci.0' } },
      ],
      chardevs: [{ id: 'vsc', backend: 'ringbuf' }],
    });
    runDir = session.runDir;
  }, 180_000);

  afterAll(async () => {
    await session?.stop();
  });

  it('the held fd errors after DEVICE_DELETED, with no kernel report, and QEMU is gone after stop', async () => {
    const { agent, machine } = session;
    const ssh = await session.ssh();
    // by name: the agent's own port (huci.agent) is a vport too
    const load = await ssh.exec(
      'modprobe virtio_console && for p in /sys/class/virtio-ports/vport*; do [ "$(cat $p/name)" = huci.0 ] && echo /dev/${p##*/}; done',
      { timeoutMs: 30_000 },
    );
    expect(load.code, load.stderr).toBe(0);
    const port = load.stdout.split('\n').find((l) => /^\/dev\/vport\d+p1$/.test(l));
    expect(port, load.stdout).toBeDefined();

    const opened = await agent.open(port!, ['O_RDWR', 'O_NONBLOCK']);
    expect(opened.ok).toBe(true);
    const handle = (opened as { handle: number }).handle;
    const before = await agent.write(handle, 'hello\n');
    expect(before).toMatchObject({ ok: true, n: 6 });

    const consoleMark = machine.console.lineCount;
    const deleted = machine.qmp.waitForEvent('DEVICE_DELETED', { device: 'vser' }, 30_000);
    await machine.qmp.execute('device_del', { id: 'vser' });
    const event = await deleted;
    expect(event.data).toMatchObject({ device: 'vser' });

    const after = await agent.write(handle, 'hello again\n');
    expect(after.ok).toBe(false);
    expect(['ENXIO', 'ENODEV']).toContain(after.errno);

    // The guest still answers, and the console since the removal holds no kernel report.
    const alive = await ssh.exec('echo alive', { timeoutMs: 10_000 });
    expect(alive.stdout.trim()).toBe('alive');
    const since = machine.console
      .retained()
      .filter((l) => l.lineNo > consoleMark)
      .map((l) => l.text)
      .join('\n');
    expect(detect(since)).toEqual([]);

    await agent.close(handle);
    await session.stop();
    expect(await qemuPidsFor(runDir)).toEqual([]);
  }, 120_000);
});
