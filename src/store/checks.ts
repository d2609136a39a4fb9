/**
 * Argument checks of the transaction API and the limits they enforce. Each check throws
 * `StoreArgumentError` before anything is locked or buffered, so bad input changes nothing.
 */
import { StoreArgumentError } from './errors.js';
import type { IncrementOptions, ReadOptions } from './interfaces.js';
import { EXCLUSIVE, type LockMode, SHARED } from './locks.js';

export const KEY_SIZE_MAX_BYTES = 1024;
export const TABLE_NAME_MAX_CHARS = 128;
export const EXTENSION_KIND_MAX_CHARS = 128;
/** Most keys one `getMany` call reads (the same bound as a transaction's writes by default). */
export const GET_MANY_KEYS_MAX = 100_000;

export function checkTable(table: unknown): asserts table is string {
  if (typeof table !== 'string' || table.length === 0 || table.length > TABLE_NAME_MAX_CHARS || table.includes('\u0000')) {
    throw new StoreArgumentError(`table name must be a string of 1 to ${String(TABLE_NAME_MAX_CHARS)} characters without NUL`);
  }
}

export function checkKey(key: unknown): asserts key is Uint8Array {
  if (!(key instanceof Uint8Array)) throw new StoreArgumentError('key must be a Uint8Array');
  if (key.length === 0) throw new StoreArgumentError('key must not be empty');
  if (key.length > KEY_SIZE_MAX_BYTES) throw new StoreArgumentError(`key of ${String(key.length)} bytes is over the limit of ${String(KEY_SIZE_MAX_BYTES)} bytes`);
}

export function checkKeys(keys: unknown): asserts keys is readonly Uint8Array[] {
  if (!isArray(keys)) throw new StoreArgumentError('getMany keys must be an array of Uint8Array');
  if (keys.length > GET_MANY_KEYS_MAX) throw new StoreArgumentError(`getMany takes at most ${String(GET_MANY_KEYS_MAX)} keys`);
  for (const key of keys) checkKey(key);
}

export function checkValue(value: unknown, valueSizeMaxBytes: number): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new StoreArgumentError('value must be a Uint8Array');
  if (value.length > valueSizeMaxBytes) {
    throw new StoreArgumentError(`value of ${String(value.length)} bytes is over the limit of ${String(valueSizeMaxBytes)} bytes`);
  }
}

export function checkIncrementOptions(options: unknown): { min?: bigint; max?: bigint } {
  if (typeof options !== 'object' || options === null) throw new StoreArgumentError('increment options must be an object');
  const { min, max } = options as IncrementOptions;
  if (min !== undefined && typeof min !== 'bigint') throw new StoreArgumentError('increment min must be a bigint');
  if (max !== undefined && typeof max !== 'bigint') throw new StoreArgumentError('increment max must be a bigint');
  if (min !== undefined && max !== undefined && min > max) throw new StoreArgumentError('increment min must not exceed max');
  return { min, max };
}

export function checkExtension(kind: unknown, payload: unknown, replaces: unknown): asserts replaces is string[] {
  if (typeof kind !== 'string' || kind.length === 0 || kind.length > EXTENSION_KIND_MAX_CHARS) {
    throw new StoreArgumentError(`extension kind must be a string of 1 to ${String(EXTENSION_KIND_MAX_CHARS)} characters`);
  }
  if (!(payload instanceof Uint8Array)) throw new StoreArgumentError('extension payload must be a Uint8Array');
  if (!Array.isArray(replaces)) throw new StoreArgumentError('replacesTables must be an array of table names');
  for (const table of replaces) checkTable(table);
}

/** The lock a read takes: SHARED, or EXCLUSIVE with `forUpdate`. */
export function readMode(options: unknown): LockMode {
  if (options === undefined) return SHARED;
  if (typeof options !== 'object' || options === null) throw new StoreArgumentError('read options must be an object');
  const { forUpdate } = options as ReadOptions;
  if (forUpdate !== undefined && typeof forUpdate !== 'boolean') throw new StoreArgumentError('forUpdate must be a boolean');
  return forUpdate === true ? EXCLUSIVE : SHARED;
}

/** `Array.isArray` without its narrowing to `any[]`, which would untype the elements. */
function isArray(value: unknown): value is readonly unknown[] {
  return Array.isArray(value);
}
