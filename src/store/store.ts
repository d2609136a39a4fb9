/**
 * The store engine: tables, the commit step, retries, sequences, statistics, and the hooks durability uses.
 *
 * The commit step (`commit`) is the one place pages change. It runs synchronously, start to end:
 *   1. `tx.seal()`: the transaction takes no more operations, folds its pending escrow increments into
 *      after-images (counter values) and hands over its writes in (table, key) order and its log record;
 *   2. apply every write to its tree (splits happen here; new pages inherit the old page's locks);
 *   3. hand the commit record to `Durability.logCommit` (log order is apply order);
 *   4. `tx.release()`: release every lock (early lock release: a transaction that saw this data commits
 *      later in the log, and the log is made durable in order), then merge underfull leaves nobody has locked;
 *   5. return the durability promise, which `transaction()` awaits before resolving.
 * Nothing in steps 2–4 can fail on valid state (bad input was refused when it was buffered), so a commit is
 * never half-applied.
 *
 * `transaction()` hands the function to the retry loop (retry.ts), which calls back `abortTry` and
 * `commitTry` for each try.
 */
import { assert } from '../errors.js';
import { StoreArgumentError, StoreClosedError, StoreFailedError } from './errors.js';
import type { EscrowEntry } from './escrow.js';
import type {
  CommitRecord,
  Durability,
  EngineHooks,
  EngineSnapshot,
  ExtensionReplayer,
  OpenStoreOptions,
  Sequence,
  SequenceOptions,
  SequenceState,
  Store,
  StoreStats,
  Transaction,
  TransactionOptions,
} from './interfaces.js';
import { Leaf, pageRecords } from './leaf.js';
import { LockManager } from './locks.js';
import { createSequence, SequenceCounter } from './sequence.js';
import { checkTable, KEY_SIZE_MAX_BYTES } from './checks.js';
import { checkRetries, checkRunOptions, checkTimeout, type RetryHost, type RunOptions, TRANSACTION_TIMEOUT_DEFAULT_MS, TransactionRunner } from './retry.js';
import type { TransactionState } from './transaction.js';
import { Tree } from './tree.js';
import { attachPersistence, type StorePersistenceOptions } from './durability/attach.js';

export const VALUE_SIZE_DEFAULT_BYTES = 64 * 1024;
export const VALUE_SIZE_MAX_BYTES = 1024 * 1024;
export const TRANSACTION_WRITES_DEFAULT = 100_000;
export const LOCK_TIMEOUT_DEFAULT_MS = 5_000;
const SEQUENCE_NAME_MAX_CHARS = 128;

/** A Durability that keeps nothing: the in-memory store never awaits it. */
export const NO_DURABILITY: Durability = {
  logCommit: () => undefined,
  logSequence: () => undefined,
  durableNow: () => undefined,
};

export async function openStore(options: OpenStoreOptions & StorePersistenceOptions = {}): Promise<Store> {
  const settings = checkOpenOptions(options);
  const engine = new StoreEngine(settings);
  // With a dir: lock it, recover into `engine` (snapshot + log replay), then install the log as the
  // engine's durability (durability/attach.ts). Without: memory only.
  if (options.dir !== undefined) await attachPersistence(engine, options.dir, options);
  return engine;
}

interface Settings extends RunOptions {
  valueSizeMaxBytes: number;
  transactionWritesMax: number;
}

export class StoreEngine implements Store, EngineHooks, RetryHost {
  readonly locks = new LockManager();
  readonly escrowEntries = new Map<string, EscrowEntry>();
  readonly counters = { escrowRejections: 0, transactionsCommitted: 0, transactionsAborted: 0, retries: 0, transactionTimeouts: 0, afterCommitErrors: 0 };
  readonly valueSizeMaxBytes: number;
  readonly transactionWritesMax: number;
  private readonly tables = new Map<string, Tree>();
  private readonly sequences = new Map<string, SequenceCounter>();
  private readonly extensions = new Map<string, ExtensionReplayer>();
  private readonly active = new Set<Promise<unknown>>();
  private readonly runner = new TransactionRunner(this);
  /** Lock plans for retries (`TransactionRun.lockPlan`); switched off only to measure what they buy. */
  learnLockPlan = true;
  private durability: Durability = NO_DURABILITY;
  private nextPageId = 1;
  private closed = false;
  private failure: Error | null = null;

  constructor(private readonly settings: Settings) {
    this.valueSizeMaxBytes = settings.valueSizeMaxBytes;
    this.transactionWritesMax = settings.transactionWritesMax;
  }

