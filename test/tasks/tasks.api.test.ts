// The outbox's behaviour on an in-memory store: a task exists iff its transaction commits, handlers see
// the enqueuer's writes, job.transaction commits effects and completion together, retries back off with
// jitter (injected clock and random), dead letters and redrive, dedup, priorities, delays, publish/subscribe
// fan-out, and a graceful stop. Every wait is for a state.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeCounter, openTasks, type Job } from 'purser';
import { bytes, manualClock, memoryTasks, quietLogger, waitFor } from './_helpers.js';

test('a rolled-back enqueue leaves no task; a committed one runs after commit and sees the enqueuer\'s writes', async () => {
  const { store, tasks, close } = await memoryTasks();
  const seen: Array<{ order: string; row: string | undefined }> = [];
  tasks.register('send-receipt', async (job: Job<{ order: string }>) => {
    const row = await store.transaction((tx) => tx.get('orders', bytes(job.payload.order)));
    seen.push({ order: job.payload.order, row: row && Buffer.from(row).toString() });
  });
  await tasks.start();
  await assert.rejects(store.transaction(async (tx) => {
    await tx.put('orders', bytes('o-1'), bytes('rolled back'));
    await tasks.enqueue(tx, 'send-receipt', { order: 'o-1' });
    throw new Error('the caller changes its mind');
  }), /changes its mind/);
  await store.transaction(async (tx) => {
    await tx.put('orders', bytes('o-2'), bytes('paid'));
    await tasks.enqueue(tx, 'send-receipt', { order: 'o-2' });
  });
  await waitFor(() => seen.length >= 1, 'the committed task to run');
  await waitFor(async () => (await tasks.queues()).every((q) => q.running === 0 && q.ready === 0), 'the completion to commit');
  assert.deepEqual(seen, [{ order: 'o-2', row: 'paid' }], 'only the committed task ran, and it saw the order');
  assert.deepEqual(await tasks.queues(), [{ queue: 'send-receipt', ready: 0, scheduled: 0, running: 0, dead: 0 }]);
  await close();
});

test('job.transaction commits the handler\'s writes and the completion together, once', async () => {
  const { store, tasks, close } = await memoryTasks();
  let runs = 0;
  tasks.register('credit', async (job: Job<{ amount: number }>) => {
    runs++;
    await job.transaction(async (tx) => tx.increment('balances', bytes('acct'), BigInt(job.payload.amount)));
    // A second completion of the same attempt is refused and commits nothing.
    await assert.rejects(job.transaction(async (tx) => tx.increment('balances', bytes('acct'), 1000n)), { code: 'TASK_NOT_RUNNING' });
  }, { concurrency: 4 });
  await tasks.start();
  for (let i = 1; i <= 20; i++) await store.transaction(async (tx) => void (await tasks.enqueue(tx, 'credit', { amount: i })));
  await waitFor(() => tasks.stats().completed === 20, '20 completions');
  const balance = await store.transaction((tx) => tx.counter('balances', bytes('acct')));
  assert.equal(balance, 210n, 'each credit applied exactly once (1 + … + 20)');
  assert.equal(runs, 20);
  assert.deepEqual((await tasks.queues())[0], { queue: 'credit', ready: 0, scheduled: 0, running: 0, dead: 0 });
  await close();
});

