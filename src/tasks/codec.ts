/**
 * The outbox's tables, keys and record format: the one module that knows the bytes.
 *
 * Tables (every key is bytewise ordered, see the store):
 *   tasks.ready      queue 0x00 rank(1) id(8)   → record   runnable now; a claim reads the head of its queue
 *   tasks.scheduled  runAtMs(8) id(8)           → record   delayed or backing off; promoted when due
 *   tasks.running    id(8)                      → record   claimed (attempts already counted)
 *   tasks.dead       id(8)                      → record   dead letters, with the last error
 *   tasks.dedup      name 0x00 dedupKey         → id(8)    while a task with that key is pending
 *   tasks.counts     queue 0x00 state(1)        → counter  escrow counters per queue and state
 *   tasks.done       id(8)                      → record   finished tasks kept (only with retainFinished)
 *
 * Why this shape: a claim is a range read of at most `n` keys from the head of one queue's slice of
 * `tasks.ready`, so its cost is a descent plus `n` records, whatever the size of the other tables: finished
 * tasks are deleted and dead ones live elsewhere. Priority is the first key byte after the queue (rank 0 is
 * priority 100), and ids come from a store sequence, so within a priority tasks run in enqueue order.
 * Delayed tasks never sit in the ready slice, so they cannot delay others. Counts are escrow counters:
 * increments commute, so concurrent enqueuers and the claimer never wait for each other on them.
 */
import { assert } from '../errors.js';

export const READY = 'tasks.ready';
export const SCHEDULED = 'tasks.scheduled';
export const RUNNING = 'tasks.running';
export const DEAD = 'tasks.dead';
export const DEDUP = 'tasks.dedup';
export const COUNTS = 'tasks.counts';
export const DONE = 'tasks.done';
/** One escrow counter: how many records `tasks.done` holds. */
export const DONE_COUNT = 'tasks.done.count';
export const DONE_COUNT_KEY = new Uint8Array([0x6e]);
export const ID_SEQUENCE = 'tasks.id';

export const PRIORITY_MIN = -100;
export const PRIORITY_MAX = 100;

export type CountedState = 'ready' | 'scheduled' | 'running' | 'dead';
const STATE_BYTES: Record<CountedState, number> = { ready: 0x72, scheduled: 0x73, running: 0x78, dead: 0x64 };
export const COUNTED_STATES: readonly CountedState[] = ['ready', 'scheduled', 'running', 'dead'];

/** One task as stored. `attempts` counts runs started (a claim adds one before the handler runs). */
export interface TaskRecord {
  id: bigint;
  name: string;
  queue: string;
  priority: number;
  attempts: number;
  maxAttempts: number;
  enqueuedAtMs: number;
  runAtMs: number;
  dedupKey: string | null;
  lastError: string | null;
  /** v8-serialised payload. */
  payload: Uint8Array;
}

const RECORD_VERSION = 1;
/** Fixed part: version, attempts, maxAttempts, priority, id, enqueuedAt, runAt, and the four lengths. */
const FIXED_BYTES = 1 + 2 + 2 + 1 + 8 + 8 + 8 + 1 + 1 + 2 + 2;
/** The last error kept on a record, in bytes of UTF-8 (a stack trace is cut there). */
export const LAST_ERROR_BYTES_MAX = 2048;

export function encodeRecord(record: TaskRecord): Uint8Array {
  const name = Buffer.from(record.name, 'utf8');
  const queue = Buffer.from(record.queue, 'utf8');
  const dedup = Buffer.from(record.dedupKey ?? '', 'utf8');
  const error = truncateUtf8(record.lastError ?? '', LAST_ERROR_BYTES_MAX);
  assert(name.length <= 255 && queue.length <= 255 && dedup.length <= 0xffff, 'names were checked before encoding');
  const bytes = Buffer.allocUnsafe(FIXED_BYTES + name.length + queue.length + dedup.length + error.length + record.payload.length);
  let at = bytes.writeUInt8(RECORD_VERSION, 0);
  at = bytes.writeUInt16BE(record.attempts, at);
  at = bytes.writeUInt16BE(record.maxAttempts, at);
  at = bytes.writeInt8(record.priority, at);
  at = bytes.writeBigUInt64BE(record.id, at);
  at = bytes.writeDoubleBE(record.enqueuedAtMs, at);
  at = bytes.writeDoubleBE(record.runAtMs, at);
  at = bytes.writeUInt8(name.length, at);
  at = bytes.writeUInt8(queue.length, at);
  at = bytes.writeUInt16BE(record.dedupKey === null ? 0xffff : dedup.length, at);
  at = bytes.writeUInt16BE(record.lastError === null ? 0xffff : error.length, at);
  at += name.copy(bytes, at);
  at += queue.copy(bytes, at);
  at += dedup.copy(bytes, at);
  at += error.copy(bytes, at);
  bytes.set(record.payload, at);
  return bytes;
}

