/**
 * `id()`: TigerBeetle's recommended identifiers. The high 48 bits are the Unix time in milliseconds and
 * the low 80 bits are random, so ids sort by creation time (which keeps inserts near the end of the id
 * index) and need no coordination. Within one millisecond (or if the clock steps back) the previous random
 * part is incremented instead, so ids from one process are strictly increasing.
 */
import { randomFillSync } from 'node:crypto';

const RANDOM_BITS = 80n;
const RANDOM_MAX = (1n << RANDOM_BITS) - 1n;
const randomBytes = new Uint8Array(10);

let lastTimestampMs = 0;
let lastRandom = 0n;

function freshRandom(): bigint {
  randomFillSync(randomBytes);
  let value = 0n;
  for (const byte of randomBytes) value = (value << 8n) | BigInt(byte);
  return value;
}

export function id(): bigint {
  let timestampMs = Date.now();
  if (timestampMs <= lastTimestampMs) {
    timestampMs = lastTimestampMs;
    // 2^80 ids in one millisecond cannot happen; running out would mean a bug in this counter.
    if (lastRandom === RANDOM_MAX) throw new Error('id(): random part exhausted within one millisecond');
    lastRandom += 1n;
  } else {
    lastTimestampMs = timestampMs;
    lastRandom = freshRandom();
  }
  return (BigInt(timestampMs) << RANDOM_BITS) | lastRandom;
}
