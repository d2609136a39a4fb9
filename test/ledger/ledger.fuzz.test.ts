// Differential fuzzing (test/ledger/_fuzz/): 120,000 random create events in four seeded runs against the
// embedded ledger and the reference model, every result (status, timestamp) and, every 25 requests, every
// account, a sample of transfers, each history account's balances and an account's transfers compared;
// then a short run through the official tigerbeetle-node client over the TigerBeetle protocol. A mismatch
// names the seed: `node scripts/ledger-fuzz.mjs --seed <seed> --events <n>` reproduces it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { openLedger } from 'purser';
import { fuzz } from './_fuzz/fuzz.js';

const SEEDS = [1, 2, 3, 4];
const EVENTS_PER_SEED = 30_000;

for (const seed of SEEDS) {
  test(`embedded ledger and reference model agree on ${EVENTS_PER_SEED.toLocaleString('en')} random events (seed ${seed})`, async () => {
    const report = await fuzz({
      seed, events: EVENTS_PER_SEED,
      open: async (clock) => {
        const ledger = await openLedger({ clock: () => clock.nowNs, logger: { error: () => undefined, warn: () => undefined } });
        return { client: ledger, close: () => ledger.close() };
      },
    });
    assert.ok(report.events >= EVENTS_PER_SEED);
    // The run reached the corners it aims at, not only `created`.
    for (const status of ['transfer:1', 'transfer:46', 'transfer:35', 'transfer:33', 'transfer:68', 'transfer:54', 'transfer:65', 'transfer:57', 'account:21', 'account:1']) {
      assert.ok((report.statuses.get(status) ?? 0) > 0, `no ${status} result in seed ${seed}`);
    }
  });
}

test('through the official tigerbeetle-node client over the wire: 6,000 random events agree with the model', () => {
  // A child process: a protocol mistake can abort the official client, and that must fail this test only.
  const run = spawnSync(process.execPath, ['scripts/ledger-fuzz.mjs', '--wire', '--seed', '7', '--events', '6000'], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
  assert.match(run.stdout, /seed 7: done, [\d,]+ events .* no mismatch/);
});
