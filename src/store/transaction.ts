/**
 * An interactive transaction: strict two-phase page locking over deferred updates.
 *
 * Deferred update: writes are buffered in the transaction (a list per table, sorted when needed) and reach
 * the pages only at commit, in one synchronous step (`commitTransaction` in store.ts). Reads look at the
 * transaction's own buffer first, then at the tree. So undo is "drop the buffer", and no page ever holds
 * uncommitted data.
 *
 * Locks: SHARED on every leaf a get, range or counter read looks at (a range locks every leaf whose key
 * interval meets the range, including the leaf where the range ends, so no phantom can appear in it);
 * EXCLUSIVE on the leaf a put or delete targets; ESCROW for increments (see escrow.ts). Held to the end.
 *
 * Why structural changes cannot deadlock (the gzochi scenario). In gzochi 0.9 an insert write-locked the
 * parent node to add a key, so T1 "update a1, update a2" and T2 "read a2, insert a3" deadlocked on the parent
 * though their record locks alone were harmless. Here a transaction locks only leaves, never inner nodes,
 * and the tree is changed only inside the synchronous commit step, after the committer already holds every
 * lock it needs. Splits and merges therefore never wait for a lock: nothing else runs during the step, so
 * they need no structural locks at all, and cannot join a waits-for cycle. Two rules keep locks meaningful
 * across those changes: (1) a split gives the new right-hand page a copy of every lock held on the old page,
 * so a holder keeps covering its whole original key interval and no phantom slips into the moved half;
 * (2) leaves are merged only when no transaction holds or waits for a lock on either of them. A request that
 * waited re-checks, once granted, that the page still covers its key (a split may have moved the key while it
 * waited) and locks the right page if not. And because pages, not records, are locked, gzochi's a1/a2/a3
 * sequence simply serializes on the page instead of deadlocking (test/store/transaction.test.ts).
 */
import { assert } from '../errors.js';
import { bytesToMapKey, compareBytes, copyBytes } from './bytes.js';
import { decodeCounter, encodeCounter } from './counter.js';
import {
  StoreArgumentError,
  TransactionAbortedError,
  TransactionFinishedError,
  TransactionTooLargeError,
} from './errors.js';
import { admitIncrement, type EscrowEntry, type EscrowPending, withdrawPending } from './escrow.js';
import type { CommitExtension, CommitWrite, IncrementOptions, RangeOptions, ReadOptions, Transaction } from './interfaces.js';
import { Leaf } from './leaf.js';
import { ESCROW, EXCLUSIVE, type LockManager, type LockMode, type LockOwner, SHARED, type Waiter } from './locks.js';
import { covers, prefix32, type Tree } from './tree.js';

export const KEY_SIZE_MAX_BYTES = 1024;
export const TABLE_NAME_MAX_CHARS = 128;
export const EXTENSION_KIND_MAX_CHARS = 128;
/** Most keys one `getMany` call reads (the same bound as a transaction's writes by default). */
export const GET_MANY_KEYS_MAX = 100_000;
/** Most pages a lock plan remembers (see `TransactionRun.lockPlan`); past it, a retry locks the rest as it goes. */
export const LOCK_PLAN_PAGES_MAX = 1024;

/**
 * What every try of one `store.transaction` call shares; the engine's retry loop keeps it across tries.
 *
 * `lockPlan` is how deadlocks are made rare by design for retries. A try that fails leaves behind the pages
 * it held or waited for, each with the strongest mode it asked for; the next try takes them all before its
 * function runs, in page order, so it cannot collide on them again. Two kinds of deadlock are covered: the
 * upgrade (two transactions read a page SHARED, then both write it, each waiting for the other's SHARED
 * lock — the retry takes that page EXCLUSIVE at once, as `forUpdate` would, and queues for it instead), and
 * the lock-order cycle (A then B against B then A — retries take A and B in one global order). Taking a page
 * the function no longer needs costs only concurrency; pages it needs and the plan misses are locked as usual.
 */
