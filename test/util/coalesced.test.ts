// CoalescedRun: one run at a time; requests during a run make exactly one more run; idle() waits for it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CoalescedRun } from '../../src/util/coalesced.js';
import { gate, type Gate } from '../bus/_gates.js';

test('requests during a run coalesce into one more run, never a concurrent one; idle() waits for both', async () => {
  const held: Gate[] = [];
  let running = 0;
  let mostRunning = 0;
  const run = new CoalescedRun(async () => {
    running += 1;
    mostRunning = Math.max(mostRunning, running);
    const entry = gate();
    held.push(entry);
    await entry.wait;
    running -= 1;
  });
  run.request();
  assert.equal(held.length, 1, 'the first request starts a run at once');
  for (let i = 0; i < 5; i++) run.request();
  assert.equal(held.length, 1, 'requests during a run start nothing yet');
  let idle = false;
  const idled = run.idle().then(() => (idle = true));
  held[0].open();
  while (held.length < 2) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(idle, false, 'idle() waits for the follow-up run too');
  held[1].open();
  await idled;
  assert.equal(held.length, 2, 'five requests during the first run made one more run');
  assert.equal(mostRunning, 1);
  await run.idle(); // settles at once when nothing runs
  run.request();
  assert.equal(held.length, 3, 'a request after the runs ended starts a new one');
  held[2].open();
  await run.idle();
});
