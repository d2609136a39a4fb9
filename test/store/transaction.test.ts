// Concurrency tests of store transactions: serializable money movement under interleaving (checked by
// replaying the commit log, taken from the engine's durability hook in commit order, against a model),
// gzochi's a1/a2/a3 sequence, phantoms on ranges, deadlock detection with the youngest as victim and retry,
// lock timeouts, and undo on throw and tx.abort(). Interleavings are forced with gates and waits for observable
// store state (a transaction counted as queued on a page lock), never with a sleep: on a busy machine a timer
// may fire late, so no verdict may depend on which timer fires first. Deadlines and the starvation-freedom
// guarantee are in contention.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeadlockError, LockTimeoutError, openStore, TransactionAbortedError, TransactionTimeoutError, type Store } from 'purser';
import type { CommitRecord } from '../../src/store/interfaces.js';
import { engineOf, gate, random, sleep, text, u32Key, until } from './_helpers.js';

function amount(bytes: Uint8Array | undefined): number {
  assert.ok(bytes !== undefined);
  return new DataView(bytes.buffer, bytes.byteOffset).getInt32(0);
}
function amountBytes(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setInt32(0, value);
  return bytes;
}

function recordCommits(store: Store): CommitRecord[] {
  const log: CommitRecord[] = [];
  engineOf(store).setDurability({ logCommit: (record) => void log.push(record), logSequence: () => undefined, durableNow: () => undefined });
  return log;
}

test('100 concurrent transfers with awaits between read and write: total unchanged, history serializable', async () => {
  const store = await openStore();
  const accounts = 12;
  await store.transaction(async (tx) => {
    for (let i = 0; i < accounts; i++) await tx.put('accounts', u32Key(i), amountBytes(1_000));
  });
  const log = recordCommits(store);
  const reads = new Map<number, Map<number, number>>();
  const next = random(99);
  const plans = Array.from({ length: 100 }, (_, id) => {
    const from = Math.floor(next() * accounts);
    const to = (from + 1 + Math.floor(next() * (accounts - 1))) % accounts;
    return { id, from, to, value: 1 + Math.floor(next() * 50), pauseMs: Math.floor(next() * 3) };
  });
  await Promise.all(plans.map((plan) => store.transaction(async (tx) => {
    const seen = new Map<number, number>();
    const fromBalance = amount(await tx.get('accounts', u32Key(plan.from)));
    seen.set(plan.from, fromBalance);
    // Random pauses only vary the interleaving; the verdict is the replay below, whatever the pauses' lengths.
    await sleep(plan.pauseMs);
    const toBalance = amount(await tx.get('accounts', u32Key(plan.to)));
    seen.set(plan.to, toBalance);
    await sleep(plan.pauseMs);
    await tx.put('accounts', u32Key(plan.from), amountBytes(fromBalance - plan.value));
    await tx.put('accounts', u32Key(plan.to), amountBytes(toBalance + plan.value));
    await tx.put('marks', u32Key(plan.id), new Uint8Array(0));
    reads.set(plan.id, seen); // the last attempt's reads: the one that commits
  }, { retries: 1000, timeoutMs: 3_600_000 }))); // no deadline that a busy machine could reach: the claim is serializability

  // Replay in commit order: every transaction must have read exactly the state its predecessors left.
  const model = new Map<number, number>(Array.from({ length: accounts }, (_, i) => [i, 1_000]));
  assert.equal(log.length, 100);
  for (const record of log) {
    const mark = record.writes.find((write) => write.table === 'marks');
    assert.ok(mark !== undefined);
    const id = new DataView(mark.key.buffer, mark.key.byteOffset).getUint32(0);
    for (const [account, balance] of reads.get(id) ?? []) assert.equal(balance, model.get(account), `transfer ${String(id)} read account ${String(account)}`);
    for (const write of record.writes) {
      if (write.table === 'accounts') model.set(new DataView(write.key.buffer, write.key.byteOffset).getUint32(0), amount(write.value));
    }
  }
  const final = await store.transaction(async (tx) => {
    let total = 0;
    for await (const [key, value] of tx.range('accounts')) {
      total += amount(value);
      assert.equal(amount(value), model.get(new DataView(key.buffer, key.byteOffset).getUint32(0)));
    }
    return total;
  });
  assert.equal(final, accounts * 1_000);
  assert.ok(store.stats().lockWaits > 0, 'the transfers did contend');
  engineOf(store).checkInvariants();
  await store.close();
});

