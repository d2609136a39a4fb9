/**
 * The ledger: TigerBeetle's accounts and transfers with the `tigerbeetle-node` client interface.
 *
 * Requests run one at a time (TigerBeetle's state machine is single-threaded too). Each reads the clock
 * once (`clock.ts`), first expires what is due at that time in bounded steps of their own, then runs in
 * one store transaction: prefetch the transfer records validation needs, execute the batch on the
 * in-memory state, put the derived records (transfers, changed accounts, pending statuses, history, failed
 * ids) into the transaction. When the transaction commits (durably), the request's promise resolves.
 *
 * Failure model. Bad input is refused before anything runs. A request that fails for any other reason —
 * an unexpected error or a broken invariant while it executes, or its store transaction aborting — fails
 * alone: the store transaction is aborted and the request's `Scope` undoes its in-memory changes (if
 * undoing fails too, the state is rebuilt from the committed tables), the error is logged with the
 * operation and the event it failed on, counted, and answered as `LedgerInternalError`; the ledger serves
 * on. Only the store's own failure (a commit that could not be made durable) stops the ledger
 * (`LedgerFailedError`), because then nothing more can be committed.
 *
 * Expiry in bounded steps. Any number of pending transfers may fall due at once (a node idle longer than
 * the timeout of a million card holds). They are expired in steps of at most `EXPIRY_STEP_ENTRIES_MAX`,
 * each its own store transaction, so no step exceeds the store's write limit: in the background as they
 * fall due, and before each request until nothing is due at that request's time — so every request sees
 * a transfer expired at or after its expiry time, as the tests pin down. Steps are committed one by one;
 * after a crash mid-way the rest expire after restart.
 *
 * `ledger.transaction(fn)` gives a caller the store transaction and a session on it, so ledger requests and
 * the caller's own writes commit or abort together; the changes are undone if `fn` throws.
 *
 * Why not `ledger.within(tx)` on a transaction the caller opened: the store offers no commit or abort
 * notification, and the in-memory state must be undone if that transaction aborts and must not be seen by
 * other requests before it commits. So the ledger opens the transaction and hands it to the caller.
 */
import { PurserError } from '../errors.js';
import { StoreClosedError } from '../store/errors.js';
import type { Store, Transaction } from '../store/interfaces.js';
import { LedgerClock } from './clock.js';
import { LedgerClockError, LedgerClosedError, LedgerFailedError, LedgerInternalError } from './errors.js';
import { Session, type LedgerSession } from './session.js';
import { StateMachine } from './state-machine.js';
import { LedgerState, Scope } from './state.js';
import { checkAccountFilter, checkAccounts, checkIds, checkQueryFilter, checkTransfers } from '../wire/tigerbeetle/validate.js';
import {
  BATCH_EVENTS_MAX,
  type Account,
  type AccountBalance,
  type AccountFilter,
  type Client,
  type CreateAccountResult,
  type CreateTransferResult,
  type QueryFilter,
  type Transfer,
} from './types.js';

export type { LedgerSession } from './session.js';

/**
 * Expiry-queue entries one expiry step may process: TigerBeetle's pulse expires at most a batch of
 * transfers too. A step writes at most one pending status, two history records and two account pages per
 * expiry, 5 × 8,189 < the ledger store's 49,150-write transaction limit.
 */
export const EXPIRY_STEP_ENTRIES_MAX = BATCH_EVENTS_MAX;

