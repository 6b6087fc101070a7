import { describe, expect, it } from 'vitest';
import type { GuestOp, OpResult } from '../../guest/guest-ops.js';
import type { GuestPort } from '../port.js';
import { FakeClock } from '../testing/fake-guest.js';
import { HarnessFailure, type KindContext } from './kind.js';
import { HolderSchema, RemovalSchema, StepSchema, holderKindOf, removalKindOf, runStep } from './registry.js';

/** A context that records the guest operations and answers them from a table (default: ok). */
function recording(answers: Record<string, Partial<OpResult>> = {}, vars: Record<string, string> = { adapter: 'i2c-0', dev: 'gpio-sim.0' }) {
  const ops: GuestOp[] = [];
  const set = new Map<string, string>();
  const clock = new FakeClock();
  const ctx: KindContext = {
    phase: 'prepare',
    port: {} as GuestPort,
    clock,
    sub: (s) =>
      s.replace(/\$\{([a-z_]+)\}/g, (_, v: string) => {
        if (!(v in vars)) throw new HarnessFailure(`variable \${${v}} is not discovered`);
        return vars[v]!;
      }),
    subArgs: (v) => v,
    guest: async (op) => {
      ops.push(op);
      const a = answers[op.op] ?? {};
      return { ok: true, errno: null, out: '', ms: 1, timedOut: false, ...a };
    },
    agent: async () => ({ ok: true, errno: null, ms: 1 }),
    note: () => undefined,
    device: () => undefined,
    setVar: (k, v) => void set.set(k, v),
    handle: () => 3,
    hold: () => undefined,
    release: () => undefined,
    ioctlRequest: () => ({ number: 0 }),
    structHex: (struct) => `<${struct}>`,
    constant: (v) =>
      typeof v === 'number'
        ? v
        : ({ AF_PACKET: 17, SOCK_RAW: 3, SOCK_NONBLOCK: 0o4000, SOL_PACKET: 263, PACKET_ADD_MEMBERSHIP: 1 } as Record<string, number>)[v]!,
    lostIfSilent: async () => undefined,
    finished: () => false,
    retireVm: () => {},
  };
  return { ctx, ops, set };
}