test('gzochi a1/a2/a3: page locks serialize the two transactions instead of deadlocking', async () => {
  const store = await openStore();
  await store.transaction(async (tx) => {
    await tx.put('a', text('a1'), text('1'));
    await tx.put('a', text('a2'), text('2'));
  });
  const order: string[] = [];
  const t1HoldsA1 = gate();
  let t2Finished = false;
  const t1 = store.transaction(async (tx) => {
    await tx.put('a', text('a1'), text('1 by T1')); // 1. T1 updates a1
    t1HoldsA1.open();
    // T2 has tried to read a2 and is now queued on T1's page lock (or finished, if it was let through).
    await until(() => store.stats().lockWaits >= 1 || t2Finished);
    await tx.put('a', text('a2'), text('2 by T1')); // 4. T1 updates a2
    order.push('T1 commits');
  }, { retries: 1 });
  const t2 = store.transaction(async (tx) => {
    await t1HoldsA1.wait;
    const a2 = await tx.get('a', text('a2')); // 2. T2 reads a2: waits for T1's page lock
    await tx.put('a', text('a3'), text('3 by T2')); // 3. T2 inserts a3
    order.push('T2 commits');
    return new TextDecoder().decode(a2);
  }, { retries: 1 }).finally(() => (t2Finished = true));
  const [, seenByT2] = await Promise.all([t1, t2]);
  assert.deepEqual(order, ['T1 commits', 'T2 commits']);
  assert.equal(seenByT2, '2 by T1');
  assert.equal(store.stats().lockWaits, 1, 'T2 waited once, for T1\'s page lock');
  assert.equal(store.stats().deadlocks, 0);
  await store.close();
});

test('no phantoms: a range locks every page it covers, including the one where it ends', async () => {
  const store = await openStore();
  await store.transaction(async (tx) => {
    for (let i = 0; i < 3_000; i += 2) await tx.put('t', u32Key(i), new Uint8Array(100));
  });
  assert.ok(store.stats().pages > 10);
  const low = u32Key(1_000);
  const high = u32Key(1_600);
  const order: string[] = [];
  const scans: number[] = [];
  const scanned = gate();
  const rescan = gate();
  const reader = store.transaction(async (tx) => {
    const count = async () => {
      let n = 0;
      for await (const entry of tx.range('t', { gte: low, lt: high })) if (entry) n++;
      return n;
    };
    scans.push(await count());
    scanned.open();
    await rescan.wait;
    scans.push(await count());
    order.push('reader commits');
  });
  await scanned.wait;
  const waitsBefore = store.stats().lockWaits;
  let writersFinished = 0;
  // Odd keys fall in the gaps: at the range's start, middle, and just below its end bound.
  const writers = [1_001, 1_301, 1_599].map((key) => store.transaction(async (tx) => {
    await tx.put('t', u32Key(key), new Uint8Array(100));
    order.push(`insert ${String(key)}`);
  }).finally(() => void writersFinished++));
  // A key pages past the range's end is not blocked by the reader: that writer finishes first.
  const farWriter = store.transaction(async (tx) => {
    await tx.put('t', u32Key(2_901), new Uint8Array(100));
    order.push('insert 2901');
  }).finally(() => void writersFinished++);
  // The reader scans again and commits only once every writer is queued on a lock or finished: a writer the
  // range failed to block has inserted by then, and the second scan or the order below shows it.
  await until(() => store.stats().lockWaits - waitsBefore + writersFinished >= 4);
  rescan.open();
  await Promise.all([reader, farWriter, ...writers]);
  assert.deepEqual(scans, [300, 300]);
  assert.deepEqual(order.slice(0, 2), ['insert 2901', 'reader commits']);
  assert.equal(store.stats().lockWaits - waitsBefore, 3, 'exactly the three writers inside the range waited');
  engineOf(store).checkInvariants();
  await store.close();
});

