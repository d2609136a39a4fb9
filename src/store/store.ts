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
 * Retries (`runWithRetries`): a try that loses a lock conflict — a deadlock victim (the youngest in the
 * cycle, see locks.ts) or a lock wait past `lockTimeoutMs` — is discarded and the function run again after
 * a randomized exponential back-off, with the first try's age (so it cannot be a victim for ever) and the
 * lock plan the failed tries left (see `TransactionRun` in transaction.ts), until it commits or its deadline
 * (`timeoutMs`) passes. One timer, armed while any try runs, wounds tries still running at their deadline.
 */
import { assert } from '../errors.js';
import {
  DeadlockError,
  LockTimeoutError,
  StoreArgumentError,
  StoreClosedError,
  StoreFailedError,
  TransactionAbortedError,
  TransactionTimeoutError,
} from './errors.js';
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
import { TransactionState, type TransactionContext, type TransactionRun } from './transaction.js';
import { Tree } from './tree.js';
import { attachPersistence, type StorePersistenceOptions } from './durability/attach.js';

export const VALUE_SIZE_DEFAULT_BYTES = 64 * 1024;
export const VALUE_SIZE_MAX_BYTES = 1024 * 1024;
export const TRANSACTION_WRITES_DEFAULT = 100_000;
export const LOCK_TIMEOUT_DEFAULT_MS = 5_000;
/** A transaction's deadline: 30 seconds, the bus's default call deadline (a request rarely has longer). */
export const TRANSACTION_TIMEOUT_DEFAULT_MS = 30_000;
export const TRANSACTION_TIMEOUT_MAX_MS = 3_600_000;
export const RETRIES_MAX = 1_000;
/**
 * Randomized exponential back-off before a retry: uniform in [0, window), the window starting at 1 ms and
 * doubling per try up to 100 ms. The randomness spreads victims of one collision apart so they do not meet
 * again at once; the cap keeps a transaction that lost several times from idling long after the page freed.
 */
const RETRY_BACKOFF_FIRST_MS = 1;
const RETRY_BACKOFF_MAX_MS = 100;
/** How often running transactions are checked against their deadlines (a waiting one is also bounded by its lock timer). */
const DEADLINE_SWEEP_MS = 100;
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

interface Settings {
  valueSizeMaxBytes: number;
  transactionWritesMax: number;
  timeoutMs: number;
  lockTimeoutMs: number;
  /** Most tries in all; infinite when only the deadline bounds them. */
  triesMax: number;
}

interface RunOptions {
  timeoutMs: number;
  lockTimeoutMs: number;
  triesMax: number;
}

