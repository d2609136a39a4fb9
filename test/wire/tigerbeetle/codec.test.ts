// The one codec of TigerBeetle's structs: every struct round-trips through its 128/64/16-byte
// little-endian form with extreme values (0 and the field's maximum, u128 values above and below 2^64),
// fields sit at TigerBeetle's offsets, and reserved filter bytes are detected.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Account, AccountBalance, AccountFilter, QueryFilter, Transfer } from '../../../src/ledger/types.js';
import {
  decodeAccount, decodeAccountBalance, decodeAccountFilter, decodeCreateResult, decodeQueryFilter, decodeTransfer, encodeAccount,
  encodeAccountBalance, encodeAccountFilter, encodeCreateResult, encodeQueryFilter, encodeTransfer, filterReservedIsZero,
} from '../../../src/wire/tigerbeetle/codec.js';

const U128_MAX = (1n << 128n) - 1n;
const U64_MAX = (1n << 64n) - 1n;
const view = (size: number) => new DataView(new ArrayBuffer(size));

function transfers(count: number): Transfer[] {
  return Array.from({ length: count }, (_, i) => ({
    id: (1n << 127n) + BigInt(i), debit_account_id: BigInt(i) << 70n, credit_account_id: 3n, amount: (1n << 100n) + 7n,
    pending_id: BigInt(i), user_data_128: U128_MAX - BigInt(i), user_data_64: (1n << 64n) - 1n, user_data_32: 0xffff_ffff - i,
    timeout: i, ledger: 70000 + i, code: 65535 - i, flags: 256 + (i % 3), timestamp: 1000n + BigInt(i),
  }));
}

test('Account and Transfer round-trip at 0 and at every field maximum', () => {
  for (const big of [0n, U128_MAX, 0x0123456789abcdef_fedcba9876543210n]) {
    const small = big === 0n ? 0 : 0xffff_ffff;
    const account: Account = { id: big, debits_pending: big, debits_posted: big >> 1n, credits_pending: big >> 2n, credits_posted: big >> 3n, user_data_128: big, user_data_64: big & U64_MAX, user_data_32: small, reserved: small, ledger: small, code: small & 0xffff, flags: small & 0xffff, timestamp: big & U64_MAX };
    const v = view(256);
    encodeAccount(v, 128, account);
    assert.deepEqual(decodeAccount(v, 128), account);
    const transfer: Transfer = { id: big, debit_account_id: big >> 4n, credit_account_id: big >> 5n, amount: big, pending_id: big >> 6n, user_data_128: big, user_data_64: big & U64_MAX, user_data_32: small, timeout: small, ledger: small, code: small & 0xffff, flags: small & 0xffff, timestamp: (big >> 7n) & U64_MAX };
    encodeTransfer(v, 0, transfer);
    assert.deepEqual(decodeTransfer(v, 0), transfer);
  }
});

test('Account fields sit at TigerBeetle offsets (id @0, ledger @112, code @116, flags @118, timestamp @120)', () => {
  const v = view(128);
  encodeAccount(v, 0, { id: 1n, debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, reserved: 0, ledger: 7, code: 9, flags: 3, timestamp: 5n });
  assert.equal(v.getUint8(0), 1);
  assert.equal(v.getUint32(112, true), 7);
  assert.equal(v.getUint16(116, true), 9);
  assert.equal(v.getUint16(118, true), 3);
  assert.equal(v.getBigUint64(120, true), 5n);
});

test('filters, balances and create results round-trip; reserved filter bytes are detected', () => {
  const accountFilter: AccountFilter = { account_id: U128_MAX, user_data_128: 3n, user_data_64: U64_MAX, user_data_32: 4, code: 0xffff, timestamp_min: 1n, timestamp_max: U64_MAX, limit: 8189, flags: 7 };
  const v = view(128);
  encodeAccountFilter(v, 0, accountFilter);
  assert.deepEqual(decodeAccountFilter(v, 0), accountFilter);
  const bytes = new Uint8Array(v.buffer);
  assert.equal(filterReservedIsZero(bytes, 0, 128), true);
  bytes[60] = 1;
  assert.equal(filterReservedIsZero(bytes, 0, 128), false);

  const queryFilter: QueryFilter = { user_data_128: U128_MAX, user_data_64: 2n, user_data_32: 3, ledger: 0xffff_ffff, code: 5, timestamp_min: 6n, timestamp_max: 7n, limit: 1, flags: 1 };
  const q = view(64);
  encodeQueryFilter(q, 0, queryFilter);
  assert.deepEqual(decodeQueryFilter(q, 0), queryFilter);
  assert.equal(filterReservedIsZero(new Uint8Array(q.buffer), 0, 64), true);

  const balance: AccountBalance = { debits_pending: 1n, debits_posted: U128_MAX, credits_pending: 3n, credits_posted: 4n, timestamp: U64_MAX };
  encodeAccountBalance(v, 0, balance);
  assert.deepEqual(decodeAccountBalance(v, 0), balance);

  const r = view(16);
  encodeCreateResult(r, 0, { timestamp: 99n, status: 0xffff_ffff });
  assert.deepEqual(decodeCreateResult(r, 0), { timestamp: 99n, status: 0xffff_ffff });
  assert.equal(r.getUint32(12, true), 0, 'reserved is zero');
});

test('accounts and transfers round-trip through the codec', () => {
  const account = {
    id: U128_MAX - 1n, debits_pending: 1n << 64n, debits_posted: U128_MAX, credits_pending: 0n, credits_posted: 5n,
    user_data_128: 1n << 100n, user_data_64: (1n << 64n) - 1n, user_data_32: 0xffff_ffff, reserved: 0, ledger: 0xffff_ffff,
    code: 0xffff, flags: 0x3f, timestamp: (1n << 63n) - 1n,
  };
  const v = view(128);
  encodeAccount(v, 0, account);
  assert.deepEqual(decodeAccount(v, 0), account);
  for (const t of transfers(5)) {
    encodeTransfer(v, 0, t);
    assert.deepEqual(decodeTransfer(v, 0), t);
  }
});
