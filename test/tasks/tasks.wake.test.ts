// An enqueue wakes its queue's claimer only once its transaction commits (tx.afterCommit). Woken at once,
// the claim queued on the page lock the still-open enqueuing transaction holds, and the queue's claimer and
// every other ready task of the queue waited for that transaction to end. Every wait is for a state.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openStore, openTasks, type Job } from 'purser';
import { READY, readyKey } from '../../src/tasks/codec.js';
import { engineOf, gate } from '../store/_helpers.js';
import { quietLogger, waitFor } from './_helpers.js';

/** Big enough that two such tasks never share a page (8 KiB of live data splits one), small enough to enqueue. */
const PAGE_FILLER = 'x'.repeat(7000);

async function turns(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

test('a transaction that enqueued and stays open does not hold up the claiming of a committed task of its queue', async (t) => {
  // No lock wait or deadline in the store may end on its own: on the old behaviour the claim would otherwise be
  // retried after a lock timeout and get through, and the verdict would depend on timers.
  const store = await openStore({ lockTimeoutMs: 3_600_000, timeoutMs: 3_600_000 });
  const tasks = await openTasks({ store, logger: quietLogger });
  t.after(async () => {
    // Also after a failed assertion, so a failure ends the run instead of leaving the outbox's timers running.
    await tasks.stop({ drainTimeoutMs: 1000 });
    await store.close();
  });
  const ran: string[] = [];
  let heldCommitted = false;
  const ranWhileHeldOpen: string[] = [];
  tasks.register('work', (job: Job<{ label: string }>) => {
    ran.push(job.payload.label);
    if (!heldCommitted) ranWhileHeldOpen.push(job.payload.label);
    return Promise.resolve();
  }, { queue: 'q', concurrency: 1 }); // one slot: a claim takes one task and stops its scan there
  // Tasks parked for remote workers in queues 'p' and 'r' (nothing claims them here) pin the pages around q's
  // slice of the ready table, so that the pages split below are never merged back.
  tasks.declare('parked-p', { queue: 'p' });
  tasks.declare('parked-r', { queue: 'r' });
  await store.transaction(async (tx) => {
    await tasks.enqueue(tx, 'parked-p', PAGE_FILLER);
    await tasks.enqueue(tx, 'parked-r', PAGE_FILLER);
  });
  await tasks.start();
  // F (priority 0) splits p's page: F's key becomes the first key of a page of its own. F runs and goes; its
  // page stays, holding the keys of q's priority-0 tasks enqueued after F, and none of higher priority.
  const f = await store.transaction((tx) => tasks.enqueue(tx, 'work', { label: 'F', filler: PAGE_FILLER }));
  await waitFor(async () => ran.includes('F') && (await tasks.queues()).every((queue) => queue.running === 0), 'F to run and complete');
  await turns(3); // the claim that follows F's slot freeing (it finds nothing) runs in these turns and ends

  // The held transaction enqueues B (priority 0, onto F's old page) and stays open.
  const enqueued = gate();
  const release = gate();
  let bId = 0n;
  const held = store.transaction(async (tx) => {
    bId = (await tasks.enqueue(tx, 'work', { label: 'B' })).id;
    enqueued.open();
    await release.wait;
  }).then(() => (heldCommitted = true));
  await enqueued.wait;
  await turns(3); // a claim woken by the enqueue itself (the old behaviour) would start, and queue on B's page, here
  const waitsBefore = store.stats().lockWaits;

  // A (priority 10) sorts before every priority-0 task, so it lands on the page before F's: not B's.
  const ready = engineOf(store).tableFor(READY);
  const pageOfA = () => ready.findLeaf(readyKey({ queue: 'q', priority: 10, id: bId + 1n }));
  assert.notEqual(pageOfA(), ready.findLeaf(readyKey({ queue: 'q', priority: 0, id: bId })), 'precondition: A and B go to different pages');
  assert.ok(f.id < bId);
  try {
    // Not awaited: on the old behaviour A's enqueue itself queues behind the stuck claim (which holds A's page).
    const aEnqueued = store.transaction((tx) => tasks.enqueue(tx, 'work', { label: 'A' }, { priority: 10 }));
    // Either A runs, or something queued on a page lock (the old behaviour): both end the wait.
    await waitFor(() => ran.includes('A') || store.stats().lockWaits > waitsBefore, 'A to run, or a lock wait behind the held transaction');
    assert.deepEqual(ranWhileHeldOpen, ['F', 'A'], 'A was claimed and ran while the transaction that enqueued B was still open');
    assert.equal(ready.findLeaf(readyKey({ queue: 'q', priority: 10, id: (await aEnqueued).id })), pageOfA());
  } finally {
    release.open(); // also lets the old behaviour's stuck claim through, so a failure does not hang the run
  }
  await held;
  await waitFor(() => ran.includes('B'), 'B to run once its transaction committed');
  assert.deepEqual(ran, ['F', 'A', 'B']);
  await waitFor(async () => (await tasks.queues()).find((queue) => queue.queue === 'q')?.running === 0, 'the completions to commit');
  assert.deepEqual((await tasks.queues()).map(({ queue, ready: count }) => [queue, count]), [['p', 1], ['q', 0], ['r', 1]]);
});

test('one transaction enqueues more tasks than the store\'s cap on afterCommit callbacks; all run after it commits', async () => {
  const store = await openStore();
  const tasks = await openTasks({ store, logger: quietLogger });
  let runs = 0;
  tasks.register('tick', () => {
    runs++;
    return Promise.resolve();
  }, { concurrency: 64 });
  tasks.register('tock', () => {
    runs++;
    return Promise.resolve();
  }, { queue: 'other', concurrency: 64 });
  await tasks.start();
  const count = 1500; // over AFTER_COMMIT_CALLBACKS_MAX (1,024): the outbox registers one callback per transaction
  await store.transaction(async (tx) => {
    for (let i = 0; i < count; i++) await tasks.enqueue(tx, i % 2 === 0 ? 'tick' : 'tock', i);
  });
  await waitFor(() => runs === count, `all ${String(count)} tasks of both queues to run`);
  await tasks.stop({ drainTimeoutMs: 1000 });
  await store.close();
});
