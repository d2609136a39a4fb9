/**
 * The pure rules of the state machine: comparisons of an event with an existing object, the overflow
 * ladder, balancing amounts, account limits, and the status codes the batch loop needs. No state, no side
 * effects; `state-machine.ts` calls them.
 */
import { assert } from '../errors.js';
import {
  AccountFlags,
  amount_max,
  CreateAccountStatus as AccountStatus,
  CreateTransferStatus as TransferStatus,
  TransferFlags,
  type Account,
  type Transfer,
} from './types.js';

const U128_MAX = amount_max;

/** Status values the batch loop needs, which differ between accounts and transfers. */
export interface BatchCodes {
  imported_flag: number;
  created: number;
  linked_event_failed: number;
  linked_event_chain_open: number;
  imported_event_expected: number;
  imported_event_not_expected: number;
  timestamp_must_be_zero: number;
  imported_event_timestamp_out_of_range: number;
  imported_event_timestamp_must_not_advance: number;
  exists: number;
}

/** Small objects of their own (not spreads of the 70-member enums), so reading a code is a fast load. */
function batchCodes(status: typeof AccountStatus | typeof TransferStatus, importedFlag: number): BatchCodes {
  return {
    imported_flag: importedFlag,
    created: status.created,
    linked_event_failed: status.linked_event_failed,
    linked_event_chain_open: status.linked_event_chain_open,
    imported_event_expected: status.imported_event_expected,
    imported_event_not_expected: status.imported_event_not_expected,
    timestamp_must_be_zero: status.timestamp_must_be_zero,
    imported_event_timestamp_out_of_range: status.imported_event_timestamp_out_of_range,
    imported_event_timestamp_must_not_advance: status.imported_event_timestamp_must_not_advance,
    exists: status.exists,
  };
}

export const ACCOUNT_CODES = batchCodes(AccountStatus, AccountFlags.imported);
export const TRANSFER_CODES = batchCodes(TransferStatus, TransferFlags.imported);

export const TRANSIENT_TRANSFER_STATUSES = new Set<number>([
  TransferStatus.debit_account_not_found,
  TransferStatus.credit_account_not_found,
  TransferStatus.pending_transfer_not_found,
  TransferStatus.exceeds_credits,
  TransferStatus.exceeds_debits,
  TransferStatus.debit_account_already_closed,
  TransferStatus.credit_account_already_closed,
]);

/** Below this, no sum of three amounts or balances can exceed u128, so the overflow checks can be skipped. */
const OVERFLOW_SAFE = 1n << 126n;

/** The overflow checks, in TigerBeetle's order. Skipped whole when every operand is small. */
export function overflowStatus(t: Transfer, amount: bigint, dr: Account, cr: Account): TransferStatus | undefined {
  if (amount < OVERFLOW_SAFE && dr.debits_pending < OVERFLOW_SAFE && dr.debits_posted < OVERFLOW_SAFE && cr.credits_pending < OVERFLOW_SAFE && cr.credits_posted < OVERFLOW_SAFE) {
    return undefined;
  }
  const pending = (t.flags & TransferFlags.pending) !== 0;
  if (pending && amount + dr.debits_pending > U128_MAX) return TransferStatus.overflows_debits_pending;
  if (pending && amount + cr.credits_pending > U128_MAX) return TransferStatus.overflows_credits_pending;
  if (amount + dr.debits_posted > U128_MAX) return TransferStatus.overflows_debits_posted;
  if (amount + cr.credits_posted > U128_MAX) return TransferStatus.overflows_credits_posted;
  if (amount + dr.debits_pending + dr.debits_posted > U128_MAX) return TransferStatus.overflows_debits;
  if (amount + cr.credits_pending + cr.credits_posted > U128_MAX) return TransferStatus.overflows_credits;
  return undefined;
}

/** The transfer as stored: the event with its actual amount and timestamp (an object literal, one shape). */
export function storedTransfer(t: Transfer, amount: bigint, timestamp: bigint): Transfer {
  return {
    id: t.id, debit_account_id: t.debit_account_id, credit_account_id: t.credit_account_id, amount, pending_id: t.pending_id,
    user_data_128: t.user_data_128, user_data_64: t.user_data_64, user_data_32: t.user_data_32, timeout: t.timeout,
    ledger: t.ledger, code: t.code, flags: t.flags, timestamp,
  };
}

/** A transfer created in this scope, by timestamp (created transfers are in timestamp order). */
export function findCreated(created: Transfer[], timestamp: bigint): Transfer | undefined {
  let low = 0;
  let high = created.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (created[middle].timestamp < timestamp) low = middle + 1;
    else high = middle;
  }
  return low < created.length && created[low].timestamp === timestamp ? created[low] : undefined;
}

export function accountExists(a: Account, e: Account): AccountStatus {
  if (a.flags !== e.flags) return AccountStatus.exists_with_different_flags;
  if (a.user_data_128 !== e.user_data_128) return AccountStatus.exists_with_different_user_data_128;
  if (a.user_data_64 !== e.user_data_64) return AccountStatus.exists_with_different_user_data_64;
  if (a.user_data_32 !== e.user_data_32) return AccountStatus.exists_with_different_user_data_32;
  if (a.ledger !== e.ledger) return AccountStatus.exists_with_different_ledger;
  if (a.code !== e.code) return AccountStatus.exists_with_different_code;
  return AccountStatus.exists;
}

