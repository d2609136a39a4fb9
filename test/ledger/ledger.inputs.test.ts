// The inputs that used to stop the ledger for every client, each tried as a user would, on an
// in-memory ledger: a linked chain that repeats an id it created, a burst of expiries larger than one store
// transaction holds, and clock readings at or beyond 2^63 ns or stepped by years. Each must leave the
// ledger serving with TigerBeetle's results; the chain's results are TigerBeetle 0.17's exactly (the
// repeated id is `exists` with the timestamp of the object the chain created and rolled back).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CreateAccountStatus as AS, CreateTransferStatus as TS, LedgerClockError, openLedger, TransferFlags as TF, AccountFlags as AF,
  type LedgerLogger,
} from 'purser';
import { account, accountFilter, CLOCK_START_NS, FakeClock, NS_PER_S, transfer } from './_client.js';

const CREATED = 0xffff_ffff;
const quiet: LedgerLogger = { error: () => undefined, warn: () => undefined };

test('a chain that repeats an id it created: exists, then linked_event_failed, and nothing stays', async () => {
  const ledger = await openLedger({ clock: new FakeClock().read, logger: quiet });
  assert.equal((await ledger.createAccounts([account(7n)]))[0].status, CREATED);
  const results = await ledger.createAccounts([
    account(1n, { flags: AF.linked }), account(2n, { flags: AF.linked }), account(1n, { flags: AF.linked }), account(3n),
  ]);
  assert.deepEqual(results.map((r) => AS[r.status]), ['linked_event_failed', 'linked_event_failed', 'exists', 'linked_event_failed']);
  // Validation times in batch order; `exists` carries the timestamp A1 had in the chain before rollback.
  assert.deepEqual(results.map((r) => r.timestamp - results[0].timestamp), [0n, 1n, 0n, 3n]);
  assert.deepEqual((await ledger.lookupAccounts([1n, 2n, 3n, 7n])).map((a) => a.id), [7n]);
  const again = await ledger.createAccounts([account(1n), account(2n), account(3n)]);
  assert.deepEqual(again.map((r) => r.status), [CREATED, CREATED, CREATED]);

  const transfers = await ledger.createTransfers([
    transfer(10n, 1n, 2n, 5n, { flags: TF.linked }), transfer(11n, 2n, 3n, 6n, { flags: TF.linked }),
    transfer(10n, 1n, 2n, 5n, { flags: TF.linked }), transfer(12n, 3n, 1n, 7n),
  ]);
  assert.deepEqual(transfers.map((r) => TS[r.status]), ['linked_event_failed', 'linked_event_failed', 'exists', 'linked_event_failed']);
  assert.equal(transfers[2].timestamp, transfers[0].timestamp);
  assert.deepEqual(await ledger.lookupTransfers([10n, 11n, 12n]), []);
  assert.deepEqual((await ledger.lookupAccounts([1n])).map((a) => a.debits_posted), [0n]);
  // None of them burnt its id: `exists` and `linked_event_failed` are not transient.
  assert.equal((await ledger.createTransfers([transfer(10n, 1n, 2n, 5n)]))[0].status, CREATED);
  // A chain repeating an id that existed before it: `exists` with the old timestamp, then the chain fails.
  const old = (await ledger.lookupTransfers([10n]))[0].timestamp;
  const repeat = await ledger.createTransfers([transfer(20n, 1n, 2n, 1n, { flags: TF.linked }), transfer(21n, 1n, 2n, 1n, { flags: TF.linked }), transfer(10n, 1n, 2n, 5n)]);
  assert.deepEqual(repeat.map((r) => TS[r.status]), ['linked_event_failed', 'linked_event_failed', 'exists']);
  assert.equal(repeat[2].timestamp, old);
  assert.equal(ledger.stats().internalErrors, 0);
  await ledger.close();
});

