// Splitting cases across CI jobs (`--shard I/N`). A case's shard depends on its key alone (a hash of
// the case id, mod N), never on its position in a list: reordering suites, selecting other suites or
// adding a case moves no other case, so shard runs from different commits or suite selections still
// line up and `merge` never sees one case in two shards. The price is uneven shards for few cases
// (a shard may even be empty); round-robin would balance but move every later case on each insert.
import { createHash } from 'node:crypto';
import { UsageError } from '../errors.js';

export interface Shard {
  /** 1-based */
  index: number;
  count: number;
}

/** Parses `--shard I/N` (1 ≤ I ≤ N); undefined stays undefined (no sharding). */
export function parseShard(v: string | undefined, flag = '--shard'): Shard | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+)\/(\d+)$/.exec(v.trim());
  if (!m) throw new UsageError(`${flag} ${v}: expected I/N, e.g. 2/4 (shard I of N, counting from 1)`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (!Number.isSafeInteger(count) || count < 1) throw new UsageError(`${flag} ${v}: the shard count N must be a positive integer`);
  if (!Number.isSafeInteger(index) || index < 1 || index > count) throw new UsageError(`${flag} ${v}: shard I must be between 1 and ${count}`);
  return { index, count };
}

/** 1-based shard of `key` among `count`: the first 48 bits of sha256(key), mod count. */
export function shardOf(key: string, count: number): number {
  if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`shard count ${count}`);
  const h = createHash('sha256').update(key, 'utf8').digest();
  return (h.readUIntBE(0, 6) % count) + 1;
}

/**
 * The cases of shard `shard.index` of `shard.count`, in their given order. Every case lands in exactly
 * one shard, chosen by `key` (default: the case's `id`). Cases sharing a key (iterations of one case,
 * or one case on several images when keyed by id) stay together.
 */
export function shardCases<T extends { id: string }>(cases: readonly T[], shard: Shard): T[];
export function shardCases<T>(cases: readonly T[], shard: Shard, key: (c: T) => string): T[];
export function shardCases<T>(cases: readonly T[], shard: Shard, key: (c: T) => string = (c) => (c as { id: string }).id): T[] {
  if (!Number.isSafeInteger(shard.count) || shard.count < 1 || !Number.isSafeInteger(shard.index) || shard.index < 1 || shard.index > shard.count) {
    throw new RangeError(`shard ${shard.index}/${shard.count}`);
  }
  return cases.filter((c) => shardOf(key(c), shard.count) === shard.index);
}
