// Layouts, the codec and the loader's refusals, table-driven; the layouts themselves are checked
// against the kernel's headers in headers.test.ts.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { parseLocated } from '../util/yaml-file.js';
import { CodecError, decode, encode } from './codec.js';
import { ioctlNumber } from './ioctl-number.js';
import { agentCall, buildVocabulary, decodeReply, encodeCall, loadVocabulary } from './load.js';

const vocab = loadVocabulary();

describe('ioctlNumber', () => {
  it.each([
    ['_IOR(0xB4, 0x01, 68)', ioctlNumber('R', 0xb4, 0x01, 68), 0x8044b401],
    ["_IOW('E', 0x91, 4) (EVIOCREVOKE)", ioctlNumber('W', 'E', 0x91, 4), 0x40044591],
    ["_IO('U', 1) (UI_DEV_CREATE)", ioctlNumber('none', 'U', 1, 0), 0x5501],
    ['_IOWR(0xB4, 0x07, 592)', ioctlNumber('WR', 0xb4, 0x07, 592), 0xc250b407],
  ])('%s', (_what, got, want) => expect(got).toBe(want));
  it('refuses what does not fit', () => {
    expect(() => ioctlNumber('R', 'EE', 1, 4)).toThrow('one character');
    expect(() => ioctlNumber('R', 1, 256, 4)).toThrow('nr 256');
    expect(() => ioctlNumber('R', 1, 1, 1 << 14)).toThrow('14 bits');
    expect(() => ioctlNumber('none', 1, 1, 4)).toThrow('_IO takes no');
  });
});

describe('layout (x86_64)', () => {
  it.each([
    // struct, field, offset: padding after two u8 before a u32, a pointer on its 8-byte boundary
    ['i2c_smbus_ioctl_data', 'size', 4],
    ['i2c_smbus_ioctl_data', 'data', 8],
    ['gpio_v2_line_request', 'fd', 588],
    ['gpio_v2_line_config', 'attrs', 32],
    ['gpiohandle_request', 'consumer_label', 324],
    // packed: the union right after a u32, though it aligns to 8 by itself
    ['uhid_event', 'u', 4],
    ['uhid_create2_req', 'rd_data', 276],
  ])('%s.%s at %d', (s, f, off) => expect(vocab.structs.get(s)!.fields.find((x) => x.name === f)!.offset).toBe(off));
  it('a union is as large as its largest member, rounded to its alignment', () => {
    expect(vocab.structs.get('i2c_smbus_data')).toMatchObject({ size: 34, align: 2, union: true });
  });
});

