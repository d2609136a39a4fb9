// The wire codecs: every struct round-trips through its 128/64/16-byte little-endian form with extreme
// values (0 and the field's maximum); multi-batch trailers are sized, padded with 0xFF and ordered as
// TigerBeetle's (first batch's count nearest the end), and malformed trailers are rejected; headers built
// here pass the checks the official client and replica apply, and a flipped byte fails them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Account, AccountBalance, AccountFilter, QueryFilter, Transfer } from '../../../src/ledger/types.js';
import {
  buildEviction,
  buildPingClient,
  buildPongClient,
  buildRequest,
  Command,
  EvictionReason,
  frameInvalid,
  HEADER_SIZE_BYTES,
  headerChecksumValid,
  bodyChecksumValid,
  allocateMessage,
  packRelease,
  pingClientInvalid,
  readEviction,
  readFrame,
  readPingClient,
  readPongClient,
  readReply,
  readRequest,
  replyInvalid,
  requestInvalid,
  sealReply,
} from '../../../src/wire/tigerbeetle/header.js';
import { decodeMultiBatch, multiBatchSizeBytes, trailerSizeBytes, writeMultiBatchTrailer } from '../../../src/wire/tigerbeetle/multi-batch.js';
import * as structs from '../../../src/wire/tigerbeetle/structs.js';

const U128_MAX = (1n << 128n) - 1n;
const U64_MAX = (1n << 64n) - 1n;
const view = (size: number) => new DataView(new ArrayBuffer(size));

test('Account and Transfer round-trip at 0 and at every field maximum', () => {
  for (const big of [0n, U128_MAX, 0x0123456789abcdef_fedcba9876543210n]) {
    const small = big === 0n ? 0 : 0xffff_ffff;
    const account: Account = { id: big, debits_pending: big, debits_posted: big >> 1n, credits_pending: big >> 2n, credits_posted: big >> 3n, user_data_128: big, user_data_64: big & U64_MAX, user_data_32: small, reserved: small, ledger: small, code: small & 0xffff, flags: small & 0xffff, timestamp: big & U64_MAX };
    const v = view(256);
    structs.encodeAccount(v, 128, account);
    assert.deepEqual(structs.decodeAccount(v, 128), account);
    const transfer: Transfer = { id: big, debit_account_id: big >> 4n, credit_account_id: big >> 5n, amount: big, pending_id: big >> 6n, user_data_128: big, user_data_64: big & U64_MAX, user_data_32: small, timeout: small, ledger: small, code: small & 0xffff, flags: small & 0xffff, timestamp: (big >> 7n) & U64_MAX };
    structs.encodeTransfer(v, 0, transfer);
    assert.deepEqual(structs.decodeTransfer(v, 0), transfer);
  }
});

test('Account fields sit at TigerBeetle offsets (id @0, ledger @112, code @116, flags @118, timestamp @120)', () => {
  const v = view(128);
  structs.encodeAccount(v, 0, { id: 1n, debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, reserved: 0, ledger: 7, code: 9, flags: 3, timestamp: 5n });
  assert.equal(v.getUint8(0), 1);
  assert.equal(v.getUint32(112, true), 7);
  assert.equal(v.getUint16(116, true), 9);
  assert.equal(v.getUint16(118, true), 3);
  assert.equal(v.getBigUint64(120, true), 5n);
});