export function decodeRecord(value: Uint8Array): TaskRecord {
  const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  assert(bytes.length >= FIXED_BYTES && bytes.readUInt8(0) === RECORD_VERSION, 'a task record has the version this code writes');
  const attempts = bytes.readUInt16BE(1);
  const maxAttempts = bytes.readUInt16BE(3);
  const priority = bytes.readInt8(5);
  const id = bytes.readBigUInt64BE(6);
  const enqueuedAtMs = bytes.readDoubleBE(14);
  const runAtMs = bytes.readDoubleBE(22);
  const nameLength = bytes.readUInt8(30);
  const queueLength = bytes.readUInt8(31);
  const dedupLength = bytes.readUInt16BE(32);
  const errorLength = bytes.readUInt16BE(34);
  let at = FIXED_BYTES;
  const name = bytes.toString('utf8', at, (at += nameLength));
  const queue = bytes.toString('utf8', at, (at += queueLength));
  const dedupKey = dedupLength === 0xffff ? null : bytes.toString('utf8', at, (at += dedupLength));
  const lastError = errorLength === 0xffff ? null : bytes.toString('utf8', at, (at += errorLength));
  assert(at <= bytes.length, 'a task record is not cut short');
  return { id, name, queue, priority, attempts, maxAttempts, enqueuedAtMs, runAtMs, dedupKey, lastError, payload: bytes.subarray(at) };
}

export function idKey(id: bigint): Uint8Array {
  const key = Buffer.allocUnsafe(8);
  key.writeBigUInt64BE(id);
  return key;
}

export function idFromKey(key: Uint8Array): bigint {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).readBigUInt64BE(key.length - 8);
}

/** The key of `record` in `tasks.ready`: queue, rank (higher priority first), id. */
export function readyKey(record: Pick<TaskRecord, 'queue' | 'priority' | 'id'>): Uint8Array {
  const queue = Buffer.from(record.queue, 'utf8');
  const key = Buffer.allocUnsafe(queue.length + 1 + 1 + 8);
  queue.copy(key, 0);
  key[queue.length] = 0;
  key[queue.length + 1] = PRIORITY_MAX - record.priority;
  key.writeBigUInt64BE(record.id, queue.length + 2);
  return key;
}

/** The bounds of one queue's slice of `tasks.ready` (queue names never contain NUL). */
export function queueRange(queue: string): { gte: Uint8Array; lt: Uint8Array } {
  const name = Buffer.from(queue, 'utf8');
  return { gte: Buffer.concat([name, Buffer.from([0])]), lt: Buffer.concat([name, Buffer.from([1])]) };
}

export function scheduledKey(runAtMs: number, id: bigint): Uint8Array {
  const key = Buffer.allocUnsafe(16);
  key.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(runAtMs))), 0);
  key.writeBigUInt64BE(id, 8);
  return key;
}

/** Every scheduled key due at `nowMs` sorts before this one. */
export function scheduledDueBound(nowMs: number): Uint8Array {
  return scheduledKey(nowMs + 1, 0n);
}

export function scheduledRunAtMs(key: Uint8Array): number {
  return Number(Buffer.from(key.buffer, key.byteOffset, key.byteLength).readBigUInt64BE(0));
}

export function dedupKeyOf(name: string, dedupKey: string): Uint8Array {
  return Buffer.from(`${name}\u0000${dedupKey}`, 'utf8');
}

export function countKey(queue: string, state: CountedState): Uint8Array {
  const name = Buffer.from(queue, 'utf8');
  const key = Buffer.allocUnsafe(name.length + 2);
  name.copy(key, 0);
  key[name.length] = 0;
  key[name.length + 1] = STATE_BYTES[state];
  return key;
}

export function parseCountKey(key: Uint8Array): { queue: string; state: CountedState } {
  const bytes = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  const queue = bytes.toString('utf8', 0, bytes.length - 2);
  const state = COUNTED_STATES.find((candidate) => STATE_BYTES[candidate] === bytes[bytes.length - 1]);
  assert(state !== undefined, 'a count key names a known state');
  return { queue, state };
}

function truncateUtf8(text: string, bytesMax: number): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= bytesMax) return bytes;
  // Cut at a character boundary: drop continuation bytes (10xxxxxx) at the cut.
  let end = bytesMax;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}
