// Sharding: every case in exactly one shard, decided by its id alone (order, other suites and added
// cases move nothing), and `--shard I/N` parsing with one-line usage errors.
import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import { loadSuites } from './load-suites.js';
import { parseShard, shardCases, shardOf, type Shard } from './shard.js';

/** Deterministic pseudo-random case ids shaped like real ones (no Math.random: failures must replay). */
function ids(n: number, seed = 1): string[] {
  const subsystems = ['gpio', 'i2c', 'nvmem', 'usb-serial', 'tty', 'rdma', 'netdev', 'canary'];
  const methods = ['unbind', 'device_del', 'rmmod', 'rmdir', 'remove'];
  let x = seed;
  const next = (): number => (x = (Math.imul(x, 1103515245) + 12345) >>> 0);
  return Array.from(
    { length: n },
    (_, i) => `${subsystems[next() % subsystems.length]}/p${next() % 50}-${methods[next() % methods.length]}-fd${i}-op${next() % 7}`,
  );
}

function shuffled<T>(xs: readonly T[], seed: number): T[] {
  const out = [...xs];
  let x = seed;
  for (let i = out.length - 1; i > 0; i--) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    const j = x % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const cases = (list: readonly string[]): Array<{ id: string }> => list.map((id) => ({ id }));
const all = (count: number): Shard[] => Array.from({ length: count }, (_, i) => ({ index: i + 1, count }));

describe('parseShard', () => {
  it.each<[string | undefined, Shard | undefined]>([
    [undefined, undefined],
    ['1/1', { index: 1, count: 1 }],
    ['2/4', { index: 2, count: 4 }],
    ['4/4', { index: 4, count: 4 }],
    ['07/10', { index: 7, count: 10 }],
    [' 3/5 ', { index: 3, count: 5 }],
  ])('%j → %j', (input, want) => expect(parseShard(input)).toEqual(want));

  it.each<[string, RegExp]>([
    ['0/4', /^--shard 0\/4: shard I must be between 1 and 4$/],
    ['5/4', /^--shard 5\/4: shard I must be between 1 and 4$/],
    ['1/0', /^--shard 1\/0: the shard count N must be a positive integer$/],
    ['0/0', /^--shard 0\/0: the shard count N must be a positive integer$/],
    ['x/y', /^--shard x\/y: expected I\/N, e.g. 2\/4/],
    ['2', /^--shard 2: expected I\/N/],
    ['2/4/8', /^--shard 2\/4\/8: expected I\/N/],
    ['-1/4', /^--shard -1\/4: expected I\/N/],
    ['1.5/4', /^--shard 1.5\/4: expected I\/N/],
    ['', /^--shard : expected I\/N/],
    ['1/99999999999999999999', /the shard count N must be a positive integer$/],
  ])('%j → one-line UsageError naming --shard', (input, re) => {
    let err: unknown;
    try {
      parseShard(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(re);
    expect((err as Error).message).not.toContain('\n');
  });
});

describe('shardOf', () => {
  // Pinned: shard runs of one pipeline may run different builds of the tool (a cache, a retry);
  // the hash must not drift between them.
  it.each<[string, number, number]>([
    ['gpio/sim-rmdir-chip-ioctl', 4, 4],
    ['i2c/i801-unbind-dev-smbus', 4, 3],
    ['usb-serial/ftdi-device_del-tty-read', 4, 4],
    ['canary/buggy-unbind-dev-read', 4, 3],
    ['gpio/sim-rmdir-chip-ioctl', 3, 3],
    ['usb-serial/ftdi-device_del-tty-read', 3, 1],
    ['', 3, 2],
  ])('%s in %i shards → %i', (id, count, want) => expect(shardOf(id, count)).toBe(want));

  it('one shard holds everything', () => expect(ids(200).every((id) => shardOf(id, 1) === 1)).toBe(true));
  it('refuses a bad count', () => expect(() => shardOf('x', 0)).toThrow(RangeError));
});

describe('shardCases', () => {
  it.each([1, 2, 3, 4, 7, 16])('%i shards: every case in exactly one shard, order kept', (count) => {
    const list = cases(ids(500, count));
    const parts = all(count).map((s) => shardCases(list, s));
    expect(parts.reduce((n, p) => n + p.length, 0)).toBe(list.length);
    const where = new Map<string, number>();
    parts.forEach((p, i) => {
      for (const c of p) {
        expect(where.has(c.id), `${c.id} in shards ${where.get(c.id)} and ${i + 1}`).toBe(false);
        where.set(c.id, i + 1);
      }
      // a shard keeps the given order (suite order is the run order)
      expect(p).toEqual(list.filter((c) => p.includes(c)));
    });
  });

  it('shards are roughly even over many cases (hash, not a skewed bucket)', () => {
    const list = cases(ids(4000, 9));
    for (const s of all(4)) {
      const n = shardCases(list, s).length;
      expect(n).toBeGreaterThan(1000 * 0.85);
      expect(n).toBeLessThan(1000 * 1.15);
    }
  });

  it.each([1, 2, 3, 4, 5])('property (seed %i): a case keeps its shard when the list is shuffled, cut down or grown', (seed) => {
    const base = ids(300, seed);
    const extra = ids(120, seed + 100).map((id) => `new/${id}`);
    const count = 2 + (seed % 5);
    const shardIn = (list: readonly string[]): Map<string, number> => {
      const m = new Map<string, number>();
      for (const s of all(count)) for (const c of shardCases(cases(list), s)) m.set(c.id, s.index);
      return m;
    };
    const ref = shardIn(base);
    const variants = [
      shuffled(base, seed), // listed in another order
      base.filter((_, i) => i % 3 !== 0), // other suites selected: a subset
      shuffled([...base, ...extra], seed + 7), // cases added in between
    ];
    for (const v of variants) {
      const got = shardIn(v);
      for (const [id, _s] of got) if (ref.has(id)) expect(got.get(id), id).toBe(ref.get(id));
    }
  });

  it('a custom key keeps iterations together and can spread one case over images', () => {
    const planned = ['debian-6.12', 'kasan-6.12'].flatMap((image) => ids(40, 3).flatMap((id) => [1, 2, 3].map((iteration) => ({ image, id, iteration }))));
    const byId = all(3).map((s) => shardCases(planned, s));
    const byPair = all(3).map((s) => shardCases(planned, s, (p) => `${p.image}\u0000${p.id}`));
    for (const parts of [byId, byPair]) {
      expect(parts.flat()).toHaveLength(planned.length);
      const home = new Map<string, number>();
      parts.forEach((p, i) => {
        for (const c of p) {
          const k = `${c.image}/${c.id}`; // all iterations of one (image, case) together
          expect(home.get(k) ?? i, k).toBe(i);
          home.set(k, i);
        }
      });
    }
    // keyed by id, a case runs on all its images in one shard
    for (const p of byId) for (const c of p) expect(p.filter((o) => o.id === c.id)).toHaveLength(6);
  });

  it('empty input and an empty shard are fine (few cases, many shards)', () => {
    expect(shardCases([], { index: 1, count: 4 })).toEqual([]);
    const three = cases(['a', 'b', 'c']);
    const sizes = all(8).map((s) => shardCases(three, s).length);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(3);
    expect(sizes.filter((n) => n === 0).length).toBeGreaterThanOrEqual(5);
  });

  it.each<Shard>([
    { index: 0, count: 4 },
    { index: 5, count: 4 },
    { index: 1, count: 0 },
    { index: 1.5, count: 4 },
  ])('refuses shard %j', (s) => {
    expect(() => shardCases(cases(['a']), s)).toThrow(RangeError);
  });
});

describe('shardCases over the real suites', () => {
  const suites = loadSuites([]);
  const everything = suites.flatMap((s) => s.cases);

  it.each([2, 4])("%i shards: the suites' cases split without loss, and one suite alone splits the same way", (count) => {
    expect(everything.length).toBeGreaterThan(count);
    const parts = all(count).map((s) => shardCases(everything, s));
    expect(
      parts
        .flat()
        .map((c) => c.id)
        .sort(),
    ).toEqual(everything.map((c) => c.id).sort());
    for (const suite of suites) {
      for (const s of all(count)) {
        expect(shardCases(suite.cases, s).map((c) => c.id)).toEqual(parts[s.index - 1]!.filter((c) => suite.cases.includes(c)).map((c) => c.id));
      }
    }
  });
});