export function postOrVoidExists(t: Transfer, e: Transfer, p: Transfer): TransferStatus {
  if (t.debit_account_id !== 0n && t.debit_account_id !== e.debit_account_id) return TransferStatus.exists_with_different_debit_account_id;
  if (t.credit_account_id !== 0n && t.credit_account_id !== e.credit_account_id) return TransferStatus.exists_with_different_credit_account_id;
  if ((t.flags & TransferFlags.void_pending_transfer) !== 0) {
    if (t.amount === 0n ? e.amount !== p.amount : t.amount !== e.amount) return TransferStatus.exists_with_different_amount;
  } else if (t.amount === U128_MAX ? e.amount !== p.amount : t.amount !== e.amount) {
    return TransferStatus.exists_with_different_amount;
  }
  if (t.user_data_128 === 0n ? e.user_data_128 !== p.user_data_128 : t.user_data_128 !== e.user_data_128) return TransferStatus.exists_with_different_user_data_128;
  if (t.user_data_64 === 0n ? e.user_data_64 !== p.user_data_64 : t.user_data_64 !== e.user_data_64) return TransferStatus.exists_with_different_user_data_64;
  if (t.user_data_32 === 0 ? e.user_data_32 !== p.user_data_32 : t.user_data_32 !== e.user_data_32) return TransferStatus.exists_with_different_user_data_32;
  if (t.ledger !== 0 && t.ledger !== e.ledger) return TransferStatus.exists_with_different_ledger;
  if (t.code !== 0 && t.code !== e.code) return TransferStatus.exists_with_different_code;
  return TransferStatus.exists;
}

/** Balancing transfers move at most what balances the account; subtraction saturates at zero. */
export function balancedAmount(t: Transfer, dr: Account, cr: Account): bigint {
  let amount = t.amount;
  if ((t.flags & TransferFlags.balancing_debit) !== 0) {
    const available = dr.credits_posted - dr.debits_posted - dr.debits_pending;
    const limit = available > 0n ? available : 0n;
    if (limit < amount) amount = limit;
  }
  if ((t.flags & TransferFlags.balancing_credit) !== 0) {
    const available = cr.debits_posted - cr.credits_posted - cr.credits_pending;
    const limit = available > 0n ? available : 0n;
    if (limit < amount) amount = limit;
  }
  return amount;
}

export function debitsExceedCredits(a: Account, amount: bigint): boolean {
  return (a.flags & AccountFlags.debits_must_not_exceed_credits) !== 0 && a.debits_pending + a.debits_posted + amount > a.credits_posted;
}

export function creditsExceedDebits(a: Account, amount: bigint): boolean {
  return (a.flags & AccountFlags.credits_must_not_exceed_debits) !== 0 && a.credits_pending + a.credits_posted + amount > a.debits_posted;
}

/**
 * The status of a transfer whose id exists: `exists` only if every field matches the stored `e`.
 * `findPending` finds the pending transfer a post or void resolves; it is called only once the flags,
 * pending id and timeout match (a prefetched record is known to exist then).
 */
export function transferExists(t: Transfer, e: Transfer, findPending: () => Transfer | undefined): TransferStatus {
  // The flags change the meaning of the other fields, so they are compared first.
  if (t.flags !== e.flags) return TransferStatus.exists_with_different_flags;
  if (t.pending_id !== e.pending_id) return TransferStatus.exists_with_different_pending_id;
  if (t.timeout !== e.timeout) return TransferStatus.exists_with_different_timeout;
  if ((t.flags & (TransferFlags.post_pending_transfer | TransferFlags.void_pending_transfer)) !== 0) {
    const pending = findPending();
    assert(pending !== undefined, 'a post or void without its pending transfer');
    return postOrVoidExists(t, e, pending);
  }
  if (t.debit_account_id !== e.debit_account_id) return TransferStatus.exists_with_different_debit_account_id;
  if (t.credit_account_id !== e.credit_account_id) return TransferStatus.exists_with_different_credit_account_id;
  // A balancing transfer's amount is an upper limit: resubmitting it exists if the stored amount fits.
  if ((t.flags & (TransferFlags.balancing_debit | TransferFlags.balancing_credit)) !== 0) {
    if (t.amount < e.amount) return TransferStatus.exists_with_different_amount;
  } else if (t.amount !== e.amount) return TransferStatus.exists_with_different_amount;
  if (t.user_data_128 !== e.user_data_128) return TransferStatus.exists_with_different_user_data_128;
  if (t.user_data_64 !== e.user_data_64) return TransferStatus.exists_with_different_user_data_64;
  if (t.user_data_32 !== e.user_data_32) return TransferStatus.exists_with_different_user_data_32;
  if (t.ledger !== e.ledger) return TransferStatus.exists_with_different_ledger;
  if (t.code !== e.code) return TransferStatus.exists_with_different_code;
  return TransferStatus.exists;
}
