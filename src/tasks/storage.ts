/**
 * Every change of a task's state, as steps inside a store transaction the caller runs. A task moves
 *
 *   enqueue ──► ready ◄──── promote ──── scheduled ◄── enqueue with a delay
 *                 │                         ▲
 *               claim                  fail (attempts left: back-off)
 *                 ▼                         │
 *              running ───── fail (none left) ──► dead ── retry ──► ready
 *                 │
 *             complete (deleted)
 *
 * and each move updates the per-queue escrow counters in the same transaction, so the counts are exact and
 * durable. Moves out of `running` name the attempt they belong to: a move whose attempt no longer owns the
 * task (its lease ended and another attempt claimed it) changes nothing, which is what makes completion
 * through `job.transaction` exactly-once.
 */
import { assert } from '../errors.js';
import type { Transaction } from '../store/interfaces.js';
import { decodeCounter } from '../store/counter.js';
import {
  COUNTS, type CountedState, countKey, DEAD, decodeRecord, DONE, DONE_COUNT, DONE_COUNT_KEY, DEDUP, dedupKeyOf, encodeRecord, idFromKey, idKey, parseCountKey, queueRange,
  READY, readyKey, RUNNING, SCHEDULED, scheduledDueBound, scheduledKey, scheduledRunAtMs, type TaskRecord,
} from './codec.js';

async function count(tx: Transaction, queue: string, state: CountedState, delta: bigint): Promise<void> {
  await tx.increment(COUNTS, countKey(queue, state), delta);
}

/**
 * Puts a new (or redriven) record where its run time says: ready now, or scheduled. The count comes first
 * and the put last: the put's EXCLUSIVE page lock is held until the caller's commit, and the tail page of a
 * queue is where every enqueuer and the claimer meet, so the shorter the hold the better.
 */
async function place(tx: Transaction, record: TaskRecord, nowMs: number): Promise<CountedState> {
  if (record.runAtMs <= nowMs) {
    await count(tx, record.queue, 'ready', 1n);
    await tx.put(READY, readyKey(record), encodeRecord(record));
    return 'ready';
  }
  await count(tx, record.queue, 'scheduled', 1n);
  await tx.put(SCHEDULED, scheduledKey(record.runAtMs, record.id), encodeRecord(record));
  return 'scheduled';
}

/**
 * Inserts a new task unless its dedup key is taken. Returns the pending task's id when it is, else null.
 * The dedup entry is read for update, so two transactions enqueueing the same key serialize on it.
 */
export async function insertTask(tx: Transaction, record: TaskRecord, nowMs: number): Promise<{ duplicateOf: bigint | null; state: CountedState }> {
  if (record.dedupKey !== null) {
    const key = dedupKeyOf(record.name, record.dedupKey);
    const existing = await tx.get(DEDUP, key, { forUpdate: true });
    if (existing !== undefined) return { duplicateOf: idFromKey(existing), state: 'ready' };
    await tx.put(DEDUP, key, idKey(record.id));
  }
  return { duplicateOf: null, state: await place(tx, record, nowMs) };
}

/**
 * Claims up to `limit` ready tasks from the head of `queue`: each moves to `running` with one more attempt
 * counted. The head pages are read for update, so the claim queues behind an enqueuer still writing there
 * instead of missing its task, and never deadlocks on an upgrade.
 */
export async function claimBatch(tx: Transaction, queue: string, limit: number): Promise<TaskRecord[]> {
  const found: Array<[Uint8Array, TaskRecord]> = [];
  for await (const [key, value] of tx.range(READY, { ...queueRange(queue), limit, forUpdate: true })) found.push([key, decodeRecord(value)]);
  for (const [key, record] of found) {
    record.attempts++;
    await tx.delete(READY, key);
    await tx.put(RUNNING, idKey(record.id), encodeRecord(record));
  }
  if (found.length > 0) {
    await count(tx, queue, 'ready', BigInt(-found.length));
    await count(tx, queue, 'running', BigInt(found.length));
  }
  return found.map(([, record]) => record);
}

/** The running record of `id` if `attempt` still owns it (read for update: the caller is about to move it). */
export async function ownedRunning(tx: Transaction, id: bigint, attempt: number): Promise<TaskRecord | undefined> {
  const value = await tx.get(RUNNING, idKey(id), { forUpdate: true });
  if (value === undefined) return undefined;
  const record = decodeRecord(value);
  return record.attempts === attempt ? record : undefined;
}

/**
 * Deletes a finished task (and frees its dedup key), keeping a copy in `tasks.done` when `retain`;
 * `counted: false` leaves the running count to the caller.
 */