  tableFor(name: string): Tree {
    let tree = this.tables.get(name);
    if (tree === undefined) {
      tree = new Tree(() => this.nextPageId++, (old, fresh) => this.locks.inherit(old, fresh));
      this.tables.set(name, tree);
    }
    return tree;
  }

  async transaction<T>(fn: (tx: Transaction) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    if (typeof fn !== 'function') throw new StoreArgumentError('transaction takes an async function (tx) => …');
    const runOptions = checkRunOptions(options, this.settings);
    this.checkOpen();
    const running = this.runner.run(fn, runOptions);
    this.active.add(running);
    try {
      return await running;
    } finally {
      this.active.delete(running);
    }
  }

  sequence(name: string, options: SequenceOptions = {}): Sequence {
    if (typeof name !== 'string' || name.length === 0 || name.length > SEQUENCE_NAME_MAX_CHARS) {
      throw new StoreArgumentError(`sequence name must be a string of 1 to ${String(SEQUENCE_NAME_MAX_CHARS)} characters`);
    }
    if (typeof options !== 'object' || options === null) throw new StoreArgumentError('sequence options must be an object');
    if (options.spread !== undefined && typeof options.spread !== 'boolean') throw new StoreArgumentError('sequence spread must be a boolean');
    this.checkOpen();
    const sequence = createSequence(this.sequenceCounter(name), options.spread ?? false);
    return { next: () => (this.checkOpenAsync() ?? sequence.next()) };
  }

  stats(): StoreStats {
    let pages = 0;
    let records = 0;
    for (const tree of this.tables.values()) {
      pages += tree.leaves;
      records += tree.records;
    }
    const { lockWaits, lockTimeouts, deadlocks } = this.locks.counters;
    const { transactionsCommitted, transactionsAborted, retries, transactionTimeouts, escrowRejections, afterCommitErrors } = this.counters;
    return {
      transactionsCommitted, transactionsAborted, lockWaits, lockTimeouts, deadlocks, retries, transactionTimeouts, escrowRejections, afterCommitErrors,
      pages, records, tables: this.tables.size,
    };
  }

  /** Refuses new transactions, waits for running ones to finish, then closes durability. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.active]);
    await this.durability.close?.();
  }

  // ----- EngineHooks (durability) ------------------------------------------------------------------------

  setDurability(durability: Durability): void {
    this.durability = durability;
  }

  applyRecord(record: CommitRecord): void {
    for (const write of record.writes) {
      const tree = this.tableFor(write.table);
      if (write.value === undefined) tree.delete(write.key);
      else tree.put(write.key, write.value);
    }
    for (const extension of record.extensions) {
      const replay = this.extensions.get(extension.kind);
      assert(replay !== undefined, `a replayer is registered for extension kind ${extension.kind}`);
      replay(extension.payload, this);
    }
  }

  registerExtension(kind: string, replay: ExtensionReplayer): void {
    if (typeof kind !== 'string' || kind.length === 0) throw new StoreArgumentError('extension kind must be a non-empty string');
    if (typeof replay !== 'function') throw new StoreArgumentError('extension replayer must be a function');
    this.extensions.set(kind, replay);
  }

  bulkLoad(table: string, records: Iterable<[Uint8Array, Uint8Array]>): void {
    checkTable(table);
    this.tableFor(table).bulkLoad(records);
  }

  sequenceStates(): SequenceState[] {
    return [...this.sequences.values()].map((counter) => ({ name: counter.name, highWater: counter.highWater }));
  }

  setSequenceState(state: SequenceState): void {
    const counter = this.sequenceCounter(state.name);
    assert(state.highWater >= 1n, 'a sequence high-water mark is at least 1');
    counter.highWater = state.highWater;
    counter.nextRaw = state.highWater;
  }

  snapshot(): EngineSnapshot {
    const frozen = new Map<string, Array<{ leaf: Leaf; buf: Uint8Array; count: number }>>();
    for (const [name, tree] of this.tables) {
      const pages: Array<{ leaf: Leaf; buf: Uint8Array; count: number }> = [];
      for (let leaf: Leaf | null = tree.first; leaf !== null; leaf = leaf.next) {
        leaf.snapshotPins++;
        pages.push({ leaf, buf: leaf.buf, count: leaf.count });
      }
      frozen.set(name, pages);
    }
    let released = false;
    return {
      sequences: this.sequenceStates(),
      tables: () => [...frozen.keys()].sort(),
      records: (table) => frozenRecords(frozen.get(table) ?? []),
      release: () => {
        if (released) return;
        released = true;
        for (const pages of frozen.values()) for (const page of pages) if (page.leaf.buf === page.buf && page.leaf.snapshotPins > 0) page.leaf.snapshotPins--;
      },
    };
  }

  checkInvariants(): void {
    for (const tree of this.tables.values()) tree.checkInvariants();
  }

  // ----- transactions ------------------------------------------------------------------------------------

  private async awaitDurable(durable: Promise<void>): Promise<void> {
    try {
      await durable;
    } catch (error) {
      this.failure ??= error as Error;
      throw new StoreFailedError('the commit could not be made durable; the store has stopped', { cause: error });
    }
  }

  abortTry(tx: TransactionState): void {
    tx.discard();
    this.counters.transactionsAborted++;
  }

  commitTry(tx: TransactionState): Promise<void> | undefined {
    if (this.failure !== null) {
      this.abortTry(tx);
      this.checkOpen();
    }
    const durable = this.commit(tx);
    return durable === undefined ? undefined : this.awaitDurable(durable);
  }

  /** The synchronous commit step (see the file comment). */
  private commit(tx: TransactionState): Promise<void> | undefined {
    const { writes, record } = tx.seal();
    const emptied = new Map<Leaf, Tree>();
    for (const write of writes) {
      const tree = this.tableFor(write.table);
      if (write.value !== undefined) {
        tree.put(write.key, write.value, write.leaf);
      } else {
        const leaf = tree.delete(write.key);
        if (leaf !== null) emptied.set(leaf, tree);
      }
    }
    const durable = record === null ? this.durability.durableNow() : this.durability.logCommit(record);
    tx.release();
    for (const [leaf, tree] of emptied) tree.mergeIfUnderfull(leaf, (candidate) => candidate.lock === null);
    this.counters.transactionsCommitted++;
    return durable;
  }

