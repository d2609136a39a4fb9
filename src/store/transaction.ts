/**
 * An interactive transaction: strict two-phase page locking over deferred updates.
 *
 * Deferred update: writes are buffered in the transaction (write-buffer.ts) and reach
 * the pages only at commit, in one synchronous step (`commit` in store.ts). Reads look at the
 * transaction's own buffer first, then at the tree. So undo is "drop the buffer", and no page ever holds
 * uncommitted data.
 *
 * Locks: SHARED on every leaf a get, range or counter read looks at (a range locks every leaf whose key
 * interval meets the range, including the leaf where the range ends, so no phantom can appear in it);
 * EXCLUSIVE on the leaf a put or delete targets, and for reads with `forUpdate`; ESCROW for increments (see
 * escrow.ts). Held to the end. Range scans are in range-scan.ts, argument checks in checks.ts.
 *
 * The engine sees a transaction through four calls: `seal()` (no more operations; returns the writes to
 * apply and the record to log), `release()` (after the commit step applied and logged them: give up every
 * lock), `discard()` (an aborted try) and `wound(error)` (a deadlock victim or a try past its deadline:
 * doomed, and every lock given up at once, while its function may still run).
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
import { copyBytes } from './bytes.js';
import { checkExtension, checkIncrementOptions, checkKey, checkKeys, checkTable, checkValue, readMode } from './checks.js';
import { decodeCounter, encodeCounter } from './counter.js';
import { StoreArgumentError, TransactionAbortedError, TransactionFinishedError, TransactionTooLargeError } from './errors.js';
import { admitIncrement, type EscrowEntry, escrowKey, type EscrowPending, withdrawPending } from './escrow.js';
import type { CommitExtension, CommitRecord, CommitWrite, IncrementOptions, RangeOptions, ReadOptions, Transaction } from './interfaces.js';
import { Leaf } from './leaf.js';
import { ESCROW, EXCLUSIVE, type LockManager, type LockMode, type LockOwner, type Waiter } from './locks.js';
import { checkRangeOptions, type ScanOwner, scanBackward, scanForward } from './range-scan.js';
import { covers, type Tree } from './tree.js';
import { type BufferedWrite, WriteBuffer } from './write-buffer.js';

/** Most pages a lock plan remembers (see `TransactionRun.lockPlan`); past it, a retry locks the rest as it goes. */
export const LOCK_PLAN_PAGES_MAX = 1024;
/**
 * Most `afterCommit` callbacks one transaction holds: they run one after another before `transaction()`
 * resolves, so an unbounded list would be an unbounded stall. A caller with many things to wake registers
 * one callback that wakes them all (as the task outbox does per transaction).
 */
export const AFTER_COMMIT_CALLBACKS_MAX = 1024;
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

/** What the commit step applies and logs (see `TransactionState.seal`). */
export interface SealedTransaction {
  /** Every write in (table, key) order, one per key, counter after-images included. */
  writes: BufferedWrite[];
  /** The redo record for the log; null for a transaction that wrote nothing. */
  record: CommitRecord | null;
}

export class TransactionState implements LockOwner, ScanOwner, Transaction {
  readonly held: Leaf[] = [];
  readonly waits: Waiter[] = [];
  readonly writes: WriteBuffer;
  private readonly escrow = new Map<string, EscrowPending>();
  private readonly extensions: CommitExtension[] = [];
  private readonly replacedTables = new Set<string>();
  /** `afterCommit` callbacks, in registration order; null until the first (most transactions have none). */
  private afterCommitCallbacks: Array<() => void> | null = null;
  private finished = false;
  /** Set when the transaction can no longer commit (deadlock victim, lock timeout, deadline, abort). */
  doomed: Error | null = null;

  constructor(
    readonly id: number,
    private readonly context: TransactionContext,
    private readonly run: TransactionRun,
  ) {
    this.writes = new WriteBuffer(context.transactionWritesMax);
  }

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

  /** Ends an aborted try: withdraws what it waits for and releases what it holds. Idempotent. */
  discard(): void {
    this.finished = true;
    this.afterCommitCallbacks = null; // an aborted or retried try's callbacks never run
    this.learnLockPlan();
    const locks = this.context.locks;
    if (this.waits.length > 0) locks.cancelWaits(this, new StoreArgumentError('the transaction finished while this operation waited for a lock'));
    this.discardEscrow();
    locks.releaseAll(this);
  }

  /**
   * Ends the transaction for commit: no operation is accepted after this. Folds pending increments into
   * counter after-images (moving their deltas into the committed values, so call it only inside the
   * synchronous commit step) and returns what to apply and log. Locks stay held until `release()`.
   */
  seal(): SealedTransaction {
    assert(!this.finished && this.doomed === null, 'only a live transaction is sealed');
    this.finished = true;
    if (this.waits.length > 0) {
      this.context.locks.cancelWaits(this, new StoreArgumentError('the transaction function returned while this operation waited for a lock; await every operation'));
    }
    for (const [entryKey, pending] of this.escrow) {
      const value = pending.entry.committed + pending.delta;
      pending.entry.committed = value;
      if (withdrawPending(pending)) this.context.escrowEntries.delete(entryKey);
      this.writes.add(pending.table, pending.tree, pending.key, encodeCounter(value));
    }
    this.escrow.clear();
    const writes = this.writes.collect();
    if (writes.length === 0 && this.extensions.length === 0) return { writes, record: null };
    const logged = this.replacedTables.size === 0 ? writes : writes.filter((write) => !this.replacedTables.has(write.table));
    return { writes, record: { writes: logged, extensions: this.extensions } };
  }

