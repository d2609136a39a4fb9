// The batcher: jobs queued while a ledger transaction commits run together in the next one, in order, each
// seeing the ones before; a job that throws fails alone (its batch is rerun one job per transaction, the
// others commit); a full queue refuses at once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openLedger, openStore } from 'purser';
import { Batcher, BatcherFullError } from '../../../apps/cards/batcher.js';

test('jobs submitted together share a transaction and see each other; a throwing job fails alone and is undone', async () => {
  const store = await openStore();
  const ledger = await openLedger({ store });
  try {
    const batcher = new Batcher(ledger, 100, 1000);
    const key = (n: number) => Buffer.from([n]);
    const writes = [1, 2, 3, 4].map((n) => batcher.submit(async (batch) => {
      await batch.tx.put('t', key(n), Buffer.from([n]));
      if (n === 3) throw new Error('a bug in job 3');
      // Each job sees the writes of the jobs before it in the batch.
      return (await batch.tx.get('t', key(n - 1))) !== undefined || n === 1;
    }));
    const settled = await Promise.allSettled(writes);
    assert.deepEqual(settled.map((result) => result.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    assert.equal((settled[1] as PromiseFulfilledResult<boolean>).value, true);
    const stats = batcher.stats();
    assert.equal(stats.isolatedRuns, 4, 'the failed batch reran one job per transaction');
    const present = await store.transaction(async (tx) => Promise.all([1, 2, 3, 4].map(async (n) => (await tx.get('t', key(n))) !== undefined)));
    assert.deepEqual(present, [true, true, false, true], 'only the failing job was undone');
  } finally {
    await ledger.close();
    await store.close();
  }
});

test('a full queue refuses new work at once with BatcherFullError', async () => {
  const store = await openStore();
  const ledger = await openLedger({ store });
  try {
    const batcher = new Batcher(ledger, 1, 2);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const first = batcher.submit(() => gate);
    const second = batcher.submit(() => Promise.resolve());
    const third = batcher.submit(() => Promise.resolve());
    await assert.rejects(third, BatcherFullError);
    release();
    await Promise.all([first, second]);
    assert.equal(batcher.stats().refused, 1);
  } finally {
    await ledger.close();
    await store.close();
  }
});
