// The expiry queue pops by (expiry time, pending timestamp): transfers due at the same nanosecond expire in
// timestamp order whatever order they were pushed in, so expiry event timestamps are deterministic (the
// differential fuzzer's model expires in that order too). Checked against a sort on random pushes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExpiryQueue } from '../../src/ledger/state.js';

test('pops in (expiry time, timestamp) order, ties included', () => {
  let seed = 42;
  const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  for (let round = 0; round < 50; round++) {
    const queue = new ExpiryQueue();
    const entries: [bigint, bigint][] = [];
    for (let i = 0; i < 200; i++) {
      const entry: [bigint, bigint] = [BigInt(Math.floor(random() * 5)), BigInt(Math.floor(random() * 1_000_000))];
      entries.push(entry);
      queue.push(entry[0], entry[1]);
    }
    entries.sort((a, b) => (a[0] !== b[0] ? (a[0] < b[0] ? -1 : 1) : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
    const popped: [bigint, bigint][] = [];
    for (let entry = queue.pop(); entry !== undefined; entry = queue.pop()) popped.push(entry);
    assert.deepEqual(popped, entries);
  }
});
