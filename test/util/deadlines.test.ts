// Checks the internal DeadlineHeap (src/util/deadlines.ts) directly: after thousands of random adds and
// removes its entries expire in deadline order, each exactly once, none before its deadline, removed
// entries never expire, and the heap ends empty with every entry's index reset to -1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeadlineHeap } from '../../src/util/deadlines.js';
import { until } from '../bus/_gates.js';

/** A seeded generator, so that a failing sequence of adds and removes can be replayed from its seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

interface Entry {
  id: number;
  deadlineMs: number;
  heapIndex: number;
}

test('random adds and removes: expiry in deadline order, exactly once, never early, never after removal', async (t) => {
  const seed = Date.now() % 1_000_000;
  t.diagnostic(`seed ${seed}`); // printed with the result, so a failure can be replayed
  const next = random(seed);
  const expired: Array<{ entry: Entry; atMs: number }> = [];
  const heap = new DeadlineHeap<Entry>((entry) => expired.push({ entry, atMs: performance.now() }));
  const entries: Entry[] = [];
  const removed = new Set<number>();
  const startMs = performance.now();
  for (let id = 0; id < 5000; id++) {
    const entry = { id, deadlineMs: startMs + 5 + next() * 40, heapIndex: -1 };
    entries.push(entry);
    heap.add(entry);
    if (next() < 0.4) {
      const victim = entries[Math.floor(next() * entries.length)];
      if (!removed.has(victim.id)) {
        heap.remove(victim);
        removed.add(victim.id);
        assert.equal(victim.heapIndex, -1);
      }
    }
  }
  heap.remove(entries[0]); // removing twice is harmless
  removed.add(entries[0].id);
  assert.equal(heap.size, entries.length - removed.size);
  // Waits for the state (every entry expired), however late the heap's one timer fires on a busy machine.
  await until(() => heap.size === 0, 'every entry to expire');
  assert.equal(expired.length, entries.length - removed.size);
  const seen = new Set<number>();
  let previousDeadlineMs = 0;
  for (const { entry, atMs } of expired) {
    assert.equal(removed.has(entry.id), false, 'a removed entry expired');
    assert.equal(seen.has(entry.id), false, 'an entry expired twice');
    seen.add(entry.id);
    assert.ok(atMs >= entry.deadlineMs, 'an entry expired before its deadline');
    assert.ok(entry.deadlineMs >= previousDeadlineMs, 'entries expired out of deadline order');
    previousDeadlineMs = entry.deadlineMs;
    assert.equal(entry.heapIndex, -1);
  }
  heap.stop();
});
