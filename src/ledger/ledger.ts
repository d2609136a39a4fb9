/**
 * The ledger: TigerBeetle's accounts and transfers with the `tigerbeetle-node` client interface.
 *
 * Requests run one at a time (TigerBeetle's state machine is single-threaded too), each in one store
 * transaction: expire what is due, prefetch the transfer records validation needs, execute the batch on the
 * in-memory state, then put the derived records (transfers, changed accounts, pending statuses, history,
 * failed ids) into the transaction. When the transaction commits (durably), the request's promise
 * resolves. Bad input is refused before anything runs. A plain request can fail after execution only if
 * the store fails under it (a write or fsync error, after which the store accepts nothing): then the ledger
 * stops too (`LedgerFailedError`) instead of keeping an undo log for every transfer.
 *
 * `ledger.transaction(fn)` gives a caller the store transaction and a session on it, so ledger requests and
 * the caller's own writes commit or abort together; there the changes are undone if `fn` throws.
 *
 * Why not `ledger.within(tx)` on a transaction the caller opened: the store offers no commit or abort
 * notification, and the in-memory state must be undone if that transaction aborts and must not be seen by
 * other requests before it commits. So the ledger opens the transaction and hands it to the caller.
 */
import { LedgerClosedError, LedgerFailedError } from './errors.js';
import * as queries from './queries.js';
import { StateMachine } from './state-machine.js';
import { pageKey } from './pages.js';
import { LedgerState, META_COMMIT_TIMESTAMP_KEY, Scope, TABLES, u64Key, type LedgerTx } from './state.js';
import { checkAccountFilter, checkAccounts, checkIds, checkQueryFilter, checkTransfers } from './validate.js';
import type { Store, Transaction } from '../store/interfaces.js';
import type {
  Account,
  AccountBalance,
  AccountFilter,
  Client,
  CreateAccountResult,
  CreateTransferResult,
  QueryFilter,
  Transfer,
} from './types.js';

export type Clock = () => bigint;

export const realtimeClock: Clock = () => BigInt(Date.now()) * 1_000_000n;

/**
 * The ledger requests available inside a caller's transaction. Same methods and results as `Client`;
 * they see the transaction's own earlier requests.
 */
export interface LedgerSession {
  createAccounts(batch: Account[]): Promise<CreateAccountResult[]>;
  createTransfers(batch: Transfer[]): Promise<CreateTransferResult[]>;
  lookupAccounts(ids: bigint[]): Promise<Account[]>;
  lookupTransfers(ids: bigint[]): Promise<Transfer[]>;
  getAccountTransfers(filter: AccountFilter): Promise<Transfer[]>;
  getAccountBalances(filter: AccountFilter): Promise<AccountBalance[]>;
  queryAccounts(filter: QueryFilter): Promise<Account[]>;
  queryTransfers(filter: QueryFilter): Promise<Transfer[]>;
}

/** One ledger transaction's view: the scope of its changes and the store transaction carrying them. */
class Session implements LedgerSession {
  constructor(
    private readonly ledger: Ledger,
    private readonly scope: Scope,
    private readonly tx: LedgerTx,
    /** The request was validated before it was queued (plain client requests): do not check it again. */
    private readonly validated: boolean,
  ) {}

  async createAccounts(batch: Account[]): Promise<CreateAccountResult[]> {
    if (!this.validated) checkAccounts(batch);
    const machine = this.ledger.machine;
    const results = machine.createAccounts(this.scope, batch, machine.prepareTimestamps(batch.length, this.ledger.now()));
    await this.flush();
    return results;
  }

  async createTransfers(batch: Transfer[]): Promise<CreateTransferResult[]> {
    if (!this.validated) checkTransfers(batch);
    const machine = this.ledger.machine;
    for (const id of machine.prefetchIds(batch)) {
      if (this.scope.transfers.has(id)) continue;
      const timestamp = this.ledger.state.transferTimestamp(id)!;
      this.scope.transfers.set(id, await queries.readTransfer(this.ledger.state, this.tx, timestamp));
    }
    const results = machine.createTransfers(this.scope, batch, machine.prepareTimestamps(batch.length, this.ledger.now()));
    await this.flush();
    return results;
  }