test('filters, balances and create results round-trip; reserved filter bytes are detected', () => {
  const accountFilter: AccountFilter = { account_id: U128_MAX, user_data_128: 3n, user_data_64: U64_MAX, user_data_32: 4, code: 0xffff, timestamp_min: 1n, timestamp_max: U64_MAX, limit: 8189, flags: 7 };
  const v = view(128);
  structs.encodeAccountFilter(v, 0, accountFilter);
  assert.deepEqual(structs.decodeAccountFilter(v, 0), accountFilter);
  const bytes = new Uint8Array(v.buffer);
  assert.equal(structs.filterReservedIsZero(bytes, 0, 128), true);
  bytes[60] = 1;
  assert.equal(structs.filterReservedIsZero(bytes, 0, 128), false);

  const queryFilter: QueryFilter = { user_data_128: U128_MAX, user_data_64: 2n, user_data_32: 3, ledger: 0xffff_ffff, code: 5, timestamp_min: 6n, timestamp_max: 7n, limit: 1, flags: 1 };
  const q = view(64);
  structs.encodeQueryFilter(q, 0, queryFilter);
  assert.deepEqual(structs.decodeQueryFilter(q, 0), queryFilter);
  assert.equal(structs.filterReservedIsZero(new Uint8Array(q.buffer), 0, 64), true);

  const balance: AccountBalance = { debits_pending: 1n, debits_posted: U128_MAX, credits_pending: 3n, credits_posted: 4n, timestamp: U64_MAX };
  structs.encodeAccountBalance(v, 0, balance);
  assert.deepEqual(structs.decodeAccountBalance(v, 0), balance);

  const r = view(16);
  structs.encodeCreateResult(r, 0, { timestamp: 99n, status: 0xffff_ffff });
  assert.deepEqual(structs.decodeCreateResult(r, 0), { timestamp: 99n, status: 0xffff_ffff });
  assert.equal(r.getUint32(12, true), 0, 'reserved is zero');
});

test('trailer sizes: ceil((2n + 2) / element) * element for element sizes 16, 64 and 128', () => {
  assert.equal(trailerSizeBytes(16, 1), 16);
  assert.equal(trailerSizeBytes(16, 7), 16);
  assert.equal(trailerSizeBytes(16, 8), 32);
  assert.equal(trailerSizeBytes(64, 1), 64);
  assert.equal(trailerSizeBytes(128, 1), 128);
  assert.equal(trailerSizeBytes(128, 63), 128);
  assert.equal(trailerSizeBytes(128, 64), 256);
});

test('multi-batch: TigerBeetle\'s example (4 batches of 128-byte events: 8, 1, 0, 4) encodes and decodes', () => {
  const counts = [8, 1, 0, 4];
  const body = new Uint8Array(multiBatchSizeBytes(128, counts));
  assert.equal(body.length, 1664 + 128);
  writeMultiBatchTrailer(body, 128, counts);
  const trailer = new DataView(body.buffer, body.length - 10, 10);
  // In memory order, as in multi_batch.zig's diagram: counts of batches 4, 3, 2, 1, then the batch count.
  assert.deepEqual([0, 1, 2, 3, 4].map((i) => trailer.getUint16(i * 2, true)), [4, 0, 1, 8, 4]);
  assert.ok(body.subarray(1664, body.length - 10).every((byte) => byte === 0xff), 'padding is 0xFF');
  assert.deepEqual(decodeMultiBatch(body, 128), { counts, offsets: [0, 1024, 1152, 1152] });
});

test('multi-batch: one batch of 8,189 transfers fills a message body exactly', () => {
  const size = multiBatchSizeBytes(128, [8189]);
  assert.equal(size, 1024 * 1024 - HEADER_SIZE_BYTES);
  const body = new Uint8Array(size);
  writeMultiBatchTrailer(body, 128, [8189]);
  assert.deepEqual(decodeMultiBatch(body, 128)?.counts, [8189]);
});

test('multi-batch: malformed trailers are rejected', () => {
  const good = new Uint8Array(multiBatchSizeBytes(16, [2, 3]));
  writeMultiBatchTrailer(good, 16, [2, 3]);
  assert.ok(decodeMultiBatch(good, 16));
  const mutate = (f: (b: Uint8Array) => void) => {
    const copy = good.slice();
    f(copy);
    return decodeMultiBatch(copy, 16);
  };
  assert.equal(mutate((b) => b.fill(0, b.length - 2)), undefined, 'zero batches');
  assert.equal(mutate((b) => (b[b.length - 16] = 0)), undefined, 'padding not 0xFF');
  assert.equal(mutate((b) => (b[b.length - 4] = 9)), undefined, 'counts do not add up');
  assert.equal(decodeMultiBatch(good.subarray(16), 16), undefined, 'truncated payload');
  assert.equal(decodeMultiBatch(new Uint8Array(0), 16), undefined, 'empty body');
  assert.equal(decodeMultiBatch(new Uint8Array(1), 16), undefined, 'odd length');
  assert.equal(decodeMultiBatch(new Uint8Array(2).fill(0xff), 16), undefined, 'count 0xFFFF is padding');
  // An empty batch is allowed: only a trailer.
  const empty = new Uint8Array(multiBatchSizeBytes(128, [0]));
  writeMultiBatchTrailer(empty, 128, [0]);
  assert.deepEqual(decodeMultiBatch(empty, 128)?.counts, [0]);
});