test('failures retry with exponential back-off and jitter, then become a dead letter; retry redrives it', async () => {
  const clock = manualClock();
  const { store, tasks, close } = await memoryTasks({ clock: clock.now, random: () => 0.5, pollIntervalMs: 5 });
  let failUntilAttempt = Infinity;
  const attempts: number[] = [];
  tasks.register('flaky', (job) => {
    attempts.push(job.attempt);
    assert.equal(job.idempotencyKey, `task-${String(job.id)}`);
    if (job.attempt < failUntilAttempt) throw new Error(`boom ${job.attempt}`);
  }, { maxAttempts: 4, backoffBaseMs: 1000, backoffMaxMs: 3000 });
  // A probe task due 1 ms before each retry: once it has run, a promotion pass at that time has completed,
  // so "the retry was not run early" is checked after a pass that would have promoted it, not after a sleep.
  let probes = 0;
  tasks.register('probe', () => void probes++);
  await tasks.start();
  const { id } = await store.transaction((tx) => tasks.enqueue(tx, 'flaky', { n: 1 }));
  // Back-off ceilings 1000, 2000, 3000 (capped) ms; with random 0.5 the wait is 3/4 of each.
  const expectedWaitsMs = [750, 1500, 2250];
  for (const [index, waitMs] of expectedWaitsMs.entries()) {
    await waitFor(async () => (await tasks.list({ state: 'scheduled', queue: 'flaky' })).length === 1, `retry ${index + 1} to be scheduled`);
    const [scheduled] = await tasks.list({ state: 'scheduled', queue: 'flaky' });
    assert.equal(scheduled.attempts, index + 1);
    assert.equal(Date.parse(scheduled.runAt) - clock.now(), waitMs, `back-off before attempt ${index + 2}`);
    assert.match(scheduled.lastError ?? '', new RegExp(`boom ${index + 1}`));
    await store.transaction((tx) => tasks.enqueue(tx, 'probe', index, { runAt: Date.parse(scheduled.runAt) - 1 }));
    clock.advance(waitMs - 1);
    await waitFor(() => probes === index + 1, `the probe due 1 ms before attempt ${index + 2}`);
    assert.equal(attempts.length, index + 1, 'not run before its time');
    assert.deepEqual((await tasks.list({ state: 'scheduled', queue: 'flaky' })).map((view) => view.attempts), [index + 1], 'still waiting for its time');
    clock.advance(1);
    await waitFor(() => attempts.length === index + 2, `attempt ${index + 2}`);
  }
  await waitFor(async () => (await tasks.list({ state: 'dead' })).length === 1, 'the dead letter');
  const [dead] = await tasks.list({ queue: 'flaky' });
  assert.equal(dead.id, String(id));
  assert.equal(dead.attempts, 4);
  assert.match(dead.lastError ?? '', /boom 4/);
  assert.deepEqual(await tasks.show(id), dead);
  failUntilAttempt = 0;
  await tasks.retry(id);
  await waitFor(() => attempts.length === 5, 'the redriven run');
  assert.equal(attempts[4], 1, 'a redriven task starts a fresh set of attempts');
  await waitFor(async () => (await tasks.queues())[0].running === 0, 'its completion');
  assert.deepEqual((await tasks.queues())[0], { queue: 'flaky', ready: 0, scheduled: 0, running: 0, dead: 0 });
  await assert.rejects(tasks.retry(id), { code: 'TASK_NOT_FOUND' });
  await close();
});

test('a dead letter can be removed', async () => {
  const { store, tasks, close } = await memoryTasks();
  tasks.register('doomed', () => {
    throw new Error('always');
  }, { maxAttempts: 1 });
  await tasks.start();
  const { id } = await store.transaction((tx) => tasks.enqueue(tx, 'doomed'));
  await waitFor(async () => (await tasks.queues())[0]?.dead === 1, 'the dead letter');
  await tasks.remove(id);
  assert.deepEqual((await tasks.queues())[0], { queue: 'doomed', ready: 0, scheduled: 0, running: 0, dead: 0 });
  await assert.rejects(tasks.remove(id), { code: 'TASK_NOT_FOUND' });
  await assert.rejects(tasks.show(id), { code: 'TASK_NOT_FOUND' });
  await close();
});

test('dedupKey: a second enqueue while the first is pending is a no-op that says so; after completion the key is free', async () => {
  const { store, tasks, close } = await memoryTasks();
  const ran: string[] = [];
  tasks.register('sync-account', (job: Job<string>) => void ran.push(job.payload));
  const first = await store.transaction((tx) => tasks.enqueue(tx, 'sync-account', 'first', { dedupKey: 'acct-7' }));
  const second = await store.transaction((tx) => tasks.enqueue(tx, 'sync-account', 'second', { dedupKey: 'acct-7' }));
  assert.equal(first.deduplicated, false);
  assert.deepEqual(second, { id: first.id, deduplicated: true });
  await tasks.start();
  await waitFor(async () => (await tasks.queues())[0].running === 0 && ran.length === 1, 'the one task to finish');
  const third = await store.transaction((tx) => tasks.enqueue(tx, 'sync-account', 'third', { dedupKey: 'acct-7' }));
  assert.equal(third.deduplicated, false);
  await waitFor(() => ran.length === 2, 'the third');
  assert.deepEqual(ran, ['first', 'third']);
  await close();
});