  private sequenceCounter(name: string): SequenceCounter {
    let counter = this.sequences.get(name);
    if (counter === undefined) {
      counter = new SequenceCounter(name, () => this.durability);
      this.sequences.set(name, counter);
    }
    return counter;
  }

  private checkOpen(): void {
    if (this.failure !== null) throw new StoreFailedError('the store failed (a commit could not be made durable) and runs no more transactions', { cause: this.failure });
    if (this.closed) throw new StoreClosedError('the store is closed');
  }

  checkNotFailed(): void {
    if (this.failure !== null) this.checkOpen();
  }

  private checkOpenAsync(): Promise<never> | undefined {
    if (this.failure === null && !this.closed) return undefined;
    const error = this.failure !== null
      ? new StoreFailedError('the store failed (a commit could not be made durable)', { cause: this.failure })
      : new StoreClosedError('the store is closed');
    return Promise.reject(error);
  }

}

function checkOpenOptions(options: unknown): Settings {
  if (typeof options !== 'object' || options === null) throw new StoreArgumentError('openStore options must be an object');
  const o = options as OpenStoreOptions;
  if (o.dir !== undefined && (typeof o.dir !== 'string' || o.dir.length === 0)) throw new StoreArgumentError('dir must be a non-empty string');
  checkRetries(o.retries);
  const settings: Settings = {
    valueSizeMaxBytes: o.valueSizeMaxBytes ?? VALUE_SIZE_DEFAULT_BYTES,
    transactionWritesMax: o.transactionWritesMax ?? TRANSACTION_WRITES_DEFAULT,
    timeoutMs: o.timeoutMs ?? TRANSACTION_TIMEOUT_DEFAULT_MS,
    lockTimeoutMs: o.lockTimeoutMs ?? LOCK_TIMEOUT_DEFAULT_MS,
    triesMax: o.retries ?? Number.POSITIVE_INFINITY,
  };
  if (!Number.isSafeInteger(settings.valueSizeMaxBytes) || settings.valueSizeMaxBytes < 0 || settings.valueSizeMaxBytes > VALUE_SIZE_MAX_BYTES) {
    throw new StoreArgumentError(`valueSizeMaxBytes must be an integer from 0 to ${String(VALUE_SIZE_MAX_BYTES)}`);
  }
  if (!Number.isSafeInteger(settings.transactionWritesMax) || settings.transactionWritesMax < 1) throw new StoreArgumentError('transactionWritesMax must be a positive integer');
  checkTimeout('timeoutMs', settings.timeoutMs);
  checkTimeout('lockTimeoutMs', settings.lockTimeoutMs);
  assert(KEY_SIZE_MAX_BYTES > 0);
  return settings;
}

function* frozenRecords(pages: Array<{ buf: Uint8Array; count: number }>): Iterable<[Uint8Array, Uint8Array]> {
  for (const { buf, count } of pages) yield* pageRecords(buf, count);
}
