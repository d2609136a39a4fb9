/**
 * The store's errors, durability's included. Each has a stable `code`; the package root re-exports them for
 * `instanceof` checks.
 * Bad input gets one of these before anything is changed; internal invariants use `assert()` instead.
 */
import { PurserError } from '../errors.js';

/** A key, value, table name or option was of the wrong type, empty, or over its documented limit. */
export class StoreArgumentError extends PurserError {
  static override readonly codes = ['STORE_INVALID_ARGUMENT'] as const;
  declare readonly code: 'STORE_INVALID_ARGUMENT';

  constructor(message: string, options?: { cause?: unknown }) {
    super('STORE_INVALID_ARGUMENT', message, options);
  }
}

/**
 * The transaction was chosen as a deadlock victim (the youngest in a cycle of the waits-for graph). The store
 * retries it until its deadline; a caller sees this only if it capped the tries with `retries`.
 */
export class DeadlockError extends PurserError {
  static override readonly codes = ['STORE_DEADLOCK'] as const;
  declare readonly code: 'STORE_DEADLOCK';

  constructor(message: string) {
    super('STORE_DEADLOCK', message);
  }
}

/**
 * A lock was not granted within `lockTimeoutMs`. The transaction was undone; the store retries it until its
 * deadline, so a caller sees this only if it capped the tries with `retries`.
 */
export class LockTimeoutError extends PurserError {
  static override readonly codes = ['STORE_LOCK_TIMEOUT'] as const;
  declare readonly code: 'STORE_LOCK_TIMEOUT';

  constructor(message: string) {
    super('STORE_LOCK_TIMEOUT', message);
  }
}

/**
 * The transaction did not commit before its deadline (`timeoutMs` from the first try's start). Its effects
 * were undone; `cause` is what ended the last try (a `DeadlockError` or `LockTimeoutError`), if any.
 */
export class TransactionTimeoutError extends PurserError {
  static override readonly codes = ['STORE_TRANSACTION_TIMEOUT'] as const;
  declare readonly code: 'STORE_TRANSACTION_TIMEOUT';

  constructor(message: string, options?: { cause?: unknown }) {
    super('STORE_TRANSACTION_TIMEOUT', message, options);
  }
}

/** An escrow increment could violate its `min`/`max` bound in the worst case. Nothing was changed. */
export class EscrowBoundError extends PurserError {
  static override readonly codes = ['STORE_ESCROW_BOUND'] as const;
  declare readonly code: 'STORE_ESCROW_BOUND';

  constructor(message: string) {
    super('STORE_ESCROW_BOUND', message);
  }
}

/** A counter operation met a record that is not a 16-byte counter, or a result outside the int128 range. */
export class CounterFormatError extends PurserError {
  static override readonly codes = ['STORE_NOT_A_COUNTER'] as const;
  declare readonly code: 'STORE_NOT_A_COUNTER';

  constructor(message: string) {
    super('STORE_NOT_A_COUNTER', message);
  }
}

/** The transaction buffered more writes than `transactionWritesMax`. */
export class TransactionTooLargeError extends PurserError {
  static override readonly codes = ['STORE_TRANSACTION_TOO_LARGE'] as const;
  declare readonly code: 'STORE_TRANSACTION_TOO_LARGE';

  constructor(message: string) {
    super('STORE_TRANSACTION_TOO_LARGE', message);
  }
}

/** A transaction object was used after its function returned, threw, or was aborted. */
export class TransactionFinishedError extends PurserError {
  static override readonly codes = ['STORE_TRANSACTION_FINISHED'] as const;
  declare readonly code: 'STORE_TRANSACTION_FINISHED';

  constructor(message: string) {
    super('STORE_TRANSACTION_FINISHED', message);
  }
}

/** `tx.abort()` was called: the transaction's writes were undone and `store.transaction` rejects with this. */
export class TransactionAbortedError extends PurserError {
  static override readonly codes = ['STORE_TRANSACTION_ABORTED'] as const;
  declare readonly code: 'STORE_TRANSACTION_ABORTED';

  constructor(message = 'transaction aborted by tx.abort()') {
    super('STORE_TRANSACTION_ABORTED', message);
  }
}

/**
 * The store was closed, or failed (a durability error, then it is the subclass `StoreFailedError`): no more
 * transactions run.
 */
export class StoreClosedError extends PurserError {
  static override readonly codes: readonly string[] = ['STORE_CLOSED'];
  declare readonly code: 'STORE_CLOSED' | 'STORE_FAILED';

  constructor(message = 'the store is closed', options?: { cause?: unknown }, code: 'STORE_CLOSED' | 'STORE_FAILED' = 'STORE_CLOSED') {
    super(code, message, options);
  }
}

// ── durability: the log, snapshots, recovery, the directory lock, dump and load ──────────────────────────
// Messages name the file and byte offset where that helps an operator.