test('higher priority runs first; a delayed task does not hold back the ones behind it', async () => {
  const clock = manualClock();
  const { store, tasks, close } = await memoryTasks({ clock: clock.now, pollIntervalMs: 5 });
  const order: string[] = [];
  tasks.register('work', (job: Job<string>) => void order.push(job.payload), { concurrency: 1 });
  await store.transaction(async (tx) => {
    await tasks.enqueue(tx, 'work', 'delayed', { delayMs: 60_000, priority: 100 });
    await tasks.enqueue(tx, 'work', 'low', { priority: -5 });
    await tasks.enqueue(tx, 'work', 'normal-1');
    await tasks.enqueue(tx, 'work', 'high', { priority: 7 });
    await tasks.enqueue(tx, 'work', 'normal-2');
  });
  await tasks.start();
  await waitFor(() => order.length === 4, 'the four due tasks');
  assert.deepEqual(order, ['high', 'normal-1', 'normal-2', 'low']);
  assert.equal((await tasks.queues())[0].scheduled, 1);
  clock.advance(60_000);
  await waitFor(() => order.length === 5, 'the delayed task once due');
  assert.equal(order[4], 'delayed');
  await close();
});

test('publish creates one task per subscription in the caller\'s transaction; a rollback publishes nothing', async () => {
  const { store, tasks, close } = await memoryTasks();
  const got: string[] = [];
  tasks.register('notify-customer', (job: Job<{ card: string }>) => void got.push(`notify ${job.payload.card}`));
  tasks.register('update-limits', (job: Job<{ card: string }>) => void got.push(`limits ${job.payload.card}`));
  tasks.subscribe('card.approved', 'notify-customer');
  tasks.subscribe('card.approved', 'update-limits');
  tasks.subscribe('card.approved', 'update-limits'); // twice is once
  await tasks.start();
  await assert.rejects(store.transaction(async (tx) => {
    await tasks.publish(tx, 'card.approved', { card: 'rolled-back' });
    throw new Error('declined after all');
  }));
  const results = await store.transaction((tx) => tasks.publish(tx, 'card.approved', { card: '4111' }));
  assert.equal(results.length, 2);
  assert.deepEqual(await store.transaction((tx) => tasks.publish(tx, 'nobody.listens', {})), []);
  await waitFor(() => got.length === 2, 'both subscribers');
  assert.deepEqual(got.sort(), ['limits 4111', 'notify 4111']);
  await close();
});

test('stop waits for running handlers within the drain deadline and gives back the rest uncounted', async () => {
  const { store, tasks } = await memoryTasks();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const started: number[] = [];
  let aborted = 0;
  tasks.register('slow', async (job: Job<number>) => {
    started.push(job.payload);
    job.signal.addEventListener('abort', () => aborted++);
    if (job.payload === 1) await gate;
    else await new Promise(() => {}); // never finishes
  }, { concurrency: 2 });
  await tasks.start();
  await store.transaction(async (tx) => {
    await tasks.enqueue(tx, 'slow', 1);
    await tasks.enqueue(tx, 'slow', 2);
  });
  await waitFor(() => started.length === 2, 'both to start');
  const stopping = tasks.stop({ drainTimeoutMs: 200 });
  release();
  await stopping;
  assert.equal(aborted, 1, 'only the handler still running at the deadline was aborted');
  // The next outbox on the store finds the unfinished task ready, with no attempt counted against it.
  const again = await openTasks({ store, logger: quietLogger });
  assert.deepEqual((await again.queues())[0], { queue: 'slow', ready: 1, scheduled: 0, running: 0, dead: 0 }, 'the unfinished task is back in its queue');
  const [back] = await again.list({ state: 'ready', queue: 'slow' });
  assert.equal(back.attempts, 0);
  assert.equal(back.payload, 2);
  await assert.rejects(openTasks({ store }), { code: 'TASKS_ALREADY_OPEN' });
  await again.stop();
  await store.close();
});

test('counters read back through the store match the escrow counters', async () => {
  const { store, tasks, close } = await memoryTasks();
  tasks.register('noop', () => {});
  await store.transaction(async (tx) => {
    for (let i = 0; i < 5; i++) await tasks.enqueue(tx, 'noop', i, { delayMs: i === 0 ? 10_000 : 0 });
  });
  const raw = await store.transaction(async (tx) => {
    const values: bigint[] = [];
    for await (const [, value] of tx.range('tasks.counts')) values.push(decodeCounter(value));
    return values;
  });
  assert.deepEqual(raw.sort(), [1n, 4n], 'one scheduled, four ready');
  assert.deepEqual((await tasks.list({ state: 'ready', queue: 'noop' })).map((view) => view.payload), [1, 2, 3, 4]);
  await close();
});