export async function finish(tx: Transaction, record: TaskRecord, counted = true, retain = false): Promise<void> {
  await tx.delete(RUNNING, idKey(record.id));
  if (record.dedupKey !== null) await tx.delete(DEDUP, dedupKeyOf(record.name, record.dedupKey));
  if (retain) {
    await tx.increment(DONE_COUNT, DONE_COUNT_KEY, 1n);
    await tx.put(DONE, idKey(record.id), encodeRecord(record));
  }
  if (counted) await count(tx, record.queue, 'running', -1n);
}

/** Deletes the oldest finished tasks beyond `keep` (at most `limit` of them); returns how many it deleted. */
export async function trimDone(tx: Transaction, keep: number, limit: number): Promise<number> {
  const excess = Number(await tx.counter(DONE_COUNT, DONE_COUNT_KEY)) - keep;
  if (excess <= 0) return 0;
  const oldest: Uint8Array[] = [];
  for await (const [key] of tx.range(DONE, { limit: Math.min(excess, limit), forUpdate: true })) oldest.push(key);
  for (const key of oldest) await tx.delete(DONE, key);
  await tx.increment(DONE_COUNT, DONE_COUNT_KEY, BigInt(-oldest.length));
  return oldest.length;
}

/** Completes every owned task of `done` (attempt still current); returns how many were. */
export async function completeMany(tx: Transaction, done: ReadonlyArray<{ id: bigint; attempt: number }>, retain = false): Promise<number> {
  const values = await tx.getMany(RUNNING, done.map((task) => idKey(task.id)), { forUpdate: true });
  const perQueue = new Map<string, number>();
  for (let i = 0; i < done.length; i++) {
    const value = values[i];
    if (value === undefined) continue;
    const record = decodeRecord(value);
    if (record.attempts !== done[i].attempt) continue;
    await finish(tx, record, false, retain);
    perQueue.set(record.queue, (perQueue.get(record.queue) ?? 0) + 1);
  }
  let completed = 0;
  for (const [queue, finished] of perQueue) {
    await count(tx, queue, 'running', BigInt(-finished));
    completed += finished;
  }
  return completed;
}

/**
 * A failed attempt: back to `scheduled` at `retryAtMs` if attempts are left, else a dead letter. Returns
 * what became of it, or null if the attempt no longer owned the task.
 */
export async function failAttempt(tx: Transaction, id: bigint, attempt: number, error: string, retryAtMs: number): Promise<'retried' | 'dead' | null> {
  const record = await ownedRunning(tx, id, attempt);
  if (record === undefined) return null;
  await tx.delete(RUNNING, idKey(id));
  await count(tx, record.queue, 'running', -1n);
  record.lastError = error;
  if (record.attempts >= record.maxAttempts) {
    if (record.dedupKey !== null) await tx.delete(DEDUP, dedupKeyOf(record.name, record.dedupKey));
    await tx.put(DEAD, idKey(id), encodeRecord(record));
    await count(tx, record.queue, 'dead', 1n);
    return 'dead';
  }
  record.runAtMs = retryAtMs;
  await tx.put(SCHEDULED, scheduledKey(retryAtMs, id), encodeRecord(record));
  await count(tx, record.queue, 'scheduled', 1n);
  return 'retried';
}

/**
 * Gives a running task back to its queue without counting the attempt (a graceful stop past its drain
 * deadline). Returns false if the attempt no longer owned it.
 */
export async function giveBack(tx: Transaction, id: bigint, attempt: number): Promise<boolean> {
  const record = await ownedRunning(tx, id, attempt);
  if (record === undefined) return false;
  await tx.delete(RUNNING, idKey(id));
  await count(tx, record.queue, 'running', -1n);
  record.attempts--;
  await tx.put(READY, readyKey(record), encodeRecord(record));
  await count(tx, record.queue, 'ready', 1n);
  return true;
}

/** Moves up to `limit` due scheduled tasks to their queues. Returns the queues that got tasks. */
export async function promoteDue(tx: Transaction, nowMs: number, limit: number): Promise<Set<string>> {
  const due: Array<[Uint8Array, TaskRecord]> = [];
  for await (const [key, value] of tx.range(SCHEDULED, { lt: scheduledDueBound(nowMs), limit, forUpdate: true })) due.push([key, decodeRecord(value)]);
  const queues = new Set<string>();
  for (const [key, record] of due) {
    await tx.delete(SCHEDULED, key);
    await count(tx, record.queue, 'scheduled', -1n);
    await tx.put(READY, readyKey(record), encodeRecord(record));
    await count(tx, record.queue, 'ready', 1n);
    queues.add(record.queue);
  }
  return queues;
}

