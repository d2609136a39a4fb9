/**
 * Argument checks of the outbox API and the limits they enforce: a flat ladder of one-line checks, each
 * throwing a typed error before anything is written.
 */
import { serialize } from 'node:v8';
import { PRIORITY_MAX, PRIORITY_MIN } from './codec.js';
import { TaskArgumentError, TaskPayloadError } from './errors.js';
import type { EnqueueOptions, RegisterOptions, StopOptions } from './interfaces.js';

/** Task names, topics and queues: 1–128 characters of this set, so they never hold NUL. */
const NAME_PATTERN = /^[A-Za-z0-9_.:@/-]+$/;
export const NAME_CHARS_MAX = 128;
export const QUEUE_CHARS_MAX = 128;
export const DEDUP_KEY_CHARS_MAX = 256;
/** Largest serialised payload: leaves room in the store's default 64 KiB value for the record's header and names. */
export const PAYLOAD_BYTES_MAX = 60 * 1024;
export const ATTEMPTS_MAX = 1000;
export const DELAY_MS_MAX = 366 * 24 * 3600 * 1000; // a year (and a day)
export const CONCURRENCY_MAX = 10_000;
export const LEASE_MS_MAX = 24 * 3600 * 1000; // a day
export const TIMEOUT_MS_MAX = 24 * 3600 * 1000;

export const ATTEMPTS_DEFAULT = 10;
export const CONCURRENCY_DEFAULT = 8;
export const LEASE_MS_DEFAULT = 30_000;
export const TIMEOUT_MS_DEFAULT = 300_000;
export const BACKOFF_BASE_MS_DEFAULT = 1000;
export const BACKOFF_MAX_MS_DEFAULT = 3_600_000;
export const DRAIN_TIMEOUT_MS_DEFAULT = 10_000;

const ENQUEUE_OPTIONS = new Set(['delayMs', 'runAt', 'maxAttempts', 'dedupKey', 'queue', 'priority']);
const REGISTER_OPTIONS = new Set(['queue', 'concurrency', 'leaseMs', 'timeoutMs', 'maxAttempts', 'backoffBaseMs', 'backoffMaxMs']);

export function checkName(kind: 'task name' | 'topic', name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0 || name.length > NAME_CHARS_MAX || !NAME_PATTERN.test(name)) {
    throw new TaskArgumentError(`${kind} must be 1 to ${NAME_CHARS_MAX} characters of A-Z a-z 0-9 _ . : @ / -; got ${describe(name)}`);
  }
}

export function checkQueue(queue: unknown): asserts queue is string {
  if (typeof queue !== 'string' || queue.length === 0 || queue.length > QUEUE_CHARS_MAX || !NAME_PATTERN.test(queue)) {
    throw new TaskArgumentError(`queue must be 1 to ${QUEUE_CHARS_MAX} characters of A-Z a-z 0-9 _ . : @ / -; got ${describe(queue)}`);
  }
}

function checkKnownKeys(what: string, options: unknown, known: Set<string>): asserts options is Record<string, unknown> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new TaskArgumentError(`${what} must be an object`);
  for (const key of Object.keys(options)) if (!known.has(key)) throw new TaskArgumentError(`${what}: unknown option ${JSON.stringify(key)} (known: ${[...known].join(', ')})`);
}

function checkInteger(what: string, value: unknown, min: number, max: number): asserts value is number | undefined {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new TaskArgumentError(`${what} must be an integer from ${min} to ${max}; got ${describe(value)}`);
  }
}

/** The checked enqueue options, with the run time resolved against `nowMs`. */
export interface CheckedEnqueue {
  runAtMs: number;
  maxAttempts: number | undefined;
  dedupKey: string | null;
  queue: string | undefined;
  priority: number;
}