test('a deadlock picks the youngest in the cycle when it closes the cycle; the victim is retried and both commit', async () => {
  const store = await openStore();
  const attempts = { t1: 0, t2: 0 };
  const t1HoldsLeft = gate();
  const t2HoldsRight = gate();
  let t1Finished = false;
  const t1 = store.transaction(async (tx) => {
    attempts.t1++;
    await tx.put('left', text('k'), text('T1'));
    t1HoldsLeft.open();
    await t2HoldsRight.wait;
    await tx.put('right', text('k'), text('T1')); // waits for T2
  }).finally(() => (t1Finished = true));
  const t2 = store.transaction(async (tx) => {
    attempts.t2++;
    await t1HoldsLeft.wait;
    await tx.put('right', text('k'), text('T2'));
    t2HoldsRight.open();
    await until(() => store.stats().lockWaits >= 1 || t1Finished); // T1 is queued on right (or was let through)
    await tx.put('left', text('k'), text('T2')); // closes the cycle T2 -> T1 -> T2 on its first try
  });
  await Promise.all([t1, t2]);
  // The victim's retry starts after T1 committed (T1 finishes without a timer, the retry waits a back-off).
  assert.deepEqual(attempts, { t1: 1, t2: 2 }, 'the younger T2 was the victim, and ran again');
  assert.equal(store.stats().deadlocks, 1);
  assert.equal(store.stats().retries, 1);
  const values = await store.transaction(async (tx) => [await tx.get('left', text('k')), await tx.get('right', text('k'))]);
  assert.deepEqual(values.map((v) => new TextDecoder().decode(v)), ['T2', 'T2']);
  await store.close();
});

test('a deadlock picks the youngest in the cycle even when an older transaction closes it', async () => {
  const store = await openStore();
  const tries = { older: 0, younger: 0 };
  const order: string[] = [];
  const olderHoldsLeft = gate();
  let youngerFinished = false;
  const older = store.transaction(async (tx) => {
    tries.older++;
    await tx.put('left', text('k'), text('older'));
    olderHoldsLeft.open();
    // The younger one holds right and is now queued on left (or finished, if it was let through).
    await until(() => store.stats().lockWaits >= 1 || youngerFinished);
    await tx.put('right', text('k'), text('older')); // closes the cycle: the younger one, already waiting, is the victim
    order.push('older commits');
  });
  const younger = store.transaction(async (tx) => {
    tries.younger++;
    await olderHoldsLeft.wait;
    await tx.put('right', text('k'), text('younger'));
    await tx.put('left', text('k'), text('younger')); // waits for the older one
    order.push('younger commits');
  }).finally(() => (youngerFinished = true));
  await Promise.all([older, younger]);
  assert.deepEqual(tries, { older: 1, younger: 2 });
  assert.deepEqual(order, ['older commits', 'younger commits']);
  assert.equal(store.stats().deadlocks, 1);
  await store.close();
});

test('a victim out of retries gets DeadlockError and its writes are undone', async () => {
  const store = await openStore();
  const t1HoldsLeft = gate();
  const t2HoldsRight = gate();
  let t1Finished = false;
  const t1 = store.transaction(async (tx) => {
    await tx.put('left', text('k'), text('T1'));
    t1HoldsLeft.open();
    await t2HoldsRight.wait;
    await tx.put('right', text('k'), text('T1')); // waits for T2
  }).finally(() => (t1Finished = true));
  const t2 = store.transaction(async (tx) => {
    await t1HoldsLeft.wait;
    await tx.put('right', text('k'), text('T2'));
    await tx.put('other', text('k'), text('T2'));
    t2HoldsRight.open();
    await until(() => store.stats().lockWaits >= 1 || t1Finished); // T1 is queued on right (or was let through)
    await tx.put('left', text('k'), text('T2')); // closes the cycle: T2, the younger, is the victim
  }, { retries: 1 });
  const [first, second] = await Promise.allSettled([t1, t2]);
  assert.equal(first.status, 'fulfilled');
  assert.ok(second.status === 'rejected' && second.reason instanceof DeadlockError);
  assert.equal(second.reason.code, 'STORE_DEADLOCK');
  assert.equal(await store.transaction(async (tx) => tx.get('other', text('k'))), undefined);
  await store.close();
});

test('a lock wait longer than lockTimeoutMs undoes the try; with retries: 1 it fails with LockTimeoutError', async () => {
  const store = await openStore();
  const holding = gate();
  const held = gate();
  const holder = store.transaction(async (tx) => {
    await tx.put('t', text('k'), text('holder'));
    holding.open();
    await held.wait; // the lock is held until the waiter has failed: its timeout is the only way out
  });
  await holding.wait;
  const waiter = store.transaction(async (tx) => {
    await tx.put('u', text('k'), text('waiter'));
    await tx.get('t', text('k'));
  }, { lockTimeoutMs: 30, retries: 1 });
  await assert.rejects(waiter, (error) => error instanceof LockTimeoutError && error.code === 'STORE_LOCK_TIMEOUT');
  held.open();
  await holder;
  assert.equal(await store.transaction(async (tx) => tx.get('u', text('k'))), undefined);
  assert.equal(store.stats().lockTimeouts, 1);
  await store.close();
});

