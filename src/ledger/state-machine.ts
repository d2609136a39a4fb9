/**
 * TigerBeetle's state machine for `create_accounts` and `create_transfers`, over `LedgerState`.
 *
 * Each event goes down a flat ladder of checks in TigerBeetle 0.17's order; the first check that fails is
 * the event's status and the event changes nothing. Linked chains are all-or-nothing: when a member fails,
 * the members before it are rolled back through the scope's undo log and report `linked_event_failed`.
 * Transfers that fail for a transient reason (an account or pending transfer not found, limits, a closed
 * account) burn their id: a retry with the same id gets `id_already_failed`, so a transfer id means one
 * outcome for ever.
 *
 * Execution is synchronous. Transfer records that validation needs (an existing transfer with the same id,
 * the pending transfer of a post or void) must have been prefetched into `scope.transfers`, as TigerBeetle
 * prefetches before it commits; `prefetchIds()` says which.
 */
import { assert } from '../errors.js';
import { writeU128 } from '../wire/tigerbeetle/codec.js';
import { TIMESTAMP_MAX } from './clock.js';
import { LedgerClockError } from './errors.js';
import {
  ACCOUNT_CODES, TRANSFER_CODES, TRANSIENT_TRANSFER_STATUSES, type BatchCodes,
  accountExists, balancedAmount, creditsExceedDebits, debitsExceedCredits, findCreated, overflowStatus, storedTransfer, transferExists,
} from './rules.js';
import { LedgerState, PendingStatus, Scope, TABLES, u128Key, u64Key, HISTORY_VALUE_SIZE_BYTES, type StoredAccount } from './state.js';
import {
  AccountFlags, amount_max, CreateAccountStatus as AccountStatus, CreateTransferStatus as TransferStatus, TransferFlags,
  type Account, type CreateAccountResult, type CreateTransferResult, type Transfer,
} from './types.js';

const U128_MAX = amount_max;
export { TIMESTAMP_MAX };
const TIMESTAMP_MIN = 1n;
const NS_PER_S = 1_000_000_000n;
const ACCOUNT_FLAGS_KNOWN = 0x3f;
const TRANSFER_FLAGS_KNOWN = 0x1ff;
const HISTORY_SIDE_DEBIT = 1;
const HISTORY_SIDE_CREDIT = 2;

type BatchEvent = { id: bigint; flags: number; timestamp: bigint };

export class StateMachine {
  /** The index of the event being executed in the current batch, or −1: says which event a failure hit. */
  eventIndex = -1;

  constructor(readonly state: LedgerState) {}

  /**
   * Reserves `count` timestamps for one request at `nowNs` and returns the last: event i gets
   * `last - count + i + 1`. Timestamps strictly increase even if the clock stands still or steps back.
   */
  prepareTimestamps(count: number, nowNs: bigint): bigint {
    const candidate = this.state.commitTimestamp + BigInt(count);
    const last = nowNs > candidate ? nowNs : candidate;
    // Checked before anything changes: a request that cannot be given timestamps is refused alone.
    if (last > TIMESTAMP_MAX) throw new LedgerClockError(`no timestamps left for ${count} events below 2^63 ns (the clock or the last timestamp is too close to it)`);
    this.state.commitTimestamp = last;
    return last;
  }

  /** The transfer ids whose records `createTransfers(events)` may read: existing ids and pending ids. */
  prefetchIds(events: Transfer[]): bigint[] {
    const ids: bigint[] = [];
    for (const t of events) {
      if (this.state.transferTimestamp(t.id) !== undefined) ids.push(t.id);
      if (t.pending_id !== 0n && this.state.transferTimestamp(t.pending_id) !== undefined) ids.push(t.pending_id);
    }
    return ids;
  }

  createAccounts(scope: Scope, events: Account[], lastTimestamp: bigint): CreateAccountResult[] {
    return this.executeBatch(scope, events, lastTimestamp, ACCOUNT_CODES, {
      create: (a, timestamp) => this.createAccount(scope, a, timestamp),
      existingTimestamp: (a) => {
        const existing = this.state.accounts.get(a.id);
        assert(existing !== undefined, 'an account reported to exist is not in the state');
        return existing.timestamp;
      },
      transient: () => false,
    });
  }

