import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { defaultSuitesDir, loadSuites, parseSuiteText } from './load-suites.js';

const GOOD = `
suite: demo
description: demo
images: [debian-6.12]
requires: [CONFIG_DEMO]
fds:
  chip:
    holders: [{ name: chip, open: { path: /dev/gpiochip0, flags: [O_RDWR] } }]
    target: chip
  req:
    holders:
      - { name: chip, open: { path: /dev/gpiochip0, flags: [O_RDWR] } }
      - { name: req, ioctl: { on: chip, request: GPIO_V2_GET_LINE_IOCTL, args: { offsets: [0] } } }
    target: req
    ops:
      ioctl: { request: GPIO_V2_LINE_GET_VALUES_IOCTL }
ops:
  read: { op: read, size: 16, accept: { errno: [ENODEV] } }
  ioctl: { op: ioctl, request: GPIO_GET_CHIPINFO_IOCTL, accept: { errno: [ENODEV] } }
templates:
  t:
    provider: sim
    prepare: [{ modprobe: gpio-sim }]
cases:
  - use: t
    method: unbind
    removal: { sysfs-unbind: { driver: /sys/bus/platform/drivers/gpio-sim, device: gpio-sim.0 } }
    matrix: { fd: [chip, req], op: [read, ioctl] }
    exclude: [{ fd: req, op: read }]
`;

