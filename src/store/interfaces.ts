/**
 * The store's types: the public API (`Store`, `Transaction`, options) and the contract between the engine
 * and durability (the write-ahead log, checkpoints, recovery).
 *
 * How the two halves meet:
 * - Transactions buffer their writes privately (deferred update) and apply them to pages only at commit, in
 *   one synchronous step. Uncommitted data is therefore never in a page, and splits run only inside that step.
 * - In that same synchronous step the engine builds a `CommitRecord` (after-images) and hands it to
 *   `Durability.logCommit`, so log order equals apply order. Locks are released right after (early lock
 *   release is safe: anyone who saw the data commits later in the same, in-order fsynced log), but
 *   `store.transaction()` resolves only once the promise `logCommit` returned has resolved.
 * - A memory-only store uses a `Durability` whose methods all return `undefined`, so it never awaits.
 * - Recovery and checkpoints use `EngineHooks` (no locks; only when no transaction runs, or from the
 *   consistent point a synchronous `snapshot()` call is).
 */

// ---------------------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------------------

export interface OpenStoreOptions {
  /** Data directory. Absent: the store lives in memory only and is gone after `close()`. */
  dir?: string;
  /** Largest value in bytes (default 65,536; at most 1 MiB). Keys are at most 1,024 bytes, always. */
  valueSizeMaxBytes?: number;
  /** Most writes (put/delete/increment of distinct keys) one transaction may buffer (default 100,000). */
  transactionWritesMax?: number;
  /** Default for `TransactionOptions.timeoutMs` (default 30,000 ms). */
  timeoutMs?: number;
  /** Default for `TransactionOptions.lockTimeoutMs` (default 5,000 ms). */
  lockTimeoutMs?: number;
  /** Default for `TransactionOptions.retries` (default: no cap, only the deadline). */
  retries?: number;
}

/**
 * A transaction function that loses a lock conflict (deadlock victim, lock timeout) is undone and run again
 * after a randomized exponential back-off, until it commits or its deadline passes. Each retry keeps the
 * first try's age, and deadlock victims are the youngest, so every transaction eventually commits.
 */
export interface TransactionOptions {
  /** Deadline from the first try's start, in milliseconds (default 30,000; 1 to 3,600,000). Past it: `TransactionTimeoutError`. */
  timeoutMs?: number;
  /** Longest wait for one lock, in milliseconds (default 5,000); a try that waits longer is retried. */
  lockTimeoutMs?: number;
  /**
   * Most tries in all (1 to 1,000; default: no cap, only the deadline). Past it the last try's
   * `DeadlockError` or `LockTimeoutError` is thrown. For a function with effects outside the store, 1.
   */
  retries?: number;
}

/** `forUpdate`: take the page's EXCLUSIVE lock at once (SQL's `SELECT … FOR UPDATE`, Berkeley DB's `DB_RMW`). */
export interface ReadOptions {
  /**
   * Lock for writing now, so a later put on the same page needs no upgrade: the read-then-write pattern
   * then queues for the page instead of deadlocking on it. Default false (SHARED).
   */
  forUpdate?: boolean;
}

export interface RangeOptions {
  gte?: Uint8Array;
  gt?: Uint8Array;
  lte?: Uint8Array;
  lt?: Uint8Array;
  /** Descending key order. */
  reverse?: boolean;
  /** Most records returned. */
  limit?: number;
  /** Lock every page the scan covers EXCLUSIVE instead of SHARED (see `ReadOptions`). */
  forUpdate?: boolean;
}

export interface IncrementOptions {
  /** The counter must stay >= min in the worst case of all pending increments (default: no bound). */
  min?: bigint;
  /** The counter must stay <= max in the worst case of all pending increments (default: no bound). */
  max?: bigint;
}

export interface Transaction {
  get(table: string, key: Uint8Array, options?: ReadOptions): Promise<Uint8Array | undefined>;
  /**
   * The values of `keys` (at most 100,000), in order: exactly `get` of each key one after another
   * (same SHARED page locks, own writes seen, copies returned), in one awaited call instead of one per key.
   * Every key is checked before any lock is taken. Locks are taken in the order of `keys`; a wait for one
   * suspends the call there, and a deadlock or timeout rejects it as it would a `get`.
   */
  getMany(table: string, keys: readonly Uint8Array[], options?: ReadOptions): Promise<Array<Uint8Array | undefined>>;
  put(table: string, key: Uint8Array, value: Uint8Array): Promise<void>;
  /** Resolves to whether the key existed (as this transaction sees it). */
  delete(table: string, key: Uint8Array): Promise<boolean>;
  range(table: string, options?: RangeOptions): AsyncIterable<[Uint8Array, Uint8Array]>;
  /** Escrow increment of a counter record (16-byte signed big-endian value, see `encodeCounter`). */
  increment(table: string, key: Uint8Array, delta: bigint, options?: IncrementOptions): Promise<void>;
  /** Serializable read of a counter: waits for other transactions' pending increments on the key. */
  counter(table: string, key: Uint8Array): Promise<bigint>;
  /**
   * Adds an opaque record to this transaction's commit record, replayed in log order by the function
   * registered with `EngineHooks.registerExtension(kind, …)`. Writes this transaction makes to the tables in
   * `replacesTables` are left out of the commit record, because replaying the extension reproduces them.
   */
  addExtension(kind: string, payload: Uint8Array, options?: { replacesTables?: string[] }): void;
  /**
   * Runs `callback` once after this transaction's commit is durable, just before `store.transaction()`
   * resolves; callbacks run in registration order. Never if the transaction aborts, its function throws, or
   * the try is retried (a retried try's callbacks are dropped: the new try registers its own), nor if the
   * commit could not be made durable. For wake-ups of work the commit makes visible (a claimer, a cache),
   * which would otherwise queue on this transaction's locks or find nothing. A callback that throws (or an
   * async one that rejects) changes nothing else: it is counted in `stats().afterCommitErrors` and reported
   * as a process warning. At most `AFTER_COMMIT_CALLBACKS_MAX` (1,024) per transaction
   * (`TransactionTooLargeError`); a non-function is a `StoreArgumentError`.
   */
  afterCommit(callback: () => void): void;
  /** Undoes every write and releases every lock; the transaction function's promise then rejects with `TransactionAbortedError`. */
  abort(): never;
}