  createTransfers(scope: Scope, events: Transfer[], lastTimestamp: bigint): CreateTransferResult[] {
    return this.executeBatch(scope, events, lastTimestamp, TRANSFER_CODES, {
      create: (t, timestamp) => this.createTransfer(scope, t, timestamp),
      existingTimestamp: (t) => {
        const existing = this.state.transferTimestamp(t.id);
        assert(existing !== undefined, 'a transfer reported to exist is not in the state');
        return existing;
      },
      transient: (status) => TRANSIENT_TRANSFER_STATUSES.has(status),
    });
  }

  /** The batch loop: timestamps, imported-batch rules, linked chains, transient failures. */
  private executeBatch<E extends BatchEvent>(
    scope: Scope,
    events: E[],
    lastTimestamp: bigint,
    codes: BatchCodes,
    handlers: { create: (event: E, timestamp: bigint) => number; existingTimestamp: (event: E) => bigint; transient: (status: number) => boolean },
  ): { timestamp: bigint; status: number }[] {
    const results: { timestamp: bigint; status: number }[] = [];
    const firstImported = events.length > 0 && (events[0].flags & codes.imported_flag) !== 0;
    let chainStart = -1;
    let chainBroken = false;
    let chainUndoLength = 0;
    let chainWritesLength = 0;
    let timestamp = lastTimestamp - BigInt(events.length);
    for (let index = 0; index < events.length; index++) {
      this.eventIndex = index;
      const event = events[index];
      const linked = (event.flags & 1) !== 0;
      if (linked && chainStart === -1) {
        chainStart = index;
        chainUndoLength = scope.undo.length;
        chainWritesLength = scope.writes.length;
      }
      timestamp += 1n;
      const status = this.eventStatus(event, index, events.length, timestamp, lastTimestamp, firstImported, chainBroken, codes, handlers.create);
      // The result's timestamp, as TigerBeetle 0.17 reports it: the object's own for `created` and `exists`,
      // the time of validation (the event's place in the batch) for every other status. For `exists` it is
      // read now, before a broken chain is rolled back: the existing object may be one this chain created.
      let resultTimestamp = timestamp;
      if (status === codes.created) {
        if ((event.flags & codes.imported_flag) !== 0) resultTimestamp = event.timestamp;
      } else if (status === codes.exists) {
        resultTimestamp = handlers.existingTimestamp(event);
      }
      results.push({ timestamp: resultTimestamp, status });
      if (status !== codes.created) {
        if (chainStart !== -1 && !chainBroken) {
          chainBroken = true;
          scope.rollbackTo(chainUndoLength, chainWritesLength);
          // The events before the failing one keep their timestamps and report the chain's failure.
          for (let i = chainStart; i < index; i++) results[i].status = codes.linked_event_failed;
        }
        if (handlers.transient(status)) this.burnTransferId(scope, event.id);
      }
      if (chainStart !== -1 && (!linked || status === codes.linked_event_chain_open)) {
        chainStart = -1;
        chainBroken = false;
      }
    }
    this.eventIndex = -1;
    return results;
  }

  private eventStatus<E extends BatchEvent>(
    event: E, index: number, count: number, timestamp: bigint, lastTimestamp: bigint, firstImported: boolean,
    chainBroken: boolean, codes: BatchCodes, create: (event: E, timestamp: bigint) => number,
  ): number {
    if ((event.flags & 1) !== 0 && index === count - 1) return codes.linked_event_chain_open;
    if (chainBroken) return codes.linked_event_failed;
    const imported = (event.flags & codes.imported_flag) !== 0;
    if (imported !== firstImported) return imported ? codes.imported_event_not_expected : codes.imported_event_expected;
    if (imported) {
      if (event.timestamp < TIMESTAMP_MIN || event.timestamp > TIMESTAMP_MAX) return codes.imported_event_timestamp_out_of_range;
      if (event.timestamp >= lastTimestamp) return codes.imported_event_timestamp_must_not_advance;
      return create(event, event.timestamp);
    }
    if (event.timestamp !== 0n) return codes.timestamp_must_be_zero;
    return create(event, timestamp);
  }

  private burnTransferId(scope: Scope, id: bigint): void {
    this.state.failedTransferIds.add(id);
    scope.undo.push(() => this.state.failedTransferIds.delete(id));
    scope.writes.push({ table: TABLES.failed, key: u128Key(id), value: new Uint8Array(1) });
  }

