// kill -9: a child process runs 16 concurrent money-moving transactions and prints each acknowledged
// commit; it is killed with SIGKILL at random moments, 200 times, on one data directory (with small
// automatic checkpoints, so kills also land during checkpoints). After every kill the store is reopened
// and must hold every acknowledged transfer, balances that match exactly the transfers present, the same
// money total, structurally sound trees, and a sequence that never reissues an id. See _crash-harness.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCrashCycles } from './_crash-harness.js';

const CYCLES = 200;

test(`${CYCLES} kill -9 cycles lose no acknowledged commit and keep money and structure intact`, { timeout: 240_000 }, async () => {
  let cyclesWithWork = 0;
  const result = await runCrashCycles({
    cycles: CYCLES,
    runMsMax: 80,
    onCycle: (_cycle, summary) => {
      if (summary.acknowledged > 0) cyclesWithWork++;
    },
  });
  assert.equal(result.cycles, CYCLES);
  assert.ok(result.acknowledged > CYCLES, `only ${result.acknowledged} commits acknowledged in all`);
  assert.ok(cyclesWithWork > CYCLES / 4, `only ${cyclesWithWork} cycles acknowledged anything before the kill`);
});
