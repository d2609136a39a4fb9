// Bad and hostile input to every public entry point of the outbox: each gets a typed error with a stable
// code, and nothing is written (the caller's transaction commits with none of it, and no task appears).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openStore, openTasks, TaskArgumentError, TaskPayloadError, TaskUnknownError, type Transaction } from 'purser';
import { memoryTasks, quietLogger } from './_helpers.js';

test('enqueue refuses bad names, payloads and options with typed errors and writes nothing', async () => {
  const { store, tasks, close } = await memoryTasks();
  tasks.register('ok', () => {});
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic; // structured clone handles cycles: this one is fine
  const cases: Array<[string, (tx: Transaction) => Promise<unknown>, string]> = [
    ['unknown task name', (tx) => tasks.enqueue(tx, 'nobody-handles-this', {}), 'TASK_UNKNOWN'],
    ['empty name', (tx) => tasks.enqueue(tx, '', {}), 'TASK_INVALID_ARGUMENT'],
    ['name with a NUL', (tx) => tasks.enqueue(tx, 'ok\u0000evil', {}), 'TASK_INVALID_ARGUMENT'],
    ['name of 129 characters', (tx) => tasks.enqueue(tx, 'a'.repeat(129), {}), 'TASK_INVALID_ARGUMENT'],
    ['name that is not a string', (tx) => tasks.enqueue(tx, 42 as unknown as string, {}), 'TASK_INVALID_ARGUMENT'],
    ['a function in the payload', (tx) => tasks.enqueue(tx, 'ok', { callback: () => 1 }), 'TASK_PAYLOAD_NOT_SERIALIZABLE'],
    ['a symbol payload', (tx) => tasks.enqueue(tx, 'ok', Symbol('x')), 'TASK_PAYLOAD_NOT_SERIALIZABLE'],
    ['a payload over 60 KiB', (tx) => tasks.enqueue(tx, 'ok', 'x'.repeat(70_000)), 'TASK_PAYLOAD_TOO_LARGE'],
    ['negative delay', (tx) => tasks.enqueue(tx, 'ok', {}, { delayMs: -1 }), 'TASK_INVALID_ARGUMENT'],
    ['fractional delay', (tx) => tasks.enqueue(tx, 'ok', {}, { delayMs: 1.5 }), 'TASK_INVALID_ARGUMENT'],
    ['delay over a year', (tx) => tasks.enqueue(tx, 'ok', {}, { delayMs: 400 * 24 * 3600 * 1000 }), 'TASK_INVALID_ARGUMENT'],
    ['delayMs and runAt', (tx) => tasks.enqueue(tx, 'ok', {}, { delayMs: 1, runAt: Date.now() }), 'TASK_INVALID_ARGUMENT'],
    ['invalid Date', (tx) => tasks.enqueue(tx, 'ok', {}, { runAt: new Date('nope') }), 'TASK_INVALID_ARGUMENT'],
    ['runAt a string', (tx) => tasks.enqueue(tx, 'ok', {}, { runAt: '2030-01-01' as unknown as number }), 'TASK_INVALID_ARGUMENT'],
    ['unknown option', (tx) => tasks.enqueue(tx, 'ok', {}, { retries: 3 } as unknown as object), 'TASK_INVALID_ARGUMENT'],
    ['options not an object', (tx) => tasks.enqueue(tx, 'ok', {}, 'fast' as unknown as object), 'TASK_INVALID_ARGUMENT'],
    ['maxAttempts 0', (tx) => tasks.enqueue(tx, 'ok', {}, { maxAttempts: 0 }), 'TASK_INVALID_ARGUMENT'],
    ['maxAttempts 1001', (tx) => tasks.enqueue(tx, 'ok', {}, { maxAttempts: 1001 }), 'TASK_INVALID_ARGUMENT'],
    ['priority 101', (tx) => tasks.enqueue(tx, 'ok', {}, { priority: 101 }), 'TASK_INVALID_ARGUMENT'],
    ['priority NaN', (tx) => tasks.enqueue(tx, 'ok', {}, { priority: Number.NaN }), 'TASK_INVALID_ARGUMENT'],
    ['empty dedupKey', (tx) => tasks.enqueue(tx, 'ok', {}, { dedupKey: '' }), 'TASK_INVALID_ARGUMENT'],
    ['dedupKey of 257 characters', (tx) => tasks.enqueue(tx, 'ok', {}, { dedupKey: 'k'.repeat(257) }), 'TASK_INVALID_ARGUMENT'],
    ['queue with a space', (tx) => tasks.enqueue(tx, 'ok', {}, { queue: 'a b' }), 'TASK_INVALID_ARGUMENT'],
    ['not a transaction', () => tasks.enqueue({} as Transaction, 'ok', {}), 'TASK_INVALID_ARGUMENT'],
    ['publish to a topic with a bad name', (tx) => tasks.publish(tx, 'bad topic', {}), 'TASK_INVALID_ARGUMENT'],
    ['publish with a queue option', (tx) => tasks.publish(tx, 'card.approved', {}, { queue: 'x' } as object), 'TASK_INVALID_ARGUMENT'],
  ];
  for (const [what, call, code] of cases) {
    await store.transaction(async (tx) => {
      await tx.put('marker', Buffer.from(what), Buffer.from('x'));
      await assert.rejects(call(tx), (error: Error & { code?: string }) => {
        assert.equal(error.code, code, what);
        assert.ok(error instanceof TaskArgumentError || error instanceof TaskPayloadError || error instanceof TaskUnknownError, `${what}: a typed error`);
        return true;
      });
    });
  }
  // Every transaction above committed (the caller caught the error), yet none wrote a task or a count.
  assert.deepEqual(await tasks.queues(), []);
  const tables = await store.transaction(async (tx) => {
    let records = 0;
    for (const table of ['tasks.ready', 'tasks.scheduled', 'tasks.dedup', 'tasks.counts']) for await (const _ of tx.range(table)) records++;
    return records;
  });
  assert.equal(tables, 0);
  // A cyclic payload is structured-cloneable and is accepted.
  await store.transaction((tx) => tasks.enqueue(tx, 'ok', cyclic));
  assert.equal((await tasks.queues())[0].ready, 1);
  await close();
});

