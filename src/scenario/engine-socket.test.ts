// Socket holders on the fake guest: the suite names the socket's numbers and structs in the
// vocabulary's words; the agent gets socket(2)'s numbers and the calls' bytes as encoded here.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { classifyCase } from '../classify/verdict.js';
import { detect, StreamDetector } from '../detect/index.js';
import { runCase } from './engine.js';
import { parseSuiteText } from './load-suites.js';
import type { DetectorPort } from './port.js';
import { FakeClock, FakeGuest } from './testing/fake-guest.js';

const suite = (socket: string) => `
suite: sockish
description: a packet socket bound to a device that goes
images: [debian-6.12]
fds:
  pkt:
    holders:
      - name: pkt
        socket: ${socket}
    target: pkt
ops:
  read: { op: read, size: 2048, accept: { errno: [ENETDOWN] } }
cases:
  - provider: nic
    method: unbind
    prepare:
      - { discover: { var: ifindex, file: /sys/class/net/eth1/ifindex } }
    removal: { sysfs-unbind: { driver: /sys/bus/virtio/drivers/virtio_net, device: virtio1 }, timeoutMs: 2000 }
    timeouts: { settleMs: 500 }
    fd: pkt
    op: read
`;
const BOUND = `{ domain: AF_PACKET, type: [SOCK_RAW, SOCK_NONBLOCK], bind: { struct: sockaddr_ll, value: { sll_family: AF_PACKET, sll_protocol: ETH_P_ALL, sll_ifindex: "\${ifindex}" } },
          setsockopt: [{ level: SOL_PACKET, name: PACKET_ADD_MEMBERSHIP, struct: packet_mreq, value: { mr_ifindex: "\${ifindex}", mr_type: PACKET_MR_PROMISC } }] }`;
const detector: DetectorPort = { live: () => new StreamDetector(), detect };

describe('socket holders', () => {
  it('socket(2) gets the numbers by name, bind and setsockopt the encoded structs with ${var} filled in; the case runs', async () => {
    const [c] = parseSuiteText(suite(BOUND), 'sockish.yaml').cases;
    const clock = new FakeClock();
    const guest = new FakeGuest({ removal: 'completes', zombie: 'enodev', files: { '/sys/class/net/eth1/ifindex': '3' } }, clock);
    const r = await runCase(c!, { port: guest, detector, iteration: 1, clock });
    expect(r.record.harnessError).toBeNull();
    expect(guest.sockets).toEqual([
      {
        op: 'socket',
        domain: 17,
        type: 3 | 0x800,
        protocol: 0,
        calls: [
          // sockaddr_ll: family 17, protocol ETH_P_ALL in network order, ifindex 3
          { call: 'bind', hex: `110000030300000000000000${'00'.repeat(8)}` },
          // packet_mreq: ifindex 3, PACKET_MR_PROMISC
          { call: 'setsockopt', level: 263, name: 1, hex: `0300000001000000${'00'.repeat(8)}` },
        ],
      },
    ]);
    // the fake's dead device answers ENODEV, which this suite does not accept
    expect(r.record.probes).toMatchObject([{ fd: 'pkt', errno: 'ENODEV', accepted: false }]);
    expect(classifyCase(r.record).verdict).toBe('silent');
  });

  it.each([
    [
      'an unknown constant, where it is written',
      `{ domain: AF_NOPE, type: SOCK_RAW }`,
      /sockish\.yaml: fds\.pkt\.holders\[0\]\.socket\.domain \(line 9\): unknown constant AF_NOPE/,
    ],
    ['one in a list', `{ domain: AF_PACKET, type: [SOCK_RAW, SOCK_NOPE] }`, /socket\.type\[1\] \(line 9\): unknown constant SOCK_NOPE/],
    [
      'a field the struct lacks',
      `{ domain: AF_PACKET, type: SOCK_RAW, bind: { struct: sockaddr_ll, value: { sll_nope: 1 } } }`,
      /socket\.bind\.value \(line 9\): sockaddr_ll .*sll_nope/,
    ],
    [
      'an unknown struct',
      `{ domain: AF_PACKET, type: SOCK_RAW, bind: { struct: sockaddr_nope } }`,
      /socket\.bind\.struct \(line 9\): unknown struct sockaddr_nope/,
    ],
    [
      'a holder with two ways to get its fd',
      `{ domain: AF_PACKET, type: SOCK_RAW }\n        open: { path: /dev/x, flags: [O_RDWR] }`,
      /exactly one of open, socket, ioctl \(got open, socket\)/,
    ],
  ])('refuses %s before anything boots', (_what, socket, message) => {
    expect(() => parseSuiteText(suite(socket), 'sockish.yaml')).toThrow(ConfigError);
    expect(() => parseSuiteText(suite(socket), 'sockish.yaml')).toThrow(message);
  });
});