export interface TransactionRun {
  /** The first try's transaction id: smaller is older. Deadlock victims are the youngest. */
  readonly age: number;
  readonly lockTimeoutMs: number;
  /** `performance.now()` time after which the call fails with `TransactionTimeoutError`. */
  readonly deadlineMs: number;
  /** Pages earlier tries held or waited for, with the mode to take; null until a try fails. */
  lockPlan: Map<Leaf, LockMode> | null;
  /** False only to measure the engine without lock plans (bench/contention.ts). */
  readonly learnLockPlan: boolean;
}

/** What a transaction needs from the engine. */
export interface TransactionContext {
  readonly locks: LockManager;
  readonly escrowEntries: Map<string, EscrowEntry>;
  readonly valueSizeMaxBytes: number;
  readonly transactionWritesMax: number;
  readonly counters: { escrowRejections: number };
  tableFor(name: string): Tree;
}

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
export interface TableWrites {
  table: string;
  tree: Tree;
  list: BufferedWrite[];
  byKey: Map<string, BufferedWrite> | null;
  sorted: boolean;
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

/** The Map from key to write, built on first use (after which `buffer` keeps it current). */
function indexOf(writes: TableWrites): Map<string, BufferedWrite> {
  if (writes.byKey === null) {
    sortWrites(writes);
    writes.byKey = new Map();
    for (const write of writes.list) writes.byKey.set(bytesToMapKey(write.key), write);
  }
  return writes.byKey;
}

export class TransactionState implements LockOwner, Transaction {
  readonly held: Leaf[] = [];
  readonly waits: Waiter[] = [];
  readonly writes = new Map<string, TableWrites>();
  readonly escrow = new Map<string, EscrowPending>();
  readonly extensions: CommitExtension[] = [];
  readonly replacedTables = new Set<string>();
  writeCount = 0;
  finished = false;
  /** Set when the transaction can no longer commit (deadlock victim, lock timeout, abort). */
  doomed: Error | null = null;

  constructor(
    readonly id: number,
    private readonly context: TransactionContext,
    private readonly run: TransactionRun,
  ) {}

  get age(): number {
    return this.run.age;
  }

  get deadlineMs(): number {
    return this.run.deadlineMs;
  }

  /**
   * Dooms the transaction and gives up at once every lock, wait and pending increment (a deadlock victim, or
   * its deadline passed). Safe while its function still runs: its writes are only in its own buffer, and
   * every later call on it throws `error`.
   */
  wound(error: Error): void {
    if (this.doomed === null) this.doomed = error;
    this.learnLockPlan();
    const locks = this.context.locks;
    locks.cancelWaits(this, error);
    this.discardEscrow();
    locks.releaseAll(this);
  }

  /** Ends an aborted try: withdraws what it waits for and releases what it holds. */
  discard(): void {
    this.finished = true;
    this.learnLockPlan();
    const locks = this.context.locks;
    if (this.waits.length > 0) locks.cancelWaits(this, new StoreArgumentError('the transaction finished while this operation waited for a lock'));
    this.discardEscrow();
    locks.releaseAll(this);
  }

  async get(table: string, key: Uint8Array, options?: ReadOptions): Promise<Uint8Array | undefined> {
    this.checkUsable();
    checkTable(table);
    checkKey(key);
    const mode = readMode(options);
    const tree = this.context.tableFor(table);
    // An own write means its page is held EXCLUSIVE already (every buffered write locked it so).
    const own = this.ownWrite(table, key);
    if (own !== undefined) return own.value === undefined ? undefined : copyBytes(own.value);
    const locked = this.lockKey(tree, key, mode);
    return this.readLocked(table, key, locked instanceof Leaf ? locked : await locked);
  }

  async getMany(table: string, keys: readonly Uint8Array[], options?: ReadOptions): Promise<Array<Uint8Array | undefined>> {
    this.checkUsable();
    checkTable(table);
    if (!isArray(keys)) throw new StoreArgumentError('getMany keys must be an array of Uint8Array');
    if (keys.length > GET_MANY_KEYS_MAX) throw new StoreArgumentError(`getMany takes at most ${String(GET_MANY_KEYS_MAX)} keys`);
    for (const key of keys) checkKey(key);
    const mode = readMode(options);
    const tree = this.context.tableFor(table);
    const values = new Array<Uint8Array | undefined>(keys.length);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      const own = this.ownWrite(table, key);
      if (own !== undefined) {
        values[i] = own.value === undefined ? undefined : copyBytes(own.value);
        continue;
      }
      // Only a lock that must wait costs an await; the common case stays synchronous within the call.
      const locked = this.lockKey(tree, key, mode);
      values[i] = this.readLocked(table, key, locked instanceof Leaf ? locked : await locked);
    }
    return values;
  }