const RELEASE = packRelease(0, 17, 9);

test('a request built here passes the replica checks, and each field rule is enforced', () => {
  const body = new Uint8Array(256);
  const register = buildRequest({ cluster: 7n, release: RELEASE, parent: 0n, client: 42n, session: 0n, request: 0, operation: 2, body });
  assert.equal(register.length, 512);
  assert.equal(RELEASE, 0x1109);
  assert.ok(headerChecksumValid(register.subarray(0, 256)));
  assert.ok(bodyChecksumValid(register.subarray(0, 256), register.subarray(256)));
  assert.equal(frameInvalid(register), undefined);
  assert.equal(requestInvalid(register), undefined);
  const frame = readFrame(register);
  assert.deepEqual([frame.cluster, frame.sizeBytes, frame.release, frame.command], [7n, 512, RELEASE, Command.request]);
  assert.equal(readRequest(register).client, 42n);

  const request = buildRequest({ cluster: 7n, release: RELEASE, parent: 5n, client: 42n, session: 1n, request: 1, operation: 147, body: new Uint8Array(0) });
  assert.equal(requestInvalid(request), undefined);
  assert.match(requestInvalid(buildRequest({ cluster: 7n, release: RELEASE, parent: 5n, client: 42n, session: 0n, request: 1, operation: 147, body })) ?? '', /session == 0/);
  assert.match(requestInvalid(buildRequest({ cluster: 7n, release: RELEASE, parent: 0n, client: 0n, session: 1n, request: 1, operation: 147, body })) ?? '', /client == 0/);
  assert.match(requestInvalid(buildRequest({ cluster: 7n, release: RELEASE, parent: 0n, client: 1n, session: 1n, request: 1, operation: 3, body })) ?? '', /reserved/);
  const tampered = Buffer.from(request);
  tampered[250] = 1;
  assert.equal(headerChecksumValid(tampered), false, 'a changed byte breaks the checksum');
});

test('a reply sealed here passes the client checks; context is stable and op == commit', () => {
  const reply = allocateMessage(64);
  sealReply(reply, { cluster: 0n, release: RELEASE, requestChecksum: 123n, client: 9n, commit: 4n, timestamp: 1n, request: 0, operation: 2 });
  assert.equal(replyInvalid(reply), undefined);
  const fields = readReply(reply);
  assert.deepEqual([fields.requestChecksum, fields.client, fields.op, fields.commit, fields.request], [123n, 9n, 4n, 4n, 0]);
  assert.notEqual(fields.context, 0n);
  const again = allocateMessage(64);
  sealReply(again, { cluster: 0n, release: RELEASE, requestChecksum: 123n, client: 9n, commit: 4n, timestamp: 1n, request: 0, operation: 2 });
  assert.equal(readReply(again).context, fields.context);

  const noTimestamp = allocateMessage(0);
  sealReply(noTimestamp, { cluster: 0n, release: RELEASE, requestChecksum: 1n, client: 9n, commit: 4n, timestamp: 0n, request: 1, operation: 147 });
  assert.equal(replyInvalid(noTimestamp), 'timestamp == 0');
  const corrupt = Buffer.from(reply);
  corrupt[300] ^= 1;
  assert.equal(replyInvalid(corrupt), 'checksum_body');
});

test('ping, pong and eviction carry their fields', () => {
  const ping = buildPingClient(0n, RELEASE, 77n, 123456n);
  assert.equal(pingClientInvalid(ping), undefined);
  assert.deepEqual(readPingClient(ping), { cluster: 0n, release: RELEASE, client: 77n, pingTimestampMonotonic: 123456n });
  const pong = buildPongClient(0n, RELEASE, 123456n);
  assert.equal(readFrame(pong).command, Command.pong_client);
  assert.equal(readPongClient(pong).pingTimestampMonotonic, 123456n);
  const eviction = buildEviction(0n, RELEASE, 77n, EvictionReason.no_session);
  assert.equal(eviction[255], 1);
  assert.deepEqual(readEviction(eviction), { client: 77n, reason: 1 });
  assert.ok(headerChecksumValid(eviction));
});
