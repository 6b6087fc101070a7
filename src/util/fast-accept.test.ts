import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RunResultSchema } from '../model/run.js';
import { ReplySchemas, type Op } from '../guest/agent-protocol.js';
import { z } from '../zod.js';
import { fastAccept } from './fast-accept.js';

const ok = { ok: true, errno: null, ms: 1.25 };
const failed = { ok: false, errno: 'ENODEV', ms: 0.5, error: 'read: No such device' };
const shell = { code: 0, signal: null, stdout: 'gpiochip0\n', stderr: '', timedOut: false, truncated: false };
const loop = {
  loop: 1,
  handle: 3,
  op: 'read',
  running: false,
  iterations: 120,
  counts: { OK: 100, ENODEV: 20 },
  transitions: [{ key: 'ENODEV', iteration: 101, ms: 52.5 }],
  transitionsDropped: 0,
  elapsedMs: 300.5,
};

// replies as the agent writes them (images/agent), one or more per op of the protocol
const replies: Array<[Op, Record<string, unknown>]> = [
  ['ping', { id: 1, ...ok, pid: 88, protocol: 11 }],
  ['open', { id: 2, ...ok, handle: 3, fd: 5 }],
  ['open', { id: 3, ...failed, errno: 'ENOENT', error: 'open /dev/gpiochip9: No such file or directory' }],
  ['socket', { id: 4, ...ok, handle: 4, fd: 6 }],
  ['close', { id: 5, ...ok, deferred: false }],
  ['read', { id: 6, ...ok, n: 2, hex: '0aff' }],
  ['read', { id: 7, ...failed }],
  ['pread', { id: 8, ...ok, n: 0, hex: '' }],
  ['write', { id: 9, ...ok, n: 4 }],
  ['poll', { id: 10, ...ok, ready: 1, revents: ['POLLERR', 'POLLHUP'] }],
  ['ioctl', { id: 11, ...ok, ret: 0, hex: 'ab'.repeat(8), handle: 5, fd: 7 }],
  ['ioctl', { id: 12, ...failed, errno: 'EINVAL', stage: 1 }],
  ['mmap', { id: 13, ...ok, n: 4096, fault: 'SIGBUS' }],
  ['mmap', { id: 14, ...ok, n: 4096, fault: null }],
  ['spawn', { id: 15, ...ok, loop: 1 }],
  ['stop', { id: 16, ...ok, ...loop, interrupted: true, stuck: false }],
  ['loops', { id: 17, ...ok, loops: [loop, { ...loop, loop: 2, error: 'bad op' }] }],
  ['sh', { id: 18, ...ok, ...shell }],
  ['writefile', { id: 19, ...ok }],
  ['find', { id: 20, ...ok, found: 'gpiochip0' }],
  ['klog', { id: 21, ...ok, log: '[    1.000000] huci: begin x\n' }],
  ['refresh', { id: 22, ...ok }],
  [
    'seq',
    {
      id: 23,
      ...ok,
      results: [
        { op: 'sh', ...ok, ...shell },
        { op: 'mkdir', ...ok },
        { op: 'writefile', ...failed, errno: 'EBUSY' },
        { op: 'find', ...ok, found: 'gpio-sim.0' },
        { op: 'klog', ...ok },
      ],
    },
  ],
  ['tasks', { id: 24, ...ok, tasks: [{ pid: 149, ppid: 1, state: 'D', comm: 'sh', wchan: 'i2c_del_adapter', stack: 'i2c_del_adapter,i801_remove' }] }],
  ['tasks', { id: 'x', ...ok, tasks: [] }],
];

/** Variants of a reply: each key dropped, a key added, each value replaced by values of other kinds. */
function* mutations(v: unknown, depth = 0): Generator<unknown> {
  const odd: unknown[] = [null, 0, -1, 1.5, 2 ** 60, '', 'x', 'E', 'ENODEV', 'ab', 'abc', true, false, [], {}, ['POLLIN'], undefined];
  if (depth > 3) return;
  if (Array.isArray(v)) {
    yield [...v, v[0]];
    yield v.slice(1);
    for (let i = 0; i < v.length; i++) for (const m of mutations(v[i], depth + 1)) yield v.map((x, j) => (j === i ? m : x));
    return;
  }
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    yield { ...o, extra: 1 };
    for (const k of Object.keys(o)) {
      const { [k]: _dropped, ...rest } = o;
      yield rest;
      for (const x of odd) yield { ...o, [k]: x };
      for (const m of mutations(o[k], depth + 1)) yield { ...o, [k]: m };
    }
    return;
  }
  yield* odd;
}