/** Applies a textual edit to GOOD; each must produce exactly one ConfigError naming file and path. */
const BAD: Array<{ name: string; edit: (s: string) => string; path: RegExp; problem: RegExp }> = [
  { name: 'unknown top-level key', edit: (s) => `${s}colour: blue\n`, path: /^colour/, problem: /unknown key "colour"/ },
  {
    name: 'unknown key in a case',
    edit: (s) => s.replace('    method: unbind', '    method: unbind\n    flavour: x'),
    path: /cases\[0\]\.flavour/,
    problem: /unknown key "flavour"/,
  },
  {
    name: 'unknown stress op',
    edit: (s) => s.replace('    method: unbind', '    method: unbind\n    stress: { ops: [hammer] }'),
    path: /cases\[0\]\.stress\.ops/,
    problem: /unknown op "hammer"/,
  },
  {
    name: 'too many stress workers',
    edit: (s) => s.replace('    method: unbind', '    method: unbind\n    stress: { workers: 64 }'),
    path: /cases\[0\]\.stress\.workers/,
    problem: /8/,
  },
  { name: 'wrong type', edit: (s) => s.replace('size: 16', 'size: sixteen'), path: /ops\.read\.size/, problem: /expected number/i },
  {
    name: 'unknown removal method',
    edit: (s) => s.replace('sysfs-unbind:', 'sysfs-yank:'),
    path: /cases\[0\]\.removal\.sysfs-yank/,
    problem: /unknown removal method "sysfs-yank"/,
  },
  {
    name: 'two removal methods',
    edit: (s) => s.replace('removal: {', 'removal: { rmmod: { module: gpio_sim },'),
    path: /cases\[0\]\.removal/,
    problem: /exactly one method/,
  },
  { name: 'missing removal', edit: (s) => s.replace(/ {4}removal: .*\n/, ''), path: /cases\[0\]/, problem: /removal is required/ },
  { name: 'missing probes (no ops)', edit: (s) => s.replace(/ops:\n {2}read:.*\n {2}ioctl:.*\n/, ''), path: /^ops/, problem: /expected record/i },
  {
    name: 'probe without accept',
    edit: (s) => s.replace('size: 16, accept: { errno: [ENODEV] }', 'size: 16'),
    path: /ops\.read\.accept/,
    problem: /expected object/i,
  },
  {
    name: 'bad errno name',
    edit: (s) => s.replace('errno: [ENODEV] } }\n  ioctl', 'errno: [ENOTADEVICE] } }\n  ioctl'),
    path: /ops\.read\.accept\.errno\[0\]/,
    problem: /unknown errno name "ENOTADEVICE"/,
  },
  {
    name: 'duplicate case id',
    edit: (s) => `${s}  - use: t\n    method: unbind\n    removal: { rmmod: { module: x } }\n    fd: chip\n    op: read\n`,
    path: /cases\[1\]/,
    problem: /duplicate case id demo\/sim-unbind-chip-read \(also from cases\[0\]\)/,
  },
  {
    name: 'unknown fd kind in matrix',
    edit: (s) => s.replace('fd: [chip, req]', 'fd: [chip, handle]'),
    path: /cases\[0\]\.matrix\.fd/,
    problem: /unknown fd kind "handle"/,
  },
  { name: 'unknown template', edit: (s) => s.replace('- use: t', '- use: nope'), path: /cases\[0\]\.use/, problem: /unknown template "nope"/ },
  {
    name: 'unknown ioctl name',
    edit: (s) => s.replace('request: GPIO_GET_CHIPINFO_IOCTL', 'request: GPIO_FROBNICATE'),
    path: /^ops\.ioctl\.request \(line 19\)$/,
    problem: /unknown ioctl "GPIO_FROBNICATE"/,
  },
  {
    name: 'a struct field that does not exist',
    edit: (s) => s.replace('args: { offsets: [0] }', 'args: { offsets: [0], lines: [0] }'),
    path: /^fds\.req\.holders\[1\]\.ioctl\.args \(line 13\)$/,
    problem: /GPIO_V2_GET_LINE_IOCTL args\.lines: gpio_v2_line_request has no field lines/,
  },
  {
    name: 'a value that does not fit its field',
    edit: (s) => s.replace('args: { offsets: [0] }', 'args: { offsets: [0], config: { flags: [SIDEWAYS] } }'),
    path: /holders\[1\]\.ioctl\.args/,
    problem: /args\.config\.flags: unknown flag "SIDEWAYS"/,
  },
  {
    name: 'a holder ioctl that returns no fd',
    edit: (s) => s.replace('request: GPIO_V2_GET_LINE_IOCTL, args: { offsets: [0] }', 'request: GPIO_GET_CHIPINFO_IOCTL'),
    path: /holders\[1\]\.ioctl\.request/,
    problem: /GPIO_GET_CHIPINFO_IOCTL returns no fd to hold/,
  },
  {
    name: 'probe on an fd no holder provides',
    edit: (s) => s.replace('target: req', 'target: reqq'),
    path: /cases\[0\]/,
    problem: /probe on "reqq", which no holder provides/,
  },
  {
    name: 'unknown step kind',
    edit: (s) => s.replace('{ modprobe: gpio-sim }', '{ insmod: gpio-sim }'),
    path: /templates\.t\.prepare\[0\]\.insmod/,
    problem: /unknown step kind "insmod"/,
  },
  { name: 'bad kernel option', edit: (s) => s.replace('[CONFIG_DEMO]', '[GPIO_SIM]'), path: /requires\[0\]/, problem: /CONFIG_NAME/ },
  {
    name: 'exclusions leave nothing',
    edit: (s) => s.replace('exclude: [{ fd: req, op: read }]', 'exclude: [{}]'),
    path: /cases\[0\]\.exclude/,
    problem: /leave no case/,
  },
  { name: 'not YAML', edit: (s) => s.replace('suite: demo', 'suite: [demo'), path: /line \d+/, problem: /not valid YAML/ },
  {
    name: 'a case with neither fd/op nor matrix',
    edit: (s) => s.replace(/ {4}matrix: .*\n {4}exclude: .*\n/, ''),
    path: /cases\[0\]/,
    problem: /needs fd and op/,
  },
];

