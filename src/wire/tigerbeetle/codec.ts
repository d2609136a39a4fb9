/**
 * The one codec of TigerBeetle's fixed-size, little-endian structs (`src/tigerbeetle.zig`): Account,
 * Transfer, AccountFilter and AccountBalance are 128 bytes, QueryFilter 64, a create result 16 and a lookup
 * event one u128 id (16). The ledger stores accounts and transfers in exactly this form and both wire
 * protocols send them, so a change to a layout is made here once.
 *
 * Account:  id 0, debits_pending 16, debits_posted 32, credits_pending 48, credits_posted 64,
 *           user_data_128 80, user_data_64 96, user_data_32 104, reserved 108, ledger 112, code 116,
 *           flags 118, timestamp 120.
 * Transfer: id 0, debit_account_id 16, credit_account_id 32, amount 48, pending_id 64, user_data_128 80,
 *           user_data_64 96, user_data_32 104, timeout 108, ledger 112, code 116, flags 118, timestamp 120.
 *
 * Decoders read exactly the fields the ledger's types have and ignore nothing silently: reserved bytes of
 * a filter are checked by `filterReservedIsZero` so the caller can answer the way TigerBeetle does (a
 * filter with reserved bytes set matches nothing). Encoders write every byte, reserved ones as zero.
 */
import type { Account, AccountBalance, AccountFilter, CreateAccountResult, CreateTransferResult, QueryFilter, Transfer } from '../../ledger/types.js';

export const ACCOUNT_SIZE_BYTES = 128;
export const TRANSFER_SIZE_BYTES = 128;
export const ACCOUNT_FILTER_SIZE_BYTES = 128;
export const QUERY_FILTER_SIZE_BYTES = 64;
export const ACCOUNT_BALANCE_SIZE_BYTES = 128;
export const CREATE_RESULT_SIZE_BYTES = 16;
export const ID_SIZE_BYTES = 16;

/** Accounts and transfers alike: the ledger's pages hold records of this size. */
export const RECORD_SIZE_BYTES = 128;

const U64_MASK = (1n << 64n) - 1n;

export function readU128(view: DataView, offset: number): bigint {
  const low = view.getBigUint64(offset, true);
  const high = view.getBigUint64(offset + 8, true);
  // Most ids and amounts fit in 64 bits; skipping the shift and the OR saves two BigInt allocations.
  return high === 0n ? low : low | (high << 64n);
}

export function writeU128(view: DataView, offset: number, value: bigint): void {
  // Most amounts and balances fit in 64 bits: then no shifted or masked bigint is allocated.
  if (value <= U64_MASK) {
    view.setBigUint64(offset, value, true);
    view.setBigUint64(offset + 8, 0n, true);
    return;
  }
  view.setBigUint64(offset, value & U64_MASK, true);
  view.setBigUint64(offset + 8, value >> 64n, true);
}

/** A DataView over all of `bytes`, for the codec's (view, offset) functions. */
export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function decodeAccount(view: DataView, at: number): Account {
  return {
    id: readU128(view, at),
    debits_pending: readU128(view, at + 16),
    debits_posted: readU128(view, at + 32),
    credits_pending: readU128(view, at + 48),
    credits_posted: readU128(view, at + 64),
    user_data_128: readU128(view, at + 80),
    user_data_64: view.getBigUint64(at + 96, true),
    user_data_32: view.getUint32(at + 104, true),
    reserved: view.getUint32(at + 108, true),
    ledger: view.getUint32(at + 112, true),
    code: view.getUint16(at + 116, true),
    flags: view.getUint16(at + 118, true),
    timestamp: view.getBigUint64(at + 120, true),
  };
}

export function encodeAccount(view: DataView, at: number, account: Account): void {
  writeU128(view, at, account.id);
  writeU128(view, at + 16, account.debits_pending);
  writeU128(view, at + 32, account.debits_posted);
  writeU128(view, at + 48, account.credits_pending);
  writeU128(view, at + 64, account.credits_posted);
  writeU128(view, at + 80, account.user_data_128);
  view.setBigUint64(at + 96, account.user_data_64, true);
  view.setUint32(at + 104, account.user_data_32, true);
  view.setUint32(at + 108, account.reserved, true);
  view.setUint32(at + 112, account.ledger, true);
  view.setUint16(at + 116, account.code, true);
  view.setUint16(at + 118, account.flags, true);
  view.setBigUint64(at + 120, account.timestamp, true);
}

export function decodeTransfer(view: DataView, at: number): Transfer {
  return {
    id: readU128(view, at),
    debit_account_id: readU128(view, at + 16),
    credit_account_id: readU128(view, at + 32),
    amount: readU128(view, at + 48),
    pending_id: readU128(view, at + 64),
    user_data_128: readU128(view, at + 80),
    user_data_64: view.getBigUint64(at + 96, true),
    user_data_32: view.getUint32(at + 104, true),
    timeout: view.getUint32(at + 108, true),
    ledger: view.getUint32(at + 112, true),
    code: view.getUint16(at + 116, true),
    flags: view.getUint16(at + 118, true),
    timestamp: view.getBigUint64(at + 120, true),
  };
}

