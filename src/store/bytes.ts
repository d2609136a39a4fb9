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

/** A copy that shares no memory with `bytes` (callers may change their arrays after handing them over). */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return copy;
}

/**
 * A string with one char per byte, used as a Map key for a transaction's buffered writes (Maps cannot key
 * on byte contents). latin1 maps bytes 0–255 to code units 0–255, so the mapping is exact and injective.
 */
export function bytesToMapKey(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}
