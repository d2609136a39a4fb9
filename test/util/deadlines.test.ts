// Checks the internal DeadlineHeap (src/bus/deadlines.ts) directly: after thousands of random adds and
// removes its entries expire in deadline order, each exactly once, none before its deadline, removed
// entries never expire, and the heap ends empty with every entry's index reset to -1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeadlineHeap } from '../../src/util/deadlines.js';

interface Entry {
  id: number;
  deadlineMs: number;
  heapIndex: number;
}

test('random adds and removes: expiry in deadline order, exactly once, never early, never after removal', async () => {
  const expired: Array<{ entry: Entry; atMs: number }> = [];
  const heap = new DeadlineHeap<Entry>((entry) => expired.push({ entry, atMs: performance.now() }));
  const entries: Entry[] = [];
  const removed = new Set<number>();
  const startMs = performance.now();
  for (let id = 0; id < 5000; id++) {
    const entry = { id, deadlineMs: startMs + 5 + Math.random() * 40, heapIndex: -1 };
    entries.push(entry);
    heap.add(entry);
    if (Math.random() < 0.4) {
      const victim = entries[Math.floor(Math.random() * entries.length)];
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
  while (heap.size > 0) await new Promise((resolve) => setTimeout(resolve, 5));
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
