/**
 * Counter records: a counter is an ordinary record whose value is a 16-byte big-endian two's-complement
 * integer (int128, enough for TigerBeetle's u128 amounts' sums within a signed range). A missing record
 * reads as 0. Commit records carry counters as after-images in this encoding, so replay is a plain put.
 */
import { CounterFormatError, StoreArgumentError } from './errors.js';

export const COUNTER_BYTES = 16;
export const COUNTER_MAX = (1n << 127n) - 1n;
export const COUNTER_MIN = -(1n << 127n);

export function encodeCounter(value: bigint): Uint8Array {
  if (typeof value !== 'bigint') throw new StoreArgumentError('a counter value must be a bigint');
  if (value > COUNTER_MAX || value < COUNTER_MIN) throw new CounterFormatError(`counter value ${String(value)} is outside the int128 range`);
  const bytes = new Uint8Array(COUNTER_BYTES);
  let rest = BigInt.asUintN(128, value);
  for (let i = COUNTER_BYTES - 1; i >= 0; i--) {
    bytes[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return bytes;
}

export function decodeCounter(bytes: Uint8Array | undefined): bigint {
  if (bytes === undefined) return 0n;
  if (!(bytes instanceof Uint8Array)) throw new StoreArgumentError('a counter record must be a Uint8Array (or undefined for 0)');
  if (bytes.length !== COUNTER_BYTES) throw new CounterFormatError(`a counter record holds ${String(COUNTER_BYTES)} bytes, this one ${String(bytes.length)}`);
  let value = 0n;
  for (let i = 0; i < COUNTER_BYTES; i++) value = (value << 8n) | BigInt(bytes[i]);
  return BigInt.asIntN(128, value);
}