  /** After the commit step applied and logged the sealed writes: releases every lock. */
  release(): void {
    assert(this.finished, 'a transaction releases its locks at commit only once sealed');
    this.context.locks.releaseAll(this);
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
    checkKeys(keys);
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
    checkValue(value, this.context.valueSizeMaxBytes);
    const tree = this.context.tableFor(table);
    const locked = this.lockKey(tree, key, EXCLUSIVE);
    const leaf = locked instanceof Leaf ? locked : await locked;
    this.writes.countWrite();
    this.writes.add(table, tree, key, copyBytes(value), leaf);
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
    if (existed || own !== undefined) {
      this.writes.countWrite();
      this.writes.add(table, tree, key, undefined);
    }
    return existed;
  }

  range(table: string, options: RangeOptions = {}): AsyncIterable<[Uint8Array, Uint8Array]> {
    this.checkUsable();
    checkTable(table);
    const bounds = checkRangeOptions(options);
    const tree = this.context.tableFor(table);
    return bounds.reverse ? scanBackward(this, table, tree, bounds) : scanForward(this, table, tree, bounds);
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
    const replaces = options.replacesTables ?? [];
    checkExtension(kind, payload, replaces);
    this.extensions.push({ kind, payload: copyBytes(payload) });
    for (const table of replaces) this.replacedTables.add(table);
  }

  afterCommit(callback: () => void): void {
    this.checkUsable();
    if (typeof callback !== 'function') throw new StoreArgumentError('afterCommit takes a function () => void');
    const callbacks = (this.afterCommitCallbacks ??= []);
    if (callbacks.length >= AFTER_COMMIT_CALLBACKS_MAX) {
      throw new TransactionTooLargeError(`a transaction holds at most ${String(AFTER_COMMIT_CALLBACKS_MAX)} afterCommit callbacks; register one that does all the work`);
    }
    callbacks.push(callback);
  }

  /** After the commit is durable: hands over the callbacks to run, once (the retry loop runs them). */
  takeAfterCommit(): Array<() => void> | null {
    assert(this.finished, 'afterCommit callbacks are taken only from a committed transaction');
    const callbacks = this.afterCommitCallbacks;
    this.afterCommitCallbacks = null;
    return callbacks;
  }

  abort(): never {
    this.checkUsable();
    const error = new TransactionAbortedError();
    this.doomed = error;
    throw error;
  }

  checkUsable(): void {
    if (this.finished) throw new TransactionFinishedError('this transaction has finished; use the tx passed to the current transaction function');
    if (this.doomed !== null) throw this.doomed;
  }

  /** Locks the leaf that holds `key` in `mode`; after a wait, re-checks that the leaf still covers the key. */
  lockKey(tree: Tree, key: Uint8Array, mode: LockMode): Leaf | Promise<Leaf> {
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
  acquireLeaf(leaf: Leaf, mode: LockMode): true | Promise<void> {
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
      this.writes.add(pending.table, pending.tree, pending.key, encodeCounter(value));
    }
  }

  private withdrawEscrow(entryKey: string, pending: EscrowPending): void {
    if (withdrawPending(pending)) this.context.escrowEntries.delete(entryKey);
    this.escrow.delete(entryKey);
  }

  /** Undoes the transaction's pending increments. Buffered writes are simply dropped with the object. */
  private discardEscrow(): void {
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
    this.writes.countWrite();
    this.writes.add(table, tree, key, encodeCounter(current + delta));
  }

  private incrementEscrow(table: string, tree: Tree, leaf: Leaf, key: Uint8Array, delta: bigint, min?: bigint, max?: bigint): void {
    const entryKey = escrowKey(table, key);
    const pending = this.escrow.get(entryKey);
    this.writes.checkRoom();
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
    this.writes.countWrite();
  }

  private admit(pending: EscrowPending, delta: bigint, min?: bigint, max?: bigint): void {
    try {
      admitIncrement(pending, delta, min, max);
    } catch (error) {
      this.context.counters.escrowRejections++;
      throw error;
    }
  }

  /** The transaction's own buffered write of `key`, if any. */
  private ownWrite(table: string, key: Uint8Array): CommitWrite | undefined {
    return this.writes.find(table, key);
  }
}

function planPage(plan: Map<Leaf, LockMode>, leaf: Leaf, mode: number): void {
  const known = plan.get(leaf);
  if (known !== undefined) plan.set(leaf, (known | mode) as LockMode);
  else if (plan.size < LOCK_PLAN_PAGES_MAX && mode !== 0) plan.set(leaf, mode as LockMode);
}
