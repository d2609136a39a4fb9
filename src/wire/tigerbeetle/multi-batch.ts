/**
 * TigerBeetle's multi-batch body (`src/vsr/multi_batch.zig`): one request carries several independent
 * batches of the same operation (the client merges concurrent calls), and its reply carries one batch of
 * results per request batch, in the same order.
 *
 * Layout: the batches' elements concatenated, then a trailer whose size is a multiple of the element
 * size. The trailer is read from the end: the last u16 is the batch count n (1..65534), the n u16 before
 * it are the element counts with the FIRST batch NEAREST THE END, and any leading bytes of the trailer
 * are padding, 0xFF each. Anything else is malformed — the official client aborts its process on a
 * malformed reply, so the encoder asserts its own output and the decoder rejects rather than guesses.
 */
import { assert } from '../../errors.js';

const TRAILER_ITEM_SIZE_BYTES = 2;
/** 0xFFFF marks padding, so the largest batch count is one less. */
export const MULTI_BATCH_COUNT_MAX = 0xffff - 1;
const PADDING_BYTE = 0xff;

/** Bytes of the trailer for `batchCount` batches of elements of `elementSizeBytes` (a power of two). */
export function trailerSizeBytes(elementSizeBytes: number, batchCount: number): number {
  assert(batchCount >= 1 && batchCount <= MULTI_BATCH_COUNT_MAX, 'multi-batch count out of range');
  assert(elementSizeBytes > 0 && (elementSizeBytes & (elementSizeBytes - 1)) === 0, 'element size must be a power of two');
  const unpaddedBytes = (batchCount + 1) * TRAILER_ITEM_SIZE_BYTES;
  return Math.ceil(unpaddedBytes / elementSizeBytes) * elementSizeBytes;
}

/** A decoded body: batch i is `payload[offsets[i] .. offsets[i] + counts[i] * elementSizeBytes]`. */
export interface MultiBatch {
  /** Element count of each batch, first batch first. */
  counts: number[];
  /** Byte offset of each batch in the body. */
  offsets: number[];
}

/**
 * Decodes the trailer of `body` (the message body, trailer included). Returns undefined when the body is
 * not a well-formed multi-batch for this element size: too short, zero batches, padding that is not
 * 0xFF, or element counts that do not add up to exactly the bytes before the trailer.
 */
export function decodeMultiBatch(body: Uint8Array, elementSizeBytes: number): MultiBatch | undefined {
  assert(elementSizeBytes > 0 && (elementSizeBytes & (elementSizeBytes - 1)) === 0, 'element size must be a power of two');
  const length = body.length;
  if (length < TRAILER_ITEM_SIZE_BYTES || length % TRAILER_ITEM_SIZE_BYTES !== 0) return undefined;
  const u16At = (offset: number): number => body[offset] | (body[offset + 1] << 8);
  const batchCount = u16At(length - TRAILER_ITEM_SIZE_BYTES);
  if (batchCount === 0 || batchCount > MULTI_BATCH_COUNT_MAX) return undefined;
  const trailerBytes = trailerSizeBytes(elementSizeBytes, batchCount);
  if (trailerBytes > length) return undefined;
  const paddingBytes = trailerBytes - (batchCount + 1) * TRAILER_ITEM_SIZE_BYTES;
  for (let i = length - trailerBytes; i < length - trailerBytes + paddingBytes; i += 1) {
    if (body[i] !== PADDING_BYTE) return undefined;
  }
  const counts = new Array<number>(batchCount);
  const offsets = new Array<number>(batchCount);
  let payloadBytes = 0;
  for (let batch = 0; batch < batchCount; batch += 1) {
    const count = u16At(length - TRAILER_ITEM_SIZE_BYTES * (batch + 2));
    counts[batch] = count;
    offsets[batch] = payloadBytes;
    payloadBytes += count * elementSizeBytes;
  }
  if (payloadBytes !== length - trailerBytes) return undefined;
  return { counts, offsets };
}

/** Bytes of a body holding batches with these element counts. */
export function multiBatchSizeBytes(elementSizeBytes: number, counts: readonly number[]): number {
  let payloadBytes = 0;
  for (const count of counts) payloadBytes += count * elementSizeBytes;
  return payloadBytes + trailerSizeBytes(elementSizeBytes, counts.length);
}

/**
 * Writes the trailer for batches with `counts` into `body`, which must be exactly
 * `multiBatchSizeBytes(elementSizeBytes, counts)` long and already hold the elements.
 */
export function writeMultiBatchTrailer(body: Uint8Array, elementSizeBytes: number, counts: readonly number[]): void {
  const batchCount = counts.length;
  const trailerBytes = trailerSizeBytes(elementSizeBytes, batchCount);
  assert(body.length === multiBatchSizeBytes(elementSizeBytes, counts), 'multi-batch body has the wrong size');
  const length = body.length;
  const setU16 = (offset: number, value: number): void => {
    body[offset] = value & 0xff;
    body[offset + 1] = value >> 8;
  };
  body.fill(PADDING_BYTE, length - trailerBytes, length - (batchCount + 1) * TRAILER_ITEM_SIZE_BYTES);
  setU16(length - TRAILER_ITEM_SIZE_BYTES, batchCount);
  for (let batch = 0; batch < batchCount; batch += 1) {
    const count = counts[batch];
    assert(Number.isInteger(count) && count >= 0 && count < 0xffff, 'batch element count out of range');
    setU16(length - TRAILER_ITEM_SIZE_BYTES * (batch + 2), count);
  }
}
