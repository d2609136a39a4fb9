// Escrow counters and sequences: 200 concurrent bounded decrements of one hot counter never take it below
// its minimum and never wait for each other (the lock-wait counter stays put); admission is by worst case;
// a counter read waits for others' pending increments; increments fold correctly into a transaction's own
// reads and writes; sequences hand out unique values, spread values by bit-reversal, and log a high-water
// mark (awaited) before each block.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeCounter, encodeCounter, EscrowBoundError, openStore } from 'purser';
import { spreadValue, SEQUENCE_BLOCK_SIZE } from '../../src/store/sequence.js';
import { engineOf, gate, text, until } from './_helpers.js';

test('200 concurrent decrements with min 0 of a balance of 100: exactly 100 admitted, none waits, never below 0', async () => {
  const store = await openStore();
  await store.transaction(async (tx) => tx.increment('balances', text('hot'), 100n));
  const waitsBefore = store.stats().lockWaits;
  // Every admitted decrement stays pending (uncommitted) until all 200 have been admitted or refused, so
  // admission is decided against pending decrements, not committed ones.
  const allArrived = gate();
  let arrived = 0;
  const results = await Promise.allSettled(Array.from({ length: 200 }, () => store.transaction(async (tx) => {
    try {
      await tx.increment('balances', text('hot'), -1n, { min: 0n });
    } finally {
      if (++arrived === 200) allArrived.open();
    }
    await allArrived.wait;
  })));
  const admitted = results.filter((r) => r.status === 'fulfilled').length;
  const rejected = results.filter((r) => r.status === 'rejected' && r.reason instanceof EscrowBoundError);
  assert.equal(admitted, 100);
  assert.equal(rejected.length, 100);
  assert.equal(store.stats().lockWaits, waitsBefore, 'escrow increments never wait for each other');
  assert.equal(store.stats().escrowRejections, 100);
  assert.equal(await store.transaction(async (tx) => tx.counter('balances', text('hot'))), 0n);
  await store.close();
});

test('admission is by worst case: pending increments do not count toward min, pending decrements do', async () => {
  const store = await openStore();
  const commit = gate();
  const incremented = gate();
  const incrementer = store.transaction(async (tx) => {
    await tx.increment('c', text('k'), 10n);
    incremented.open();
    await commit.wait; // +10 pending, not committed
  });
  await incremented.wait;
  await assert.rejects(store.transaction(async (tx) => tx.increment('c', text('k'), -1n, { min: 0n })), EscrowBoundError);
  const boundedChecked = gate();
  const bounded = store.transaction(async (tx) => {
    await tx.increment('c', text('k'), 5n, { max: 15n }); // worst case 0 + 10 + 5 = 15: admitted
    await assert.rejects(tx.increment('c', text('k'), 1n, { max: 15n }), EscrowBoundError);
    boundedChecked.open();
    await commit.wait;
  });
  await boundedChecked.wait; // both of its increments were decided while the +10 was pending
  commit.open();
  await Promise.all([incrementer, bounded]);
  assert.equal(await store.transaction(async (tx) => tx.counter('c', text('k'))), 15n);
  await store.close();
});

test('a counter read waits for other transactions\' pending increments, then sees them', async () => {
  const store = await openStore();
  const order: string[] = [];
  const incremented = gate();
  let readerFinished = false;
  const writer = store.transaction(async (tx) => {
    await tx.increment('c', text('k'), 7n);
    incremented.open();
    // The reader is now queued behind the pending increment (or finished, if it was let through).
    await until(() => store.stats().lockWaits >= 1 || readerFinished);
    order.push('writer commits');
  });
  await incremented.wait;
  const reader = store.transaction(async (tx) => {
    const read = await tx.counter('c', text('k'));
    order.push('reader reads');
    return read;
  }).finally(() => (readerFinished = true));
  const [, value] = await Promise.all([writer, reader]);
  assert.equal(value, 7n);
  assert.deepEqual(order, ['writer commits', 'reader reads']);
  assert.equal(store.stats().lockWaits, 1, 'the read waited once, for the increment');
  await store.close();
});

