// The task outbox: a task exists if and only if the transaction that enqueued it commits; a handler that
// completes through job.transaction has its store effects exactly once. A started node has node.tasks.
import { openStore, openTasks } from 'purser';

const store = await openStore(); // openStore({ dir }) keeps tasks (and everything else) on disk
const tasks = await openTasks({ store });
const key = (text) => Buffer.from(text);
const receipts = [];
const notified = [];

tasks.register('send-receipt', async (job) => {
  receipts.push(`${job.payload.order} (attempt ${job.attempt}, key ${job.idempotencyKey})`);
}, { concurrency: 8 });
tasks.register('credit', (job) => job.transaction(async (tx) => {      // the increment and the completion commit together
  await tx.increment('loyalty', key(job.payload.customer), BigInt(job.payload.points));
}));
tasks.register('notify-customer', (job) => notified.push(job.payload.order));
tasks.subscribe('order.paid', 'notify-customer');                       // one task per subscription and publish

await store.transaction(async (tx) => {
  await tx.put('orders', key('o-1'), key('paid'));
  await tasks.enqueue(tx, 'send-receipt', { order: 'o-1' }, { dedupKey: 'receipt-o-1' });
  await tasks.enqueue(tx, 'credit', { customer: 'c-7', points: 10 }, { delayMs: 0, maxAttempts: 5, priority: 1 });
  await tasks.publish(tx, 'order.paid', { order: 'o-1' });
});
await store.transaction(async (tx) => {
  await tasks.enqueue(tx, 'send-receipt', { order: 'o-2' });
  throw new Error('rolled back');                                        // so this task never exists
}).catch(() => {});
const again = await store.transaction((tx) => tasks.enqueue(tx, 'send-receipt', { order: 'o-1' }, { dedupKey: 'receipt-o-1' }));

await tasks.start();
while ((await tasks.queues()).some((queue) => queue.ready + queue.running > 0)) await new Promise((resolve) => setTimeout(resolve, 10));
await tasks.stop({ drainTimeoutMs: 5000 });                             // finishes running handlers first
console.log(receipts.map((receipt) => receipt.replace(/key task-\d+/, 'key task-N')), notified, again.deduplicated);
console.log(await store.transaction((tx) => tx.counter('loyalty', key('c-7'))));
await store.close();