export class StoreEngine implements Store, EngineHooks, TransactionContext {
  readonly locks = new LockManager();
  readonly escrowEntries = new Map<string, EscrowEntry>();
  readonly counters = { escrowRejections: 0, transactionsCommitted: 0, transactionsAborted: 0, retries: 0, transactionTimeouts: 0 };
  readonly valueSizeMaxBytes: number;
  readonly transactionWritesMax: number;
  private readonly tables = new Map<string, Tree>();
  private readonly sequences = new Map<string, SequenceCounter>();
  private readonly extensions = new Map<string, ExtensionReplayer>();
  private readonly active = new Set<Promise<unknown>>();
  /** Tries whose function is running, for the deadline sweep. */
  private readonly running = new Set<TransactionState>();
  private deadlineSweep: NodeJS.Timeout | null = null;
  /** Lock plans for retries (`TransactionRun.lockPlan`); switched off only to measure what they buy. */
  learnLockPlan = true;
  private durability: Durability = NO_DURABILITY;
  private nextPageId = 1;
  private nextTransactionId = 1;
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
    const runOptions = this.checkTransactionOptions(options);
    this.checkOpen();
    const running = this.runWithRetries(fn, runOptions);
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
    const { transactionsCommitted, transactionsAborted, retries, transactionTimeouts, escrowRejections } = this.counters;
    return {
      transactionsCommitted, transactionsAborted, lockWaits, lockTimeouts, deadlocks, retries, transactionTimeouts, escrowRejections,
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

  /**
   * Runs `fn` until it commits. A try that lost a lock conflict (deadlock victim, lock timeout) is undone and
   * run again after a randomized exponential back-off, keeping the first try's age and upgrade hints, until
   * the deadline passes (then `TransactionTimeoutError`) or `triesMax` tries were made.
   */
  private async runWithRetries<T>(fn: (tx: Transaction) => Promise<T>, options: RunOptions): Promise<T> {
    const age = this.nextTransactionId;
    const run: TransactionRun = {
      age,
      lockTimeoutMs: options.lockTimeoutMs,
      deadlineMs: performance.now() + options.timeoutMs,
      lockPlan: null,
      learnLockPlan: this.learnLockPlan,
    };
    for (let attempt = 1; ; attempt++) {
      const tx = new TransactionState(this.nextTransactionId++, this, run);
      this.running.add(tx);
      this.armDeadlineSweep();
      let result: T;
      try {
        if (attempt > 1) await tx.lockPlanned();
        result = await fn(tx);
        if (tx.doomed !== null) throw tx.doomed;
      } catch (error) {
        this.running.delete(tx);
        this.abort(tx);
        const failure = tx.doomed ?? error;
        if (!(failure instanceof DeadlockError || failure instanceof LockTimeoutError)) {
          throw failure instanceof TransactionAbortedError || failure instanceof TransactionTimeoutError ? failure : error;
        }
        const remainingMs = run.deadlineMs - performance.now();
        if (remainingMs <= 0) {
          this.counters.transactionTimeouts++;
          throw timedOut(options.timeoutMs, attempt, failure);
        }
        if (attempt >= options.triesMax) {
          throw failure instanceof DeadlockError ? new DeadlockError(`transaction was a deadlock victim on all ${String(attempt)} tries`) : failure;
        }
        this.counters.retries++;
        await sleep(Math.min(remainingMs, backoffMs(attempt)));
        this.checkNotFailed();
        continue;
      }
      this.running.delete(tx);
      if (this.failure !== null) {
        this.abort(tx);
        this.checkOpen();
      }
      const durable = this.commit(tx);
      if (durable !== undefined) await this.awaitDurable(durable);
      return result;
    }
  }

  /** Keeps one timer armed while any try runs, to wound tries still running at their deadline. */
  private armDeadlineSweep(): void {
    if (this.deadlineSweep !== null) return;
    this.deadlineSweep = setTimeout(() => {
      this.deadlineSweep = null;
      this.sweepDeadlines();
      if (this.running.size > 0) this.armDeadlineSweep();
    }, DEADLINE_SWEEP_MS);
    this.deadlineSweep.unref();
  }

  /**
   * A try whose function is still running at its deadline loses its locks and pending increments at once,
   * so a stuck or slow function cannot hold a page for ever; it fails at its next store call or on return.
   */
  private sweepDeadlines(): void {
    const now = performance.now();
    for (const tx of this.running) {
      // A waiting try is bounded by its lock timer, which never runs past the deadline.
      if (tx.doomed === null && tx.waits.length === 0 && tx.deadlineMs <= now) {
        this.counters.transactionTimeouts++;
        tx.wound(new TransactionTimeoutError(`transaction ${String(tx.id)} was still running at its deadline; its locks were released`));
      }
    }
  }

  private async awaitDurable(durable: Promise<void>): Promise<void> {
    try {
      await durable;
    } catch (error) {
      this.failure ??= error as Error;
      throw new StoreFailedError('the commit could not be made durable; the store has stopped', { cause: error });
    }
  }

  private abort(tx: TransactionState): void {
    tx.discard();
    this.counters.transactionsAborted++;
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

  /** After a back-off: a store that failed meanwhile runs no more tries (a closing one lets running calls finish). */
  private checkNotFailed(): void {
    if (this.failure !== null) this.checkOpen();
  }

  private checkOpenAsync(): Promise<never> | undefined {
    if (this.failure === null && !this.closed) return undefined;
    const error = this.failure !== null
      ? new StoreFailedError('the store failed (a commit could not be made durable)', { cause: this.failure })
      : new StoreClosedError('the store is closed');
    return Promise.reject(error);
  }

  private checkTransactionOptions(options: unknown): RunOptions {
    if (typeof options !== 'object' || options === null) throw new StoreArgumentError('transaction options must be an object');
    const { retries, timeoutMs = this.settings.timeoutMs, lockTimeoutMs = this.settings.lockTimeoutMs } = options as TransactionOptions;
    checkRetries(retries);
    checkTimeout('timeoutMs', timeoutMs);
    checkTimeout('lockTimeoutMs', lockTimeoutMs);
    return { timeoutMs, lockTimeoutMs, triesMax: retries ?? this.settings.triesMax };
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

function checkRetries(retries: unknown): void {
  if (retries === undefined) return;
  if (typeof retries !== 'number' || !Number.isSafeInteger(retries) || retries < 1 || retries > RETRIES_MAX) {
    throw new StoreArgumentError(`retries must be an integer from 1 to ${String(RETRIES_MAX)} (tries in all)`);
  }
}

function checkTimeout(name: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > TRANSACTION_TIMEOUT_MAX_MS) {
    throw new StoreArgumentError(`${name} must be an integer from 1 to ${String(TRANSACTION_TIMEOUT_MAX_MS)} (milliseconds)`);
  }
}

/** Randomized exponential back-off before try `attempt + 1` (see RETRY_BACKOFF_MAX_MS). */
function backoffMs(attempt: number): number {
  const windowMs = Math.min(RETRY_BACKOFF_MAX_MS, RETRY_BACKOFF_FIRST_MS * 2 ** Math.min(attempt - 1, 16));
  return Math.random() * windowMs;
}

function timedOut(timeoutMs: number, tries: number, last: Error): TransactionTimeoutError {
  const message = `transaction did not commit within its timeoutMs of ${String(timeoutMs)} ms (${String(tries)} tries; the last ended: ${last.message})`;
  return new TransactionTimeoutError(message, { cause: last });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