test('a transaction sees its own increments in counter, get and range, and mixing with put works', async () => {
  const store = await openStore();
  await store.transaction(async (tx) => {
    await tx.increment('c', text('a'), 3n);
    await tx.increment('c', text('a'), 4n);
    assert.equal(await tx.counter('c', text('a')), 7n);
    await tx.increment('c', text('a'), -2n, { min: 0n });
    assert.equal(decodeCounter(await tx.get('c', text('a'))), 5n);
    await tx.increment('c', text('b'), 1n);
    const seen: bigint[] = [];
    for await (const [, value] of tx.range('c')) seen.push(decodeCounter(value));
    assert.deepEqual(seen, [5n, 1n]);
    await tx.put('c', text('d'), encodeCounter(100n));
    await tx.increment('c', text('d'), -100n, { min: 0n });
    await assert.rejects(tx.increment('c', text('d'), -1n, { min: 0n }), EscrowBoundError);
  });
  const after = await store.transaction(async (tx) => [await tx.counter('c', text('a')), await tx.counter('c', text('b')), await tx.counter('c', text('d'))]);
  assert.deepEqual(after, [5n, 1n, 0n]);
  await store.close();
});

test('counters are logged as 16-byte after-images', async () => {
  const store = await openStore();
  const records: Array<{ writes: Array<{ value: Uint8Array | undefined }> }> = [];
  engineOf(store).setDurability({ logCommit: (record) => void records.push(record), logSequence: () => undefined, durableNow: () => undefined });
  await store.transaction(async (tx) => tx.increment('c', text('k'), -5n));
  await store.transaction(async (tx) => tx.increment('c', text('k'), 2n));
  assert.deepEqual(records.map((r) => decodeCounter(r.writes[0].value)), [-5n, -3n]);
  assert.equal(encodeCounter(-3n).length, 16);
  await store.close();
});

test('sequences: unique values under concurrency, spread by bit-reversing the low 16 bits, blocks logged first', async () => {
  const store = await openStore();
  const marks: bigint[] = [];
  engineOf(store).setDurability({
    logCommit: () => undefined,
    logSequence: async (_name, highWater) => {
      await new Promise((resolve) => setImmediate(resolve)); // a log write completes on a later turn
      marks.push(highWater);
    },
    durableNow: () => undefined,
  });
  const plain = store.sequence('orders');
  // When a value is handed out, a mark above it must already be logged: otherwise a crash could hand it out again.
  const uncovered: bigint[] = [];
  const values = await Promise.all(Array.from({ length: 3_000 }, () => plain.next().then((value) => {
    if (!marks.some((mark) => mark > value)) uncovered.push(value);
    return value;
  })));
  assert.deepEqual(uncovered, [], 'no value was handed out before a mark covering it was logged');
  assert.equal(new Set(values).size, 3_000);
  assert.equal(values.reduce((max, v) => (v > max ? v : max), 0n), 3_000n);
  assert.ok(marks.length >= 3 && marks.every((mark, i) => i === 0 || mark > marks[i - 1]));
  assert.ok(marks[marks.length - 1] > 3_000n, 'every value handed out is below a logged mark');

  const spread = store.sequence('cards', { spread: true });
  const first = [await spread.next(), await spread.next(), await spread.next(), await spread.next()];
  assert.deepEqual(first, [0x8000n, 0x4000n, 0xc000n, 0x2000n]);
  const many = new Set<bigint>();
  for (let raw = 1n; raw < 200_000n; raw++) many.add(spreadValue(raw));
  assert.equal(many.size, 199_999, 'spread values are unique');
  assert.equal(spreadValue(spreadValue(12_345n)), 12_345n);
  await store.close();
});

test('a memory-only sequence hands out unique values to thousands of concurrent callers across blocks', async () => {
  const store = await openStore();
  const sequence = store.sequence('memory', { spread: true });
  const values = await Promise.all(Array.from({ length: 5_000 }, () => sequence.next()));
  assert.equal(new Set(values).size, 5_000);
  await store.close();
});

test('after recovery a sequence resumes at its logged high-water mark', async () => {
  const store = await openStore();
  const sequence = store.sequence('s');
  await sequence.next();
  const [state] = engineOf(store).sequenceStates();
  assert.equal(state.highWater, 1n + SEQUENCE_BLOCK_SIZE);
  const recovered = await openStore();
  engineOf(recovered).setSequenceState(state);
  assert.equal(await recovered.sequence('s').next(), state.highWater);
  await store.close();
  await recovered.close();
});
