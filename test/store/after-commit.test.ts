// tx.afterCommit: callbacks run once, in order, after the commit is durable and before store.transaction()
// resolves; never for a try that throws, aborts, is retried, or whose commit could not be made durable. A
// callback that throws or rejects is counted and reported, and changes nothing else. Bad input and the cap are
// typed errors. Interleavings are forced with gates and waits for observable store state, never with a sleep.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openStore, PurserError, StoreArgumentError, StoreClosedError, TransactionAbortedError, TransactionFinishedError, TransactionTooLargeError } from 'purser';
import { AFTER_COMMIT_CALLBACKS_MAX } from '../../src/store/transaction.js';
import { engineOf, gate, text, until } from './_helpers.js';

test('callbacks run after the commit is durable, in registration order, once, before transaction() resolves', async () => {
  const store = await openStore();
  const fsync = gate();
  let logged = 0;
  engineOf(store).setDurability({
    logCommit: () => {
      logged++;
      return fsync.wait; // the commit is durable only when the test says so
    },
    logSequence: () => undefined,
    durableNow: () => undefined,
  });
  const ran: string[] = [];
  let resolved = false;
  const committing = store.transaction(async (tx) => {
    tx.afterCommit(() => ran.push('first'));
    await tx.put('t', text('k'), text('v'));
    tx.afterCommit(() => ran.push('second'));
    assert.deepEqual(ran, [], 'nothing runs while the function runs');
    return 'result';
  }).then((result) => {
    resolved = true;
    // The callbacks ran before the caller saw the result.
    assert.deepEqual(ran, ['first', 'second']);
    return result;
  });
  await until(() => logged === 1); // committed and handed to the log, not yet durable
  assert.deepEqual(ran, [], 'no callback before the commit is durable');
  assert.equal(resolved, false);
  fsync.open();
  assert.equal(await committing, 'result');
  assert.deepEqual(ran, ['first', 'second']);
  // A read-only transaction commits too (once everything before it is durable), and so runs its callbacks.
  let readOnly = 0;
  await store.transaction(async (tx) => {
    tx.afterCommit(() => readOnly++);
    return tx.get('t', text('k'));
  });
  assert.equal(readOnly, 1);
  assert.equal(store.stats().afterCommitErrors, 0);
  await store.close();
});

test('callbacks never run when the function throws or calls tx.abort()', async () => {
  const store = await openStore();
  let ran = 0;
  await assert.rejects(store.transaction(async (tx) => {
    tx.afterCommit(() => ran++);
    await tx.put('t', text('k'), text('v'));
    throw new Error('the caller changed its mind');
  }), /changed its mind/);
  await assert.rejects(store.transaction(async (tx) => {
    tx.afterCommit(() => ran++);
    await tx.put('t', text('k'), text('v'));
    tx.abort();
  }), TransactionAbortedError);
  assert.equal(ran, 0);
  assert.equal(await store.transaction(async (tx) => tx.get('t', text('k'))), undefined, 'both were undone');
  await store.close();
});

test('callbacks never run when the commit cannot be made durable', async () => {
  const store = await openStore();
  engineOf(store).setDurability({ logCommit: () => Promise.reject(new Error('fsync: EIO')), logSequence: () => undefined, durableNow: () => undefined });
  let ran = 0;
  await assert.rejects(store.transaction(async (tx) => {
    tx.afterCommit(() => ran++);
    await tx.put('t', text('k'), text('v'));
  }), (e: unknown) => e instanceof StoreClosedError && e.code === 'STORE_FAILED');
  assert.equal(ran, 0);
  await store.close();
});