describe('step kinds: what each asks of the guest', () => {
  it.each<[string, unknown, GuestOp[]]>([
    [
      'modprobe with params',
      { modprobe: 'gpio-mockup', params: { gpio_mockup_ranges: '-1,8' } },
      [{ op: 'modprobe', module: 'gpio-mockup', params: { gpio_mockup_ranges: '-1,8' } }],
    ],
    ['rmmod', { rmmod: 'gpio_mockup' }, [{ op: 'rmmod', module: 'gpio_mockup' }]],
    ['mkdir', { mkdir: '/sys/kernel/config/gpio-sim/huci' }, [{ op: 'mkdir', path: '/sys/kernel/config/gpio-sim/huci' }]],
    ['write, a number', { write: { path: '/x/live', value: 1 } }, [{ op: 'write', path: '/x/live', value: '1' }]],
    [
      'new_device',
      { new_device: { adapter: '${adapter}', name: '24c02', addr: 0x50 } },
      [{ op: 'write', path: '/sys/bus/i2c/devices/i2c-0/new_device', value: '24c02 0x50' }],
    ],
    [
      'delete_device',
      { delete_device: { adapter: '${adapter}', addr: 0x50 } },
      [{ op: 'write', path: '/sys/bus/i2c/devices/i2c-0/delete_device', value: '0x50' }],
    ],
    ['shell', { shell: 'test -e /sys/bus/platform/devices/${dev}' }, [{ op: 'sh', command: 'test -e /sys/bus/platform/devices/gpio-sim.0' }]],
    [
      'discover',
      { discover: { var: 'chip', glob: '/sys/bus/gpio/devices/gpiochip*' } },
      [{ op: 'find', glob: '/sys/bus/gpio/devices/gpiochip*', timeoutMs: 10000 }],
    ],
    [
      'discover, waiting for its device node',
      { discover: { var: 'hidraw', glob: '/sys/devices/virtual/misc/uhid/*/hidraw/hidraw*', node: '/dev', timeoutMs: 500 } },
      [{ op: 'find', glob: '/sys/devices/virtual/misc/uhid/*/hidraw/hidraw*', node: '/dev', timeoutMs: 500 }],
    ],
  ])('%s', async (_, raw, ops) => {
    const r = recording({ find: { out: '/sys/bus/gpio/devices/gpiochip1\n' } });
    const step = StepSchema.parse(raw);
    expect(await runStep(step, r.ctx, 1000)).toEqual({ ok: true });
    expect(r.ops).toEqual(ops);
  });

  it('discover keeps the basename, or the whole path with take: path; nothing found is a failed step', async () => {
    const r = recording({ find: { out: '/sys/bus/gpio/devices/gpiochip1\n' } });
    await runStep(StepSchema.parse({ discover: { var: 'chip', glob: '/sys/bus/gpio/devices/gpiochip*' } }), r.ctx, 1000);
    await runStep(StepSchema.parse({ discover: { var: 'where', glob: '/sys/bus/gpio/devices/gpiochip*', take: 'path' } }), r.ctx, 1000);
    expect(Object.fromEntries(r.set)).toEqual({ chip: 'gpiochip1', where: '/sys/bus/gpio/devices/gpiochip1' });
    const none = recording({ find: { ok: false, errno: 'EXIT1', out: '' } });
    const res = await runStep(StepSchema.parse({ discover: { var: 'chip', file: '/x/chip_name', timeoutMs: 500 } }), none.ctx, 1000);
    expect(res).toEqual({ ok: false, message: 'prepare: discover chip: nothing matched /x/chip_name within 500 ms' });
    const noNode = await runStep(StepSchema.parse({ discover: { var: 'chip', file: '/x/chip_name', node: '/dev', timeoutMs: 500 } }), none.ctx, 1000);
    expect(noNode).toEqual({ ok: false, message: 'prepare: discover chip: nothing matched /x/chip_name with a node in /dev within 500 ms' });
    expect(() => StepSchema.parse({ discover: { var: 'chip', file: '/x/chip_name', node: 'dev' } })).toThrow(/node is an absolute directory/);
  });

  it('a failed operation is a failed step naming the operation, the errno and what the guest said', async () => {
    const r = recording({ write: { ok: false, errno: 'ENODEV', out: 'sh: write error: No such device\n' } });
    expect(await runStep(StepSchema.parse({ write: { path: '/x/bind', value: 'a' } }), r.ctx, 1000)).toEqual({
      ok: false,
      errno: 'ENODEV',
      message: 'prepare step "write a > /x/bind" failed (ENODEV): sh: write error: No such device',
    });
  });

  it('an undiscovered variable is a harness failure', async () => {
    const r = recording({}, {});
    await expect(runStep(StepSchema.parse({ rmmod: '${mod}' }), r.ctx, 1000)).rejects.toThrow(HarnessFailure);
  });

  it.each<[unknown, RegExp]>([
    [{}, /a step needs exactly one of modprobe, rmmod, .* \(got none\)/],
    [{ mkdir: '/a', rmdir: '/a' }, /exactly one of .* \(got mkdir, rmdir\)/],
    [{ rmmod: 'x', params: { a: 1 } }, /params only goes with modprobe/],
  ])('the step schema refuses %j', (raw, message) => {
    const r = StepSchema.safeParse(raw);
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.message).join('; ')).toMatch(message);
  });
});