  /** `key`'s value once its leaf is locked: a write folded in while locking wins over the page. */
  private readLocked(table: string, key: Uint8Array, leaf: Leaf): Uint8Array | undefined {
    const converted = this.ownWrite(table, key);
    if (converted !== undefined) return converted.value === undefined ? undefined : copyBytes(converted.value);
    const index = leaf.search(key);
    return index >= 0 ? leaf.valueAt(index) : undefined;
  }

  async put(table: string, key: Uint8Array, value: Uint8Array): Promise<void> {
    this.checkUsable();
    checkTable(table);
    checkKey(key);
    this.checkValue(value);
    const tree = this.context.tableFor(table);
    const locked = this.lockKey(tree, key, EXCLUSIVE);
    const leaf = locked instanceof Leaf ? locked : await locked;
    this.buffer(table, tree, key, copyBytes(value), true, leaf);
  }

  async delete(table: string, key: Uint8Array): Promise<boolean> {
    this.checkUsable();
    checkTable(table);
    checkKey(key);
    const tree = this.context.tableFor(table);
    const locked = this.lockKey(tree, key, EXCLUSIVE);
    const leaf = locked instanceof Leaf ? locked : await locked;
    const own = this.ownWrite(table, key);
    const existed = own !== undefined ? own.value !== undefined : leaf.search(key) >= 0;
    if (existed || own !== undefined) this.buffer(table, tree, key, undefined);
    return existed;
  }

  range(table: string, options: RangeOptions = {}): AsyncIterable<[Uint8Array, Uint8Array]> {
    this.checkUsable();
    checkTable(table);
    const bounds = checkRangeOptions(options);
    const tree = this.context.tableFor(table);
    return bounds.reverse ? this.scanBackward(table, tree, bounds) : this.scanForward(table, tree, bounds);
  }

  async increment(table: string, key: Uint8Array, delta: bigint, options: IncrementOptions = {}): Promise<void> {
    this.checkUsable();
    checkTable(table);
    checkKey(key);
    if (typeof delta !== 'bigint') throw new StoreArgumentError('increment delta must be a bigint');
    const { min, max } = checkIncrementOptions(options);
    const tree = this.context.tableFor(table);
    const locked = this.lockKey(tree, key, ESCROW);
    const leaf = locked instanceof Leaf ? locked : await locked;
    if (this.context.locks.modeOf(this, leaf) === EXCLUSIVE) {
      this.incrementOwned(table, tree, leaf, key, delta, min, max);
    } else {
      this.incrementEscrow(table, tree, leaf, key, delta, min, max);
    }
  }

  async counter(table: string, key: Uint8Array): Promise<bigint> {
    return decodeCounter(await this.get(table, key));
  }

  addExtension(kind: string, payload: Uint8Array, options: { replacesTables?: string[] } = {}): void {
    this.checkUsable();
    if (typeof kind !== 'string' || kind.length === 0 || kind.length > EXTENSION_KIND_MAX_CHARS) {
      throw new StoreArgumentError(`extension kind must be a string of 1 to ${String(EXTENSION_KIND_MAX_CHARS)} characters`);
    }
    if (!(payload instanceof Uint8Array)) throw new StoreArgumentError('extension payload must be a Uint8Array');
    const replaces = options.replacesTables ?? [];
    if (!Array.isArray(replaces)) throw new StoreArgumentError('replacesTables must be an array of table names');
    for (const table of replaces) checkTable(table);
    this.extensions.push({ kind, payload: copyBytes(payload) });
    for (const table of replaces) this.replacedTables.add(table);
  }