export interface SequenceOptions {
  /** Map consecutive values apart by bit-reversing their low 16 bits (see sequence.ts). Default false. */
  spread?: boolean;
}

export interface Sequence {
  /** The next value, never handed out before (even across a crash) and never given back. */
  next(): Promise<bigint>;
}

/** Operation counters, a plain object for metrics. Monotonic counters unless noted. */
export interface StoreStats {
  transactionsCommitted: number;
  transactionsAborted: number;
  lockWaits: number;
  lockTimeouts: number;
  /** Deadlock victims chosen (each is retried unless out of time or tries). */
  deadlocks: number;
  /** Tries run again after a lock conflict. */
  retries: number;
  /** Transactions that failed at their deadline (`TransactionTimeoutError`). */
  transactionTimeouts: number;
  escrowRejections: number;
  /** `afterCommit` callbacks that threw or rejected (the commit stood; see `Transaction.afterCommit`). */
  afterCommitErrors: number;
  /** Gauges: */
  pages: number;
  records: number;
  tables: number;
}

export interface Store {
  transaction<T>(fn: (tx: Transaction) => Promise<T>, options?: TransactionOptions): Promise<T>;
  sequence(name: string, options?: SequenceOptions): Sequence;
  stats(): StoreStats;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------
// Engine ⇄ durability contract
// ---------------------------------------------------------------------------------------------------------

export interface CommitWrite {
  table: string;
  key: Uint8Array;
  /** After-image; `undefined` means the key was deleted. Escrow counters appear here as after-images too:
   *  the committed value after this commit, encoded with `encodeCounter` — so replay is a plain put. */
  value: Uint8Array | undefined;
}

export interface CommitExtension {
  kind: string;
  payload: Uint8Array;
}

/**
 * One committed transaction's redo record. Writes are in (table, key) order, at most one per key. The
 * engine does not keep references to the arrays after `logCommit` returns, but the byte arrays must be
 * treated as immutable by the log (it may serialize them later, e.g. in a group-commit batch).
 */
export interface CommitRecord {
  writes: CommitWrite[];
  extensions: CommitExtension[];
}

export interface Durability {
  /** Called synchronously in the step that applies `record` to pages. Resolves when it is durable. */
  logCommit(record: CommitRecord): Promise<void> | undefined;
  /**
   * Called before the sequence hands out any value >= the previously logged high-water mark. `highWater`
   * is exclusive: after a crash the sequence resumes at `highWater`, so no value below it is reissued.
   * The engine awaits the promise before handing out values from the new block.
   */
  logSequence(name: string, highWater: bigint): Promise<void> | undefined;
  /** For read-only transactions: resolves when everything appended so far is durable. */
  durableNow(): Promise<void> | undefined;
  /** Called once by `store.close()` after the last transaction finished. */
  close?(): Promise<void>;
}

/** Applies an extension record during replay (and nowhere else); it writes through `EngineHooks.applyRecord`-style access. */
export type ExtensionReplayer = (payload: Uint8Array, engine: EngineHooks) => void;

export interface SequenceState {
  name: string;
  /** Exclusive upper bound of the values that may have been handed out; resume point after recovery. */
  highWater: bigint;
}

/** A consistent, frozen view of every table, taken synchronously; pages are copy-on-write while it lives. */
export interface EngineSnapshot {
  sequences: SequenceState[];
  tables(): string[];
  /** Records of one table in key order. Arrays yielded must be copied if kept past the next step. */
  records(table: string): Iterable<[Uint8Array, Uint8Array]>;
  /** Ends copy-on-write for this snapshot's pages. Call when it has been written out. */
  release(): void;
}

/** What durability needs from the engine. No locks are taken by any of these. */
export interface EngineHooks {
  /** Installs the durability hook (before the first transaction). */
  setDurability(durability: Durability): void;
  /** Replays one commit record: writes as puts/deletes, then extensions in order. Logs nothing. */
  applyRecord(record: CommitRecord): void;
  registerExtension(kind: string, replay: ExtensionReplayer): void;
  /** Loads records in strictly increasing key order into an empty (or absent) table. */
  bulkLoad(table: string, records: Iterable<[Uint8Array, Uint8Array]>): void;
  sequenceStates(): SequenceState[];
  setSequenceState(state: SequenceState): void;
  /** Takes a consistent snapshot synchronously; commits may continue while it is written out. */
  snapshot(): EngineSnapshot;
  /** Throws (an assertion failure) if any table's tree is structurally broken. */
  checkInvariants(): void;
}

/*
 * Where things live (for the durability side): `src/store/store.ts` exports `openStore(options)`, which builds
 * the engine (`class StoreEngine implements EngineHooks`) and, when `options.dir` is given, is the place to
 * plug persistence in (recover, then `engine.setDurability(…)`). `encodeCounter`/`decodeCounter` live in
 * `src/store/counter.ts`.
 */