describe('removal kinds', () => {
  const issue = async (raw: unknown, answers: Record<string, Partial<OpResult>> = {}) => {
    const r = recording(answers);
    const removal = RemovalSchema.parse(raw);
    const { pending } = await removalKindOf(removal).issue(removal, { ...r.ctx, phase: 'removal' }, 60_000);
    return { end: await pending, ops: r.ops, key: removalKindOf(removal).key };
  };

  it.each<[string, unknown, GuestOp[]]>([
    [
      'sysfs-unbind',
      { 'sysfs-unbind': { driver: '/sys/bus/platform/drivers/gpio-sim', device: '${dev}' } },
      [{ op: 'write', path: '/sys/bus/platform/drivers/gpio-sim/unbind', value: 'gpio-sim.0' }],
    ],
    [
      'sysfs-remove',
      { 'sysfs-remove': { device: '/sys/bus/pci/devices/0000:00:1f.3' } },
      [{ op: 'write', path: '/sys/bus/pci/devices/0000:00:1f.3/remove', value: '1' }],
    ],
    [
      'i2c-delete-device: the same file as the delete_device step',
      { 'i2c-delete-device': { adapter: '${adapter}', addr: 0x50 } },
      [{ op: 'write', path: '/sys/bus/i2c/devices/i2c-0/delete_device', value: '0x50' }],
    ],
    [
      'write',
      { write: { path: '/sys/kernel/config/gpio-sim/huci/live', value: 0 } },
      [{ op: 'write', path: '/sys/kernel/config/gpio-sim/huci/live', value: '0' }],
    ],
    ['rmmod', { rmmod: { module: 'gpio_sim' } }, [{ op: 'rmmod', module: 'gpio_sim' }]],
    [
      'steps, in order',
      { steps: [{ write: { path: '/c/huci/live', value: 0 } }, { rmdir: '/c/huci/bank0' }, { rmdir: '/c/huci' }] },
      [
        { op: 'write', path: '/c/huci/live', value: '0' },
        { op: 'rmdir', path: '/c/huci/bank0' },
        { op: 'rmdir', path: '/c/huci' },
      ],
    ],
  ])('%s', async (key, raw, ops) => {
    const r = await issue(raw);
    expect(r.end).toMatchObject({ ok: true, errno: null });
    expect(r.ops).toEqual(ops);
    // the row's name starts with the kind that must have been chosen
    expect(r.key).toBe(key.split(/[:,]/)[0]);
  });

  it('a refused rmmod ends with its errno and what the guest said', async () => {
    const r = await issue(
      { rmmod: { module: 'gpio_sim' }, refused: ['EBUSY'] },
      { rmmod: { ok: false, errno: 'EBUSY', out: 'rmmod: ERROR: Module gpio_sim is in use\n' } },
    );
    expect(r.end).toMatchObject({ ok: false, errno: 'EBUSY', detail: 'rmmod: ERROR: Module gpio_sim is in use' });
  });

  it('steps stop at the first that fails, with its errno', async () => {
    const r = await issue(
      { steps: [{ rmdir: '/c/a' }, { write: { path: '/c/live', value: 0 } }] },
      { rmdir: { ok: false, errno: 'EBUSY', out: 'rmdir: Device or resource busy' } },
    );
    expect(r.ops).toHaveLength(1);
    expect(r.end).toMatchObject({ ok: false, errno: 'EBUSY' });
  });

  it('a removal still running when its bound passes is not an end (timedOut)', async () => {
    const r = await issue({ 'sysfs-unbind': { driver: '/d', device: 'x' } }, { write: { ok: false, timedOut: true } });
    expect(r.end).toMatchObject({ ok: false, errno: null, timedOut: true });
  });
});

describe('holder kinds: the agent request that returns the fd', () => {
  it.each<[string, unknown, unknown, string]>([
    ['open', { open: { path: '/dev/${dev}', flags: ['O_RDWR'] } }, { op: 'open', path: '/dev/gpio-sim.0', flags: ['O_RDWR'] }, 'open /dev/gpio-sim.0'],
    [
      'socket',
      {
        socket: {
          domain: 'AF_PACKET',
          type: ['SOCK_RAW', 'SOCK_NONBLOCK'],
          bind: { struct: 'sockaddr_ll' },
          setsockopt: [{ level: 'SOL_PACKET', name: 'PACKET_ADD_MEMBERSHIP', struct: 'packet_mreq' }],
        },
      },
      {
        op: 'socket',
        domain: 17,
        type: 3 | 0o4000,
        protocol: 0,
        calls: [
          { call: 'bind', hex: '<sockaddr_ll>' },
          { call: 'setsockopt', level: 263, name: 1, hex: '<packet_mreq>' },
        ],
      },
      'socket AF_PACKET SOCK_RAW,SOCK_NONBLOCK bound to sockaddr_ll',
    ],
    ['ioctl', { ioctl: { on: 'chip', request: { raw: 0xb401 } } }, { op: 'ioctl', handle: 3, request: { number: 0 } }, 'ioctl raw 46081 on chip'],
  ])('%s', (key, raw, call, what) => {
    const h = HolderSchema.parse({ name: 'fd', ...(raw as object) });
    expect(holderKindOf(h).key).toBe(key);
    const made = holderKindOf(h).call(h, recording().ctx);
    expect({ call: made.call, what: made.what }).toEqual({ call, what });
    expect(made.after?.(9) ?? []).toEqual([]);
  });

  it('open: ioctls on the new fd before it is held (tun: TUNSETIFF)', () => {
    const h = HolderSchema.parse({ name: 'tun', open: { path: '/dev/net/tun', flags: ['O_RDWR'], ioctls: [{ request: { raw: 0x400454ca } }] } });
    expect(holderKindOf(h).call(h, recording().ctx).after?.(9)).toEqual([
      { call: { op: 'ioctl', handle: 9, request: { number: 0 } }, what: 'ioctl raw 1074025674' },
    ]);
  });

  it('needs exactly one kind', () => {
    const r = HolderSchema.safeParse({ name: 'fd', open: { path: '/x', flags: ['O_RDONLY'] }, ioctl: { on: 'a', request: 'X' } });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toBe('a holder needs exactly one of open, socket, ioctl (got open, ioctl)');
  });
});
