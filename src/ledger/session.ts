/**
 * One ledger transaction's view: the scope of its changes, the store transaction carrying them, and the
 * time the transaction was given (one clock reading per ledger transaction). The ledger runs one session at
 * a time; `Ledger` opens, commits and undoes them.
 */
import { PurserError } from '../errors.js';
import { LedgerClockError } from './errors.js';
import * as queries from './queries.js';
import { pageKey } from './pages.js';
import { LedgerState, META_COMMIT_TIMESTAMP_KEY, Scope, TABLES, u64Key, type LedgerTx } from './state.js';
import type { StateMachine } from './state-machine.js';
import { checkAccountFilter, checkAccounts, checkIds, checkQueryFilter, checkTransfers } from '../wire/tigerbeetle/validate.js';
import type {
  Account,
  AccountBalance,
  AccountFilter,
  CreateAccountResult,
  CreateTransferResult,
  QueryFilter,
  Transfer,
} from './types.js';

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

export class Session implements LedgerSession {
  /** Set when a call failed unexpectedly: the transaction must not commit (see `Ledger.execute`). */
  failed: Error | undefined;

  constructor(
    private readonly state: LedgerState,
    private readonly machine: StateMachine,
    readonly scope: Scope,
    private readonly tx: LedgerTx,
    /** The request was validated before it was queued (plain client requests): do not check it again. */
    private readonly validated: boolean,
    private readonly nowNs: bigint,
    /** Logs and counts an unexpected error; returns the typed error to answer with. */
    private readonly report: (error: unknown) => Error,
  ) {}

  /**
   * Runs one call (its input was validated before). A call that fails may have done part of its work — a
   * batch executed but only partly written into the store transaction — so it marks the session failed,
   * and the transaction aborts even if a caller's transaction function catches the error and carries on.
   * An unexpected error is reported once (logged, counted) and answered `LedgerInternalError`; the store's
   * own typed errors pass as they are (a deadlock victim's transaction is retried whole). Only a clock
   * refusal comes before any change, and leaves the session usable.
   */
  private async guarded<R>(call: () => Promise<R>): Promise<R> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof LedgerClockError) throw error;
      this.failed ??= error instanceof PurserError ? error : this.report(error);
      throw this.failed;
    }
  }

  createAccounts(batch: Account[]): Promise<CreateAccountResult[]> {
    if (!this.validated) checkAccounts(batch);
    return this.guarded(async () => {
      const machine = this.machine;
      const results = machine.createAccounts(this.scope, batch, machine.prepareTimestamps(batch.length, this.nowNs));
      await this.flush();
      return results;
    });
  }

  createTransfers(batch: Transfer[]): Promise<CreateTransferResult[]> {
    if (!this.validated) checkTransfers(batch);
    return this.guarded(async () => {
      const machine = this.machine;
      for (const id of machine.prefetchIds(batch)) {
        if (this.scope.transfers.has(id)) continue;
        const timestamp = this.state.transferTimestamp(id)!;
        this.scope.transfers.set(id, await queries.readTransfer(this.state, this.tx, timestamp));
      }
      const results = machine.createTransfers(this.scope, batch, machine.prepareTimestamps(batch.length, this.nowNs));
      await this.flush();
      return results;
    });
  }

  lookupAccounts(ids: bigint[]): Promise<Account[]> {
    if (!this.validated) checkIds(ids);
    return this.guarded(() => Promise.resolve(queries.lookupAccounts(this.state, ids)));
  }

  lookupTransfers(ids: bigint[]): Promise<Transfer[]> {
    if (!this.validated) checkIds(ids);
    return this.guarded(() => queries.lookupTransfers(this.state, this.tx, ids));
  }

  getAccountTransfers(filter: AccountFilter): Promise<Transfer[]> {
    if (!this.validated) checkAccountFilter(filter);
    return this.guarded(() => queries.getAccountTransfers(this.state, this.tx, filter));
  }

  getAccountBalances(filter: AccountFilter): Promise<AccountBalance[]> {
    if (!this.validated) checkAccountFilter(filter);
    return this.guarded(() => queries.getAccountBalances(this.state, this.tx, filter));
  }

  queryAccounts(filter: QueryFilter): Promise<Account[]> {
    if (!this.validated) checkQueryFilter(filter);
    return this.guarded(() => Promise.resolve(queries.queryAccounts(this.state, filter)));
  }

  queryTransfers(filter: QueryFilter): Promise<Transfer[]> {
    if (!this.validated) checkQueryFilter(filter);
    return this.guarded(() => queries.queryTransfers(this.state, this.tx, filter));
  }

  /** One bounded expiry step at this session's time; returns how many transfers expired. */
  expire(entriesMax: number): Promise<number> {
    return this.guarded(async () => {
      const expired = this.machine.expirePendingTransfers(this.scope, this.nowNs, entriesMax);
      if (expired > 0) await this.flush();
      return expired;
    });
  }

  /** Puts this scope's pending writes into the store transaction, so later reads in it see them. */
  private async flush(): Promise<void> {
    const state = this.state;
    const scope = this.scope;
    for (const [key, value] of state.transferPages.append(scope.createdTransfers)) await this.tx.put(TABLES.transfers, key, value);
    scope.createdTransfers.length = 0;
    const pages = new Set<number>();
    for (const account of scope.dirtyAccounts) {
      pages.add(state.accountPages.write(account.slot, account));
      // Re-encoded into its page if the scope is undone (its page bytes now hold this scope's values).
      scope.writtenAccounts.add(account);
    }
    scope.dirtyAccounts.clear();
    for (const page of pages) await this.tx.put(TABLES.accounts, pageKey(page), state.accountPages.value(page));
    for (const write of scope.writes) await this.tx.put(write.table, write.key, write.value);
    scope.writes.length = 0;
    await this.tx.put(TABLES.meta, META_COMMIT_TIMESTAMP_KEY, u64Key(state.commitTimestamp));
  }
}
