/**
 * A leaf page: the records of one key interval, in one byte array (Uint8Array), in a binary slotted layout.
 *
 *   [0, count * 8)          slot array, in key order: u32 LE offset of each record, then u32 LE key prefix
 *   [count * 8, heapStart)  free space
 *   [heapStart, capacity)   record heap, growing downwards: u16 LE key length, u32 LE value length, key, value
 *
 * The key prefix in each slot (the key's first four bytes as a big-endian number, `keyPrefix32`) lets a
 * binary search compare numbers in the slot array, which it reads in a few cache lines, and touch a record in
 * the heap only on a tie; before, every probe was a cache miss into the heap (search was the largest self
 * time in a profile of random puts and gets). It costs 4 bytes per record.
 *
 * Records are bytes, not JS objects, so ten million records cost their own size plus the pages' free space
 * (about a fifth after ten million random inserts: 1,862 MB of page buffers, bench/store.ts), and the
 * heap the garbage collector walks holds one byte array per page, not one object per record.
 *
 * Capacity is not fixed: a page starts small and grows (by half, rounded to 256 bytes) as records
 * arrive, up to `LEAF_SPLIT_BYTES` of live content, after which the tree splits it. So half-full pages after
 * a split do not waste a whole page of memory. A record larger than the split size gets a page of its own.
 *
 * Deleted and replaced records leave garbage in the heap; it is reclaimed when space runs out (compaction
 * rewrites the page into a fresh buffer).
 *
 * Snapshots (checkpoints) may hold a reference to `buf`. While `snapshotPins > 0` the buffer is frozen: the
 * first change copies it (copy-on-write), so a snapshot being written out never sees later commits.
 */
import { assert } from '../errors.js';
import { compareKeyAt, copyRange } from './bytes.js';
import type { LockEntry } from './locks.js';

/** Live bytes (slots + records) above which a leaf is split; the "page size". */
export const LEAF_SPLIT_BYTES = 8192;
/** A leaf whose live bytes fall below this after deletes is merged with a sibling when no one holds locks on either. */
export const LEAF_MERGE_BYTES = LEAF_SPLIT_BYTES / 4;
export const SLOT_BYTES = 8;
const SLOT_PREFIX_AT = 4;
const RECORD_HEADER_BYTES = 6;
const CAPACITY_STEP_BYTES = 256;

export function recordBytes(keyLength: number, valueLength: number): number {
  return SLOT_BYTES + RECORD_HEADER_BYTES + keyLength + valueLength;
}

export function readU32(bytes: Uint8Array, at: number): number {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16)) + bytes[at + 3] * 0x1000000;
}

function writeU32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value & 0xff;
  bytes[at + 1] = (value >>> 8) & 0xff;
  bytes[at + 2] = (value >>> 16) & 0xff;
  bytes[at + 3] = value >>> 24;
}

/** The first four bytes as a big-endian number, zero-padded: ordered like the keys themselves, ties aside. */
export function keyPrefix32(key: Uint8Array): number {
  const length = key.length;
  return (
    (length > 0 ? key[0] * 0x1000000 : 0) + (length > 1 ? key[1] << 16 : 0) + (length > 2 ? key[2] << 8 : 0) + (length > 3 ? key[3] : 0)
  );
}

/** Every record of a page's first `count` slots, as views into `buf` (snapshots read frozen buffers this way). */
export function* pageRecords(buf: Uint8Array, count: number): Iterable<[Uint8Array, Uint8Array]> {
  for (let i = 0; i < count; i++) {
    const offset = readU32(buf, i * SLOT_BYTES);
    const keyLength = buf[offset] | (buf[offset + 1] << 8);
    const valueLength = readU32(buf, offset + 2);
    const keyStart = offset + RECORD_HEADER_BYTES;
    yield [buf.subarray(keyStart, keyStart + keyLength), buf.subarray(keyStart + keyLength, keyStart + keyLength + valueLength)];
  }
}

function roundCapacity(bytes: number): number {
  return Math.ceil(bytes / CAPACITY_STEP_BYTES) * CAPACITY_STEP_BYTES;
}

export class Leaf {
  readonly id: number;
  buf: Uint8Array;
  count = 0;
  heapStart: number;
  garbageBytes = 0;
  /** Smallest key this leaf covers (inclusive); null is minus infinity. Its upper fence is `next.lowFence`. */
  lowFence: Uint8Array | null;
  next: Leaf | null = null;
  prev: Leaf | null = null;
  /** The page's lock state, owned by the lock manager; null when nobody holds or waits. */
  lock: LockEntry | null = null;
  snapshotPins = 0;
  /** Set when a merge took this leaf out of its tree. */
  retired = false;

