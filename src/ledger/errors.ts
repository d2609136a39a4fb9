/**
 * The ledger's errors. Expected outcomes of a request (an account that exists, a transfer that exceeds
 * credits) are per-event statuses, never exceptions; these errors are for requests that cannot be run at
 * all: malformed events, too many events, a closed ledger. A request that throws changed nothing.
 */
import { PurserError } from '../errors.js';

/** An event or filter is not shaped like TigerBeetle's: a missing field, a wrong type, a value out of range. */
export class LedgerInvalidRequestError extends PurserError {
  static override readonly codes = ['LEDGER_INVALID_REQUEST'] as const;
  declare readonly code: 'LEDGER_INVALID_REQUEST';

  constructor(message: string) {
    super('LEDGER_INVALID_REQUEST', message);
  }
}

/** A request carried more events (or ids) than one TigerBeetle message holds (8,189). */
export class LedgerBatchTooLargeError extends PurserError {
  static override readonly codes = ['LEDGER_BATCH_TOO_LARGE'] as const;
  declare readonly code: 'LEDGER_BATCH_TOO_LARGE';

  constructor(count: number, max: number) {
    super('LEDGER_BATCH_TOO_LARGE', `a ledger request may carry at most ${max} events; this one has ${count}`);
  }
}

/** The ledger was destroyed (closed); open it again to use it. */
export class LedgerClosedError extends PurserError {
  static override readonly codes = ['LEDGER_CLOSED'] as const;
  declare readonly code: 'LEDGER_CLOSED';

  constructor() {
    super('LEDGER_CLOSED', 'the ledger client was destroyed');
  }
}

/**
 * The ledger stopped because the store under it failed (a commit could not be made durable), or its state
 * could not be rebuilt from the store after a failed request. Nothing more is accepted; reopen the ledger
 * (recovery rebuilds it from what was durably committed). A request that merely fails is undone instead
 * (`LedgerInternalError`).
 */
export class LedgerFailedError extends PurserError {
  static override readonly codes = ['LEDGER_FAILED'] as const;
  declare readonly code: 'LEDGER_FAILED';

  constructor(cause: Error) {
    super('LEDGER_FAILED', `the ledger stopped: ${cause.message}`, { cause });
  }
}

/**
 * A request met an unexpected error (a bug: a broken invariant, a failed internal step). Its effects were
 * undone — the store transaction aborted and the in-memory state restored — and the ledger serves on; the
 * error was logged with the operation and the event that failed. Retrying the same request will likely
 * fail the same way.
 */
export class LedgerInternalError extends PurserError {
  static override readonly codes = ['LEDGER_INTERNAL'] as const;
  declare readonly code: 'LEDGER_INTERNAL';

  constructor(operation: string, cause: unknown) {
    const message = cause instanceof Error ? cause.message : String(cause);
    super('LEDGER_INTERNAL', `the ledger could not execute ${operation} and undid it (nothing changed): ${message}`, { cause });
  }
}

/**
 * The clock gave no usable time for this request (a reading outside 1 … 2^63 − 1 ns with no monotonic
 * time to fall back on, or no timestamps left for the batch). The request changed nothing; later requests
 * read the clock again.
 */
export class LedgerClockError extends PurserError {
  static override readonly codes = ['LEDGER_CLOCK'] as const;
  declare readonly code: 'LEDGER_CLOCK';

  constructor(message: string) {
    super('LEDGER_CLOCK', message);
  }
}
