/**
 * One table's B+tree. Leaves are binary pages (`leaf.ts`); inner nodes are small JS objects (a few hundred
 * thousand at most for ten million records, so their heap cost is small and their code stays simple).
 *
 * The tree knows nothing of transactions or locks: it is changed only by the commit step, which is
 * synchronous, so a split or merge is never observed half done. Locks are the caller's business; the tree
 * only reports a split through `onSplit` so the lock manager can let the new page inherit the old page's
 * locks, and it merges only leaves the caller says are free (`canMerge`). See `transaction.ts` for why this
 * makes structural changes deadlock-free.
 *
 * Routing: inner `keys[i]` separates `children[i]` (keys < keys[i]) from `children[i + 1]` (keys >= keys[i]);
 * a separator is always equal to the `lowFence` of the leftmost leaf of the subtree to its right.
 */
import { assert } from '../errors.js';
import { compareBytes, ownedCopy } from './bytes.js';
import { keyPrefix32, LEAF_MERGE_BYTES, LEAF_SPLIT_BYTES, Leaf, recordBytes, SLOT_BYTES } from './leaf.js';

/** Most children of an inner node; a fuller node splits in two. */
export const INNER_CHILDREN_MAX = 128;
/** Bulk loads fill leaves to this many live bytes (leaving room for later inserts). */
const BULK_FILL_BYTES = (LEAF_SPLIT_BYTES * 7) / 8;

export interface Inner {
  keys: Uint8Array[];
  /** `prefix32(keys[i])`: a descent compares these numbers and looks at the bytes only on a tie. */
  prefixes: number[];
  children: Array<Inner | Leaf>;
}

/** Re-exported for callers that sort keys the way the tree routes them. */
export const prefix32 = keyPrefix32;

function innerNode(keys: Uint8Array[], children: Array<Inner | Leaf>): Inner {
  return { keys, prefixes: keys.map(prefix32), children };
}

export type SplitListener = (old: Leaf, fresh: Leaf) => void;

export class Tree {
  root: Inner | Leaf;
  first: Leaf;
  records = 0;
  leaves = 1;
  // The descent path of the last `descend()`: reused arrays, so a descent allocates nothing.
  private readonly pathNodes: Inner[] = [];
  private readonly pathIndexes: number[] = [];

  constructor(
    private readonly allocatePageId: () => number,
    private readonly onSplit: SplitListener,
  ) {
    this.first = new Leaf(allocatePageId(), null);
    this.root = this.first;
  }

  /** The leaf whose key interval holds `key`. */
  findLeaf(key: Uint8Array): Leaf {
    let node = this.root;
    const prefix = prefix32(key);
    while (!(node instanceof Leaf)) node = node.children[childIndex(node, key, prefix)];
    return node;
  }

  lastLeaf(): Leaf {
    let node = this.root;
    while (!(node instanceof Leaf)) node = node.children[node.children.length - 1];
    return node;
  }

  /**
   * Inserts or replaces. Returns true if the key is new. `hint` is a leaf that probably covers the key (the
   * one locked for it); if it still does, the descent is skipped.
   */
  put(key: Uint8Array, value: Uint8Array, hint: Leaf | null = null): boolean {
    const hinted = hint !== null && covers(hint, key);
    const leaf = hinted ? hint : this.descend(key);
    const index = leaf.search(key);
    if (index >= 0) {
      leaf.replaceAt(index, value);
    } else {
      leaf.insertAt(-index - 1, key, value);
      this.records++;
    }
    if (leaf.liveBytes() > LEAF_SPLIT_BYTES && leaf.count > 1) {
      // An append at the end of the right-most leaf (ascending keys, e.g. a plain sequence) splits off just
      // the new record, so ascending loads leave full pages instead of half-full ones.
      if (leaf.next === null && -index - 1 === leaf.count - 1 && leaf.count > 2) {
        if (hinted) this.descendToLeaf(leaf);
        const right = this.splitLeaf(leaf, leaf.count - 1);
        this.splitUntilFits(leaf);
        this.splitUntilFits(right);
      } else {
        this.splitUntilFits(leaf);
      }
    }
    return index < 0;
  }