test('a deadlock victim\'s first try drops its callbacks; only the committed retry\'s run', async () => {
  const store = await openStore();
  const t1HoldsLeft = gate();
  const t2HoldsRight = gate();
  let t1Finished = false;
  const ran: string[] = [];
  const t1 = store.transaction(async (tx) => {
    tx.afterCommit(() => ran.push('T1'));
    await tx.put('left', text('k'), text('T1'));
    t1HoldsLeft.open();
    await t2HoldsRight.wait;
    await tx.put('right', text('k'), text('T1')); // waits for T2
  }).finally(() => (t1Finished = true));
  let tries = 0;
  const t2 = store.transaction(async (tx) => {
    const attempt = ++tries;
    tx.afterCommit(() => ran.push(`T2 try ${String(attempt)}`));
    await t1HoldsLeft.wait;
    await tx.put('right', text('k'), text('T2'));
    t2HoldsRight.open();
    await until(() => store.stats().lockWaits >= 1 || t1Finished); // T1 is queued on right (or was let through)
    await tx.put('left', text('k'), text('T2')); // closes the cycle on the first try: T2, the younger, is the victim
  });
  await Promise.all([t1, t2]);
  assert.equal(store.stats().deadlocks, 1, 'the first try of T2 was a deadlock victim');
  assert.equal(tries, 2);
  assert.deepEqual(ran, ['T1', 'T2 try 2'], 'the retried try\'s callback never ran, the committed try\'s ran once');
  await store.close();
});

test('a callback that throws or rejects is counted and reported; the commit stands and later callbacks run', async () => {
  const store = await openStore();
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);
  process.on('warning', onWarning);
  try {
    const ran: string[] = [];
    const result = await store.transaction(async (tx) => {
      await tx.put('t', text('k'), text('v'));
      tx.afterCommit(() => {
        throw new Error('callback bug');
      });
      tx.afterCommit(() => Promise.reject(new Error('async callback bug')) as unknown as void);
      tx.afterCommit(() => ran.push('after the failures'));
      tx.afterCommit(() => tx.afterCommit(() => ran.push('never'))); // the transaction is finished by now
      return 42;
    });
    assert.equal(result, 42, 'the commit\'s result is unchanged');
    assert.deepEqual(ran, ['after the failures']);
    await until(() => store.stats().afterCommitErrors === 3 && warnings.length === 3); // the rejection settles later
    assert.ok(warnings.every((w) => (w as Error & { code?: string }).code === 'STORE_AFTER_COMMIT_FAILED'));
    assert.match(warnings.map((w) => w.message).join('\n'), /callback bug/);
    assert.match(warnings.map((w) => w.message).join('\n'), /finished/);
    assert.deepEqual(await store.transaction(async (tx) => tx.get('t', text('k'))), text('v'), 'the write is committed');
  } finally {
    process.off('warning', onWarning);
  }
  await store.close();
});

test('afterCommit refuses a non-function with STORE_INVALID_ARGUMENT and registers nothing; a finished tx refuses it', async () => {
  const store = await openStore();
  const hostile: unknown[] = [undefined, null, 0, 'wake', {}, [], Symbol('x'), Promise.resolve(), { call: () => {} }];
  let ran = 0;
  let kept: Parameters<Parameters<typeof store.transaction>[0]>[0] | undefined;
  await store.transaction(async (tx) => {
    kept = tx;
    for (const value of hostile) {
      assert.throws(() => tx.afterCommit(value as () => void), (e: unknown) => e instanceof StoreArgumentError && e.code === 'STORE_INVALID_ARGUMENT' && e instanceof PurserError);
    }
    tx.afterCommit(() => ran++); // the transaction is still usable
    await tx.put('t', text('k'), text('v'));
  });
  assert.equal(ran, 1);
  assert.ok(kept !== undefined);
  const finished = kept;
  assert.throws(() => finished.afterCommit(() => ran++), (e: unknown) => e instanceof TransactionFinishedError && e.code === 'STORE_TRANSACTION_FINISHED');
  assert.equal(ran, 1);
  await store.close();
});

test(`at most ${String(AFTER_COMMIT_CALLBACKS_MAX)} callbacks per transaction: the next is STORE_TRANSACTION_TOO_LARGE and the rest still run`, async () => {
  const store = await openStore();
  let ran = 0;
  await store.transaction(async (tx) => {
    for (let i = 0; i < AFTER_COMMIT_CALLBACKS_MAX; i++) tx.afterCommit(() => ran++);
    assert.throws(() => tx.afterCommit(() => (ran += 1_000_000)), (e: unknown) => e instanceof TransactionTooLargeError && e.code === 'STORE_TRANSACTION_TOO_LARGE');
    await tx.put('t', text('k'), text('v'));
  });
  assert.equal(ran, AFTER_COMMIT_CALLBACKS_MAX, 'every accepted callback ran once, the refused one never');
  await store.close();
});