test('a queue is claimed only once a registration runs it here; other queues are refused at enqueue', async () => {
  const { store, tasks } = await memoryTasks();
  tasks.register('local-job', () => {}, { queue: 'q-local' });
  tasks.declare('remote-job');
  await store.transaction(async (tx) => {
    await tasks.enqueue(tx, 'local-job', 1);
    await tasks.enqueue(tx, 'remote-job', 2);
    await assert.rejects(tasks.enqueue(tx, 'local-job', 3, { queue: 'nowhere' }), { code: 'TASK_INVALID_ARGUMENT' });
    await assert.rejects(tasks.enqueue(tx, 'local-job', 3, { queue: 'remote-job' }), { code: 'TASK_INVALID_ARGUMENT' }, 'a local task in a remote queue');
    await assert.rejects(tasks.enqueue(tx, 'remote-job', 3, { queue: 'q-local' }), { code: 'TASK_INVALID_ARGUMENT' }, 'a remote task in a local queue');
  });
  await tasks.stop();
  // A node's outbox starts before the program registers anything: it must not claim (and fail) those tasks.
  const next = await openTasks({ store, logger: quietLogger });
  await next.start();
  for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve)); // the start's pokes ran
  assert.equal(next.stats().claimed, 0, 'nothing claimed before a registration');
  next.declare('remote-job');
  const ran: number[] = [];
  next.register('local-job', (job: Job<number>) => void ran.push(job.payload), { queue: 'q-local' });
  await waitFor(() => ran.length === 1, 'the local task once its handler is registered');
  await waitFor(async () => (await next.queues()).find((queue) => queue.queue === 'q-local')?.running === 0, 'its completion');
  assert.deepEqual(await next.queues(), [
    { queue: 'q-local', ready: 0, scheduled: 0, running: 0, dead: 0 },
    { queue: 'remote-job', ready: 1, scheduled: 0, running: 0, dead: 0 },
  ], 'the remote task waits for a remote worker');
  await next.stop();
  await store.close();
});

test('retainFinished keeps the newest finished tasks (by id) for inspection; by default none are kept', async () => {
  const { store, tasks, close } = await memoryTasks({ retainFinished: 3 });
  tasks.register('kept', async (job: Job<number>) => {
    if (job.payload % 2 === 0) await job.transaction(async (tx) => tx.put('effects', Buffer.from([job.payload]), Buffer.from('x')));
  }, { concurrency: 1 });
  const ids: bigint[] = [];
  for (let i = 1; i <= 6; i++) ids.push((await store.transaction((tx) => tasks.enqueue(tx, 'kept', i))).id);
  await tasks.start();
  await waitFor(async () => (await tasks.queues())[0].running + (await tasks.queues())[0].ready === 0, 'every task finished');
  await waitFor(async () => (await tasks.list({ state: 'done' })).length === 3, 'the kept tasks trimmed to 3');
  const kept = await tasks.list({ state: 'done' });
  assert.deepEqual(kept.map((view) => view.id), ids.slice(3).map(String), 'the three newest are kept');
  assert.deepEqual(kept.map((view) => view.payload), [4, 5, 6]);
  assert.equal((await tasks.show(ids[5])).state, 'done');
  await assert.rejects(tasks.show(ids[0]), { code: 'TASK_NOT_FOUND' }, 'an older one is gone');
  await close();

  const plain = await memoryTasks();
  plain.tasks.register('gone', () => {});
  await plain.store.transaction((tx) => plain.tasks.enqueue(tx, 'gone', 1));
  await plain.tasks.start();
  await waitFor(() => plain.tasks.stats().completed === 1, 'the task to run');
  await waitFor(async () => (await plain.tasks.queues())[0].running === 0, 'its completion');
  assert.deepEqual(await plain.tasks.list({ state: 'done' }), []);
  await plain.close();
  await assert.rejects(openTasks({ store: plain.store, retainFinished: -1 }), { code: 'TASK_INVALID_ARGUMENT' });
});
