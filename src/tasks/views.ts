/**
 * Tasks as operators see them (`purser tasks`, the HTTP routes): plain JSON, ids and bigints as strings.
 */
import { deserialize } from 'node:v8';
import type { TaskRecord } from './codec.js';
import type { TaskView } from './interfaces.js';

export function viewOf(record: TaskRecord, state: TaskView['state']): TaskView {
  return {
    id: String(record.id),
    name: record.name,
    queue: record.queue,
    state,
    priority: record.priority,
    attempts: record.attempts,
    maxAttempts: record.maxAttempts,
    dedupKey: record.dedupKey,
    enqueuedAt: new Date(record.enqueuedAtMs).toISOString(),
    runAt: new Date(record.runAtMs).toISOString(),
    lastError: record.lastError,
    payload: payloadView(record.payload),
  };
}

/** The payload in a JSON-safe form; one that has none (a Map, a cycle) is described instead. */
function payloadView(bytes: Uint8Array): unknown {
  let value: unknown;
  try {
    value = deserialize(bytes);
  } catch (error) {
    return { $unreadable: (error as Error).message };
  }
  try {
    return JSON.parse(JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? String(item) : item))) as unknown;
  } catch {
    return { $unprintable: Object.prototype.toString.call(value) };
  }
}
