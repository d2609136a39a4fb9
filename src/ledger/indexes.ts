/**
 * In-memory secondary indexes of the ledger: for each indexed value, the timestamps of the objects that
 * carry it, in increasing order. Timestamps only grow (imported events must not regress either), so every
 * insert is an append and undoing a rolled-back chain is a truncation. Queries intersect these lists
 * instead of scanning objects: the shortest list drives and the others are probed by binary search.
 *
 * A list of u64 timestamps lives in a `BigUint64Array` (8 bytes each), not an array of bigints, so a
 * million indexed transfers cost megabytes, not a hundred.
 */
import { assert } from '../errors.js';

const LIST_CAPACITY_MIN = 4;

export class TimestampList {
  private data = new BigUint64Array(LIST_CAPACITY_MIN);
  length = 0;
  /** The last timestamp, kept as a bigint so the hot append path does not read (and allocate) it. */
  private lastTimestamp = 0n;

  push(timestamp: bigint): void {
    assert(this.length === 0 || this.lastTimestamp < timestamp, 'index timestamps must increase');
    if (this.length === this.data.length) {
      const grown = new BigUint64Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = timestamp;
    this.lastTimestamp = timestamp;
  }

  at(index: number): bigint {
    return this.data[index];
  }

  last(): bigint | undefined {
    return this.length === 0 ? undefined : this.lastTimestamp;
  }

  truncate(length: number): void {
    assert(length <= this.length, 'truncate beyond the end');
    this.length = length;
    this.lastTimestamp = length === 0 ? 0n : this.data[length - 1];
  }

  /** The first index whose timestamp is >= `timestamp` (`length` if none). */
  lowerBound(timestamp: bigint): number {
    let low = 0;
    let high = this.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.data[middle] < timestamp) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  has(timestamp: bigint): boolean {
    const index = this.lowerBound(timestamp);
    return index < this.length && this.data[index] === timestamp;
  }
}

/**
 * Buckets of a hashed index. User data is often unique per object (a UUID in user_data_128), and one list
 * per distinct value would cost a map entry and a list per object (hundreds of bytes each); 65,536 buckets
 * cost 8 bytes per indexed object plus at most 65,536 lists. The price: a bucket holds other values too, so
 * a query reads each candidate and checks it (every query verifies its results anyway).
 */
const HASH_BUCKETS = 1 << 16;

function bucketOf(value: bigint | number): number {
  let mixed: number;
  if (typeof value === 'number') mixed = value;
  else if (value <= 0xffff_ffffn) mixed = Number(value);
  else {
    const folded = value ^ (value >> 32n) ^ (value >> 64n) ^ (value >> 96n);
    mixed = Number(BigInt.asUintN(32, folded));
  }
  mixed = Math.imul(mixed ^ (mixed >>> 16), 0x45d9f3b);
  mixed = Math.imul(mixed ^ (mixed >>> 16), 0x45d9f3b);
  return (mixed ^ (mixed >>> 16)) & (HASH_BUCKETS - 1);
}

/**
 * value → timestamps (exact), or hash bucket → timestamps (`hashed`: a superset, see HASH_BUCKETS). Zero
 * values are not indexed: a zero filter field is a wildcard in every query.
 */
export class ValueIndex<K extends bigint | number> {
  private readonly lists = new Map<K | number, TimestampList>();

  constructor(private readonly hashed = false) {}

  private keyOf(value: K): K | number {
    return this.hashed ? bucketOf(value) : value;
  }

  /** Appends and returns the list, so the caller can undo with `truncate(length - 1)`. */
  add(value: K, timestamp: bigint): TimestampList | undefined {
    if (value === 0 || value === 0n) return undefined;
    const key = this.keyOf(value);
    let list = this.lists.get(key);
    if (list === undefined) {
      list = new TimestampList();
      this.lists.set(key, list);
    }
    list.push(timestamp);
    return list;
  }

  /** Undoes the latest `add(value, timestamp)`. */
  removeLast(value: K, timestamp: bigint): void {
    if (value === 0 || value === 0n) return;
    const list = this.lists.get(this.keyOf(value));
    assert(list !== undefined && list.last() === timestamp, 'index undo out of order');
    list.truncate(list.length - 1);
  }

  /** The timestamps of objects that may carry `value` (exactly those, unless hashed). */
  get(value: K): TimestampList | undefined {
    return this.lists.get(this.keyOf(value));
  }
}

/** One query condition: an object matches if its timestamp is in any of `lists` (an OR of lists). */
export type Condition = TimestampList[];

export interface ScanRange {
  /** Inclusive bounds; 0n means unbounded. */
  timestampMin: bigint;
  timestampMax: bigint;
  reversed: boolean;
}

/**
 * Candidate timestamps: those in every condition (AND of ORs), within the range, in timestamp order (or
 * reversed), lazily — the caller verifies each candidate and stops at its limit. `all` is the list of
 * every object, used when there is no condition.
 */
export function* scan(conditions: Condition[], all: TimestampList, range: ScanRange): Generator<bigint> {
  const nonEmpty = conditions.length === 0 ? [[all]] : conditions;
  let driverIndex = 0;
  for (let i = 1; i < nonEmpty.length; i++) {
    if (conditionSize(nonEmpty[i]) < conditionSize(nonEmpty[driverIndex])) driverIndex = i;
  }
  const others = nonEmpty.filter((_, i) => i !== driverIndex);
  for (const timestamp of walk(nonEmpty[driverIndex], range)) {
    if (others.every((condition) => condition.some((list) => list.has(timestamp)))) yield timestamp;
  }
}

function conditionSize(condition: Condition): number {
  let size = 0;
  for (const list of condition) size += list.length;
  return size;
}

/** The union of a condition's lists within the range, in order, without duplicates. */
function* walk(condition: Condition, range: ScanRange): Generator<bigint> {
  const low = range.timestampMin;
  const high = range.timestampMax === 0n ? (1n << 64n) - 1n : range.timestampMax;
  if (low > high) return;
  const cursors = condition.map((list) =>
    range.reversed ? list.lowerBound(high + 1n) - 1 : list.lowerBound(low),
  );
  for (;;) {
    let best = -1;
    let bestTimestamp = 0n;
    for (let i = 0; i < condition.length; i++) {
      const cursor = cursors[i];
      if (cursor < 0 || cursor >= condition[i].length) continue;
      const timestamp = condition[i].at(cursor);
      if (best === -1 || (range.reversed ? timestamp > bestTimestamp : timestamp < bestTimestamp)) {
        best = i;
        bestTimestamp = timestamp;
      }
    }
    if (best === -1) return;
    if (range.reversed ? bestTimestamp < low : bestTimestamp > high) return;
    // Advance every cursor sitting on this timestamp, so a timestamp in two lists is yielded once.
    for (let i = 0; i < condition.length; i++) {
      const cursor = cursors[i];
      if (cursor >= 0 && cursor < condition[i].length && condition[i].at(cursor) === bestTimestamp) {
        cursors[i] += range.reversed ? -1 : 1;
      }
    }
    yield bestTimestamp;
  }
}