  lookupAccounts(ids: bigint[]): Promise<Account[]> {
    if (!this.validated) checkIds(ids);
    return Promise.resolve(queries.lookupAccounts(this.ledger.state, ids));
  }

  lookupTransfers(ids: bigint[]): Promise<Transfer[]> {
    if (!this.validated) checkIds(ids);
    return queries.lookupTransfers(this.ledger.state, this.tx, ids);
  }

  getAccountTransfers(filter: AccountFilter): Promise<Transfer[]> {
    if (!this.validated) checkAccountFilter(filter);
    return queries.getAccountTransfers(this.ledger.state, this.tx, filter);
  }

  getAccountBalances(filter: AccountFilter): Promise<AccountBalance[]> {
    if (!this.validated) checkAccountFilter(filter);
    return queries.getAccountBalances(this.ledger.state, this.tx, filter);
  }

  queryAccounts(filter: QueryFilter): Promise<Account[]> {
    if (!this.validated) checkQueryFilter(filter);
    return Promise.resolve(queries.queryAccounts(this.ledger.state, filter));
  }

  queryTransfers(filter: QueryFilter): Promise<Transfer[]> {
    if (!this.validated) checkQueryFilter(filter);
    return queries.queryTransfers(this.ledger.state, this.tx, filter);
  }

  /** Expires what is due by now; part of every ledger transaction. */
  async expire(): Promise<void> {
    const expired = this.ledger.machine.expirePendingTransfers(this.scope, this.ledger.now());
    if (expired > 0) await this.flush();
  }