test('publish checks every subscriber before writing any task', async () => {
  const { store, tasks, close } = await memoryTasks();
  tasks.register('first', () => {});
  tasks.subscribe('evt', 'first');
  tasks.subscribe('evt', 'not-registered');
  await store.transaction(async (tx) => {
    await assert.rejects(tasks.publish(tx, 'evt', {}), { code: 'TASK_UNKNOWN' });
  });
  assert.deepEqual(await tasks.queues(), []);
  await close();
});

test('register, subscribe, stop, list, show and openTasks refuse bad arguments', async () => {
  const { tasks, close } = await memoryTasks();
  const refusals: Array<[string, () => unknown]> = [
    ['handler not a function', () => tasks.register('x', 'nope' as unknown as () => void)],
    ['concurrency 0', () => tasks.register('x', () => {}, { concurrency: 0 })],
    ['leaseMs too short', () => tasks.register('x', () => {}, { leaseMs: 5 })],
    ['unknown register option', () => tasks.register('x', () => {}, { threads: 2 } as object)],
    ['backoffMax below base', () => tasks.register('x', () => {}, { backoffBaseMs: 10, backoffMaxMs: 5 })],
    ['subscribe with a bad topic', () => tasks.subscribe('', 'x')],
    ['subscribe with a bad task name', () => tasks.subscribe('t', 'a b')],
  ];
  for (const [what, call] of refusals) assert.throws(call, { code: 'TASK_INVALID_ARGUMENT' }, what);
  tasks.register('x', () => {});
  assert.throws(() => tasks.register('x', () => {}), { code: 'TASK_INVALID_ARGUMENT' }, 'registered twice');
  await assert.rejects(tasks.list({ state: 'gone' as 'dead' }), { code: 'TASK_INVALID_ARGUMENT' });
  await assert.rejects(tasks.list({ limit: 0 }), { code: 'TASK_INVALID_ARGUMENT' });
  await assert.rejects(tasks.show(-1n), { code: 'TASK_INVALID_ARGUMENT' });
  await assert.rejects(tasks.show(1 as unknown as bigint), { code: 'TASK_INVALID_ARGUMENT' });
  await assert.rejects(tasks.retry(2n ** 64n), { code: 'TASK_INVALID_ARGUMENT' });
  await assert.rejects(tasks.stop({ drainTimeoutMs: -1 }), { code: 'TASK_INVALID_ARGUMENT' });
  await close();
  const store = await openStore();
  await assert.rejects(openTasks({} as never), { code: 'TASK_INVALID_ARGUMENT' });
  await assert.rejects(openTasks({ store, pollIntervalMs: 0 }), { code: 'TASK_INVALID_ARGUMENT' });
  await assert.rejects(openTasks({ store, colour: 'blue' } as never), { code: 'TASK_INVALID_ARGUMENT' });
  const tasksAgain = await openTasks({ store, logger: quietLogger });
  await tasksAgain.stop();
  await assert.rejects(tasksAgain.start(), { code: 'TASKS_CLOSED' });
  await store.close();
});