  private createAccount(scope: Scope, a: Account, timestamp: bigint): AccountStatus {
    if (a.reserved !== 0) return AccountStatus.reserved_field;
    if ((a.flags & ~ACCOUNT_FLAGS_KNOWN) !== 0) return AccountStatus.reserved_flag;
    if (a.id === 0n) return AccountStatus.id_must_not_be_zero;
    if (a.id === U128_MAX) return AccountStatus.id_must_not_be_int_max;
    const existing = this.state.accounts.get(a.id);
    if (existing !== undefined) return accountExists(a, existing);
    if ((a.flags & AccountFlags.debits_must_not_exceed_credits) !== 0 && (a.flags & AccountFlags.credits_must_not_exceed_debits) !== 0) {
      return AccountStatus.flags_are_mutually_exclusive;
    }
    if (a.debits_pending !== 0n) return AccountStatus.debits_pending_must_be_zero;
    if (a.debits_posted !== 0n) return AccountStatus.debits_posted_must_be_zero;
    if (a.credits_pending !== 0n) return AccountStatus.credits_pending_must_be_zero;
    if (a.credits_posted !== 0n) return AccountStatus.credits_posted_must_be_zero;
    if (a.ledger === 0) return AccountStatus.ledger_must_not_be_zero;
    if (a.code === 0) return AccountStatus.code_must_not_be_zero;
    if ((a.flags & AccountFlags.imported) !== 0) {
      const last = this.state.accountTimestamps.last();
      if (last !== undefined && timestamp <= last) return AccountStatus.imported_event_timestamp_must_not_regress;
      if (this.state.transferTimestamps.has(timestamp)) return AccountStatus.imported_event_timestamp_must_not_regress;
    }
    const [account, unindex] = this.state.indexAccount({ ...a, timestamp });
    scope.undo.push(() => {
      unindex();
      scope.dirtyAccounts.delete(account);
    });
    scope.dirtyAccounts.add(account);
    return AccountStatus.created;
  }

  private createTransfer(scope: Scope, t: Transfer, timestamp: bigint): TransferStatus {
    if ((t.flags & ~TRANSFER_FLAGS_KNOWN) !== 0) return TransferStatus.reserved_flag;
    if (t.id === 0n) return TransferStatus.id_must_not_be_zero;
    if (t.id === U128_MAX) return TransferStatus.id_must_not_be_int_max;
    const existing = this.findTransfer(scope, t.id);
    if (existing !== undefined) return this.transferExists(scope, t, existing);
    if (this.state.failedTransferIds.size > 0 && this.state.failedTransferIds.has(t.id)) return TransferStatus.id_already_failed;
    if ((t.flags & (TransferFlags.post_pending_transfer | TransferFlags.void_pending_transfer)) !== 0) {
      return this.postOrVoidPendingTransfer(scope, t, timestamp);
    }
    if (t.debit_account_id === 0n) return TransferStatus.debit_account_id_must_not_be_zero;
    if (t.debit_account_id === U128_MAX) return TransferStatus.debit_account_id_must_not_be_int_max;
    if (t.credit_account_id === 0n) return TransferStatus.credit_account_id_must_not_be_zero;
    if (t.credit_account_id === U128_MAX) return TransferStatus.credit_account_id_must_not_be_int_max;
    if (t.credit_account_id === t.debit_account_id) return TransferStatus.accounts_must_be_different;
    if (t.pending_id !== 0n) return TransferStatus.pending_id_must_be_zero;
    if ((t.flags & TransferFlags.pending) === 0) {
      if (t.timeout !== 0) return TransferStatus.timeout_reserved_for_pending_transfer;
      if ((t.flags & (TransferFlags.closing_debit | TransferFlags.closing_credit)) !== 0) return TransferStatus.closing_transfer_must_be_pending;
    }
    if (t.ledger === 0) return TransferStatus.ledger_must_not_be_zero;
    if (t.code === 0) return TransferStatus.code_must_not_be_zero;
    const dr = this.state.accounts.get(t.debit_account_id);
    if (dr === undefined) return TransferStatus.debit_account_not_found;
    const cr = this.state.accounts.get(t.credit_account_id);
    if (cr === undefined) return TransferStatus.credit_account_not_found;
    if (dr.ledger !== cr.ledger) return TransferStatus.accounts_must_have_the_same_ledger;
    if (t.ledger !== dr.ledger) return TransferStatus.transfer_must_have_the_same_ledger_as_accounts;
    if ((t.flags & TransferFlags.imported) !== 0) {
      if (this.importedTransferRegresses(timestamp, dr, cr)) return TransferStatus.imported_event_timestamp_must_not_regress;
      if (timestamp <= dr.timestamp) return TransferStatus.imported_event_timestamp_must_postdate_debit_account;
      if (timestamp <= cr.timestamp) return TransferStatus.imported_event_timestamp_must_postdate_credit_account;
      if (t.timeout !== 0) return TransferStatus.imported_event_timeout_must_be_zero;
    }
    if ((dr.flags & AccountFlags.closed) !== 0) return TransferStatus.debit_account_already_closed;
    if ((cr.flags & AccountFlags.closed) !== 0) return TransferStatus.credit_account_already_closed;
    const amount = (t.flags & (TransferFlags.balancing_debit | TransferFlags.balancing_credit)) === 0 ? t.amount : balancedAmount(t, dr, cr);
    const overflow = overflowStatus(t, amount, dr, cr);
    if (overflow !== undefined) return overflow;
    if (t.timeout !== 0 && timestamp + BigInt(t.timeout) * NS_PER_S > TIMESTAMP_MAX) return TransferStatus.overflows_timeout;
    if (debitsExceedCredits(dr, amount)) return TransferStatus.exceeds_credits;
    if (creditsExceedDebits(cr, amount)) return TransferStatus.exceeds_debits;
    this.applyTransfer(scope, storedTransfer(t, amount, timestamp), dr, cr);
    return TransferStatus.created;
  }