describe('suite loader', () => {
  it('expands templates and the fd × op matrix into case ids', () => {
    const s = parseSuiteText(GOOD, 'demo.yaml');
    expect(s.cases.map((c) => c.id)).toEqual(['demo/sim-unbind-chip-read', 'demo/sim-unbind-chip-ioctl', 'demo/sim-unbind-req-ioctl']);
    const reqIoctl = s.cases[2]!;
    expect(reqIoctl.probes[0]).toMatchObject({ on: 'req', op: 'ioctl', request: 'GPIO_V2_LINE_GET_VALUES_IOCTL' });
    expect(reqIoctl.holders.map((h) => h.name)).toEqual(['chip', 'req']);
    expect(reqIoctl.prepare).toEqual([{ modprobe: 'gpio-sim', optional: false }]);
    expect(reqIoctl.requires).toEqual(['CONFIG_DEMO']);
    expect(reqIoctl.removal.timeoutMs).toBe(5000);
  });

  it('stress: workers from the case or template, ops the suite pairs with the fd kind, the node to reopen when opened by path', () => {
    const plain = parseSuiteText(GOOD, 'demo.yaml').cases;
    expect(plain.map((c) => c.stress.workers)).toEqual([0, 0, 0]);
    const chipRead = plain[0]!.stress;
    expect(chipRead.ops.map((l) => [l.on, l.op, l.op === 'ioctl' ? l.request : l.size])).toEqual([
      ['chip', 'read', 16],
      ['chip', 'ioctl', 'GPIO_GET_CHIPINFO_IOCTL'],
    ]);
    expect(chipRead.reopen).toEqual({ path: '/dev/gpiochip0', flags: ['O_RDWR'] });
    expect(chipRead.ops.every((l) => !('accept' in l))).toBe(true);
    // req/read is excluded from the matrix, so its stress loops only the ioctl, with req's request; an ioctl-made fd has no node
    const req = plain[2]!.stress;
    expect(req.ops.map((l) => [l.op, l.op === 'ioctl' ? l.request : null])).toEqual([['ioctl', 'GPIO_V2_LINE_GET_VALUES_IOCTL']]);
    expect(req.reopen).toBeNull();
    const stressed = parseSuiteText(GOOD.replace('    provider: sim\n', '    provider: sim\n    stress: { workers: 3, ops: [read] }\n'), 'demo.yaml').cases;
    expect(stressed.map((c) => [c.stress.workers, c.stress.ops.map((l) => l.op)])).toEqual([
      [3, ['read']],
      [3, ['read']],
      [3, ['read']],
    ]);
  });

  for (const t of BAD) {
    it(`rejects: ${t.name}`, () => {
      let err: unknown;
      try {
        parseSuiteText(t.edit(GOOD), 'suites/demo.yaml');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      const ce = err as ConfigError;
      expect(ce.file).toBe('suites/demo.yaml');
      expect(ce.path).toMatch(t.path);
      expect(ce.problem).toMatch(t.problem);
      expect(ce.message.split('\n')).toHaveLength(1);
      expect(ce.message.startsWith('suites/demo.yaml: ')).toBe(true);
    });
  }

  it('names the line of the offending node', () => {
    expect(() => parseSuiteText(GOOD.replace('size: 16', 'size: sixteen'), 'x.yaml')).toThrow(/ops\.read\.size \(line 18\)/);
  });

  it('rejects a case id defined by two suite files', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'huci-suites-'));
    writeFileSync(path.join(dir, 'a.yaml'), GOOD);
    writeFileSync(path.join(dir, 'b.yaml'), GOOD);
    try {
      expect(() => loadSuites([], dir)).toThrow(/suite "demo" is also defined by/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('loads the shipped suites: at least 40 cases, unique ids of the documented shape', () => {
    const suites = loadSuites([], defaultSuitesDir());
    const ids = suites.flatMap((s) => s.cases.map((c) => c.id));
    expect(ids.length).toBeGreaterThanOrEqual(40);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[a-z0-9-]+\/[a-z0-9_]+(-[a-z0-9_]+){2,3}$/);
    expect(ids).toContain('i2c/i801-unbind-dev-smbus');
    expect(ids).toContain('canary/buggy-unbind-read');
    for (const fd of ['chip', 'req', 'event']) for (const op of ['poll', 'read', 'ioctl']) expect(ids).toContain(`gpio/sim-configfs-${fd}-${op}`);
    expect(ids).toContain('gpio/sim-configfs-handle-ioctl');
    expect(suites.map((s) => s.name).sort()).toEqual([
      'canary',
      'drm',
      'gpio',
      'hid',
      'i2c',
      'iio',
      'input',
      'macvtap',
      'media',
      'netdev',
      'nvme',
      'nvmem',
      'ptp',
      'rdma',
      'rtc',
      'scsi',
      'sound',
      'tun',
      'usb-gadget',
      'usb-serial',
      'usbfs',
      'vfio',
      'virtio',
      'watchdog',
    ]);
    const controls = suites.flatMap((s) => s.cases).filter((c) => c.control);
    expect(controls.map((c) => `${c.id}:${c.control!.verdict}`)).toContain('canary/buggy-unbind-read:crashed');
  });

  it('an unknown suite name is one line naming --suite', () => {
    expect(() => loadSuites(['nosuch'], defaultSuitesDir())).toThrow(/^--suite: nosuch: no such suite \(known: canary, [a-z, -]*gpio, /);
  });
});
