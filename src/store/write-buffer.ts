/**
 * A transaction's private write buffer (deferred update): every put, delete and folded counter value waits
 * here until commit, when the engine applies the whole buffer to the pages in one synchronous step. Reads
 * consult it first, so a transaction sees its own writes; undo is dropping it.
 *
 * Per table, writes are appended in arrival order until the transaction first looks one up; only then are
 * they sorted (stable, so the later write of a key wins) and indexed by key. An ingest-only transaction thus
 * pays one array push per write: no Map, no string key, no sort until commit.
 */
import { bytesToMapKey, compareBytes, copyBytes } from './bytes.js';
import { TransactionTooLargeError } from './errors.js';
import type { CommitWrite } from './interfaces.js';
import type { Leaf } from './leaf.js';
import { prefix32, type Tree } from './tree.js';

/**
 * A buffered write; `prefix` (the key's first four bytes as a number) makes sorting cheap, and `leaf` (the
 * page locked for it) lets the commit skip a descent when that page still covers the key.
 */
export interface BufferedWrite extends CommitWrite {
  prefix: number;
  leaf: Leaf | null;
}

/**
 * A table's buffered writes: `list` in arrival order (`sorted` false) or in key order with one write per key
 * (`sorted` true); `byKey` indexes them once the transaction has looked one up.
 */
interface TableWrites {
  table: string;
  tree: Tree;
  list: BufferedWrite[];
  byKey: Map<string, BufferedWrite> | null;
  sorted: boolean;
}

export class WriteBuffer {
  private readonly tables = new Map<string, TableWrites>();
  /** Counted writes so far (puts, deletes, increments); internal rewrites are not counted. */
  private count = 0;

  constructor(private readonly writesMax: number) {}

  /** Throws `TransactionTooLargeError` if one more write would pass the limit. */
  checkRoom(): void {
    if (this.count >= this.writesMax) {
      throw new TransactionTooLargeError(`a transaction may make at most ${String(this.writesMax)} writes (put, delete, increment)`);
    }
  }

  /** Counts one write against the limit, or throws `TransactionTooLargeError` and changes nothing. */
  countWrite(): void {
    this.checkRoom();
    this.count++;
  }

  /** Buffers `value` (undefined: a delete) for `key`; the caller counted it with `countWrite` if it should count. */
  add(table: string, tree: Tree, key: Uint8Array, value: Uint8Array | undefined, leaf: Leaf | null = null): void {
    let writes = this.tables.get(table);
    if (writes === undefined) {
      writes = { table, tree, list: [], byKey: null, sorted: true };
      this.tables.set(table, writes);
    }
    if (writes.byKey !== null) {
      const mapKey = bytesToMapKey(key);
      const existing = writes.byKey.get(mapKey);
      if (existing !== undefined) {
        existing.value = value;
        return;
      }
      const write = bufferedWrite(table, key, value, leaf);
      writes.byKey.set(mapKey, write);
      writes.list.push(write);
    } else {
      writes.list.push(bufferedWrite(table, key, value, leaf));
    }
    writes.sorted = false;
  }

  /** The buffered write of `key`, if any (its value undefined for a delete). */
  find(table: string, key: Uint8Array): CommitWrite | undefined {
    const writes = this.tables.get(table);
    if (writes === undefined || writes.list.length === 0) return undefined;
    return indexOf(writes).get(bytesToMapKey(key));
  }

  /** The first write with key above `after` (or at it, unless `exclusive`; null `after`: the first); null if none. */
  next(table: string, after: Uint8Array | null, exclusive: boolean): CommitWrite | null {
    const writes = this.sorted(table);
    if (after === null) return writes[0] ?? null;
    let low = 0;
    let high = writes.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const order = compareBytes(writes[middle].key, after);
      if (order < 0 || (order === 0 && exclusive)) low = middle + 1;
      else high = middle;
    }
    return writes[low] ?? null;
  }

  /** The last write with key below `before` (or at it, unless `exclusive`; null `before`: the last); null if none. */
  previous(table: string, before: Uint8Array | null, exclusive: boolean): CommitWrite | null {
    const writes = this.sorted(table);
    if (before === null) return writes[writes.length - 1] ?? null;
    let low = 0;
    let high = writes.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const order = compareBytes(writes[middle].key, before);
      if (order < 0 || (order === 0 && !exclusive)) low = middle + 1;
      else high = middle;
    }
    return writes[low - 1] ?? null;
  }

  /** Every write in (table, key) order, one per key: what the commit step applies. */
  collect(): BufferedWrite[] {
    const names = [...this.tables.keys()].sort();
    if (names.length === 1) return this.sorted(names[0]);
    const all: BufferedWrite[] = [];
    for (const name of names) for (const write of this.sorted(name)) all.push(write);
    return all;
  }

  /** `table`'s writes in key order, one per key (sorted on demand, cached). */
  private sorted(table: string): BufferedWrite[] {
    const writes = this.tables.get(table);
    if (writes === undefined) return [];
    sortWrites(writes);
    return writes.list;
  }
}

function bufferedWrite(table: string, key: Uint8Array, value: Uint8Array | undefined, leaf: Leaf | null): BufferedWrite {
  const copy = copyBytes(key);
  return { table, key: copy, value, prefix: prefix32(copy), leaf };
}

function compareWrites(a: BufferedWrite, b: BufferedWrite): number {
  return a.prefix - b.prefix || compareBytes(a.key, b.key);
}

/** Sorts `writes.list` by key (stable) and keeps only the last write of each key. */
function sortWrites(writes: TableWrites): void {
  if (writes.sorted) return;
  const list = writes.list;
  list.sort(compareWrites);
  let kept = 0;
  for (let i = 0; i < list.length; i++) {
    if (kept > 0 && compareWrites(list[kept - 1], list[i]) === 0) list[kept - 1] = list[i];
    else list[kept++] = list[i];
  }
  list.length = kept;
  writes.sorted = true;
}

/** The Map from key to write, built on first use (after which `add` keeps it current). */
function indexOf(writes: TableWrites): Map<string, BufferedWrite> {
  if (writes.byKey === null) {
    sortWrites(writes);
    writes.byKey = new Map();
    for (const write of writes.list) writes.byKey.set(bytesToMapKey(write.key), write);
  }
  return writes.byKey;
}
