// kill -9: a child process runs 16 concurrent money-moving transactions and prints each acknowledged
// commit; it is killed with SIGKILL 200 times on one data directory per lane, each time once it has
// acknowledged a random number of commits (at least one, so every cycle tests something however loaded the
// machine), with small automatic checkpoints so that kills also land during checkpoints. After every kill
// the store is reopened and must hold every acknowledged transfer, balances that match exactly the
// transfers present, the same money total, structurally sound trees, and a sequence that never reissues an
// id. See _crash-harness.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCrashCycles } from './_crash-harness.js';

const CYCLES = 200;

test(`${CYCLES} kill -9 cycles lose no acknowledged commit and keep money and structure intact`, { timeout: 600_000 }, async () => {
  const result = await runCrashCycles({ cycles: CYCLES, acksBeforeKillMax: 32 });
  assert.deepEqual(result.problems, []);
  assert.equal(result.cyclesVerified, CYCLES, 'every cycle reopened and checked the store');
  assert.equal(result.acknowledgedFound, result.acknowledged, 'every acknowledged commit was found after its kill');
});