  constructor(id: number, lowFence: Uint8Array | null, capacityBytes = CAPACITY_STEP_BYTES) {
    this.id = id;
    this.lowFence = lowFence;
    this.buf = new Uint8Array(roundCapacity(capacityBytes));
    this.heapStart = this.buf.length;
  }

  /** Slots plus live records: what the page would occupy compacted. */
  liveBytes(): number {
    return this.count * SLOT_BYTES + (this.buf.length - this.heapStart) - this.garbageBytes;
  }

  recordOffset(index: number): number {
    return readU32(this.buf, index * SLOT_BYTES);
  }

  keyLengthAt(offset: number): number {
    return this.buf[offset] | (this.buf[offset + 1] << 8);
  }

  valueLengthAt(offset: number): number {
    return readU32(this.buf, offset + 2);
  }

  /** Index of `key` if present, else `-(insertion point) - 1`. */
  search(key: Uint8Array): number {
    const b = this.buf;
    const prefix = keyPrefix32(key);
    let low = 0;
    let high = this.count - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const slotPrefix = readU32(b, middle * SLOT_BYTES + SLOT_PREFIX_AT);
      let order: number;
      if (prefix !== slotPrefix) {
        order = prefix - slotPrefix;
      } else {
        const offset = readU32(b, middle * SLOT_BYTES);
        order = compareKeyAt(key, b, offset + RECORD_HEADER_BYTES, b[offset] | (b[offset + 1] << 8));
      }
      if (order > 0) low = middle + 1;
      else if (order < 0) high = middle - 1;
      else return middle;
    }
    return -low - 1;
  }

  /** Compares `key` with the key of record `index`. */
  compareAt(key: Uint8Array, index: number): number {
    const offset = this.recordOffset(index);
    return compareKeyAt(key, this.buf, offset + RECORD_HEADER_BYTES, this.keyLengthAt(offset));
  }

  /** A fresh copy of record `index`'s key (callers may keep it; the page changes later). */
  keyAt(index: number): Uint8Array {
    const offset = this.recordOffset(index);
    const length = this.keyLengthAt(offset);
    return copyRange(this.buf, offset + RECORD_HEADER_BYTES, offset + RECORD_HEADER_BYTES + length);
  }

  /** A fresh copy of record `index`'s value: a plain Uint8Array, like every value the store returns. */
  valueAt(index: number): Uint8Array {
    const offset = this.recordOffset(index);
    const start = offset + RECORD_HEADER_BYTES + this.keyLengthAt(offset);
    const length = this.valueLengthAt(offset);
    return copyRange(this.buf, start, start + length);
  }

  insertAt(index: number, key: Uint8Array, value: Uint8Array): void {
    assert(index >= 0 && index <= this.count, 'leaf insert index in range');
    this.reserve(recordBytes(key.length, value.length));
    const offset = this.writeRecord(key, value);
    const b = this.buf;
    const slotAt = index * SLOT_BYTES;
    if (index < this.count) b.copyWithin(slotAt + SLOT_BYTES, slotAt, this.count * SLOT_BYTES);
    writeU32(b, slotAt, offset);
    writeU32(b, slotAt + SLOT_PREFIX_AT, keyPrefix32(key));
    this.count++;
  }

  replaceAt(index: number, value: Uint8Array): void {
    const offset = this.recordOffset(index);
    const keyLength = this.keyLengthAt(offset);
    const oldValueLength = this.valueLengthAt(offset);
    if (oldValueLength === value.length) {
      this.ensureWritable();
      this.buf.set(value, offset + RECORD_HEADER_BYTES + keyLength);
      return;
    }
    const key = this.keyAt(index);
    this.removeAt(index);
    this.insertAt(index, key, value);
  }

  removeAt(index: number): void {
    assert(index >= 0 && index < this.count, 'leaf remove index in range');
    this.ensureWritable();
    const offset = this.recordOffset(index);
    this.garbageBytes += RECORD_HEADER_BYTES + this.keyLengthAt(offset) + this.valueLengthAt(offset);
    const slotAt = index * SLOT_BYTES;
    this.buf.copyWithin(slotAt, slotAt + SLOT_BYTES, this.count * SLOT_BYTES);
    this.count--;
  }

  /** Moves records [from, count) to the empty leaf `right` (a split); both end up compacted. */
  moveTailTo(right: Leaf, from: number): void {
    assert(right.count === 0 && from > 0 && from < this.count, 'split moves a proper tail into an empty leaf');
    let tailBytes = 0;
    for (let i = from; i < this.count; i++) tailBytes += this.recordBytesAt(i);
    right.rebuild(roundCapacity(tailBytes + tailBytes / 8), this, from, this.count);
    const headBytes = this.liveBytes() - tailBytes;
    this.rebuild(roundCapacity(headBytes + headBytes / 8), this, 0, from);
  }

  /** Appends every record of `right` (whose keys are all greater) to this leaf: a merge. */
  appendAll(right: Leaf): void {
    const total = this.liveBytes() + right.liveBytes();
    const merged = new Leaf(-1, null, total);
    merged.copyRecordsFrom(this, 0, this.count);
    merged.copyRecordsFrom(right, 0, right.count);
    this.adopt(merged);
  }

  recordBytesAt(index: number): number {
    const offset = this.recordOffset(index);
    return recordBytes(this.keyLengthAt(offset), this.valueLengthAt(offset));
  }

  /** Before changing `buf` in place: a snapshot holding it gets to keep the old bytes. */
  private ensureWritable(): void {
    if (this.snapshotPins === 0) return;
    this.buf = this.buf.slice();
    this.snapshotPins = 0;
  }

  /** Makes room for `bytes` more: use free space, else compact (if there is garbage) or grow into a fresh buffer. */
  private reserve(bytes: number): void {
    const free = this.heapStart - this.count * SLOT_BYTES;
    if (free >= bytes) {
      this.ensureWritable();
      return;
    }
    const needed = this.liveBytes() + bytes;
    const grown = roundCapacity(Math.max(needed, Math.min(this.buf.length * 1.5, LEAF_SPLIT_BYTES + LEAF_SPLIT_BYTES / 4)));
    if (this.garbageBytes > 0) this.rebuild(grown, this, 0, this.count);
    else this.grow(grown);
  }

  /** Moves the heap block and the slot array into a larger buffer in two copies (no garbage to drop). */
  private grow(capacityBytes: number): void {
    const old = this.buf;
    const fresh = new Uint8Array(capacityBytes);
    const shift = capacityBytes - old.length;
    fresh.set(old.subarray(this.heapStart), this.heapStart + shift);
    fresh.set(old.subarray(0, this.count * SLOT_BYTES));
    for (let i = 0; i < this.count; i++) writeU32(fresh, i * SLOT_BYTES, readU32(old, i * SLOT_BYTES) + shift);
    this.buf = fresh;
    this.heapStart += shift;
    this.snapshotPins = 0;
  }

  private rebuild(capacityBytes: number, source: Leaf, from: number, to: number): void {
    const fresh = new Leaf(-1, null, capacityBytes);
    fresh.copyRecordsFrom(source, from, to);
    this.adopt(fresh);
  }

  private adopt(fresh: Leaf): void {
    this.buf = fresh.buf;
    this.count = fresh.count;
    this.heapStart = fresh.heapStart;
    this.garbageBytes = 0;
    this.snapshotPins = 0;
  }

  /** Appends records [from, to) of `source` (which sort after this leaf's records) to this leaf. */
  private copyRecordsFrom(source: Leaf, from: number, to: number): void {
    const b = this.buf;
    for (let i = from; i < to; i++) {
      const offset = source.recordOffset(i);
      const length = RECORD_HEADER_BYTES + source.keyLengthAt(offset) + source.valueLengthAt(offset);
      this.heapStart -= length;
      assert(this.heapStart >= (this.count + 1) * SLOT_BYTES, 'rebuilt leaf has room');
      b.set(source.buf.subarray(offset, offset + length), this.heapStart);
      const slotAt = this.count * SLOT_BYTES;
      writeU32(b, slotAt, this.heapStart);
      writeU32(b, slotAt + SLOT_PREFIX_AT, readU32(source.buf, i * SLOT_BYTES + SLOT_PREFIX_AT));
      this.count++;
    }
  }

  private writeRecord(key: Uint8Array, value: Uint8Array): number {
    const b = this.buf;
    this.heapStart -= RECORD_HEADER_BYTES + key.length + value.length;
    const offset = this.heapStart;
    b[offset] = key.length & 0xff;
    b[offset + 1] = key.length >>> 8;
    writeU32(b, offset + 2, value.length);
    b.set(key, offset + RECORD_HEADER_BYTES);
    b.set(value, offset + RECORD_HEADER_BYTES + key.length);
    return offset;
  }
}
