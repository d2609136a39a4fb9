// Tasks declared in a config file: each module's handler is registered on the node's outbox with its
// options and subscribed to its topics, so a task enqueued (or published) in a store transaction runs and
// its effects commit with its completion; bad task declarations are ConfigErrors naming the key.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { ConfigError, loadConfigFile, startNode } from 'purser';
import { waitFor } from '../tasks/_helpers.js';

const silent = pino({ level: 'silent' });
const key = (text: string) => Buffer.from(text);

test('a config file\'s tasks run on the node: enqueued and published in a transaction, effects through job.transaction', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'purser-config-tasks-'));
  try {
    // The handler records its payload in the store, in the transaction that completes the task.
    await writeFile(join(dir, 'record.mjs'), `export default (job) => job.transaction(async (tx) => {
  await tx.put('receipts', Buffer.from(String(job.payload.order)), Buffer.from(job.name));
});
`);
    await writeFile(join(dir, 'purser.config.json'), JSON.stringify({
      tasks: {
        'send-receipt': { module: './record.mjs', concurrency: 2, maxAttempts: 3 },
        'notify': { module: './record.mjs', subscribe: ['order.paid'] },
      },
    }));
    const file = await loadConfigFile(join(dir, 'purser.config.json'));
    assert.deepEqual(file.tasks['notify'].subscribe, ['order.paid']);
    const node = await startNode({ memory: true, httpPort: 0, logger: silent, tasks: file.tasks });
    try {
      await node.store.transaction(async (tx) => {
        await tx.put('orders', key('1'), key('paid'));
        await node.tasks.enqueue(tx, 'send-receipt', { order: 1 });
        await node.tasks.publish(tx, 'order.paid', { order: 2 });
      });
      const receipt = (order: string) => node.store.transaction((tx) => tx.get('receipts', key(order)));
      await waitFor(async () => (await receipt('1')) !== undefined && (await receipt('2')) !== undefined, 'both receipts written by their handlers');
      assert.equal(Buffer.from((await receipt('1'))!).toString(), 'send-receipt');
      assert.equal(Buffer.from((await receipt('2'))!).toString(), 'notify');
    } finally {
      await node.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('bad task declarations are refused, naming the key', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'purser-config-tasks-bad-'));
  try {
    await writeFile(join(dir, 'ok.mjs'), 'export default () => undefined;\n');
    await writeFile(join(dir, 'nohandler.mjs'), 'export const x = 1;\n');
    const cases: Array<[unknown, RegExp]> = [
      [[], /tasks: expected an object/],
      [{ 'bad name!': { module: './ok.mjs' } }, /tasks\.bad name!: a task name/],
      [{ t: { concurrency: 2 } }, /tasks\.t\.module: missing/],
      [{ t: { module: './missing.mjs' } }, /tasks\.t\.module: no module at/],
      [{ t: { module: './ok.mjs', concurrency: 0 } }, /tasks\.t\.concurrency: expected an integer from 1/],
      [{ t: { module: './ok.mjs', subscribe: 'order.paid' } }, /tasks\.t\.subscribe: expected a list/],
      [{ t: { module: './ok.mjs', colour: 'red' } }, /tasks\.t\.colour: unknown key/],
    ];
    for (const [tasks, message] of cases) {
      await writeFile(join(dir, 'purser.config.json'), JSON.stringify({ tasks }));
      await assert.rejects(loadConfigFile(join(dir, 'purser.config.json')), (error: unknown) => error instanceof ConfigError && message.test(error.message), JSON.stringify(tasks));
    }
    await writeFile(join(dir, 'purser.config.json'), JSON.stringify({ tasks: { t: { module: './nohandler.mjs' } } }));
    const file = await loadConfigFile(join(dir, 'purser.config.json'));
    await assert.rejects(startNode({ memory: true, httpPort: 0, logger: silent, tasks: file.tasks }), (error: unknown) => error instanceof ConfigError && /tasks\.t\.module: .* has no handler/.test(error.message));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