  /**
   * TigerBeetle's rule: an imported transfer's timestamp must exceed every transfer's and equal no
   * account's. Purser adds one: it must also exceed the last event in the history of an account it moves
   * (`flags.history`), which can be an expiry later than every transfer; history is kept in timestamp
   * order, and an import into its past would break that order.
   */
  private importedTransferRegresses(timestamp: bigint, dr: Account, cr: Account): boolean {
    const last = this.state.transferTimestamps.last();
    if (last !== undefined && timestamp <= last) return true;
    if (this.state.accountIdByTimestamp.has(timestamp)) return true;
    return this.historyAtOrAfter(dr, timestamp) || this.historyAtOrAfter(cr, timestamp);
  }

  private historyAtOrAfter(account: Account, timestamp: bigint): boolean {
    if ((account.flags & AccountFlags.history) === 0) return false;
    const last = this.state.history.get(account.id)?.last();
    return last !== undefined && last >= timestamp;
  }

  private applyTransfer(scope: Scope, t: Transfer, dr: StoredAccount, cr: StoredAccount): void {
    // One undo entry for the transfer and both balances: this is the hot path of every batch.
    this.recordTransferUndo(scope, t, dr, cr);
    this.insertTransfer(scope, t, dr, cr);
    scope.dirtyAccounts.add(dr);
    scope.dirtyAccounts.add(cr);
    if ((t.flags & TransferFlags.pending) !== 0) {
      dr.debits_pending += t.amount;
      cr.credits_pending += t.amount;
      const expiresAtNs = t.timeout === 0 ? 0n : t.timestamp + BigInt(t.timeout) * NS_PER_S;
      this.state.pending.set(t.timestamp, {
        status: PendingStatus.pending, expiresAtNs,
        debitAccountId: t.debit_account_id, creditAccountId: t.credit_account_id, amount: t.amount, flags: t.flags,
      });
      scope.undo.push(() => this.state.pending.delete(t.timestamp));
      scope.writes.push({ table: TABLES.pending, key: u64Key(t.timestamp), value: Uint8Array.of(PendingStatus.pending) });
      if (expiresAtNs !== 0n) this.state.expiry.push(expiresAtNs, t.timestamp);
    } else {
      dr.debits_posted += t.amount;
      cr.credits_posted += t.amount;
    }
    if ((t.flags & TransferFlags.closing_debit) !== 0) dr.flags |= AccountFlags.closed;
    if ((t.flags & TransferFlags.closing_credit) !== 0) cr.flags |= AccountFlags.closed;
    this.recordHistory(scope, t.timestamp, dr, cr);
  }