  abort(): never {
    this.checkUsable();
    const error = new TransactionAbortedError();
    this.doomed = error;
    throw error;
  }

  /** Locks the leaf that holds `key` in `mode`; after a wait, re-checks that the leaf still covers the key. */
  private lockKey(tree: Tree, key: Uint8Array, mode: LockMode): Leaf | Promise<Leaf> {
    const leaf = tree.findLeaf(key);
    const granted = this.acquireLeaf(leaf, mode);
    return granted === true ? leaf : this.finishWait(granted, tree, key, mode, leaf);
  }

  private async finishWait(granted: Promise<void>, tree: Tree, key: Uint8Array, mode: LockMode, leaf: Leaf): Promise<Leaf> {
    await granted;
    if (covers(leaf, key)) return leaf;
    const retry = this.lockKey(tree, key, mode);
    return retry instanceof Leaf ? retry : await retry;
  }

  /**
   * Locks `leaf` in `mode`: true if granted at once, else a promise of the grant. Either way, when the
   * transaction's mode on the page becomes EXCLUSIVE, its pending increments there are folded into its
   * buffer (`foldEscrow`).
   */
  private acquireLeaf(leaf: Leaf, mode: LockMode): true | Promise<void> {
    const locks = this.context.locks;
    const before = this.escrow.size === 0 ? EXCLUSIVE : locks.modeOf(this, leaf);
    const granted = locks.acquire(this, leaf, mode);
    if (granted !== true) return this.waitFor(granted, leaf);
    if (before !== EXCLUSIVE) this.foldEscrow(leaf);
    return true;
  }

  /** Before the function runs on a retry: takes the pages of the lock plan in page order (see `TransactionRun`). */
  async lockPlanned(): Promise<void> {
    const plan = this.run.lockPlan;
    if (plan === null) return;
    const pages = [...plan].sort((a, b) => a[0].id - b[0].id);
    for (const [leaf, mode] of pages) {
      const granted = this.acquireLeaf(leaf, mode);
      if (granted !== true) await granted;
    }
  }

  /** A try is ending without commit: adds what it held and waited for to the lock plan of the next try. */
  private learnLockPlan(): void {
    if (!this.run.learnLockPlan || (this.held.length === 0 && this.waits.length === 0)) return;
    const plan = (this.run.lockPlan ??= new Map<Leaf, LockMode>());
    const locks = this.context.locks;
    for (const leaf of this.held) planPage(plan, leaf, locks.modeOf(this, leaf));
    for (const waiter of this.waits) planPage(plan, waiter.leaf, waiter.mode);
  }

  /** The longest this transaction may wait for one lock: `lockTimeoutMs`, and never past its deadline. */
  waitLimitMs(): number {
    const remainingMs = Math.ceil(this.run.deadlineMs - performance.now());
    return Math.max(1, Math.min(this.run.lockTimeoutMs, remainingMs));
  }


  /** Awaits a lock; a deadlock or timeout dooms the transaction (it must not commit what it has). */
  private async waitFor(granted: Promise<void>, leaf: Leaf): Promise<void> {
    try {
      await granted;
    } catch (error) {
      if (this.doomed === null) this.doomed = error as Error;
      throw error;
    }
    this.checkUsable();
    this.foldEscrow(leaf);
  }

  /** Holding EXCLUSIVE means no other transaction has pending increments here: fold ours into the buffer. */
  private foldEscrow(leaf: Leaf): void {
    if (this.escrow.size === 0 || this.context.locks.modeOf(this, leaf) !== EXCLUSIVE) return;
    for (const [entryKey, pending] of this.escrow) {
      if (pending.tree.findLeaf(pending.key) !== leaf) continue;
      const value = pending.entry.committed + pending.delta;
      this.withdrawEscrow(entryKey, pending);
      this.buffer(pending.table, pending.tree, pending.key, encodeCounter(value), false);
    }
  }

  private withdrawEscrow(entryKey: string, pending: EscrowPending): void {
    if (withdrawPending(pending)) this.context.escrowEntries.delete(entryKey);
    this.escrow.delete(entryKey);
  }