test('lock timeouts are retried until the deadline, then TransactionTimeoutError with the lock timeout as cause', async () => {
  const store = await openStore();
  const holding = gate();
  const held = gate();
  const holder = store.transaction(async (tx) => {
    await tx.put('t', text('k'), text('holder'));
    holding.open();
    await held.wait;
  }, { timeoutMs: 3_600_000 });
  await holding.wait;
  // Retried: with no deadline in reach, the waiter times out, tries again, and commits once the lock is free.
  // Whether a try was retried is read from the store's counters, not inferred from how long anything took.
  let tries = 0;
  const patient = store.transaction(async (tx) => {
    tries++;
    await tx.put('v', text('k'), text('patient'));
    await tx.get('t', text('k'));
  }, { lockTimeoutMs: 10, timeoutMs: 3_600_000 });
  await until(() => store.stats().retries >= 1);
  // Until the deadline: a waiter whose lock never frees gives up at its deadline, the last lock timeout as cause.
  const waiter = store.transaction(async (tx) => {
    await tx.put('u', text('k'), text('waiter'));
    await tx.get('t', text('k'));
  }, { lockTimeoutMs: 10, timeoutMs: 200 });
  await assert.rejects(waiter, (error) => error instanceof TransactionTimeoutError && error.code === 'STORE_TRANSACTION_TIMEOUT' && error.cause instanceof LockTimeoutError);
  assert.equal(store.stats().transactionTimeouts, 1);
  held.open();
  await Promise.all([holder, patient]);
  assert.ok(tries >= 2, 'the patient waiter timed out at least once and ran again');
  assert.ok(store.stats().lockTimeouts >= 2, 'both waiters\' waits ended in lock timeouts');
  const [u, v] = await store.transaction(async (tx) => [await tx.get('u', text('k')), await tx.get('v', text('k'))]);
  assert.equal(u, undefined);
  assert.deepEqual(v, text('patient'));
  await store.close();
});

test('throwing or tx.abort() undoes every write and increment and releases every lock', async () => {
  const store = await openStore();
  await store.transaction(async (tx) => tx.put('t', text('keep'), text('v0')));
  await assert.rejects(store.transaction(async (tx) => {
    await tx.put('t', text('keep'), text('v1'));
    await tx.put('t', text('new'), text('v1'));
    await tx.delete('t', text('keep'));
    await tx.increment('c', text('n'), 5n);
    throw new Error('boom');
  }), /boom/);
  await assert.rejects(store.transaction(async (tx) => {
    await tx.put('t', text('new'), text('v2'));
    await tx.increment('c', text('n'), 7n);
    tx.abort();
  }), (error) => error instanceof TransactionAbortedError && error.code === 'STORE_TRANSACTION_ABORTED');
  // Nothing remains and nothing is locked: a reader never waits (a lock left behind would make it wait, and
  // with one try and a 1 ms lock timeout, fail).
  const waitsBefore = store.stats().lockWaits;
  const seen = await store.transaction(async (tx) => [
    await tx.get('t', text('keep')), await tx.get('t', text('new')), await tx.counter('c', text('n')),
  ], { lockTimeoutMs: 1, retries: 1 });
  assert.deepEqual(seen, [text('v0'), undefined, 0n]);
  assert.equal(store.stats().lockWaits, waitsBefore);
  assert.equal(store.stats().records, 1);
  assert.equal(store.stats().transactionsAborted, 2);
  await store.close();
});

test('reads see the transaction\'s own writes, including in ranges, in both directions', async () => {
  const store = await openStore();
  await store.transaction(async (tx) => {
    for (const k of ['a', 'c', 'e']) await tx.put('t', text(k), text(`old ${k}`));
  });
  await store.transaction(async (tx) => {
    await tx.put('t', text('b'), text('new b'));
    await tx.put('t', text('c'), text('new c'));
    await tx.delete('t', text('e'));
    const forward: string[] = [];
    for await (const [k, v] of tx.range('t')) forward.push(`${new TextDecoder().decode(k)}=${new TextDecoder().decode(v)}`);
    assert.deepEqual(forward, ['a=old a', 'b=new b', 'c=new c']);
    const backward: string[] = [];
    for await (const [k] of tx.range('t', { reverse: true, lte: text('c') })) backward.push(new TextDecoder().decode(k));
    assert.deepEqual(backward, ['c', 'b', 'a']);
    assert.equal(await tx.delete('t', text('e')), false);
  });
  await store.close();
});