  private recordTransferUndo(scope: Scope, t: Transfer, dr: StoredAccount, cr: StoredAccount): void {
    const { debits_pending: drPending, debits_posted: drPosted, flags: drFlags } = dr;
    const { credits_pending: crPending, credits_posted: crPosted, flags: crFlags } = cr;
    scope.undo.push(() => {
      dr.debits_pending = drPending;
      dr.debits_posted = drPosted;
      dr.flags = drFlags;
      cr.credits_pending = crPending;
      cr.credits_posted = crPosted;
      cr.flags = crFlags;
      this.uninsertTransfer(scope, t, dr, cr);
    });
  }

  /** Adds a new transfer to the indexes and to the scope's transfers to write. Undo: `uninsertTransfer`. */
  private insertTransfer(scope: Scope, t: Transfer, dr: StoredAccount, cr: StoredAccount): void {
    scope.createdTransfers.push(t);
    this.state.indexTransfer(t, dr, cr);
  }

  private uninsertTransfer(scope: Scope, t: Transfer, dr: StoredAccount, cr: StoredAccount): void {
    this.state.unindexTransfer(t, dr, cr);
    // Once appended to the transfer pages (flushed), the transfer is undone by restoring the pages instead.
    const created = scope.createdTransfers;
    if (created.length > 0 && created[created.length - 1] === t) created.pop();
  }

  /** Remembers an account's balances and flags so the scope can restore them. */
  private touch(scope: Scope, a: StoredAccount): void {
    const { debits_pending, debits_posted, credits_pending, credits_posted, flags } = a;
    scope.undo.push(() => {
      a.debits_pending = debits_pending;
      a.debits_posted = debits_posted;
      a.credits_pending = credits_pending;
      a.credits_posted = credits_posted;
      a.flags = flags;
    });
    scope.dirtyAccounts.add(a);
  }

  /** Records the balances after an event for the accounts that keep history. */
  private recordHistory(scope: Scope, timestamp: bigint, dr: Account, cr: Account): void {
    if (((dr.flags | cr.flags) & AccountFlags.history) === 0) return;
    for (const [account, side] of [[dr, HISTORY_SIDE_DEBIT], [cr, HISTORY_SIDE_CREDIT]] as const) {
      if ((account.flags & AccountFlags.history) === 0) continue;
      const list = this.state.history.add(account.id, timestamp)!;
      scope.undo.push(() => list.truncate(list.length - 1));
      const value = new Uint8Array(HISTORY_VALUE_SIZE_BYTES + 1);
      const view = new DataView(value.buffer);
      writeU128(view, 0, account.debits_pending);
      writeU128(view, 16, account.debits_posted);
      writeU128(view, 32, account.credits_pending);
      writeU128(view, 48, account.credits_posted);
      value[HISTORY_VALUE_SIZE_BYTES] = side;
      const key = new Uint8Array(24);
      key.set(u128Key(account.id), 0);
      key.set(u64Key(timestamp), 16);
      scope.writes.push({ table: TABLES.history, key, value });
    }
  }

  /**
   * A transfer by id: one created earlier in this scope (not yet written out), or one prefetched before
   * execution. Every other existing transfer was prefetched, so a miss here is a bug.
   */
  private findTransfer(scope: Scope, id: bigint): Transfer | undefined {
    const timestamp = this.state.transferTimestamp(id);
    if (timestamp === undefined) return undefined;
    const found = scope.transfers.get(id) ?? findCreated(scope.createdTransfers, timestamp);
    assert(found !== undefined && found.id === id, 'transfer record was not prefetched');
    return found;
  }

  private transferExists(scope: Scope, t: Transfer, e: Transfer): TransferStatus {
    return transferExists(t, e, () => this.findTransfer(scope, t.pending_id));
  }