  /** Undoes the transaction's pending increments (abort). Buffered writes are simply dropped with the object. */
  discardEscrow(): void {
    for (const [entryKey, pending] of this.escrow) this.withdrawEscrow(entryKey, pending);
  }

  private incrementOwned(table: string, tree: Tree, leaf: Leaf, key: Uint8Array, delta: bigint, min?: bigint, max?: bigint): void {
    const own = this.ownWrite(table, key);
    let current: bigint;
    if (own !== undefined) {
      current = decodeCounter(own.value);
    } else {
      const index = leaf.search(key);
      current = decodeCounter(index >= 0 ? leaf.valueAt(index) : undefined);
    }
    const pending: EscrowPending = { table, tree, key, delta: 0n, entry: { committed: current, pendingDown: 0n, pendingUp: 0n, participants: 1 } };
    this.admit(pending, delta, min, max);
    this.buffer(table, tree, key, encodeCounter(current + delta));
  }

  private incrementEscrow(table: string, tree: Tree, leaf: Leaf, key: Uint8Array, delta: bigint, min?: bigint, max?: bigint): void {
    const entryKey = escrowKey(table, key);
    const pending = this.escrow.get(entryKey);
    if (this.writeCount >= this.context.transactionWritesMax) throw this.tooLarge();
    if (pending === undefined) {
      let entry = this.context.escrowEntries.get(entryKey);
      if (entry === undefined) {
        const index = leaf.search(key);
        entry = { committed: decodeCounter(index >= 0 ? leaf.valueAt(index) : undefined), pendingDown: 0n, pendingUp: 0n, participants: 0 };
      }
      const fresh: EscrowPending = { table, tree, key: copyBytes(key), delta: 0n, entry };
      this.admit(fresh, delta, min, max);
      entry.participants++;
      this.context.escrowEntries.set(entryKey, entry);
      this.escrow.set(entryKey, fresh);
    } else {
      this.admit(pending, delta, min, max);
    }
    this.writeCount++;
  }

  private admit(pending: EscrowPending, delta: bigint, min?: bigint, max?: bigint): void {
    try {
      admitIncrement(pending, delta, min, max);
    } catch (error) {
      this.context.counters.escrowRejections++;
      throw error;
    }
  }

  private ownWrite(table: string, key: Uint8Array): CommitWrite | undefined {
    const writes = this.writes.get(table);
    if (writes === undefined || writes.list.length === 0) return undefined;
    return indexOf(writes).get(bytesToMapKey(key));
  }