  /** Removes `key`; returns the leaf it was in (the caller may try to merge it later), or null if absent. */
  delete(key: Uint8Array): Leaf | null {
    const leaf = this.findLeaf(key);
    const index = leaf.search(key);
    if (index < 0) return null;
    leaf.removeAt(index);
    this.records--;
    return leaf;
  }

  /**
   * Merges an underfull leaf with a sibling under the same parent, if `canMerge` allows both (the caller
   * passes "no transaction holds or waits for a lock on it"). Merging across parents would leave a stale
   * separator in an ancestor, so it is not done; such leaves stay underfull until a later chance.
   */
  mergeIfUnderfull(leaf: Leaf, canMerge: (leaf: Leaf) => boolean): void {
    let survivor: Leaf | null = leaf;
    while (survivor !== null) survivor = this.mergeOnce(survivor, canMerge);
    while (!(this.root instanceof Leaf) && this.root.children.length === 1) this.root = this.root.children[0];
  }

  /** One merge step; returns the leaf that absorbed the other (to try again), or null if nothing merged. */
  private mergeOnce(leaf: Leaf, canMerge: (leaf: Leaf) => boolean): Leaf | null {
    if (leaf.retired || leaf === this.root || leaf.liveBytes() >= LEAF_MERGE_BYTES || !canMerge(leaf)) return null;
    this.descendToLeaf(leaf);
    const parent = this.pathNodes[this.pathNodes.length - 1];
    const index = this.pathIndexes[this.pathIndexes.length - 1];
    const right = parent.children[index + 1] as Leaf | undefined;
    const left = parent.children[index - 1] as Leaf | undefined;
    const mergedBytesMax = (LEAF_SPLIT_BYTES * 3) / 4;
    if (right !== undefined && canMerge(right) && leaf.liveBytes() + right.liveBytes() <= mergedBytesMax) {
      this.absorbRight(leaf, parent, index);
      return leaf;
    }
    if (left !== undefined && canMerge(left) && leaf.liveBytes() + left.liveBytes() <= mergedBytesMax) {
      this.absorbRight(left, parent, index - 1);
      return left;
    }
    return null;
  }

  /** Fills an empty tree from records in strictly increasing key order (recovery, `purser load`). */
  bulkLoad(records: Iterable<[Uint8Array, Uint8Array]>): void {
    assert(this.records === 0, 'bulk load into an empty table');
    let leaf = this.first;
    let previous: Uint8Array | null = null;
    const level: Leaf[] = [leaf];
    for (const [key, value] of records) {
      assert(previous === null || compareBytes(previous, key) < 0, 'bulk load keys strictly increasing');
      previous = key;
      if (leaf.count > 0 && leaf.liveBytes() + recordBytes(key.length, value.length) > BULK_FILL_BYTES) {
        const next = new Leaf(this.allocatePageId(), ownedCopy(key), BULK_FILL_BYTES);
        leaf.next = next;
        next.prev = leaf;
        leaf = next;
        level.push(leaf);
      }
      leaf.insertAt(leaf.count, key, value);
      this.records++;
    }
    this.leaves = level.length;
    this.root = buildInnerLevels(level);
  }

  /** Throws an assertion failure if the tree is structurally broken. Walks everything: tests only. */
  checkInvariants(): void {
    const leaves: Leaf[] = [];
    const depth = checkNode(this.root, null, null, leaves, this.root);
    assert(depth >= 0);
    assert(leaves[0] === this.first && this.first.prev === null && this.first.lowFence === null, 'first leaf');
    let records = 0;
    for (let i = 0; i < leaves.length; i++) {
      assert(leaves[i].next === (leaves[i + 1] ?? null), 'leaf chain follows key order');
      assert(leaves[i].prev === (leaves[i - 1] ?? null), 'leaf chain is doubly linked');
      records += leaves[i].count;
    }
    assert(records === this.records, `record count ${String(records)} == ${String(this.records)}`);
    assert(leaves.length === this.leaves, `leaf count ${String(leaves.length)} == ${String(this.leaves)}`);
  }