export function encodeTransfer(view: DataView, at: number, transfer: Transfer): void {
  writeU128(view, at, transfer.id);
  writeU128(view, at + 16, transfer.debit_account_id);
  writeU128(view, at + 32, transfer.credit_account_id);
  writeU128(view, at + 48, transfer.amount);
  writeU128(view, at + 64, transfer.pending_id);
  writeU128(view, at + 80, transfer.user_data_128);
  view.setBigUint64(at + 96, transfer.user_data_64, true);
  view.setUint32(at + 104, transfer.user_data_32, true);
  view.setUint32(at + 108, transfer.timeout, true);
  view.setUint32(at + 112, transfer.ledger, true);
  view.setUint16(at + 116, transfer.code, true);
  view.setUint16(at + 118, transfer.flags, true);
  view.setBigUint64(at + 120, transfer.timestamp, true);
}

export function decodeAccountFilter(view: DataView, at: number): AccountFilter {
  return {
    account_id: readU128(view, at),
    user_data_128: readU128(view, at + 16),
    user_data_64: view.getBigUint64(at + 32, true),
    user_data_32: view.getUint32(at + 40, true),
    code: view.getUint16(at + 44, true),
    // 58 reserved bytes at 46..103.
    timestamp_min: view.getBigUint64(at + 104, true),
    timestamp_max: view.getBigUint64(at + 112, true),
    limit: view.getUint32(at + 120, true),
    flags: view.getUint32(at + 124, true),
  };
}

export function encodeAccountFilter(view: DataView, at: number, filter: AccountFilter): void {
  writeU128(view, at, filter.account_id);
  writeU128(view, at + 16, filter.user_data_128);
  view.setBigUint64(at + 32, filter.user_data_64, true);
  view.setUint32(at + 40, filter.user_data_32, true);
  view.setUint16(at + 44, filter.code, true);
  for (let i = 46; i < 104; i += 1) view.setUint8(at + i, 0);
  view.setBigUint64(at + 104, filter.timestamp_min, true);
  view.setBigUint64(at + 112, filter.timestamp_max, true);
  view.setUint32(at + 120, filter.limit, true);
  view.setUint32(at + 124, filter.flags, true);
}

export function decodeQueryFilter(view: DataView, at: number): QueryFilter {
  return {
    user_data_128: readU128(view, at),
    user_data_64: view.getBigUint64(at + 16, true),
    user_data_32: view.getUint32(at + 24, true),
    ledger: view.getUint32(at + 28, true),
    code: view.getUint16(at + 32, true),
    // 6 reserved bytes at 34..39.
    timestamp_min: view.getBigUint64(at + 40, true),
    timestamp_max: view.getBigUint64(at + 48, true),
    limit: view.getUint32(at + 56, true),
    flags: view.getUint32(at + 60, true),
  };
}

export function encodeQueryFilter(view: DataView, at: number, filter: QueryFilter): void {
  writeU128(view, at, filter.user_data_128);
  view.setBigUint64(at + 16, filter.user_data_64, true);
  view.setUint32(at + 24, filter.user_data_32, true);
  view.setUint32(at + 28, filter.ledger, true);
  view.setUint16(at + 32, filter.code, true);
  for (let i = 34; i < 40; i += 1) view.setUint8(at + i, 0);
  view.setBigUint64(at + 40, filter.timestamp_min, true);
  view.setBigUint64(at + 48, filter.timestamp_max, true);
  view.setUint32(at + 56, filter.limit, true);
  view.setUint32(at + 60, filter.flags, true);
}

/** Whether the reserved bytes of the filter at `at` are zero (TigerBeetle: otherwise it matches nothing). */
export function filterReservedIsZero(bytes: Uint8Array, at: number, filterSizeBytes: number): boolean {
  const [from, to] = filterSizeBytes === ACCOUNT_FILTER_SIZE_BYTES ? [46, 104] : [34, 40];
  for (let i = from; i < to; i += 1) if (bytes[at + i] !== 0) return false;
  return true;
}

export function decodeAccountBalance(view: DataView, at: number): AccountBalance {
  return {
    debits_pending: readU128(view, at),
    debits_posted: readU128(view, at + 16),
    credits_pending: readU128(view, at + 32),
    credits_posted: readU128(view, at + 48),
    timestamp: view.getBigUint64(at + 64, true),
  };
}

export function encodeAccountBalance(view: DataView, at: number, balance: AccountBalance): void {
  writeU128(view, at, balance.debits_pending);
  writeU128(view, at + 16, balance.debits_posted);
  writeU128(view, at + 32, balance.credits_pending);
  writeU128(view, at + 48, balance.credits_posted);
  view.setBigUint64(at + 64, balance.timestamp, true);
  for (let i = 72; i < 128; i += 8) view.setBigUint64(at + i, 0n, true);
}

export type CreateResult = CreateAccountResult | CreateTransferResult;

export function decodeCreateResult(view: DataView, at: number): CreateResult {
  return { timestamp: view.getBigUint64(at, true), status: view.getUint32(at + 8, true) };
}

export function encodeCreateResult(view: DataView, at: number, result: CreateResult): void {
  view.setBigUint64(at, result.timestamp, true);
  view.setUint32(at + 8, result.status, true);
  view.setUint32(at + 12, 0, true);
}