export function checkEnqueueOptions(options: unknown, nowMs: number): CheckedEnqueue {
  checkKnownKeys('enqueue options', options, ENQUEUE_OPTIONS);
  const o = options as EnqueueOptions;
  if (o.delayMs !== undefined && o.runAt !== undefined) throw new TaskArgumentError('enqueue options: give delayMs or runAt, not both');
  checkInteger('delayMs', o.delayMs, 0, DELAY_MS_MAX);
  checkInteger('maxAttempts', o.maxAttempts, 1, ATTEMPTS_MAX);
  checkInteger('priority', o.priority, PRIORITY_MIN, PRIORITY_MAX);
  if (o.queue !== undefined) checkQueue(o.queue);
  if (o.dedupKey !== undefined && (typeof o.dedupKey !== 'string' || o.dedupKey.length === 0 || o.dedupKey.length > DEDUP_KEY_CHARS_MAX)) {
    throw new TaskArgumentError(`dedupKey must be a string of 1 to ${DEDUP_KEY_CHARS_MAX} characters; got ${describe(o.dedupKey)}`);
  }
  let runAtMs = nowMs + (o.delayMs ?? 0);
  if (o.runAt !== undefined) {
    const at = o.runAt instanceof Date ? o.runAt.getTime() : o.runAt;
    if (typeof at !== 'number' || !Number.isSafeInteger(at) || at < 0 || at > nowMs + DELAY_MS_MAX) {
      throw new TaskArgumentError(`runAt must be a valid Date or epoch milliseconds no later than a year from now; got ${describe(o.runAt)}`);
    }
    runAtMs = at;
  }
  return { runAtMs, maxAttempts: o.maxAttempts, dedupKey: o.dedupKey ?? null, queue: o.queue, priority: o.priority ?? 0 };
}

export interface Registration {
  queue: string;
  concurrency: number;
  leaseMs: number;
  timeoutMs: number;
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
}

export function checkRegisterOptions(name: string, options: unknown): Registration {
  checkKnownKeys('register options', options, REGISTER_OPTIONS);
  const o = options as RegisterOptions;
  if (o.queue !== undefined) checkQueue(o.queue);
  checkInteger('concurrency', o.concurrency, 1, CONCURRENCY_MAX);
  checkInteger('leaseMs', o.leaseMs, 100, LEASE_MS_MAX);
  checkInteger('timeoutMs', o.timeoutMs, 1, TIMEOUT_MS_MAX);
  checkInteger('maxAttempts', o.maxAttempts, 1, ATTEMPTS_MAX);
  checkInteger('backoffBaseMs', o.backoffBaseMs, 1, DELAY_MS_MAX);
  checkInteger('backoffMaxMs', o.backoffMaxMs, 1, DELAY_MS_MAX);
  const registration: Registration = {
    queue: o.queue ?? name,
    concurrency: o.concurrency ?? CONCURRENCY_DEFAULT,
    leaseMs: o.leaseMs ?? LEASE_MS_DEFAULT,
    timeoutMs: o.timeoutMs ?? TIMEOUT_MS_DEFAULT,
    maxAttempts: o.maxAttempts ?? ATTEMPTS_DEFAULT,
    backoffBaseMs: o.backoffBaseMs ?? BACKOFF_BASE_MS_DEFAULT,
    backoffMaxMs: o.backoffMaxMs ?? BACKOFF_MAX_MS_DEFAULT,
  };
  if (registration.backoffMaxMs < registration.backoffBaseMs) throw new TaskArgumentError('backoffMaxMs must be at least backoffBaseMs');
  return registration;
}

export function checkStopOptions(options: unknown): number {
  checkKnownKeys('stop options', options, new Set(['drainTimeoutMs']));
  const o = options as StopOptions;
  checkInteger('drainTimeoutMs', o.drainTimeoutMs, 0, TIMEOUT_MS_MAX);
  return o.drainTimeoutMs ?? DRAIN_TIMEOUT_MS_DEFAULT;
}

/** The payload in v8's structured-clone format (bigints, Dates, Maps, typed arrays survive; functions do not). */
export function serializePayload(payload: unknown): Uint8Array {
  let bytes: Buffer;
  try {
    bytes = serialize(payload);
  } catch (error) {
    throw new TaskPayloadError('TASK_PAYLOAD_NOT_SERIALIZABLE', `the payload cannot be serialised (structured clone): ${(error as Error).message}`, { cause: error });
  }
  if (bytes.length > PAYLOAD_BYTES_MAX) {
    throw new TaskPayloadError('TASK_PAYLOAD_TOO_LARGE', `the payload is ${bytes.length} bytes serialised, over the limit of ${PAYLOAD_BYTES_MAX}; store large data in a table and enqueue its key`);
  }
  return bytes;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'an invalid Date' : value.toISOString();
  if (typeof value === 'object') return value === null ? 'null' : Array.isArray(value) ? 'an array' : 'an object';
  if (typeof value === 'symbol') return value.toString();
  return typeof value === 'function' ? 'a function' : `${value as string | number | boolean | undefined}`;
}