test('30,000 holds expiring at once (over one store transaction\'s write limit) expire in steps; every request sees them expired', async () => {
  const clock = new FakeClock();
  const ledger = await openLedger({ clock: clock.read, logger: quiet });
  await ledger.createAccounts([account(1n, { flags: AF.history }), account(2n)]);
  const HOLDS = 30_000;
  for (let first = 0; first < HOLDS; first += 8189) {
    const count = Math.min(8189, HOLDS - first);
    const batch = Array.from({ length: count }, (_, i) => transfer(BigInt(1000 + first + i), 1n, 2n, 1n, { flags: TF.pending, timeout: 1 }));
    assert.ok((await ledger.createTransfers(batch)).every((r) => r.status === TS.created));
  }
  assert.equal((await ledger.lookupAccounts([1n]))[0].debits_pending, BigInt(HOLDS));
  clock.advanceSeconds(2);
  const stepsBefore = ledger.stats().expirySteps;
  const [a] = await ledger.lookupAccounts([1n]);
  assert.equal(a.debits_pending, 0n, 'the first request after the timeout sees every hold released');
  assert.ok(ledger.stats().expirySteps - stepsBefore >= 4, 'in several bounded steps');
  assert.equal(ledger.stats().transfersExpired, HOLDS);
  const post = await ledger.createTransfers([transfer(99n, 0n, 0n, 1n, { flags: TF.post_pending_transfer, pending_id: 1000n, ledger: 0, code: 0 })]);
  assert.equal(post[0].status, TS.pending_transfer_expired);
  assert.equal((await ledger.getAccountBalances(accountFilter(1n, { limit: 10, flags: 1 | 4 })))[0].debits_pending, 0n);
  assert.equal(ledger.stats().internalErrors, 0);
  await ledger.close();
});

test('a clock reading at or beyond 2^63 ns, or not a bigint, refuses that request only', async () => {
  const clock = new FakeClock();
  let reading: unknown;
  const ledger = await openLedger({ clock: () => (reading ?? clock.read()) as bigint, logger: quiet });
  assert.equal((await ledger.createAccounts([account(1n), account(2n)]))[1].status, CREATED);
  for (const bad of [1n << 63n, (1n << 64n) + 5n, 0n, -1n, 1_767_225_600_000, 'now']) {
    reading = bad;
    await assert.rejects(ledger.createTransfers([transfer(10n, 1n, 2n, 1n)]), (error: unknown) => error instanceof LedgerClockError && error.code === 'LEDGER_CLOCK');
    await assert.rejects(ledger.lookupAccounts([1n]), LedgerClockError);
  }
  reading = undefined;
  const [created] = await ledger.createTransfers([transfer(10n, 1n, 2n, 1n)]);
  assert.equal(created.status, CREATED);
  assert.ok(created.timestamp > CLOCK_START_NS && created.timestamp < CLOCK_START_NS + NS_PER_S, 'timestamps follow the corrected clock');
  assert.equal(ledger.stats().clockRefusals, 12);
  assert.equal(ledger.stats().up, true);
  await ledger.close();
});

test('guarded clock: a wall clock stepped 10 years ahead and back is not believed; timeouts follow monotonic time', async () => {
  const TEN_YEARS_NS = 10n * 365n * 86_400n * NS_PER_S;
  let wallNs = CLOCK_START_NS;
  let monotonicNs = 5_000n * NS_PER_S;
  const warnings: string[] = [];
  const ledger = await openLedger({
    clock: () => wallNs, monotonicClock: () => monotonicNs, clockToleranceMs: 1000,
    logger: { error: () => undefined, warn: (_fields, message) => warnings.push(message) },
  });
  await ledger.createAccounts([account(1n), account(2n)]);
  wallNs += TEN_YEARS_NS;
  const [hold] = await ledger.createTransfers([transfer(10n, 1n, 2n, 5n, { flags: TF.pending, timeout: 5 })]);
  assert.ok(hold.timestamp < CLOCK_START_NS + NS_PER_S, 'the step did not reach the timestamp');
  assert.equal(ledger.stats().clockSkewNs, TEN_YEARS_NS);
  await ledger.lookupAccounts([1n]);
  assert.equal(warnings.length, 1, 'warned once for the episode, not per request');
  wallNs -= TEN_YEARS_NS; // the wall clock comes back: believed again
  await ledger.lookupAccounts([1n]);
  assert.equal(ledger.stats().clockSkewNs, 0n);
  // A backward step does not delay the timeout: monotonic time decides.
  wallNs -= 3_600n * NS_PER_S;
  monotonicNs += 6n * NS_PER_S;
  const [a] = await ledger.lookupAccounts([1n]);
  assert.equal(a.debits_pending, 0n, 'the hold expired 5 s of monotonic time after it was made');
  assert.ok(ledger.stats().clockStepsRefused >= 3);
  // A reading that is no time at all is replaced by monotonic time: the request is served.
  wallNs = 1n << 63n;
  assert.equal((await ledger.createTransfers([transfer(11n, 1n, 2n, 1n)]))[0].status, CREATED);
  // Small disagreements (NTP slewing) are followed.
  wallNs = CLOCK_START_NS + 6n * NS_PER_S + 500_000_000n;
  const [slewed] = await ledger.createTransfers([transfer(12n, 1n, 2n, 1n)]);
  assert.equal(slewed.timestamp, wallNs);
  await ledger.close();
});
