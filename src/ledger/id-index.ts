/**
 * Transfer id → timestamp. Ids from `id()` (TigerBeetle's recommendation) increase, and so do timestamps,
 * so most entries go into two parallel sorted arrays by a plain append and are found by binary search;
 * ids that arrive out of order go into a Map. A `Map<bigint, bigint>` alone cost the ledger about half a
 * microsecond per transfer at a million entries (hashing a bigint, growing the table), on every transfer;
 * the append costs a comparison. Undo (of the latest inserts only) truncates or deletes.
 */
import { assert } from '../errors.js';
import { TimestampList } from './indexes.js';

export class TransferIdIndex {
  /** Ids in increasing order, with their timestamps at the same positions. */
  private readonly ordered: bigint[] = [];
  private readonly orderedTimestamps = new TimestampList();
  private readonly unordered = new Map<bigint, bigint>();

  get size(): number {
    return this.ordered.length + this.unordered.size;
  }

  get(id: bigint): bigint | undefined {
    if (this.unordered.size > 0) {
      const found = this.unordered.get(id);
      if (found !== undefined) return found;
    }
    const ids = this.ordered;
    if (ids.length === 0 || id > ids[ids.length - 1]) return undefined;
    let low = 0;
    let high = ids.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (ids[middle] < id) low = middle + 1;
      else high = middle;
    }
    return low < ids.length && ids[low] === id ? this.orderedTimestamps.at(low) : undefined;
  }

  /** Adds a new id (not present). */
  insert(id: bigint, timestamp: bigint): void {
    const ids = this.ordered;
    if (ids.length === 0 || id > ids[ids.length - 1]) {
      ids.push(id);
      this.orderedTimestamps.push(timestamp);
    } else {
      assert(!this.unordered.has(id), 'transfer id inserted twice');
      this.unordered.set(id, timestamp);
    }
  }

  /** Removes an id inserted by the latest `insert` calls (undo happens in reverse order). */
  remove(id: bigint): void {
    const ids = this.ordered;
    if (ids.length > 0 && ids[ids.length - 1] === id) {
      ids.pop();
      this.orderedTimestamps.truncate(ids.length);
      return;
    }
    assert(this.unordered.delete(id), 'removing a transfer id that is not there');
  }
}