  /** Descends to the leaf for `key`, leaving the inner nodes and child indexes on the path arrays. */
  private descend(key: Uint8Array): Leaf {
    this.pathNodes.length = 0;
    this.pathIndexes.length = 0;
    let node = this.root;
    const prefix = prefix32(key);
    while (!(node instanceof Leaf)) {
      const index = childIndex(node, key, prefix);
      this.pathNodes.push(node);
      this.pathIndexes.push(index);
      node = node.children[index];
    }
    return node;
  }

  /** Descends to `leaf` itself (by its low fence), leaving the path on the path arrays. */
  private descendToLeaf(leaf: Leaf): void {
    this.pathNodes.length = 0;
    this.pathIndexes.length = 0;
    let node = this.root;
    const prefix = leaf.lowFence === null ? 0 : prefix32(leaf.lowFence);
    while (!(node instanceof Leaf)) {
      const index = leaf.lowFence === null ? 0 : childIndex(node, leaf.lowFence, prefix);
      this.pathNodes.push(node);
      this.pathIndexes.push(index);
      node = node.children[index];
    }
    assert(node === leaf, 'a leaf is reached by descending with its low fence');
  }

  private splitUntilFits(leaf: Leaf): void {
    if (leaf.liveBytes() <= LEAF_SPLIT_BYTES || leaf.count < 2) return;
    this.descendToLeaf(leaf);
    const right = this.splitLeaf(leaf, this.halfBytesIndex(leaf));
    this.splitUntilFits(leaf);
    this.splitUntilFits(right);
  }

  /** The record index that splits `leaf` into two halves of about equal bytes (each side non-empty). */
  private halfBytesIndex(leaf: Leaf): number {
    const half = leaf.liveBytes() / 2;
    let from = 0;
    for (let bytes = 0; from < leaf.count - 1 && bytes < half; from++) bytes += leaf.recordBytesAt(from);
    return from === 0 ? 1 : from;
  }

  /** Splits `leaf` (the path arrays must lead to it) before record `from`; returns the new right leaf. */
  private splitLeaf(leaf: Leaf, from: number): Leaf {
    const separator = ownedCopy(leaf.keyAt(from));
    const right = new Leaf(this.allocatePageId(), separator);
    leaf.moveTailTo(right, from);
    right.next = leaf.next;
    if (right.next !== null) right.next.prev = right;
    right.prev = leaf;
    leaf.next = right;
    this.leaves++;
    this.insertSeparator(this.pathNodes.length - 1, separator, right);
    this.onSplit(leaf, right);
    return right;
  }

  /** Inserts `separator`/`child` after the path child at `level`, splitting inner nodes upwards as needed. */
  private insertSeparator(level: number, separator: Uint8Array, child: Inner | Leaf): void {
    if (level < 0) {
      this.root = innerNode([separator], [this.root, child]);
      return;
    }
    const node = this.pathNodes[level];
    const index = this.pathIndexes[level];
    node.keys.splice(index, 0, separator);
    node.prefixes.splice(index, 0, prefix32(separator));
    node.children.splice(index + 1, 0, child);
    if (node.children.length <= INNER_CHILDREN_MAX) return;
    const middle = node.children.length >> 1;
    const up = node.keys[middle - 1];
    const sibling = innerNode(node.keys.slice(middle), node.children.slice(middle));
    node.keys.length = middle - 1;
    node.prefixes.length = middle - 1;
    node.children.length = middle;
    this.insertSeparator(level - 1, up, sibling);
  }

  /** Moves every record of `parent.children[index + 1]` into `parent.children[index]` and drops the former. */
  private absorbRight(leaf: Leaf, parent: Inner, index: number): void {
    const right = parent.children[index + 1] as Leaf;
    leaf.appendAll(right);
    right.retired = true;
    leaf.next = right.next;
    if (leaf.next !== null) leaf.next.prev = leaf;
    parent.keys.splice(index, 1);
    parent.prefixes.splice(index, 1);
    parent.children.splice(index + 1, 1);
    this.leaves--;
  }
}

