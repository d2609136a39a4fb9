// The embedded store on its own: a transaction that reads, writes, scans and moves an escrow counter,
// and a spread sequence. `openStore({ dir })` keeps it on disk; this one lives in memory.
import { openStore, encodeCounter } from 'purser';

const store = await openStore();
const key = (text) => Buffer.from(text);
await store.transaction(async (tx) => {
  await tx.put('accounts', key('alice'), key('Alice'));
  await tx.put('accounts', key('bob'), key('Bob'));
  await tx.put('balances', key('alice'), encodeCounter(100n));
});
const result = await store.transaction(async (tx) => {
  const alice = await tx.get('accounts', key('alice'), { forUpdate: true }); // EXCLUSIVE at once: no upgrade deadlock
  const both = await tx.getMany('accounts', [key('alice'), key('bob')]);      // one awaited call for many keys
  await tx.delete('accounts', key('bob'));                                     // true: it existed
  const names = [];
  for await (const [, value] of tx.range('accounts', { gte: key('a'), lt: key('z'), limit: 10 })) names.push(Buffer.from(value).toString());
  await tx.increment('balances', key('alice'), -30n, { min: 0n });             // escrow: concurrent increments never wait
  return { alice: Buffer.from(alice).toString(), found: both.filter((value) => value !== undefined).length, names, balance: await tx.counter('balances', key('alice')) };
}, { timeoutMs: 30_000 });                                                     // retried on conflicts until this deadline
const orderId = await store.sequence('orders', { spread: true }).next();      // outside transactions, never reissued
console.log(result, orderId, store.stats().transactionsCommitted);
await store.close();
