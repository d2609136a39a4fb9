// tx.getMany: reading a batch of keys in one call answers exactly what one tx.get per key would (random
// data, absent keys, duplicates, the transaction's own puts and deletes), waits behind a writer's exclusive
// page lock like get does (and then sees the committed value, never the uncommitted one), and refuses bad
// input with a typed error before taking any lock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openStore, StoreArgumentError, TransactionFinishedError, type Transaction } from 'purser';
import { hex, random, text, u32Key, until } from './_helpers.js';

const show = (values: Array<Uint8Array | undefined>) => values.map((value) => (value === undefined ? '-' : hex(value)));

test('getMany answers what get answers, key by key, including own writes and deletes', async () => {
  const store = await openStore();
  const next = random(7);
  await store.transaction(async (tx) => {
    for (let i = 0; i < 5000; i++) await tx.put('t', u32Key(i * 2), text(`v${i}`));
  });
  await store.transaction(async (tx) => {
    await tx.put('t', u32Key(10), text('mine'));
    await tx.delete('t', u32Key(12));
    await tx.put('t', u32Key(11), text('new'));
    const keys = Array.from({ length: 2000 }, () => u32Key(Math.floor(next() * 10_001)));
    keys.push(u32Key(10), u32Key(11), u32Key(12), u32Key(10));
    const batch = await tx.getMany('t', keys);
    const single: Array<Uint8Array | undefined> = [];
    for (const key of keys) single.push(await tx.get('t', key));
    assert.deepEqual(show(batch), show(single));
    assert.equal(new TextDecoder().decode(batch[batch.length - 4]), 'mine');
    assert.equal(batch[batch.length - 2], undefined);
    assert.ok(batch.some((value) => value === undefined), 'odd keys are absent');
    assert.deepEqual(await tx.getMany('t', []), []);

  });
  await store.close();
});

test('getMany waits behind a writer and then sees only the committed value', async () => {
  const store = await openStore();
  await store.transaction((tx) => tx.put('t', text('k'), text('old')));
  let releaseWriter!: () => void;
  const writerHolds = new Promise<void>((resolve) => (releaseWriter = resolve));
  let writerLocked!: () => void;
  const locked = new Promise<void>((resolve) => (writerLocked = resolve));
  const writer = store.transaction(async (tx) => {
    await tx.put('t', text('k'), text('new'));
    writerLocked();
    await writerHolds;
  });
  await locked;
  const waitsBefore = store.stats().lockWaits;
  let readerDone = false;
  const reader = store.transaction(async (tx) => {
    const values = await tx.getMany('t', [text('k')]);
    readerDone = true;
    return values.map((value) => (value === undefined ? undefined : new TextDecoder().decode(value)));
  });
  // Until the reader is queued on the page lock, or has read (which it must not while the writer holds it).
  await until(() => store.stats().lockWaits > waitsBefore || readerDone);
  assert.equal(readerDone, false, 'the reader waits for the exclusive page lock');
  assert.equal(store.stats().lockWaits, waitsBefore + 1);
  releaseWriter();
  await writer;
  assert.deepEqual(await reader, ['new']);
  await store.close();
});

test('getMany refuses bad input with a typed error and takes no lock', async () => {
  const store = await openStore();
  await store.transaction((tx) => tx.put('t', text('k'), text('v')));
  const bad = (error: unknown) => error instanceof StoreArgumentError && error.code === 'STORE_INVALID_ARGUMENT';
  const attempts: Array<[string, (tx: Transaction) => Promise<unknown>]> = [
    ['keys not an array', (tx) => tx.getMany('t', text('k') as never)],
    ['a key not bytes', (tx) => tx.getMany('t', [text('k'), 'x' as never])],
    ['an empty key', (tx) => tx.getMany('t', [new Uint8Array(0)])],
    ['a key over 1 KiB', (tx) => tx.getMany('t', [new Uint8Array(1025)])],
    ['too many keys', (tx) => tx.getMany('t', Array.from({ length: 100_001 }, () => text('k')))],
    ['table not a string', (tx) => tx.getMany(5 as never, [text('k')])],
  ];
  for (const [what, attempt] of attempts) {
    await store.transaction(async (tx) => {
      await assert.rejects(attempt(tx), bad, what);
    });
  }
  // No lock was left behind: a writer gets the page without waiting (one try, so a wait would also fail it).
  const waitsBefore = store.stats().lockWaits;
  await store.transaction((tx) => tx.put('t', text('k'), text('w')), { lockTimeoutMs: 50, retries: 1 });
  assert.equal(store.stats().lockWaits, waitsBefore);
  let finished!: Transaction;
  await store.transaction((tx) => {
    finished = tx;
    return Promise.resolve();
  });
  await assert.rejects(finished.getMany('t', [text('k')]), TransactionFinishedError);
  await store.close();
});
