/**
 * Range scans: a walk along the leaf chain that merges the tree's records with the transaction's own buffered
 * writes, in key order or reversed.
 *
 * Every leaf whose key interval meets the range is locked (SHARED, or EXCLUSIVE for `forUpdate`) before its
 * records are read, including the leaf where the range ends — so no key can later appear in a scanned range
 * (no phantoms). A leaf stays locked to the end of the transaction, so it cannot split or go away under the
 * scan; the next leaf is locked before it is read. Between yields the transaction may have been doomed (a
 * deadlock victim, its deadline): the scan checks after every yield and stops with that error.
 */
import { assert } from '../errors.js';
import { compareBytes, copyBytes } from './bytes.js';
import { checkKey } from './checks.js';
import { StoreArgumentError } from './errors.js';
import type { RangeOptions } from './interfaces.js';
import { Leaf } from './leaf.js';
import { EXCLUSIVE, type LockMode, SHARED } from './locks.js';
import type { Tree } from './tree.js';
import type { WriteBuffer } from './write-buffer.js';

/** What a scan needs from its transaction. */
export interface ScanOwner {
  readonly writes: WriteBuffer;
  /** Throws if the transaction can no longer be used (finished or doomed). */
  checkUsable(): void;
  /** Locks the leaf holding `key`, re-checking after a wait that it still does. */
  lockKey(tree: Tree, key: Uint8Array, mode: LockMode): Leaf | Promise<Leaf>;
  /** Locks exactly `leaf`. */
  acquireLeaf(leaf: Leaf, mode: LockMode): true | Promise<void>;
}

export interface RangeBounds {
  low: Uint8Array | null;
  lowInclusive: boolean;
  high: Uint8Array | null;
  highInclusive: boolean;
  reverse: boolean;
  limit: number;
  mode: LockMode;
}

export function checkRangeOptions(options: unknown): RangeBounds {
  if (typeof options !== 'object' || options === null) throw new StoreArgumentError('range options must be an object');
  const { gte, gt, lte, lt, reverse, limit, forUpdate } = options as RangeOptions;
  if (gte !== undefined && gt !== undefined) throw new StoreArgumentError('range takes gte or gt, not both');
  if (lte !== undefined && lt !== undefined) throw new StoreArgumentError('range takes lte or lt, not both');
  for (const bound of [gte, gt, lte, lt]) if (bound !== undefined) checkKey(bound);
  if (reverse !== undefined && typeof reverse !== 'boolean') throw new StoreArgumentError('range reverse must be a boolean');
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) throw new StoreArgumentError('range limit must be a non-negative integer');
  if (forUpdate !== undefined && typeof forUpdate !== 'boolean') throw new StoreArgumentError('range forUpdate must be a boolean');
  return {
    low: gte ?? gt ?? null,
    lowInclusive: gt === undefined,
    high: lte ?? lt ?? null,
    highInclusive: lt === undefined,
    reverse: reverse ?? false,
    limit: limit ?? Number.POSITIVE_INFINITY,
    mode: forUpdate === true ? EXCLUSIVE : SHARED,
  };
}

export async function* scanForward(owner: ScanOwner, table: string, tree: Tree, bounds: RangeBounds): AsyncGenerator<[Uint8Array, Uint8Array]> {
  let leaf = bounds.low === null ? await lockFirst(owner, tree, bounds.mode) : await lockAt(owner, tree, bounds.low, bounds.mode);
  let index = bounds.low === null ? 0 : lowerIndex(leaf, bounds.low, bounds.lowInclusive);
  let last: Uint8Array | null = null;
  let yielded = 0;
  while (yielded < bounds.limit) {
    while (index >= leaf.count && leaf.next !== null && !beyondHigh(leaf.next.lowFence, bounds)) {
      leaf = await lockNext(owner, leaf, bounds.mode);
      index = 0;
    }
    const treeKey = index < leaf.count ? leaf.keyAt(index) : null;
    const own = owner.writes.next(table, last ?? bounds.low, last !== null || !bounds.lowInclusive);
    const useOwn = own !== null && (treeKey === null || compareBytes(own.key, treeKey) <= 0);
    const key = useOwn ? own.key : treeKey;
    if (key === null || beyondHigh(key, bounds)) return;
    if (treeKey !== null && compareBytes(key, treeKey) === 0) index++;
    last = key;
    const value = useOwn ? own.value : leaf.valueAt(index - 1);
    if (value === undefined) continue;
    yielded++;
    yield [copyBytes(key), useOwn ? copyBytes(value) : value];
    owner.checkUsable();
  }
}