  private postOrVoidPendingTransfer(scope: Scope, t: Transfer, timestamp: bigint): TransferStatus {
    const post = (t.flags & TransferFlags.post_pending_transfer) !== 0;
    const isVoid = (t.flags & TransferFlags.void_pending_transfer) !== 0;
    if (post && isVoid) return TransferStatus.flags_are_mutually_exclusive;
    if ((t.flags & TransferFlags.pending) !== 0) return TransferStatus.flags_are_mutually_exclusive;
    if ((t.flags & TransferFlags.balancing_debit) !== 0) return TransferStatus.flags_are_mutually_exclusive;
    if ((t.flags & TransferFlags.balancing_credit) !== 0) return TransferStatus.flags_are_mutually_exclusive;
    if ((t.flags & TransferFlags.closing_debit) !== 0) return TransferStatus.flags_are_mutually_exclusive;
    if ((t.flags & TransferFlags.closing_credit) !== 0) return TransferStatus.flags_are_mutually_exclusive;
    if (t.pending_id === 0n) return TransferStatus.pending_id_must_not_be_zero;
    if (t.pending_id === U128_MAX) return TransferStatus.pending_id_must_not_be_int_max;
    if (t.pending_id === t.id) return TransferStatus.pending_id_must_be_different;
    if (t.timeout !== 0) return TransferStatus.timeout_reserved_for_pending_transfer;
    const p = this.findTransfer(scope, t.pending_id);
    if (p === undefined) return TransferStatus.pending_transfer_not_found;
    if ((p.flags & TransferFlags.pending) === 0) return TransferStatus.pending_transfer_not_pending;
    const dr = this.state.accounts.get(p.debit_account_id)!;
    const cr = this.state.accounts.get(p.credit_account_id)!;
    if (t.debit_account_id !== 0n && t.debit_account_id !== p.debit_account_id) return TransferStatus.pending_transfer_has_different_debit_account_id;
    if (t.credit_account_id !== 0n && t.credit_account_id !== p.credit_account_id) return TransferStatus.pending_transfer_has_different_credit_account_id;
    // user_data may differ between a pending transfer and its post or void.
    if (t.ledger !== 0 && t.ledger !== p.ledger) return TransferStatus.pending_transfer_has_different_ledger;
    if (t.code !== 0 && t.code !== p.code) return TransferStatus.pending_transfer_has_different_code;
    const amount = isVoid ? (t.amount > 0n ? t.amount : p.amount) : t.amount === U128_MAX ? p.amount : t.amount;
    if (amount > p.amount) return TransferStatus.exceeds_pending_transfer_amount;
    if (isVoid && amount < p.amount) return TransferStatus.pending_transfer_has_different_amount;
    const info = this.state.pending.get(p.timestamp)!;
    if (info.status === PendingStatus.posted) return TransferStatus.pending_transfer_already_posted;
    if (info.status === PendingStatus.voided) return TransferStatus.pending_transfer_already_voided;
    if (info.status === PendingStatus.expired) return TransferStatus.pending_transfer_expired;
    if (info.expiresAtNs !== 0n && info.expiresAtNs <= timestamp) return TransferStatus.pending_transfer_expired;
    if ((t.flags & TransferFlags.imported) !== 0 && this.importedTransferRegresses(timestamp, dr, cr)) {
      return TransferStatus.imported_event_timestamp_must_not_regress;
    }
    // The only movement a closed account allows is voiding a pending transfer.
    if ((dr.flags & AccountFlags.closed) !== 0 && !isVoid) return TransferStatus.debit_account_already_closed;
    if ((cr.flags & AccountFlags.closed) !== 0 && !isVoid) return TransferStatus.credit_account_already_closed;
    this.applyResolution(scope, t, p, timestamp, amount, dr, cr);
    return TransferStatus.created;
  }

