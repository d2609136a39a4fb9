// The child of the outbox's kill -9 test (tasks.crash.test.ts). Opens a durable store and an outbox in the
// directory argv[2]. Mode "work": enqueues argv[4] tasks, each in a transaction with an order row (1 to 5
// per transaction), printing "enq <order>" once each commit resolved (is durable), and runs them with a
// handler that credits a counter through job.transaction, printing "done <task id>". Mode "drain": runs
// what is left, prints "idle" once nothing is ready, scheduled or running, and exits. At start it prints
// "recovered <n>": runs of the killed process it found in the store.
import { openStore } from '../../src/store/store.js';
import { openTasks } from '../../src/tasks/tasks.js';

function key(n: bigint): Uint8Array {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64BE(n);
  return bytes;
}

const COUNTER_KEY = Buffer.from('credits');

async function main(): Promise<void> {
  const [dir, mode, countText] = process.argv.slice(2);
  const store = await openStore({ dir, checkpointLogBytes: 256 * 1024, onFailure: (error) => process.stderr.write(`store failed: ${error.message}\n`) });
  const tasks = await openTasks({ store, logger: { error: (fields, message) => process.stderr.write(`${message}\n`), warn: () => {} } });
  process.stdout.write(`recovered ${tasks.stats().recovered}\n`);
  tasks.register('credit', async (job) => {
    await new Promise((resolve) => setImmediate(resolve));
    await job.transaction(async (tx) => {
      await tx.put('effects', key(job.id), Buffer.from([job.attempt & 0xff]));
      await new Promise((resolve) => setImmediate(resolve)); // so kills land inside the transaction too
      await tx.increment('effects.count', COUNTER_KEY, 1n);
    });
    process.stdout.write(`done ${String(job.id)}\n`);
  }, { concurrency: 8, maxAttempts: 1000 });
  await tasks.start();
  if (mode === 'drain') {
    for (;;) {
      const queues = await tasks.queues();
      if (queues.every((queue) => queue.ready + queue.scheduled + queue.running === 0)) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await tasks.stop();
    await store.close();
    process.stdout.write('idle\n');
    return;
  }
  const orders = store.sequence('orders');
  let left = Number(countText);
  while (left > 0) {
    const batch = Math.min(left, 1 + Math.floor(Math.random() * 5));
    left -= batch;
    const numbers: bigint[] = [];
    await store.transaction(async (tx) => {
      numbers.length = 0;
      for (let i = 0; i < batch; i++) {
        const order = await orders.next();
        numbers.push(order);
        await tx.put('orders', key(order), Buffer.from('paid'));
        await tasks.enqueue(tx, 'credit', { order: String(order) });
      }
    });
    for (const order of numbers) process.stdout.write(`enq ${String(order)}\n`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
