/**
 * The ledger's errors. Expected outcomes of a request (an account that exists, a transfer that exceeds
 * credits) are per-event statuses, never exceptions; these errors are for requests that cannot be run at
 * all: malformed events, too many events, a closed ledger. A request that throws changed nothing.
 */
import { PurserError } from '../errors.js';

/** An event or filter is not shaped like TigerBeetle's: a missing field, a wrong type, a value out of range. */
export class LedgerInvalidRequestError extends PurserError {
  constructor(message: string) {
    super('LEDGER_INVALID_REQUEST', message);
  }
}

/** A request carried more events (or ids) than one TigerBeetle message holds (8,189). */
export class LedgerBatchTooLargeError extends PurserError {
  constructor(count: number, max: number) {
    super('LEDGER_BATCH_TOO_LARGE', `a ledger request may carry at most ${max} events; this one has ${count}`);
  }
}

/** The ledger was destroyed (closed); open it again to use it. */
export class LedgerClosedError extends PurserError {
  constructor() {
    super('LEDGER_CLOSED', 'the ledger client was destroyed');
  }
}

/**
 * The ledger stopped because a request failed after it had changed the ledger's in-memory state — the
 * store under it failed (a write or fsync error) or an invariant broke. Nothing more is accepted; reopen
 * the ledger (recovery rebuilds it from what was durably committed).
 */
export class LedgerFailedError extends PurserError {
  constructor(cause: Error) {
    super('LEDGER_FAILED', `the ledger stopped after a failed request: ${cause.message}`, { cause });
  }
}