  /**
   * Buffers a write. Until the transaction first looks up its own writes in a table, puts are only appended
   * (no Map, no string key: an ingest-only transaction pays nothing for reads it never makes); duplicates are
   * resolved when the list is sorted (the later write wins). `counted` is false for internal rewrites.
   */
  private buffer(table: string, tree: Tree, key: Uint8Array, value: Uint8Array | undefined, counted = true, leaf: Leaf | null = null): void {
    if (counted) {
      if (this.writeCount >= this.context.transactionWritesMax) throw this.tooLarge();
      this.writeCount++;
    }
    let writes = this.writes.get(table);
    if (writes === undefined) {
      writes = { table, tree, list: [], byKey: null, sorted: true };
      this.writes.set(table, writes);
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

  /** At commit: a counter's after-image joins the buffered writes (its key has no other buffered write). */
  addAfterImage(pending: EscrowPending, value: Uint8Array): void {
    this.buffer(pending.table, pending.tree, pending.key, value, false);
  }

  private tooLarge(): TransactionTooLargeError {
    return new TransactionTooLargeError(`a transaction may make at most ${String(this.context.transactionWritesMax)} writes (put, delete, increment)`);
  }

  /** This transaction's writes to `table` in key order, one per key (sorted on demand, cached). */
  sortedWrites(table: string): BufferedWrite[] {
    const writes = this.writes.get(table);
    if (writes === undefined) return [];
    sortWrites(writes);
    return writes.list;
  }

  checkUsable(): void {
    if (this.finished) throw new TransactionFinishedError('this transaction has finished; use the tx passed to the current transaction function');
    if (this.doomed !== null) throw this.doomed;
  }

  private async *scanForward(table: string, tree: Tree, bounds: RangeBounds): AsyncGenerator<[Uint8Array, Uint8Array]> {
    let leaf = bounds.low === null ? await this.lockFirst(tree, bounds.mode) : await this.lockAt(tree, bounds.low, bounds.mode);
    let index = bounds.low === null ? 0 : lowerIndex(leaf, bounds.low, bounds.lowInclusive);
    let last: Uint8Array | null = null;
    let yielded = 0;
    while (yielded < bounds.limit) {
      while (index >= leaf.count && leaf.next !== null && !beyondHigh(leaf.next.lowFence, bounds)) {
        leaf = await this.lockNext(leaf, bounds.mode);
        index = 0;
      }
      const treeKey = index < leaf.count ? leaf.keyAt(index) : null;
      const own = this.nextOwnWrite(table, last ?? bounds.low, last !== null || !bounds.lowInclusive);
      const useOwn = own !== null && (treeKey === null || compareBytes(own.key, treeKey) <= 0);
      const key = useOwn ? own.key : treeKey;
      if (key === null || beyondHigh(key, bounds)) return;
      if (treeKey !== null && compareBytes(key, treeKey) === 0) index++;
      last = key;
      const value = useOwn ? own.value : leaf.valueAt(index - 1);
      if (value === undefined) continue;
      yielded++;
      yield [copyBytes(key), useOwn ? copyBytes(value) : value];
      this.checkUsable();
    }
  }

  private async *scanBackward(table: string, tree: Tree, bounds: RangeBounds): AsyncGenerator<[Uint8Array, Uint8Array]> {
    let leaf = bounds.high === null ? await this.lockLast(tree, bounds.mode) : await this.lockAt(tree, bounds.high, bounds.mode);
    let index = bounds.high === null ? leaf.count - 1 : upperIndex(leaf, bounds.high, bounds.highInclusive);
    let last: Uint8Array | null = null;
    let yielded = 0;
    while (yielded < bounds.limit) {
      while (index < 0 && leaf.prev !== null && leaf.lowFence !== null && !belowLow(leaf.lowFence, bounds, true)) {
        leaf = await this.lockPrevious(leaf, bounds.mode);
        index = leaf.count - 1;
      }
      const treeKey = index >= 0 ? leaf.keyAt(index) : null;
      const own = this.previousOwnWrite(table, last ?? bounds.high, last !== null || !bounds.highInclusive);
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
      this.checkUsable();
    }
  }

  /** The first own write with key above `after` (or at it, unless `exclusive`); null if none. */
  private nextOwnWrite(table: string, after: Uint8Array | null, exclusive: boolean): CommitWrite | null {
    const writes = this.sortedWrites(table);
    let low = 0;
    let high = writes.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const order = after === null ? -1 : compareBytes(writes[middle].key, after);
      if (order < 0 || (order === 0 && exclusive)) low = middle + 1;
      else high = middle;
    }
    return after === null ? (writes[0] ?? null) : (writes[low] ?? null);
  }

  /** The last own write with key below `before` (or at it, unless `exclusive`); null if none. */
  private previousOwnWrite(table: string, before: Uint8Array | null, exclusive: boolean): CommitWrite | null {
    const writes = this.sortedWrites(table);
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

  private async lockAt(tree: Tree, key: Uint8Array, mode: LockMode): Promise<Leaf> {
    const locked = this.lockKey(tree, key, mode);
    return locked instanceof Leaf ? locked : await locked;
  }

  /** The first leaf never goes away (merges absorb right into left), so no re-check is needed. */
  private async lockFirst(tree: Tree, mode: LockMode): Promise<Leaf> {
    const granted = this.acquireLeaf(tree.first, mode);
    if (granted !== true) await granted;
    return tree.first;
  }

  private async lockLast(tree: Tree, mode: LockMode): Promise<Leaf> {
    for (;;) {
      const leaf = tree.lastLeaf();
      const granted = this.acquireLeaf(leaf, mode);
      if (granted !== true) await granted;
      if (leaf.next === null) return leaf;
    }
  }

  /** `leaf` is held, so it cannot split or go away; its successor may split while we wait, which is fine. */
  private async lockNext(leaf: Leaf, mode: LockMode): Promise<Leaf> {
    const next = leaf.next;
    assert(next !== null);
    const granted = this.acquireLeaf(next, mode);
    if (granted !== true) await granted;
    return next;
  }

  /** While we wait for the predecessor it may split, putting a new leaf between: then lock that one too. */
  private async lockPrevious(leaf: Leaf, mode: LockMode): Promise<Leaf> {
    for (;;) {
      const previous = leaf.prev;
      assert(previous !== null);
      const granted = this.acquireLeaf(previous, mode);
      if (granted !== true) await granted;
      if (leaf.prev === previous) return previous;
    }
  }

  private checkValue(value: Uint8Array): void {
    if (!(value instanceof Uint8Array)) throw new StoreArgumentError('value must be a Uint8Array');
    if (value.length > this.context.valueSizeMaxBytes) {
      throw new StoreArgumentError(`value of ${String(value.length)} bytes is over the limit of ${String(this.context.valueSizeMaxBytes)} bytes`);
    }
  }
}

interface RangeBounds {
  low: Uint8Array | null;
  lowInclusive: boolean;
  high: Uint8Array | null;
  highInclusive: boolean;
  reverse: boolean;
  limit: number;
  mode: LockMode;
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

/** `Array.isArray` without its narrowing to `any[]`, which would untype the elements. */
function isArray(value: unknown): value is readonly unknown[] {
  return Array.isArray(value);
}

export function checkTable(table: unknown): asserts table is string {
  if (typeof table !== 'string' || table.length === 0 || table.length > TABLE_NAME_MAX_CHARS || table.includes('\u0000')) {
    throw new StoreArgumentError(`table name must be a string of 1 to ${String(TABLE_NAME_MAX_CHARS)} characters without NUL`);
  }
}

/** Escrow entries are keyed by table and key; table names contain no NUL, so the join is unambiguous. */
export function escrowKey(table: string, key: Uint8Array): string {
  return table + '\u0000' + bytesToMapKey(key);
}

export function checkKey(key: unknown): asserts key is Uint8Array {
  if (!(key instanceof Uint8Array)) throw new StoreArgumentError('key must be a Uint8Array');
  if (key.length === 0) throw new StoreArgumentError('key must not be empty');
  if (key.length > KEY_SIZE_MAX_BYTES) throw new StoreArgumentError(`key of ${String(key.length)} bytes is over the limit of ${String(KEY_SIZE_MAX_BYTES)} bytes`);
}

function checkIncrementOptions(options: unknown): { min?: bigint; max?: bigint } {
  if (typeof options !== 'object' || options === null) throw new StoreArgumentError('increment options must be an object');
  const { min, max } = options as IncrementOptions;
  if (min !== undefined && typeof min !== 'bigint') throw new StoreArgumentError('increment min must be a bigint');
  if (max !== undefined && typeof max !== 'bigint') throw new StoreArgumentError('increment max must be a bigint');
  if (min !== undefined && max !== undefined && min > max) throw new StoreArgumentError('increment min must not exceed max');
  return { min, max };
}

function checkRangeOptions(options: unknown): RangeBounds {
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

function planPage(plan: Map<Leaf, LockMode>, leaf: Leaf, mode: number): void {
  const known = plan.get(leaf);
  if (known !== undefined) plan.set(leaf, (known | mode) as LockMode);
  else if (plan.size < LOCK_PLAN_PAGES_MAX && mode !== 0) plan.set(leaf, mode as LockMode);
}

/** The lock a read takes: SHARED, or EXCLUSIVE with `forUpdate`. */
function readMode(options: unknown): LockMode {
  if (options === undefined) return SHARED;
  if (typeof options !== 'object' || options === null) throw new StoreArgumentError('read options must be an object');
  const { forUpdate } = options as ReadOptions;
  if (forUpdate !== undefined && typeof forUpdate !== 'boolean') throw new StoreArgumentError('forUpdate must be a boolean');
  return forUpdate === true ? EXCLUSIVE : SHARED;
}