/** Where the ledger reports what an operator must see (a pino logger fits). */
export interface LedgerLogger {
  error(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** Counters and gauges for `/metrics` and `/health`. */
export interface LedgerStats {
  /** Serving requests: open and not stopped. */
  up: boolean;
  /** Why it is not serving: `closed`, or the store failure that stopped it. */
  downReason: string | undefined;
  /** Requests that failed with an unexpected error and were undone. */
  internalErrors: number;
  /** Requests refused because the clock gave no usable time. */
  clockRefusals: number;
  /** The last clock reading's wall time minus the time the ledger used (0 when it was believed). */
  clockSkewNs: bigint;
  /** Wall-clock readings not believed since open (a step beyond the tolerance). */
  clockStepsRefused: number;
  /** Pending transfers expired since open. */
  transfersExpired: number;
  /** Expiry steps run since open (each its own store transaction). */
  expirySteps: number;
}

/** What a request is, for the log line of a failure. */
interface RequestInfo {
  operation: string;
  events?: readonly unknown[];
}

/** Copies as object literals: one shape, and objects cloned by spread were measured slow to read from. */
function copyTransfer(t: Transfer): Transfer {
  return {
    id: t.id, debit_account_id: t.debit_account_id, credit_account_id: t.credit_account_id, amount: t.amount, pending_id: t.pending_id,
    user_data_128: t.user_data_128, user_data_64: t.user_data_64, user_data_32: t.user_data_32, timeout: t.timeout, ledger: t.ledger,
    code: t.code, flags: t.flags, timestamp: t.timestamp,
  };
}

function copyAccount(a: Account): Account {
  return {
    id: a.id, debits_pending: a.debits_pending, debits_posted: a.debits_posted, credits_pending: a.credits_pending,
    credits_posted: a.credits_posted, user_data_128: a.user_data_128, user_data_64: a.user_data_64, user_data_32: a.user_data_32,
    reserved: a.reserved, ledger: a.ledger, code: a.code, flags: a.flags, timestamp: a.timestamp,
  };
}

export class Ledger implements Client {
  /** Replaced whole only when undoing a failed request failed too (rebuilt from the committed tables). */
  state = new LedgerState();
  machine = new StateMachine(this.state);
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Set when the store under the ledger failed: nothing more can be committed, the ledger stops. */
  private failure: Error | undefined;
  private expiryScheduled = false;
  private clockBelieved = true;
  private readonly counters = { internalErrors: 0, clockRefusals: 0, transfersExpired: 0, expirySteps: 0 };

  constructor(
    private readonly store: Store,
    private readonly clock: LedgerClock,
    private readonly logger: LedgerLogger,
    private readonly onDestroy: () => Promise<void>,
  ) {}

  /** Loads the state from the ledger's tables. Called once by `openLedger`. */
  async load(): Promise<void> {
    await this.store.transaction((tx) => this.state.load(tx));
    // The first reading anchors a guarded clock: take it now, so a step before the first request is caught.
    try {
      this.clock.read();
    } catch {
      // No usable reading yet: the first request reads again (and is refused if it still gets none).
    }
    this.scheduleExpiry();
  }

  stats(): LedgerStats {
    const downReason = this.failure !== undefined ? `store failed: ${this.failure.message}` : this.closed ? 'closed' : undefined;
    return {
      up: downReason === undefined,
      downReason,
      ...this.counters,
      clockSkewNs: this.clock.skewNs,
      clockStepsRefused: this.clock.stepsRefused,
    };
  }

  /**
   * Runs `fn` with a ledger session inside one store transaction: its ledger requests and its own writes
   * (through `tx`) commit together, or not at all if `fn` throws. Ledger transactions run one at a time.
   */
  transaction<T>(fn: (session: LedgerSession, tx: Transaction) => Promise<T>): Promise<T> {
    return this.start(fn, false, { operation: 'transaction' });
  }

  private start<T>(fn: (session: LedgerSession, tx: Transaction) => Promise<T>, validated: boolean, info: RequestInfo): Promise<T> {
    if (this.closed) return Promise.reject(new LedgerClosedError());
    return this.exclusive(async () => {
      if (this.failure !== undefined) throw new LedgerFailedError(this.failure);
      const nowNs = this.readClock();
      // Every request sees a transfer expired at or after its expiry time: expire all that is due first.
      while (this.machine.expiryDue(nowNs)) await this.expireStep(nowNs);
      try {
        return await this.execute(fn, validated, nowNs, info);
      } finally {
        this.scheduleExpiry();
      }
    });
  }

  private readClock(): bigint {
    try {
      const reading = this.clock.read();
      // Warned once per episode: a clock that stays stepped would otherwise log on every request.
      const wasBelieved = this.clockBelieved;
      this.clockBelieved = reading.believed;
      if (!reading.believed && wasBelieved) {
        this.logger.warn({ skewNs: String(reading.skewNs), usedNs: String(reading.nowNs) }, 'ledger clock: a wall-clock reading disagrees with monotonic time beyond the tolerance; using monotonic time');
      }
      return reading.nowNs;
    } catch (error) {
      if (error instanceof LedgerClockError) this.counters.clockRefusals++;
      throw error;
    }
  }

  /** One bounded expiry step in its own store transaction, undone alone if it fails. */
  private async expireStep(nowNs: bigint): Promise<void> {
    const expired = await this.execute((session) => session.expire(EXPIRY_STEP_ENTRIES_MAX), true, nowNs, { operation: 'expire_pending_transfers' });
    this.counters.expirySteps++;
    this.counters.transfersExpired += expired;
  }

  /**
   * Expires in the background what falls due, one step per turn of the request queue, so requests
   * interleave with a long backlog and an idle ledger still releases its holds.
   */
  private scheduleExpiry(): void {
    if (this.expiryScheduled || this.closed || this.failure !== undefined) return;
    if (this.state.expiry.peek() === undefined) return;
    this.expiryScheduled = true;
    setImmediate(() => {
      void this.exclusive(async () => {
        this.expiryScheduled = false;
        if (this.closed || this.failure !== undefined) return;
        const nowNs = this.readClock();
        if (!this.machine.expiryDue(nowNs)) return this.scheduleExpiryAt(nowNs);
        await this.expireStep(nowNs);
        this.scheduleExpiry();
      }).catch(() => undefined); // logged and counted by execute(); the next request tries again
    }).unref();
  }

  /** Wakes the background expiry when the next pending transfer falls due (at most once a second). */
  private scheduleExpiryAt(nowNs: bigint): void {
    const next = this.state.expiry.peek();
    if (next === undefined || this.expiryScheduled) return;
    const delayMs = Math.min(1000, Math.max(1, Number((next[0] - nowNs) / 1_000_000n)));
    this.expiryScheduled = true;
    setTimeout(() => {
      this.expiryScheduled = false;
      this.scheduleExpiry();
    }, delayMs).unref();
  }

  /**
   * Runs `fn` in one store transaction with a fresh scope. On failure, undoes the scope and classifies the
   * error: the ledger's own typed errors and a caller's errors pass through; a store failure stops the
   * ledger; anything else is an internal error, logged, counted and answered typed.
   */
  private async execute<T>(fn: (session: Session, tx: Transaction) => Promise<T>, validated: boolean, nowNs: bigint, info: RequestInfo): Promise<T> {
    const mark = this.state.transferPages.mark();
    const commitTimestamp = this.state.commitTimestamp;
    let scope: Scope | undefined;
    const undo = () => {
      if (scope === undefined) return;
      const done = scope;
      scope = undefined;
      done.rollbackTo(0, 0);
      this.state.transferPages.restore(mark);
      // Accounts created in the scope are gone (their slots are free again); the others get their
      // restored values back into their pages.
      for (const account of done.writtenAccounts) {
        if (this.state.accounts.get(account.id) === account) this.state.accountPages.write(account.slot, account);
      }
      this.state.commitTimestamp = commitTimestamp;
    };
    let session: Session | undefined;
    try {
      return await this.store.transaction(async (tx) => {
        undo(); // a retried attempt starts from the committed state
        scope = new Scope();
        session = new Session(this.state, this.machine, scope, tx, validated, nowNs, (error) => this.internalError(error, info));
        const result = await fn(session, tx);
        // A session call that failed unexpectedly poisons the transaction even if the caller caught it.
        if (session.failed !== undefined) throw session.failed;
        return result;
      });
    } catch (error) {
      await this.undoOrReload(undo, info);
      throw this.classify(error, info);
    }
  }

  private classify(error: unknown, info: RequestInfo): unknown {
    if (error instanceof StoreClosedError && error.code === 'STORE_FAILED') {
      this.failure ??= error;
      this.logger.error({ err: error, operation: info.operation }, 'ledger stopped: the store failed under it');
      return new LedgerFailedError(error);
    }
    if (error instanceof LedgerInternalError) return error; // logged and counted when it happened
    // A caller's transaction function may throw anything; it is the caller's error.
    if (info.operation === 'transaction' || error instanceof LedgerClockError || isLedgerRequestError(error)) return error;
    if (error instanceof StoreClosedError) return error;
    return this.internalError(error, info);
  }

  /** Logs and counts an unexpected error of one request; returns the typed error to answer it with. */
  private internalError(error: unknown, info: RequestInfo): LedgerInternalError {
    this.counters.internalErrors++;
    const index = this.machine.eventIndex;
    const event = info.events !== undefined && index >= 0 && index < info.events.length ? info.events[index] : undefined;
    this.logger.error(
      { err: error, operation: info.operation, events: info.events?.length ?? 0, eventIndex: index, event: event === undefined ? undefined : printable(event) },
      'ledger request failed unexpectedly and was undone; the ledger serves on',
    );
    return new LedgerInternalError(info.operation, error);
  }

  /**
   * Undoes a failed request's scope. If undoing throws (the failure broke the state more than its undo log
   * knows), the state is rebuilt from the committed tables instead; if even that fails, the store cannot be
   * read and the ledger stops.
   */
  private async undoOrReload(undo: () => void, info: RequestInfo): Promise<void> {
    try {
      undo();
      return;
    } catch (error) {
      this.logger.error({ err: error, operation: info.operation }, 'undoing a failed ledger request failed; rebuilding the state from the store');
    }
    try {
      const state = new LedgerState();
      await this.store.transaction((tx) => state.load(tx));
      this.state = state;
      this.machine = new StateMachine(state);
    } catch (error) {
      this.failure ??= error instanceof Error ? error : new Error(String(error));
      this.logger.error({ err: error }, 'ledger stopped: its state could not be rebuilt from the store');
    }
  }

  /** Chains `task` after every earlier request, so requests see each other's committed effects in order. */
  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }

  // Each request is validated and copied when it is made (as tigerbeetle-node encodes it at once), so bad
  // input fails fast, and changing the caller's objects while the request waits in the queue changes nothing.
  createAccounts = (batch: Account[]): Promise<CreateAccountResult[]> =>
    this.checked('create_accounts', () => (checkAccounts(batch), batch.map(copyAccount)), (s, events) => s.createAccounts(events));
  createTransfers = (batch: Transfer[]): Promise<CreateTransferResult[]> =>
    this.checked('create_transfers', () => (checkTransfers(batch), batch.map(copyTransfer)), (s, events) => s.createTransfers(events));
  lookupAccounts = (ids: bigint[]): Promise<Account[]> =>
    this.checked('lookup_accounts', () => (checkIds(ids), ids.slice()), (s, copy) => s.lookupAccounts(copy));
  lookupTransfers = (ids: bigint[]): Promise<Transfer[]> =>
    this.checked('lookup_transfers', () => (checkIds(ids), ids.slice()), (s, copy) => s.lookupTransfers(copy));
  getAccountTransfers = (filter: AccountFilter): Promise<Transfer[]> =>
    this.checked('get_account_transfers', () => (checkAccountFilter(filter), { ...filter }), (s, copy) => s.getAccountTransfers(copy));
  getAccountBalances = (filter: AccountFilter): Promise<AccountBalance[]> =>
    this.checked('get_account_balances', () => (checkAccountFilter(filter), { ...filter }), (s, copy) => s.getAccountBalances(copy));
  queryAccounts = (filter: QueryFilter): Promise<Account[]> =>
    this.checked('query_accounts', () => (checkQueryFilter(filter), { ...filter }), (s, copy) => s.queryAccounts(copy));
  queryTransfers = (filter: QueryFilter): Promise<Transfer[]> =>
    this.checked('query_transfers', () => (checkQueryFilter(filter), { ...filter }), (s, copy) => s.queryTransfers(copy));

  /** Validates (and copies) the request before queueing it, so bad input fails fast and touches nothing. */
  private checked<A, T>(operation: string, checkAndCopy: () => A, fn: (session: LedgerSession, request: A) => Promise<T>): Promise<T> {
    let request: A;
    try {
      request = checkAndCopy();
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    const events = Array.isArray(request) ? (request as readonly unknown[]) : [request];
    return this.start((session) => fn(session, request), true, { operation, events });
  }

  /** Closes the ledger after the requests already queued; later requests fail with `LedgerClosedError`. */
  destroy = (): void => {
    if (this.closed) return;
    this.closed = true;
    void this.exclusive(() => this.onDestroy()).catch(() => undefined);
  };

  /** Like `destroy()`, but resolves when the ledger (and a store it opened) is closed. */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      await this.exclusive(() => this.onDestroy());
    } else {
      await this.tail;
    }
  }
}

/** The ledger's own request errors (bad input): they pass through as they are. */
function isLedgerRequestError(error: unknown): boolean {
  return error instanceof PurserError && error.code.startsWith('LEDGER_');
}

/** An event for a log line: bigints as decimal strings. */
function printable(event: unknown): unknown {
  return JSON.parse(JSON.stringify(event, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value)));
}