  /** Puts this scope's pending writes into the store transaction, so later reads in it see them. */
  private async flush(): Promise<void> {
    const state = this.ledger.state;
    const scope = this.scope;
    for (const [key, value] of state.transferPages.append(scope.createdTransfers)) await this.tx.put(TABLES.transfers, key, value);
    scope.createdTransfers.length = 0;
    const pages = new Set<number>();
    // Only an undoable scope re-encodes what it wrote when it is undone (a plain request stops the ledger
    // instead), so only it remembers the accounts: a plain batch of random transfers dirties thousands.
    for (const account of scope.dirtyAccounts) pages.add(state.accountPages.write(account.slot, account));
    if (scope.undoable) for (const account of scope.dirtyAccounts) scope.writtenAccounts.add(account);
    scope.dirtyAccounts.clear();
    for (const page of pages) await this.tx.put(TABLES.accounts, pageKey(page), state.accountPages.value(page));
    for (const write of scope.writes) await this.tx.put(write.table, write.key, write.value);
    scope.writes.length = 0;
    await this.tx.put(TABLES.meta, META_COMMIT_TIMESTAMP_KEY, u64Key(state.commitTimestamp));
  }
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
  readonly state = new LedgerState();
  readonly machine = new StateMachine(this.state);
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Set when a request failed after changing the in-memory state it could not undo: the ledger stops. */
  private failure: Error | undefined;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly onDestroy: () => Promise<void>,
  ) {}

  /** Loads the state from the ledger's tables. Called once by `openLedger`. */
  async load(): Promise<void> {
    await this.store.transaction((tx) => this.state.load(tx));
  }

  now(): bigint {
    return this.clock();
  }

  /**
   * Runs `fn` with a ledger session inside one store transaction: its ledger requests and its own writes
   * (through `tx`) commit together, or not at all if `fn` throws. Ledger transactions run one at a time.
   */
  transaction<T>(fn: (session: LedgerSession, tx: Transaction) => Promise<T>): Promise<T> {
    return this.start((session, tx) => fn(session, tx), true);
  }

  private start<T>(fn: (session: LedgerSession, tx: Transaction) => Promise<T>, undoable: boolean): Promise<T> {
    if (this.closed) return Promise.reject(new LedgerClosedError());
    return this.exclusive(() => {
      if (this.failure !== undefined) throw new LedgerFailedError(this.failure);
      return this.run(fn, undoable);
    });
  }

  private async run<T>(fn: (session: LedgerSession, tx: Transaction) => Promise<T>, undoable: boolean): Promise<T> {
    let scope: Scope | undefined;
    const mark = this.state.transferPages.mark();
    const undo = () => {
      if (scope === undefined) return;
      // A plain request keeps no undo log: if it failed anyway, the store failed under it; stop.
      if (!scope.undoable) {
        this.failure ??= new Error('a ledger request failed after it had changed the ledger state');
        return;
      }
      scope.rollbackTo(0, 0);
      this.state.transferPages.restore(mark);
      // Accounts created in the scope are gone (their slots are free again); the others get their
      // restored values back into their pages.
      for (const account of scope.writtenAccounts) {
        if (this.state.accounts.get(account.id) === account) this.state.accountPages.write(account.slot, account);
      }
      scope = undefined;
    };
    try {
      return await this.store.transaction(async (tx) => {
        undo(); // a retried attempt starts from the committed state
        scope = new Scope(undoable);
        const session = new Session(this, scope, tx, !undoable);
        await session.expire();
        return fn(session, tx);
      });
    } catch (error) {
      if (scope !== undefined && !scope.undoable) this.failure ??= error instanceof Error ? error : new Error(String(error));
      undo();
      throw error;
    }
  }

  /** Chains `task` after every earlier request, so requests see each other's committed effects in order. */
  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }

  private request<T>(fn: (session: LedgerSession) => Promise<T>): Promise<T> {
    return this.start((session) => fn(session), false);
  }

  // Each request is validated and copied when it is made (as tigerbeetle-node encodes it at once), so bad
  // input fails fast, and changing the caller's objects while the request waits in the queue changes nothing.
  createAccounts = (batch: Account[]): Promise<CreateAccountResult[]> =>
    this.checked(() => (checkAccounts(batch), batch.map(copyAccount)), (s, events) => s.createAccounts(events));
  createTransfers = (batch: Transfer[]): Promise<CreateTransferResult[]> =>
    this.checked(() => (checkTransfers(batch), batch.map(copyTransfer)), (s, events) => s.createTransfers(events));
  lookupAccounts = (ids: bigint[]): Promise<Account[]> => this.checked(() => (checkIds(ids), ids.slice()), (s, copy) => s.lookupAccounts(copy));
  lookupTransfers = (ids: bigint[]): Promise<Transfer[]> => this.checked(() => (checkIds(ids), ids.slice()), (s, copy) => s.lookupTransfers(copy));
  getAccountTransfers = (filter: AccountFilter): Promise<Transfer[]> =>
    this.checked(() => (checkAccountFilter(filter), { ...filter }), (s, copy) => s.getAccountTransfers(copy));
  getAccountBalances = (filter: AccountFilter): Promise<AccountBalance[]> =>
    this.checked(() => (checkAccountFilter(filter), { ...filter }), (s, copy) => s.getAccountBalances(copy));
  queryAccounts = (filter: QueryFilter): Promise<Account[]> => this.checked(() => (checkQueryFilter(filter), { ...filter }), (s, copy) => s.queryAccounts(copy));
  queryTransfers = (filter: QueryFilter): Promise<Transfer[]> =>
    this.checked(() => (checkQueryFilter(filter), { ...filter }), (s, copy) => s.queryTransfers(copy));

  /** Validates (and copies) the request before queueing it, so bad input fails fast and touches nothing. */
  private checked<A, T>(checkAndCopy: () => A, fn: (session: LedgerSession, request: A) => Promise<T>): Promise<T> {
    let request: A;
    try {
      request = checkAndCopy();
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    return this.request((session) => fn(session, request));
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