/** Is `leaf` still in its tree, and does its key interval hold `key`? */
export function covers(leaf: Leaf, key: Uint8Array): boolean {
  if (leaf.retired) return false;
  if (leaf.lowFence !== null && compareBytes(key, leaf.lowFence) < 0) return false;
  return leaf.next === null || compareBytes(key, leaf.next.lowFence as Uint8Array) < 0;
}

function childIndex(node: Inner, key: Uint8Array, prefix: number): number {
  const prefixes = node.prefixes;
  let low = 0;
  let high = prefixes.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const separator = prefixes[middle];
    if (prefix < separator || (prefix === separator && compareBytes(key, node.keys[middle]) < 0)) high = middle;
    else low = middle + 1;
  }
  return low;
}

function buildInnerLevels(level: Array<Inner | Leaf>): Inner | Leaf {
  while (level.length > 1) {
    const parents: Inner[] = [];
    for (let i = 0; i < level.length; i += INNER_CHILDREN_MAX) {
      const children = level.slice(i, i + INNER_CHILDREN_MAX);
      parents.push(innerNode(children.slice(1).map(leftmostFence), children));
    }
    level = parents;
  }
  return level[0];
}

function leftmostFence(node: Inner | Leaf): Uint8Array {
  while (!(node instanceof Leaf)) node = node.children[0];
  assert(node.lowFence !== null, 'only the first leaf has no low fence');
  return node.lowFence;
}

/** Checks one subtree against its key bounds [low, high); returns its height. */
function checkNode(node: Inner | Leaf, low: Uint8Array | null, high: Uint8Array | null, leaves: Leaf[], root: Inner | Leaf): number {
  if (node instanceof Leaf) {
    checkLeaf(node, low, high);
    leaves.push(node);
    return 0;
  }
  assert(node.children.length === node.keys.length + 1, 'inner node has one more child than keys');
  assert(node.prefixes.length === node.keys.length && node.keys.every((key, i) => prefix32(key) === node.prefixes[i]), 'inner prefixes match keys');
  assert(node.children.length >= (node === root ? 2 : 1) && node.children.length <= INNER_CHILDREN_MAX, 'inner fan-out within limits');
  let height = -1;
  for (let i = 0; i < node.children.length; i++) {
    const childLow = i === 0 ? low : node.keys[i - 1];
    const childHigh = i === node.keys.length ? high : node.keys[i];
    if (childLow !== null && childHigh !== null) assert(compareBytes(childLow, childHigh) < 0, 'separators strictly increase');
    const childHeight = checkNode(node.children[i], childLow, childHigh, leaves, root);
    assert(height === -1 || height === childHeight, 'all leaves at the same depth');
    height = childHeight;
  }
  return height + 1;
}

function checkLeaf(leaf: Leaf, low: Uint8Array | null, high: Uint8Array | null): void {
  assert(low === null ? leaf.lowFence === null : leaf.lowFence !== null && compareBytes(low, leaf.lowFence) === 0, `leaf ${String(leaf.id)} low fence equals its separator`);
  assert(leaf.liveBytes() <= LEAF_SPLIT_BYTES || leaf.count === 1, `leaf ${String(leaf.id)} within split size`);
  assert(leaf.heapStart >= leaf.count * SLOT_BYTES && leaf.heapStart <= leaf.buf.length, 'leaf heap and slots do not overlap');
  for (let i = 0; i < leaf.count; i++) {
    const key = leaf.keyAt(i);
    if (low !== null) assert(compareBytes(key, low) >= 0, 'leaf key >= low fence');
    if (high !== null) assert(compareBytes(key, high) < 0, 'leaf key < high fence');
    if (i > 0) assert(leaf.compareAt(key, i - 1) > 0, 'leaf keys strictly increase');
  }
}
