/**
 * The store's errors. Each has a stable `code`; the package root re-exports them for `instanceof` checks.
 * Bad input gets one of these before anything is changed; internal invariants use `assert()` instead.
 */
import { PurserError } from '../errors.js';

/** A key, value, table name or option was of the wrong type, empty, or over its documented limit. */
export class StoreArgumentError extends PurserError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STORE_INVALID_ARGUMENT', message, options);
  }
}

/**
 * The transaction was chosen as a deadlock victim (the youngest in a cycle of the waits-for graph). The store
 * retries it until its deadline; a caller sees this only if it capped the tries with `retries`.
 */
export class DeadlockError extends PurserError {
  constructor(message: string) {
    super('STORE_DEADLOCK', message);
  }
}

/**
 * A lock was not granted within `lockTimeoutMs`. The transaction was undone; the store retries it until its
 * deadline, so a caller sees this only if it capped the tries with `retries`.
 */
export class LockTimeoutError extends PurserError {
  constructor(message: string) {
    super('STORE_LOCK_TIMEOUT', message);
  }
}

/**
 * The transaction did not commit before its deadline (`timeoutMs` from the first try's start). Its effects
 * were undone; `cause` is what ended the last try (a `DeadlockError` or `LockTimeoutError`), if any.
 */
export class TransactionTimeoutError extends PurserError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STORE_TRANSACTION_TIMEOUT', message, options);
  }
}

/** An escrow increment could violate its `min`/`max` bound in the worst case. Nothing was changed. */
export class EscrowBoundError extends PurserError {
  constructor(message: string) {
    super('STORE_ESCROW_BOUND', message);
  }
}

/** A counter operation met a record that is not a 16-byte counter, or a result outside the int128 range. */
export class CounterFormatError extends PurserError {
  constructor(message: string) {
    super('STORE_NOT_A_COUNTER', message);
  }
}

/** The transaction buffered more writes than `transactionWritesMax`. */
export class TransactionTooLargeError extends PurserError {
  constructor(message: string) {
    super('STORE_TRANSACTION_TOO_LARGE', message);
  }
}

/** A transaction object was used after its function returned, threw, or was aborted. */
export class TransactionFinishedError extends PurserError {
  constructor(message: string) {
    super('STORE_TRANSACTION_FINISHED', message);
  }
}

/** `tx.abort()` was called: the transaction's writes were undone and `store.transaction` rejects with this. */
export class TransactionAbortedError extends PurserError {
  constructor(message = 'transaction aborted by tx.abort()') {
    super('STORE_TRANSACTION_ABORTED', message);
  }
}

/** The store was closed, or failed (a durability error): no more transactions run. */
export class StoreClosedError extends PurserError {
  constructor(code: 'STORE_CLOSED' | 'STORE_FAILED', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