describe('fastAccept', () => {
  it.each(replies.map(([op, r]) => [op, r.id, r] as const))('accepts the agent’s %s reply (id %s) as zod does, and zod gives it back equal', (op, _id, r) => {
    const zod = ReplySchemas[op].safeParse(r);
    expect(zod.success, JSON.stringify(zod.error?.issues)).toBe(true);
    expect(fastAccept(ReplySchemas[op])(r)).toBe(true);
    expect(zod.data).toEqual(r);
  });

  it('never accepts what zod refuses, over thousands of variants of those replies', () => {
    let variants = 0;
    let bothAccept = 0;
    for (const [op, r] of replies) {
      const accept = fastAccept(ReplySchemas[op]);
      for (const m of mutations(r)) {
        variants++;
        const zod = ReplySchemas[op].safeParse(m);
        if (accept(m)) {
          bothAccept++;
          expect(zod.success, `${op}: ${JSON.stringify(m)}`).toBe(true);
          expect(zod.data).toEqual(m);
        }
      }
    }
    expect(variants).toBeGreaterThan(5000);
    // it is not merely refusing everything
    expect(bothAccept).toBeGreaterThan(100);
  });

  it.each([
    ['a transform', z.string().transform((s) => s.length)],
    ['a refinement', z.number().refine((n) => n > 1)],
    ['a pipe', z.string().pipe(z.string())],
    ['an int32 format', z.int32()],
    ['an email format', z.email()],
    ['a global pattern', z.string().regex(/a/g)],
  ])('leaves %s to zod (answers false)', (_name, schema) => {
    for (const v of ['a', 5, 0, { a: 1 }, { a: 1, b: 2 }, {}]) expect(fastAccept(schema)(v)).toBe(false);
  });

  // the last column: what zod says; the fast test says the same, but for a value zod would change
  it.each([
    ['a stripping object with a key it lacks (zod drops it)', z.object({ a: z.number() }), { a: 1, b: 2 }, false, true],
    ['a stripping object without one', z.object({ a: z.number() }), { a: 1 }, true, true],
    ['a loose object with a key it lacks (zod keeps it)', z.looseObject({ a: z.number() }), { a: 1, b: 2 }, false, true],
    ['safe integers where int() goes', z.number().int(), 2 ** 53 - 1, true, true],
    ['Infinity (JSON 1e400)', z.number(), JSON.parse('1e400'), false, false],
    ['a fraction where an integer goes', z.number().int(), 1.5, false, false],
    ['a negative where a non-negative goes', z.number().nonnegative(), -1, false, false],
    ['a number above max', z.number().max(10), 11, false, false],
    ['a string of the wrong length', z.string().length(1), 'DD', false, false],
    ['an array below its minimum', z.array(z.number()).min(1), [], false, false],
    ['a record value of the wrong kind', z.record(z.string(), z.number()), { a: 'x' }, false, false],
    ['an optional key that is absent', z.strictObject({ a: z.number().optional() }), {}, true, true],
    ['a required key that is absent', z.strictObject({ a: z.number() }), {}, false, false],
    ['a key with a default, given', z.strictObject({ a: z.number().default(1) }), { a: 2 }, true, true],
    ['a key with a default, absent (zod fills it in)', z.strictObject({ a: z.number().default(1) }), {}, false, true],
    ['anything where unknown goes', z.strictObject({ a: z.unknown() }), { a: [{ b: 1 }] }, true, true],
  ])('%s', (_name, schema, v, fast, zod) => {
    expect(fastAccept(schema)(v)).toBe(fast);
    expect(schema.safeParse(v).success).toBe(zod);
  });
});

describe('fastAccept of run.json', () => {
  const dir = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'report', 'testdata');
  it.each(['run-two-images.json', 'run-boot-failures.json', 'run-partial.json', 'merge/shard1of3.json'])(
    '%s: what zod gives back, it accepts as it is',
    (f) => {
      const raw: unknown = JSON.parse(readFileSync(path.join(dir, f), 'utf8'));
      const zod = RunResultSchema.safeParse(raw);
      expect(zod.success).toBe(true);
      const accept = fastAccept(RunResultSchema);
      // a fixture of an older version may lack keys zod fills in; what zod made of it is a run of now
      expect(accept(zod.data)).toBe(true);
      if (accept(raw)) expect(zod.data).toEqual(raw);
    },
  );
});
