// Claiming cost does not grow with finished or dead tasks. Measured in what a claim touches, not in time:
// the leaf pages its transaction locks and the records it reads. A claim of 100 tasks is measured on a fresh
// store, then again after 1,000,000 tasks went through the outbox's own state moves (enqueued, claimed,
// completed: the ready index grew to a million and shrank back) and 1,000,000 dead letters were written.
// Both claims must read exactly the 100 records they claim and lock as many pages (give or take the one
// page boundary a batch may straddle), and the ready index must be back to a page or two (finished tasks are
// deleted, and emptied pages merged).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openStore, type Store } from 'purser';
import { DEAD, encodeRecord, idKey, READY, type TaskRecord } from '../../src/tasks/codec.js';
import { claimBatch, completeMany, insertTask } from '../../src/tasks/storage.js';
import type { StoreEngine } from '../../src/store/store.js';

const FINISHED = 1_000_000;
const DEAD_LETTERS = 1_000_000;
const STEP = 10_000;
const CLAIM = 100;

function record(id: bigint): TaskRecord {
  return { id, name: 'job', queue: 'q', priority: 0, attempts: 0, maxAttempts: 3, enqueuedAtMs: 1, runAtMs: 1, dedupKey: null, lastError: null, payload: new Uint8Array([0xff, 0x0f, 0x22, 0]) };
}

/** Claims CLAIM tasks and reports the pages the claim locked and the records it read (a counting view of tx). */
async function measureClaim(store: Store): Promise<{ pagesLocked: number; recordsRead: number; claimed: number }> {
  return store.transaction(async (tx) => {
    let recordsRead = 0;
    const counting = new Proxy(tx, {
      get(target, property, receiver) {
        if (property === 'range') {
          return (table: string, options: object) => (async function* () {
            for await (const entry of target.range(table, options)) {
              recordsRead++;
              yield entry;
            }
          })();
        }
        const value = Reflect.get(target, property, receiver) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const claimed = await claimBatch(counting, 'q', CLAIM);
    const pagesLocked = (tx as unknown as { held: unknown[] }).held.length;
    return { pagesLocked, recordsRead, claimed: claimed.length };
  });
}

async function fill(store: Store, from: bigint, count: number): Promise<void> {
  for (let done = 0; done < count; done += STEP) {
    await store.transaction(async (tx) => {
      for (let i = 0; i < Math.min(STEP, count - done); i++) await insertTask(tx, record(from + BigInt(done + i)), 1);
    });
  }
}

test('a claim locks the same pages and reads only what it claims after 1,000,000 finished tasks and 1,000,000 dead letters', { timeout: 600_000 }, async () => {
  const store = await openStore({ transactionWritesMax: 4 * STEP + 16 });
  try {
    await fill(store, 1n, CLAIM);
    const fresh = await measureClaim(store);
    assert.deepEqual({ ...fresh, pagesLocked: undefined }, { pagesLocked: undefined, recordsRead: CLAIM, claimed: CLAIM });

    // A million tasks through the state moves a claim and a completion make, in steps of 10,000.
    let next = 1_000n;
    for (let done = 0; done < FINISHED; done += STEP) {
      await fill(store, next, STEP);
      next += BigInt(STEP);
      await store.transaction(async (tx) => {
        const claimed = await claimBatch(tx, 'q', STEP);
        assert.equal(await completeMany(tx, claimed.map((task) => ({ id: task.id, attempt: task.attempts }))), claimed.length);
      });
    }
    for (let done = 0; done < DEAD_LETTERS; done += STEP) {
      await store.transaction(async (tx) => {
        for (let i = 0; i < STEP; i++) await tx.put(DEAD, idKey(next + BigInt(i)), encodeRecord(record(next + BigInt(i))));
      });
      next += BigInt(STEP);
    }
    await fill(store, next, CLAIM);

    const after = await measureClaim(store);
    assert.equal(after.claimed, CLAIM);
    assert.equal(after.recordsRead, CLAIM, 'the claim read only the records it claimed');
    // The pages: one of tasks.running, one of tasks.counts, and the ready pages its 100 records lie on — one
    // more than on the fresh store when the batch happens to straddle a page boundary, never a count that
    // grows with the history.
    assert.ok(after.pagesLocked <= fresh.pagesLocked + 1, `the claim locked ${after.pagesLocked} pages, ${fresh.pagesLocked} on a fresh store`);
    const readyLeaves = (store as unknown as StoreEngine).tableFor(READY).leaves;
    assert.ok(readyLeaves <= 3, `the ready index is back to ${readyLeaves} page(s) after a million tasks went through it`);
  } finally {
    await store.close();
  }
});