/** The log or a snapshot is damaged where a torn write cannot explain it. The store refuses to open. */
export class StoreDamagedError extends PurserError {
  static override readonly codes = ['STORE_DAMAGED'] as const;
  declare readonly code: 'STORE_DAMAGED';

  constructor(
    readonly file: string,
    readonly offsetBytes: number,
    why: string,
    advice = 'restore the data directory from a backup or a dump',
  ) {
    super('STORE_DAMAGED', `${file} is damaged at byte ${offsetBytes}: ${why}; ${advice}`);
  }
}

/** Another store (in this or another process, container or PID namespace) has the data directory open. */
export class StoreLockedError extends PurserError {
  static override readonly codes = ['STORE_LOCKED'] as const;
  declare readonly code: 'STORE_LOCKED';

  constructor(dir: string, holderPid: number | undefined) {
    const holder = holderPid === undefined ? 'another process' : `process ${holderPid} (as that process numbers itself: it may run in another container)`;
    super('STORE_LOCKED', `data directory ${dir} is in use by ${holder}; stop it first or use another --dir`);
  }
}

/**
 * A write or fsync failed. The store is stopped: no later commit is acknowledged and nothing is retried,
 * because after a failed fsync the kernel may have dropped the dirty pages, so the data is not known to be
 * on disk and a retry that succeeds would lie.
 */
export class StoreFailedError extends StoreClosedError {
  static override readonly codes: readonly string[] = ['STORE_FAILED'];

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options, 'STORE_FAILED');
  }
}

/** A dump file is truncated, altered, of another version, or not a dump at all. Nothing was written. */
export class DumpInvalidError extends PurserError {
  static override readonly codes = ['DUMP_INVALID'] as const;
  declare readonly code: 'DUMP_INVALID';

  constructor(file: string, why: string) {
    super('DUMP_INVALID', `${file} is not a valid Purser dump: ${why}; nothing was loaded`);
  }
}

/** `load` into a data directory that already holds a store. */
export class StoreNotEmptyError extends PurserError {
  static override readonly codes = ['STORE_NOT_EMPTY'] as const;
  declare readonly code: 'STORE_NOT_EMPTY';

  constructor(dir: string) {
    super('STORE_NOT_EMPTY', `data directory ${dir} already holds a store; load into an empty directory`);
  }
}

export type StoreIoErrorCode = 'STORE_ACCESS_DENIED' | 'STORE_READ_ONLY' | 'STORE_DISK_FULL' | 'STORE_NOT_A_DIRECTORY';

/**
 * The data directory, a file in it, or a dump file cannot be used for a reason the operator fixes: no
 * permission (EACCES, EPERM), a read-only file system (EROFS), no space (ENOSPC, EDQUOT), or a path
 * through a file (ENOTDIR). The message is one line: what failed, on which path, and what to do.
 */
export class StoreIoError extends PurserError {
  static override readonly codes: readonly StoreIoErrorCode[] = ['STORE_ACCESS_DENIED', 'STORE_READ_ONLY', 'STORE_DISK_FULL', 'STORE_NOT_A_DIRECTORY'];
  declare readonly code: StoreIoErrorCode;

  constructor(code: StoreIoErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/**
 * A checkpoint could not write its snapshot (an I/O error other than the operator-fixable ones of
 * `StoreIoError`). Not a store failure: the store keeps running on its log and retries the checkpoint.
 */
export class StoreCheckpointError extends PurserError {
  static override readonly codes = ['STORE_CHECKPOINT_FAILED'] as const;
  declare readonly code: 'STORE_CHECKPOINT_FAILED';

  constructor(message: string, options?: { cause?: unknown }) {
    super('STORE_CHECKPOINT_FAILED', message, options);
  }
}

/** `start` (or `openStore`) on a non-empty directory that holds no Purser store: nothing was written there. */
export class StoreForeignDirectoryError extends PurserError {
  static override readonly codes = ['STORE_NOT_A_DATA_DIRECTORY'] as const;
  declare readonly code: 'STORE_NOT_A_DATA_DIRECTORY';

  constructor(dir: string, example: string) {
    super('STORE_NOT_A_DATA_DIRECTORY', `${dir} is not empty and holds no Purser store (it has ${example}); give --dir an empty or new directory, or a Purser data directory`);
  }
}

// ── internal signals: caught inside the durability layer and turned into the typed errors above ─────────

/** Thrown by `Decoder` when bytes end early or a field is malformed; callers turn it into a typed error. */
export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}

/** Raised by `readImage` with the byte offset of the problem; callers turn it into their typed error. */
export class ImageDamage extends Error {
  constructor(
    readonly offsetBytes: number,
    why: string,
  ) {
    super(why);
    this.name = 'ImageDamage';
  }
}
