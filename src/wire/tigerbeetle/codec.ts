/**
 * TigerBeetle's 128-byte binary layouts of `Account` and `Transfer` (little-endian, fields in declaration
 * order). The ledger stores records in exactly this form, and the wire protocol (issue 7) sends them, so
 * one codec serves both.
 *
 * Account:  id 0, debits_pending 16, debits_posted 32, credits_pending 48, credits_posted 64,
 *           user_data_128 80, user_data_64 96, user_data_32 104, reserved 108, ledger 112, code 116,
 *           flags 118, timestamp 120.
 * Transfer: id 0, debit_account_id 16, credit_account_id 32, amount 48, pending_id 64, user_data_128 80,
 *           user_data_64 96, user_data_32 104, timeout 108, ledger 112, code 116, flags 118, timestamp 120.
 */
import type { Account, Transfer } from '../../ledger/types.js';

export const RECORD_SIZE_BYTES = 128;
const U64_MASK = (1n << 64n) - 1n;

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

export function readU128(view: DataView, offset: number): bigint {
  const low = view.getBigUint64(offset, true);
  const high = view.getBigUint64(offset + 8, true);
  return high === 0n ? low : (high << 64n) | low;
}

function viewOf(bytes: Uint8Array, offset: number): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset + offset, RECORD_SIZE_BYTES);
}

export function encodeAccount(a: Account, out: Uint8Array = new Uint8Array(RECORD_SIZE_BYTES), offset = 0): Uint8Array {
  const v = viewOf(out, offset);
  writeU128(v, 0, a.id);
  writeU128(v, 16, a.debits_pending);
  writeU128(v, 32, a.debits_posted);
  writeU128(v, 48, a.credits_pending);
  writeU128(v, 64, a.credits_posted);
  writeU128(v, 80, a.user_data_128);
  v.setBigUint64(96, a.user_data_64, true);
  v.setUint32(104, a.user_data_32, true);
  v.setUint32(108, a.reserved, true);
  v.setUint32(112, a.ledger, true);
  v.setUint16(116, a.code, true);
  v.setUint16(118, a.flags, true);
  v.setBigUint64(120, a.timestamp, true);
  return out;
}

export function decodeAccount(bytes: Uint8Array, offset = 0): Account {
  const v = viewOf(bytes, offset);
  return {
    id: readU128(v, 0),
    debits_pending: readU128(v, 16),
    debits_posted: readU128(v, 32),
    credits_pending: readU128(v, 48),
    credits_posted: readU128(v, 64),
    user_data_128: readU128(v, 80),
    user_data_64: v.getBigUint64(96, true),
    user_data_32: v.getUint32(104, true),
    reserved: v.getUint32(108, true),
    ledger: v.getUint32(112, true),
    code: v.getUint16(116, true),
    flags: v.getUint16(118, true),
    timestamp: v.getBigUint64(120, true),
  };
}

export function encodeTransfer(t: Transfer, out: Uint8Array = new Uint8Array(RECORD_SIZE_BYTES), offset = 0): Uint8Array {
  const v = viewOf(out, offset);
  writeU128(v, 0, t.id);
  writeU128(v, 16, t.debit_account_id);
  writeU128(v, 32, t.credit_account_id);
  writeU128(v, 48, t.amount);
  writeU128(v, 64, t.pending_id);
  writeU128(v, 80, t.user_data_128);
  v.setBigUint64(96, t.user_data_64, true);
  v.setUint32(104, t.user_data_32, true);
  v.setUint32(108, t.timeout, true);
  v.setUint32(112, t.ledger, true);
  v.setUint16(116, t.code, true);
  v.setUint16(118, t.flags, true);
  v.setBigUint64(120, t.timestamp, true);
  return out;
}

export function decodeTransfer(bytes: Uint8Array, offset = 0): Transfer {
  const v = viewOf(bytes, offset);
  return {
    id: readU128(v, 0),
    debit_account_id: readU128(v, 16),
    credit_account_id: readU128(v, 32),
    amount: readU128(v, 48),
    pending_id: readU128(v, 64),
    user_data_128: readU128(v, 80),
    user_data_64: v.getBigUint64(96, true),
    user_data_32: v.getUint32(104, true),
    timeout: v.getUint32(108, true),
    ledger: v.getUint32(112, true),
    code: v.getUint16(116, true),
    flags: v.getUint16(118, true),
    timestamp: v.getBigUint64(120, true),
  };
}
