/**
 * Byte helpers on the hot path. Comparisons read the bytes where they lie (a page buffer at an offset)
 * instead of slicing, so a binary search allocates nothing.
 */

/** Bytewise comparison of `a` with `b[bStart, bStart + bLength)`: negative, zero or positive. */
export function compareKeyAt(a: Uint8Array, b: Uint8Array, bStart: number, bLength: number): number {
  const aLength = a.length;
  const length = aLength < bLength ? aLength : bLength;
  for (let i = 0; i < length; i++) {
    const difference = a[i] - b[bStart + i];
    if (difference !== 0) return difference;
  }
  return aLength - bLength;
}

/** Bytewise comparison of two whole arrays. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return compareKeyAt(a, b, 0, b.length);
}

/** Allocations up to this size come from a shared slab; larger ones get their own ArrayBuffer. */
const SLAB_ALLOCATION_MAX_BYTES = 1024;
const SLAB_BYTES = 16 * 1024;
let slab = new ArrayBuffer(SLAB_BYTES);
let slabUsedBytes = 0;

/**
 * A fresh, zero-offset-agnostic byte array. Small arrays are views into a shared 16 KiB slab (as Node's
 * Buffer pool does): a Uint8Array with its own ArrayBuffer costs an off-heap allocation and a sweep per
 * array, which for 128-byte values was a large share of a put's and a get's time. Callers must use
 * `byteOffset`/`byteLength` with `.buffer`, as with any Buffer.
 */
export function allocateBytes(length: number): Uint8Array {
  if (length > SLAB_ALLOCATION_MAX_BYTES) return new Uint8Array(length);
  if (slabUsedBytes + length > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabUsedBytes = 0;
  }
  const bytes = new Uint8Array(slab, slabUsedBytes, length);
  slabUsedBytes += (length + 7) & ~7;
  return bytes;
}

/** A copy that shares no memory with `bytes` (callers may change their arrays after handing them over). */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  const copy = allocateBytes(bytes.length);
  copy.set(bytes);
  return copy;
}

/** A copy with its own memory, for long-lived keys (fences, separators) that must not pin a slab. */
export function ownedCopy(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return copy;
}

/** A fresh copy of `source[start, end)`. */
export function copyRange(source: Uint8Array, start: number, end: number): Uint8Array {
  const copy = allocateBytes(end - start);
  copy.set(source.subarray(start, end));
  return copy;
}

/**
 * A string with one char per byte, used as a Map key for a transaction's buffered writes (Maps cannot key
 * on byte contents). latin1 maps bytes 0–255 to code units 0–255, so the mapping is exact and injective.
 */
export function bytesToMapKey(bytes: Uint8Array): string {
  return latin1Slice.call(bytes, 0, bytes.length);
}

// Buffer's native latin1 decoder works on any Uint8Array and avoids wrapping the bytes in a Buffer first.
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice: (this: Uint8Array, start: number, end: number) => string }).latin1Slice;