  private applyResolution(scope: Scope, t: Transfer, p: Transfer, timestamp: bigint, amount: bigint, dr: StoredAccount, cr: StoredAccount): void {
    const post = (t.flags & TransferFlags.post_pending_transfer) !== 0;
    const resolution: Transfer = {
      id: t.id,
      debit_account_id: p.debit_account_id,
      credit_account_id: p.credit_account_id,
      amount,
      pending_id: t.pending_id,
      user_data_128: t.user_data_128 !== 0n ? t.user_data_128 : p.user_data_128,
      user_data_64: t.user_data_64 !== 0n ? t.user_data_64 : p.user_data_64,
      user_data_32: t.user_data_32 !== 0 ? t.user_data_32 : p.user_data_32,
      timeout: 0,
      ledger: p.ledger,
      code: p.code,
      flags: t.flags,
      timestamp,
    };
    this.insertTransfer(scope, resolution, dr, cr);
    scope.undo.push(() => this.uninsertTransfer(scope, resolution, dr, cr));
    this.setPendingStatus(scope, p.timestamp, post ? PendingStatus.posted : PendingStatus.voided);
    this.touch(scope, dr);
    this.touch(scope, cr);
    assert(dr.debits_pending >= p.amount && cr.credits_pending >= p.amount, 'a pending amount is held by both accounts');
    dr.debits_pending -= p.amount;
    cr.credits_pending -= p.amount;
    if (post) {
      dr.debits_posted += amount;
      cr.credits_posted += amount;
    } else {
      // Voiding a closing transfer re-opens the account it closed.
      if ((p.flags & TransferFlags.closing_debit) !== 0) dr.flags &= ~AccountFlags.closed;
      if ((p.flags & TransferFlags.closing_credit) !== 0) cr.flags &= ~AccountFlags.closed;
    }
    this.recordHistory(scope, timestamp, dr, cr);
  }

  private setPendingStatus(scope: Scope, pendingTimestamp: bigint, status: PendingStatus): void {
    const info = this.state.pending.get(pendingTimestamp)!;
    assert(info.status === PendingStatus.pending, 'a pending transfer resolves once');
    info.status = status;
    scope.undo.push(() => {
      info.status = PendingStatus.pending;
    });
    scope.writes.push({ table: TABLES.pending, key: u64Key(pendingTimestamp), value: Uint8Array.of(status) });
  }

  /**
   * Expires pending transfers whose timeout has passed by `nowNs`, at most `entriesMax` expiry-queue
   * entries (so one step's writes stay within a store transaction's limit); returns how many expired.
   * Releases each one's amounts and re-opens accounts it closed. Each expiry is an event with its own timestamp (its expiry time, or just after the
   * last timestamp handed out), which is what an account's history shows.
   */
  expirePendingTransfers(scope: Scope, nowNs: bigint, entriesMax: number): number {
    assert(entriesMax > 0, 'an expiry step must be allowed some work');
    let expired = 0;
    for (let entries = 0; entries < entriesMax; entries++) {
      const next = this.state.expiry.peek();
      if (next === undefined || next[0] > nowNs) return expired;
      this.state.expiry.pop();
      const [expiresAtNs, pendingTimestamp] = next;
      scope.undo.push(() => this.state.expiry.push(expiresAtNs, pendingTimestamp));
      const info = this.state.pending.get(pendingTimestamp);
      // Entries are never removed when a transfer resolves or its creation is rolled back (a failed chain or
      // request), so an entry is stale unless it still names a pending transfer with this expiry time: an
      // imported transfer may reuse the timestamp of a rolled-back one.
      if (info === undefined || info.status !== PendingStatus.pending || info.expiresAtNs !== expiresAtNs) continue;
      const eventTimestamp = expiresAtNs > this.state.commitTimestamp ? expiresAtNs : this.state.commitTimestamp + 1n;
      this.state.commitTimestamp = eventTimestamp;
      this.setPendingStatus(scope, pendingTimestamp, PendingStatus.expired);
      const dr = this.state.accounts.get(info.debitAccountId)!;
      const cr = this.state.accounts.get(info.creditAccountId)!;
      this.touch(scope, dr);
      this.touch(scope, cr);
      assert(dr.debits_pending >= info.amount && cr.credits_pending >= info.amount, 'an expiring amount is held by both accounts');
      assert(eventTimestamp >= expiresAtNs, 'a transfer expires at or after its expiry time');
      dr.debits_pending -= info.amount;
      cr.credits_pending -= info.amount;
      if ((info.flags & TransferFlags.closing_debit) !== 0) dr.flags &= ~AccountFlags.closed;
      if ((info.flags & TransferFlags.closing_credit) !== 0) cr.flags &= ~AccountFlags.closed;
      this.recordHistory(scope, eventTimestamp, dr, cr);
      expired++;
    }
    return expired;
  }

  /** Whether a pending transfer is due to expire at `nowNs` (and not yet expired). */
  expiryDue(nowNs: bigint): boolean {
    const next = this.state.expiry.peek();
    return next !== undefined && next[0] <= nowNs;
  }
}