export async function* scanBackward(owner: ScanOwner, table: string, tree: Tree, bounds: RangeBounds): AsyncGenerator<[Uint8Array, Uint8Array]> {
  let leaf = bounds.high === null ? await lockLast(owner, tree, bounds.mode) : await lockAt(owner, tree, bounds.high, bounds.mode);
  let index = bounds.high === null ? leaf.count - 1 : upperIndex(leaf, bounds.high, bounds.highInclusive);
  let last: Uint8Array | null = null;
  let yielded = 0;
  while (yielded < bounds.limit) {
    while (index < 0 && leaf.prev !== null && leaf.lowFence !== null && !belowLow(leaf.lowFence, bounds, true)) {
      leaf = await lockPrevious(owner, leaf, bounds.mode);
      index = leaf.count - 1;
    }
    const treeKey = index >= 0 ? leaf.keyAt(index) : null;
    const own = owner.writes.previous(table, last ?? bounds.high, last !== null || !bounds.highInclusive);
    const useOwn = own !== null && (treeKey === null || compareBytes(own.key, treeKey) >= 0);
    const key = useOwn ? own.key : treeKey;
    if (key === null || belowLow(key, bounds, false)) return;
    let value: Uint8Array | undefined;
    if (treeKey !== null && compareBytes(key, treeKey) === 0) value = leaf.valueAt(index--);
    if (useOwn) value = own.value === undefined ? undefined : copyBytes(own.value);
    last = key;
    if (value === undefined) continue;
    yielded++;
    yield [copyBytes(key), value];
    owner.checkUsable();
  }
}

async function lockAt(owner: ScanOwner, tree: Tree, key: Uint8Array, mode: LockMode): Promise<Leaf> {
  const locked = owner.lockKey(tree, key, mode);
  return locked instanceof Leaf ? locked : await locked;
}

/** The first leaf never goes away (merges absorb right into left), so no re-check is needed. */
async function lockFirst(owner: ScanOwner, tree: Tree, mode: LockMode): Promise<Leaf> {
  const granted = owner.acquireLeaf(tree.first, mode);
  if (granted !== true) await granted;
  return tree.first;
}

async function lockLast(owner: ScanOwner, tree: Tree, mode: LockMode): Promise<Leaf> {
  for (;;) {
    const leaf = tree.lastLeaf();
    const granted = owner.acquireLeaf(leaf, mode);
    if (granted !== true) await granted;
    if (leaf.next === null) return leaf;
  }
}

/** `leaf` is held, so it cannot split or go away; its successor may split while we wait, which is fine. */
async function lockNext(owner: ScanOwner, leaf: Leaf, mode: LockMode): Promise<Leaf> {
  const next = leaf.next;
  assert(next !== null);
  const granted = owner.acquireLeaf(next, mode);
  if (granted !== true) await granted;
  return next;
}

/** While we wait for the predecessor it may split, putting a new leaf between: then lock that one too. */
async function lockPrevious(owner: ScanOwner, leaf: Leaf, mode: LockMode): Promise<Leaf> {
  for (;;) {
    const previous = leaf.prev;
    assert(previous !== null);
    const granted = owner.acquireLeaf(previous, mode);
    if (granted !== true) await granted;
    if (leaf.prev === previous) return previous;
  }
}

/** Is `key` past the range's upper end? (null: the tree's end, never past.) */
function beyondHigh(key: Uint8Array | null, bounds: RangeBounds): boolean {
  if (key === null || bounds.high === null) return false;
  const order = compareBytes(key, bounds.high);
  return bounds.highInclusive ? order > 0 : order >= 0;
}

/**
 * Is `key` below the range's lower end? With `fence`, `key` is a leaf's low fence and the question is whether
 * everything before it (in the previous leaf) is below the range.
 */
function belowLow(key: Uint8Array, bounds: RangeBounds, fence: boolean): boolean {
  if (bounds.low === null) return false;
  const order = compareBytes(key, bounds.low);
  if (fence) return order <= 0;
  return bounds.lowInclusive ? order < 0 : order <= 0;
}

function lowerIndex(leaf: Leaf, key: Uint8Array, inclusive: boolean): number {
  const found = leaf.search(key);
  if (found >= 0) return inclusive ? found : found + 1;
  return -found - 1;
}

function upperIndex(leaf: Leaf, key: Uint8Array, inclusive: boolean): number {
  const found = leaf.search(key);
  if (found >= 0) return inclusive ? found : found - 1;
  return -found - 2;
}
