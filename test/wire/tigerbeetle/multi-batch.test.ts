// TigerBeetle's multi-batch framing: trailers are sized, padded with 0xFF and ordered as TigerBeetle's
// (first batch's count nearest the end), and malformed trailers are rejected.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HEADER_SIZE_BYTES } from '../../../src/wire/tigerbeetle/header.js';
import { decodeMultiBatch, multiBatchSizeBytes, trailerSizeBytes, writeMultiBatchTrailer } from '../../../src/wire/tigerbeetle/multi-batch.js';

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