/** The earliest scheduled run time, or undefined when nothing is scheduled. */
export async function nextScheduledMs(tx: Transaction): Promise<number | undefined> {
  for await (const [key] of tx.range(SCHEDULED, { limit: 1 })) return scheduledRunAtMs(key);
  return undefined;
}

/**
 * Runs found in `running` when the outbox opens belonged to a process that died (the store has one writer,
 * so nobody else holds them). Each counts as a failed attempt; the task goes back to its queue at once, or
 * becomes a dead letter if that was its last attempt. Moves up to `limit`; returns how many it moved.
 */
export async function recoverRunning(tx: Transaction, limit: number): Promise<{ moved: number; dead: number }> {
  const found: TaskRecord[] = [];
  for await (const [, value] of tx.range(RUNNING, { limit, forUpdate: true })) found.push(decodeRecord(value));
  let dead = 0;
  for (const record of found) {
    const outcome = await failAttempt(tx, record.id, record.attempts, 'the process running this task stopped (crash or kill) before it finished', 0);
    assert(outcome !== null, 'a running record found under lock is owned by its own attempt');
    if (outcome === 'dead') dead++;
  }
  return { moved: found.length, dead };
}

/** Moves a dead letter back to its queue with a fresh set of attempts. Returns its queue, or null if there is no such dead letter. */
export async function redrive(tx: Transaction, id: bigint, nowMs: number): Promise<string | null> {
  const value = await tx.get(DEAD, idKey(id), { forUpdate: true });
  if (value === undefined) return null;
  const record = decodeRecord(value);
  await tx.delete(DEAD, idKey(id));
  await count(tx, record.queue, 'dead', -1n);
  record.attempts = 0;
  record.runAtMs = nowMs;
  if (record.dedupKey !== null) {
    // Pending again, so its key is taken again — unless a newer task took it meanwhile; then it runs without one.
    const key = dedupKeyOf(record.name, record.dedupKey);
    if ((await tx.get(DEDUP, key, { forUpdate: true })) === undefined) await tx.put(DEDUP, key, idKey(id));
    else record.dedupKey = null;
  }
  await place(tx, record, nowMs);
  return record.queue;
}

export async function removeDead(tx: Transaction, id: bigint): Promise<boolean> {
  const value = await tx.get(DEAD, idKey(id), { forUpdate: true });
  if (value === undefined) return false;
  await tx.delete(DEAD, idKey(id));
  await count(tx, decodeRecord(value).queue, 'dead', -1n);
  return true;
}

/** Every queue's counts. */
export async function readCounts(tx: Transaction): Promise<Map<string, Record<CountedState, number>>> {
  const queues = new Map<string, Record<CountedState, number>>();
  for await (const [key, value] of tx.range(COUNTS)) {
    const { queue, state } = parseCountKey(key);
    let counts = queues.get(queue);
    if (counts === undefined) queues.set(queue, (counts = { ready: 0, scheduled: 0, running: 0, dead: 0 }));
    counts[state] = Number(decodeCounter(value));
  }
  return queues;
}

export async function findRecord(tx: Transaction, id: bigint): Promise<{ state: 'running' | 'dead' | 'done'; record: TaskRecord } | undefined> {
  const running = await tx.get(RUNNING, idKey(id));
  if (running !== undefined) return { state: 'running', record: decodeRecord(running) };
  const dead = await tx.get(DEAD, idKey(id));
  if (dead !== undefined) return { state: 'dead', record: decodeRecord(dead) };
  const done = await tx.get(DONE, idKey(id));
  if (done !== undefined) return { state: 'done', record: decodeRecord(done) };
  return undefined;
}

/** Most records a filtered listing looks at, so an operator's view never turns into a scan of a huge table. */
export const LIST_SCAN_MAX = 100_000;

export async function listRecords(tx: Transaction, state: CountedState | 'done', queue: string | undefined, limit: number): Promise<TaskRecord[]> {
  const out: TaskRecord[] = [];
  const table = { ready: READY, scheduled: SCHEDULED, running: RUNNING, dead: DEAD, done: DONE }[state];
  const bounds = state === 'ready' && queue !== undefined ? queueRange(queue) : {};
  for await (const [, value] of tx.range(table, { ...bounds, limit: LIST_SCAN_MAX })) {
    const record = decodeRecord(value);
    if (queue !== undefined && record.queue !== queue) continue;
    out.push(record);
    if (out.length >= limit) break;
  }
  return out;
}
