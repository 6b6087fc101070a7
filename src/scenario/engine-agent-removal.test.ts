// Devices made and removed through fds the agent holds (uinput-style), on the fake guest: prepare
// steps hold /dev/uinput and set the device up with ioctls from the vocabulary, the removal is an
// ioctl (UI_DEV_DESTROY) or a close on that fd, while the evdev fd stays held.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { classifyCase } from '../classify/verdict.js';
import { detect, StreamDetector } from '../detect/index.js';
import { runCase } from './engine.js';
import { parseSuiteText } from './load-suites.js';
import type { DetectorPort } from './port.js';
import { FakeClock, FakeGuest, type FakeBehaviour } from './testing/fake-guest.js';

const suite = (removal: string) => `
suite: uinputish
description: an input device made through /dev/uinput and destroyed under a held evdev fd
images: [debian-6.12]
fds:
  ev:
    holders: [{ name: ev, open: { path: "/dev/input/\${event}", flags: [O_RDWR] } }]
    target: ev
ops:
  read: { op: read, size: 24, accept: { errno: [ENODEV] } }
cases:
  - provider: uinput
    method: destroy
    prepare:
      - { hold: { name: uinput, open: { path: /dev/uinput, flags: [O_RDWR, O_NONBLOCK] } } }
      - { ioctl: { on: uinput, request: UI_SET_EVBIT, args: 1 } }
      - { ioctl: { on: uinput, request: UI_SET_KEYBIT, args: 30 } }
      - { ioctl: { on: uinput, request: UI_DEV_SETUP, args: { id: { bustype: 6, vendor: 1, product: 2 }, name: huci-uinput } } }
      - { ioctl: { on: uinput, request: UI_DEV_CREATE } }
      - { discover: { var: event, glob: "/sys/devices/virtual/input/input*/event*" } }
    removal: ${removal}
    timeouts: { settleMs: 500 }
    fd: ev
    op: read
`;
const detector: DetectorPort = { live: () => new StreamDetector(), detect };
const UINPUT: FakeBehaviour = { removal: 'completes', zombie: 'enodev', creators: ['/dev/uinput'] };

describe('removal through an fd the agent holds', () => {
  it.each([
    [
      'UI_DEV_DESTROY (an ioctl on the held /dev/uinput)',
      '{ ioctl: { on: uinput, request: UI_DEV_DESTROY }, timeoutMs: 2000 }',
      { ...UINPUT, removeBy: { ioctl: 0x5502 } },
    ],
    ['closing the creator fd', '{ close: { on: uinput }, timeoutMs: 2000 }', { ...UINPUT, removeBy: { close: true } }],
  ])('%s: handled, the setup ioctls went first', async (_what, removal, behaviour) => {
    const [c] = parseSuiteText(suite(removal), 'uinputish.yaml').cases;
    const clock = new FakeClock();
    const guest = new FakeGuest(behaviour as FakeBehaviour, clock);
    const r = await runCase(c!, { port: guest, detector, iteration: 1, clock });
    expect(r.record.harnessError).toBeNull();
    expect(r.record.removal).toMatchObject({ completed: true, errno: null });
    expect(classifyCase(r.record).verdict).toBe('handled');
    expect(r.timeline.map((e) => e.label)).toEqual(expect.arrayContaining(['prepare: hold uinput (/dev/uinput)', 'prepare: ioctl UI_DEV_SETUP on uinput']));
    const agentCalls = guest.calls.filter((x) => x.startsWith('agent '));
    expect(agentCalls.indexOf('agent open')).toBeLessThan(agentCalls.indexOf('agent ioctl'));
  });

  it('gone: the removal completes once the path is gone in the guest', async () => {
    const [c] = parseSuiteText(suite('{ close: { on: uinput }, gone: "/dev/input/${event}" }'), 'u.yaml').cases;
    const clock = new FakeClock();
    const guest = new FakeGuest({ ...UINPUT, removeBy: { close: true } }, clock);
    const r = await runCase(c!, { port: guest, detector, iteration: 1, clock });
    expect(r.record.removal).toMatchObject({ completed: true });
    expect(r.timeline.map((e) => e.label)).toContain('removal: /dev/input/fake0 gone');
    expect(guest.calls.filter((x) => x.startsWith('gone '))).toEqual(['gone {"op":"gone","path":"/dev/input/fake0"}']);
  });

  it("a refused destroy is the removal's errno", async () => {
    const [c] = parseSuiteText(suite('{ ioctl: { on: uinput, request: UI_DEV_DESTROY }, refused: [EBUSY] }'), 'u.yaml').cases;
    const clock = new FakeClock();
    const r = await runCase(c!, {
      port: new FakeGuest({ ...UINPUT, removal: 'refuses-ebusy', removeBy: { ioctl: 0x5502 } }, clock),
      detector,
      iteration: 1,
      clock,
    });
    expect(r.record.removal).toMatchObject({ completed: true, errno: 'EBUSY' });
    expect(classifyCase(r.record).verdict).toBe('handled');
  });

  it.each([
    [
      'a removal through an fd nothing holds',
      (s: string) => s.replace('close: { on: uinput }', 'close: { on: nothing }'),
      /removal through "nothing", which nothing holds/,
    ],
    [
      'a prepare ioctl before its hold',
      (s: string) => s.replace('{ ioctl: { on: uinput, request: UI_SET_EVBIT, args: 1 } }', '{ ioctl: { on: uinput2, request: UI_SET_EVBIT, args: 1 } }'),
      /prepare acts on "uinput2", which no earlier prepare step holds/,
    ],
    [
      'an unknown setup field',
      (s: string) => s.replace('name: huci-uinput', 'title: huci-uinput'),
      /UI_DEV_SETUP args\.title: uinput_setup has no field title/,
    ],
    ['a value that does not fit', (s: string) => s.replace('args: 30', 'args: 3000000000'), /UI_SET_KEYBIT args: 3000000000 does not fit s32/],
  ])('refused at load: %s', (_what, edit, msg) => {
    expect(() => parseSuiteText(edit(suite('{ close: { on: uinput } }')), 'u.yaml')).toThrow(ConfigError);
    expect(() => parseSuiteText(edit(suite('{ close: { on: uinput } }')), 'u.yaml')).toThrow(msg);
  });
});