describe('codec', () => {
  it('encodes a v2 line request: arrays zero-filled, strings NUL-padded, flags by name, nested structs', () => {
    const call = encodeCall(
      vocab,
      'GPIO_V2_GET_LINE_IOCTL',
      { offsets: [3, 5], num_lines: 2, consumer: 'huci', config: { flags: ['INPUT', 'EDGE_RISING'] } },
      'suite',
    );
    const b = call.buffer!.bytes;
    expect(b.length).toBe(592);
    expect([b.readUInt32LE(0), b.readUInt32LE(4), b.readUInt32LE(8)]).toEqual([3, 5, 0]);
    expect(b.subarray(256, 261).toString('latin1')).toBe('huci\0');
    expect(b.readBigUInt64LE(288)).toBe(0x14n); // config.flags
    expect(b.readUInt32LE(560)).toBe(2); // num_lines
    expect(call.number).toBe(0xc250b407);
    expect(call.ioctl.fd).toEqual({ from: 'field', field: 'fd', offset: 588 });
  });

  it('an anonymous union member takes its fields in the parent, and decodes back the same way', () => {
    const e = encode({ kind: 'struct', name: 'gpio_v2_line_attribute' }, { id: 1, flags: ['OUTPUT'] }, vocab.codec);
    expect([e.bytes.readUInt32LE(0), e.bytes.readBigUInt64LE(8)]).toEqual([1, 8n]);
    expect(decode({ kind: 'struct', name: 'gpio_v2_line_attribute' }, e.bytes, vocab.codec)).toMatchObject({ id: 1, flags: ['OUTPUT'], values: 8 });
  });

  it('a pointer field points at its target after the main buffer; the reply decodes through it', () => {
    const call = encodeCall(vocab, 'I2C_SMBUS', { read_write: 1, command: 0, size: 1 }, 'suite');
    expect(call.buffer!.relocations).toEqual([{ at: 8, to: 16 }]);
    expect(call.buffer!.bytes.length).toBe(16 + 34);
    const reply = Buffer.from(call.buffer!.bytes);
    reply.writeUInt8(0xa5, 16); // the kernel wrote data.byte
    expect(decodeReply(vocab, call, reply)).toMatchObject({ read_write: 1, size: 1, data: { byte: 0xa5 } });
  });

  it('decodes strings to their NUL and flag fields to names', () => {
    const b = Buffer.alloc(68);
    b.write('gpiochip0', 0);
    b.write('gpio-sim.0-node0', 32);
    b.writeUInt32LE(16, 64);
    expect(decode({ kind: 'struct', name: 'gpiochip_info' }, b, vocab.codec)).toEqual({ name: 'gpiochip0', label: 'gpio-sim.0-node0', lines: 16 });
  });

  it('a network-order field is big-endian; an integer field takes a constant by name', () => {
    const { bytes } = encode({ kind: 'struct', name: 'sockaddr_ll' }, { sll_family: 'AF_PACKET', sll_protocol: 'ETH_P_ALL', sll_ifindex: 2 }, vocab.codec);
    expect(bytes.toString('hex')).toBe('1100' + '0003' + '02000000' + '0000' + '00' + '00' + '0000000000000000');
    expect(decode({ kind: 'struct', name: 'sockaddr_ll' }, bytes, vocab.codec)).toMatchObject({ sll_family: 17, sll_protocol: 3, sll_ifindex: 2 });
    expect(() => encode({ kind: 'struct', name: 'sockaddr_ll' }, { sll_family: 'AF_NOPE' }, vocab.codec)).toThrow(/sll_family: expected an integer/);
  });

  it('an integer passed by value is range-checked as its type', () => {
    expect(encodeCall(vocab, 'I2C_SLAVE', 0x50, 's').value).toBe(0x50);
    expect(() => encodeCall(vocab, 'I2C_SLAVE', -1, 's')).toThrow('-1 does not fit u64');
  });

  it.each([
    ['GPIO_V2_GET_LINE_IOCTL', { offset: [1] }, 'args.offset: gpio_v2_line_request has no field offset'],
    ['GPIO_V2_GET_LINE_IOCTL', { offsets: Array(65).fill(0) }, 'args.offsets: 65 elements; u32[64] holds 64'],
    ['GPIO_V2_GET_LINE_IOCTL', { consumer: 'x'.repeat(32) }, 'args.consumer: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" is 32 bytes; char[32] holds 31 and the NUL'],
    ['GPIO_V2_GET_LINE_IOCTL', { config: { flags: ['INPUTS'] } }, 'args.config.flags: unknown flag "INPUTS"'],
    ['GPIO_V2_GET_LINE_IOCTL', { offsets: [70000000000] }, 'args.offsets[0]: 70000000000 does not fit u32'],
    ['GPIO_V2_GET_LINE_IOCTL', { num_lines: 'two' }, 'args.num_lines: expected an integer (u32), got "two"'],
    ['I2C_SMBUS', { data: { byte: 1, word: 2 } }, 'args.data: union i2c_smbus_data takes one member, got byte, word'],
  ])('%s %j → %s', (name, args, msg) => {
    const e = (() => {
      try {
        encodeCall(vocab, name, args, 'suite');
      } catch (x) {
        return x;
      }
      return null;
    })();
    expect(e).toBeInstanceOf(CodecError);
    expect((e as Error).message).toContain(msg);
  });

  it('an fd written to the int argument (fd: arg) is read back from offset 0', () => {
    const call = agentCall(vocab, 'IIO_GET_EVENT_FD_IOCTL', undefined);
    expect(call.returnsFd).toBe(true);
    expect(call.request).toMatchObject({ number: 0x80046990, fdAt: 0 });
  });

  it('an unknown ioctl names the known ones', () => {
    expect(() => encodeCall(vocab, 'GPIO_GET_CHIPINFO', {}, 'suites/gpio.yaml')).toThrow(
      /suites\/gpio.yaml: unknown ioctl GPIO_GET_CHIPINFO \(known: .*GPIO_GET_CHIPINFO_IOCTL/,
    );
  });
});

describe('loading refuses a bad vocabulary with file, path and line', () => {
  const load = (...texts: string[]) => buildVocabulary(texts.map((t, i) => parseLocated(t, `v${i + 1}.yaml`)));
  it.each([
    [
      'an unknown struct in a field',
      'headers: [a.h]\nstructs:\n  s:\n    fields:\n      a: u32\n      b: nosuch\n',
      'v1.yaml: structs.s.fields.b (line 6): unknown struct nosuch',
    ],
    ['a type that is not one', 'headers: [a.h]\nstructs:\n  s:\n    fields:\n      a: u33\n', 'v1.yaml: structs.s.fields.a (line 5): unknown struct u33'],
    ['an unknown array length', 'headers: [a.h]\nstructs:\n  s:\n    fields:\n      a: u32[NOPE]\n', 'v1.yaml: structs.s.fields.a (line 5): array length NOPE'],
    [
      'a size that differs from the layout',
      'headers: [a.h]\nstructs:\n  s:\n    size: 8\n    fields:\n      a: u8\n      b: u32\n      c: u8\n',
      'v1.yaml: structs.s.size (line 4): declared size 8 but the fields lay out to 12 bytes',
    ],
    [
      'an unknown flag set',
      'headers: [a.h]\nstructs:\n  s:\n    fields:\n      a: { type: u32, flags: nope }\n',
      'v1.yaml: structs.s.fields.a.flags (line 5): unknown flag set nope',
    ],
    [
      'an fd field that does not exist',
      "headers: [a.h]\nstructs:\n  s:\n    fields:\n      a: u32\nioctls:\n  X: { dir: R, type: 'x', nr: 1, arg: s, fd: fd }\n",
      'v1.yaml: ioctls.X.fd (line 7): s has no field fd',
    ],
    [
      'fd: arg on an argument that is not a 32-bit integer',
      "headers: [a.h]\nioctls:\n  X: { dir: R, type: 'x', nr: 1, arg: u64, fd: arg }\n",
      'v1.yaml: ioctls.X.fd (line 3): fd: arg needs a 32-bit integer argument',
    ],
    ['an unknown key', 'headers: [a.h]\nstruct: {}\n', 'v1.yaml: struct (line 2): unknown key "struct"'],
  ])('%s', (_what, text, msg) => {
    const e = (() => {
      try {
        load(text);
      } catch (x) {
        return x;
      }
      return null;
    })();
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).message).toContain(msg);
  });
  it('a name defined in two files', () => {
    expect(() => load('headers: [a.h]\nconstants: { N: 1 }\n', 'headers: [b.h]\nconstants: { N: 2 }\n')).toThrow(
      'v2.yaml: constants.N (line 2): constant N is also defined in v1.yaml',
    );
  });
});
