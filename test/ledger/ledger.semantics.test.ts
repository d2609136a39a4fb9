// Ledger semantics beyond single statuses: linked chains roll back, transient failures burn ids, balancing
// clamps, two-phase post/void/expiry (to the nanosecond, by the ledger's clock, visible to lookups),
// closing accounts, history, imported events, timestamps, lookups in request order. Each test builds a
// small ledger through the client factory and checks balances and results against hand-computed values.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import {
  AccountFilterFlags as FF, AccountFlags as AF, amount_max, CreateAccountStatus as AS, CreateTransferStatus as TS,
  TransferFlags as TF,
} from 'purser';
import { account, accountFilter, FakeClock, makeClient, NS_PER_S, transfer, type TestClient } from './_client.js';

const CREATED = 0xffff_ffff;
const open: TestClient[] = [];
after(async () => {
  for (const client of open) await client.close();
});

async function ledgerWith(ids: bigint[], clock = new FakeClock(), flags = 0): Promise<TestClient> {
  const client = await makeClient({ clock });
  open.push(client);
  const results = await client.createAccounts(ids.map((id) => account(id, { flags })));
  assert.ok(results.every((r) => r.status === AS.created));
  return client;
}

async function balances(client: TestClient, id: bigint): Promise<[bigint, bigint, bigint, bigint]> {
  const [a] = await client.lookupAccounts([id]);
  return [a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted];
}

test('a failing member rolls back its linked chain; later events still run', async () => {
  const client = await ledgerWith([1n, 2n]);
  const results = await client.createTransfers([
    transfer(10n, 1n, 2n, 5n, { flags: TF.linked }),
    transfer(11n, 1n, 2n, 6n, { flags: TF.linked }),
    transfer(12n, 1n, 99n, 7n), // credit account missing: breaks the chain
    transfer(13n, 1n, 2n, 8n),
  ]);
  assert.deepEqual(results.map((r) => TS[r.status]), ['linked_event_failed', 'linked_event_failed', 'credit_account_not_found', 'created']);
  // TigerBeetle 0.17: a failed event's timestamp is the time it was validated, its place in the batch.
  assert.deepEqual(results.map((r) => r.timestamp - results[0].timestamp), [0n, 1n, 2n, 3n]);
  assert.ok(results[0].timestamp > 0n);
  assert.deepEqual(await balances(client, 1n), [0n, 8n, 0n, 0n]);
  assert.deepEqual((await client.lookupTransfers([10n, 11n, 12n, 13n])).map((t) => t.id), [13n]);
  // Rolled-back members were not failed for a transient reason: their ids stay usable.
  assert.equal((await client.createTransfers([transfer(10n, 1n, 2n, 5n)]))[0].status, CREATED);
});

test('exists breaks a chain, and events after a broken chain member report linked_event_failed', async () => {
  const client = await ledgerWith([1n, 2n]);
  const first = await client.createTransfers([transfer(10n, 1n, 2n, 5n, { flags: TF.linked }), transfer(9n, 1n, 2n, 1n)]);
  assert.deepEqual(first.map((r) => r.status), [CREATED, CREATED]);
  const results = await client.createTransfers([
    transfer(20n, 1n, 2n, 1n, { flags: TF.linked }),
    transfer(10n, 1n, 2n, 5n, { flags: TF.linked }),
    transfer(21n, 1n, 2n, 1n),
    transfer(22n, 1n, 2n, 1n, { flags: TF.linked }),
    transfer(23n, 1n, 2n, 1n),
  ]);
  assert.deepEqual(results.map((r) => TS[r.status]), ['linked_event_failed', 'exists', 'linked_event_failed', 'created', 'created']);
  assert.deepEqual(await balances(client, 1n), [0n, 8n, 0n, 0n]);
});

test('a transient failure burns the id for ever; a validation failure does not', async () => {
  const client = await ledgerWith([1n, 2n]);
  await client.createAccounts([account(5n, { flags: AF.debits_must_not_exceed_credits })]);
  assert.equal((await client.createTransfers([transfer(10n, 5n, 2n, 1n)]))[0].status, TS.exceeds_credits);
  assert.equal((await client.createTransfers([transfer(10n, 1n, 2n, 1n)]))[0].status, TS.id_already_failed);
  assert.equal((await client.createTransfers([transfer(11n, 1n, 2n, 1n, { code: 0 })]))[0].status, TS.code_must_not_be_zero);
  assert.equal((await client.createTransfers([transfer(11n, 1n, 2n, 1n)]))[0].status, CREATED);
});

test('balancing transfers clamp the amount (saturating) and store the clamped amount', async () => {
  const client = await ledgerWith([1n, 2n, 3n]);
  await client.createAccounts([account(4n, { flags: AF.debits_must_not_exceed_credits })]);
  assert.equal((await client.createTransfers([transfer(10n, 1n, 4n, 100n)]))[0].status, CREATED);
  const results = await client.createTransfers([
    transfer(11n, 4n, 2n, 70n),
    transfer(12n, 4n, 3n, 50n, { flags: TF.balancing_debit }), // only 30 left
    transfer(13n, 4n, 3n, 50n, { flags: TF.balancing_debit }), // nothing left: amount 0
  ]);
  assert.deepEqual(results.map((r) => r.status), [CREATED, CREATED, CREATED]);
  const stored = await client.lookupTransfers([12n, 13n]);
  assert.deepEqual(stored.map((t) => t.amount), [30n, 0n]);
  assert.deepEqual(await balances(client, 4n), [0n, 100n, 0n, 100n]);
  // Resubmitting a balancing transfer with an amount at least the stored one exists.
  assert.equal((await client.createTransfers([transfer(12n, 4n, 3n, 50n, { flags: TF.balancing_debit })]))[0].status, TS.exists);
  assert.equal((await client.createTransfers([transfer(12n, 4n, 3n, 29n, { flags: TF.balancing_debit })]))[0].status, TS.exists_with_different_amount);
  // balancing_credit clamps by the credit account's debits less its credits: account 1 has debits 100.
  assert.equal((await client.createTransfers([transfer(14n, 2n, 1n, 500n, { flags: TF.balancing_credit })]))[0].status, CREATED);
  assert.equal((await client.lookupTransfers([14n]))[0].amount, 100n);
  assert.equal((await client.createTransfers([transfer(15n, 2n, 1n, 500n, { flags: TF.balancing_credit })]))[0].status, CREATED);
  assert.equal((await client.lookupTransfers([15n]))[0].amount, 0n);
});

test('two-phase: post amount_max posts all, a smaller post releases the rest, void releases all; zero fields come from the pending transfer', async () => {
  const client = await ledgerWith([1n, 2n]);
  assert.ok((await client.createTransfers([
    transfer(10n, 1n, 2n, 100n, { flags: TF.pending, user_data_64: 7n }),
    transfer(11n, 1n, 2n, 100n, { flags: TF.pending }),
    transfer(12n, 1n, 2n, 100n, { flags: TF.pending }),
  ])).every((r) => r.status === TS.created));
  assert.deepEqual(await balances(client, 1n), [300n, 0n, 0n, 0n]);
  const results = await client.createTransfers([
    transfer(20n, 0n, 0n, amount_max, { flags: TF.post_pending_transfer, pending_id: 10n, ledger: 0, code: 0 }),
    transfer(21n, 0n, 0n, 40n, { flags: TF.post_pending_transfer, pending_id: 11n, ledger: 0, code: 0 }),
    transfer(22n, 0n, 0n, 0n, { flags: TF.void_pending_transfer, pending_id: 12n, ledger: 0, code: 0 }),
  ]);
  assert.deepEqual(results.map((r) => r.status), [CREATED, CREATED, CREATED]);
  assert.deepEqual(await balances(client, 1n), [0n, 140n, 0n, 0n]);
  assert.deepEqual(await balances(client, 2n), [0n, 0n, 0n, 140n]);
  const [post] = await client.lookupTransfers([20n]);
  assert.equal(post.amount, 100n);
  assert.equal(post.debit_account_id, 1n);
  assert.equal(post.user_data_64, 7n);
  assert.equal(post.ledger, 1);
  // A pending transfer resolves once; resubmitting the same post is `exists`.
  assert.equal((await client.createTransfers([transfer(23n, 0n, 0n, 1n, { flags: TF.post_pending_transfer, pending_id: 11n, ledger: 0, code: 0 })]))[0].status, TS.pending_transfer_already_posted);
  assert.equal((await client.createTransfers([transfer(20n, 0n, 0n, amount_max, { flags: TF.post_pending_transfer, pending_id: 10n, ledger: 0, code: 0 })]))[0].status, TS.exists);
});

test('a pending transfer expires exactly at timestamp + timeout, visible to lookups and queries', async () => {
  const clock = new FakeClock();
  const client = await ledgerWith([1n, 2n], clock, AF.history);
  const [pending] = await client.createTransfers([transfer(10n, 1n, 2n, 100n, { flags: TF.pending, timeout: 5 })]);
  const expiresAt = pending.timestamp + 5n * NS_PER_S;
  clock.nowNs = expiresAt - 1n;
  assert.deepEqual(await balances(client, 1n), [100n, 0n, 0n, 0n], 'one nanosecond before: still pending');
  clock.nowNs = expiresAt;
  assert.deepEqual(await balances(client, 1n), [0n, 0n, 0n, 0n], 'at the expiry time: released');
  assert.deepEqual(await balances(client, 2n), [0n, 0n, 0n, 0n]);
  const history = await client.getAccountBalances(accountFilter(1n));
  assert.deepEqual(history.map((b) => b.debits_pending), [100n, 0n]);
  assert.equal(history[1].timestamp, expiresAt, 'the expiry is an event at its expiry time');
  const results = await client.createTransfers([transfer(20n, 0n, 0n, amount_max, { flags: TF.post_pending_transfer, pending_id: 10n, ledger: 0, code: 0 })]);
  assert.equal(results[0].status, TS.pending_transfer_expired);
});

test('closing transfers close accounts; a closed account accepts only voids; void or expiry re-opens it', async () => {
  const clock = new FakeClock();
  const client = await ledgerWith([1n, 2n, 3n], clock);
  assert.equal((await client.createTransfers([transfer(10n, 1n, 2n, 0n, { flags: TF.pending | TF.closing_debit })]))[0].status, CREATED);
  assert.equal((await client.lookupAccounts([1n]))[0].flags & AF.closed, AF.closed);
  assert.equal((await client.createTransfers([transfer(11n, 1n, 3n, 1n)]))[0].status, TS.debit_account_already_closed);
  assert.equal((await client.createTransfers([transfer(12n, 3n, 1n, 1n)]))[0].status, TS.credit_account_already_closed);
  assert.equal((await client.createTransfers([transfer(13n, 0n, 0n, amount_max, { flags: TF.post_pending_transfer, pending_id: 10n, ledger: 0, code: 0 })]))[0].status, TS.debit_account_already_closed);
  assert.equal((await client.createTransfers([transfer(14n, 0n, 0n, 0n, { flags: TF.void_pending_transfer, pending_id: 10n, ledger: 0, code: 0 })]))[0].status, CREATED);
  assert.equal((await client.lookupAccounts([1n]))[0].flags & AF.closed, 0);
  // Expiry re-opens too.
  const [closing] = await client.createTransfers([transfer(15n, 3n, 2n, 0n, { flags: TF.pending | TF.closing_credit, timeout: 1 })]);
  assert.equal(closing.status, CREATED);
  assert.equal((await client.lookupAccounts([2n]))[0].flags & AF.closed, AF.closed);
  clock.nowNs = closing.timestamp + NS_PER_S;
  assert.equal((await client.lookupAccounts([2n]))[0].flags & AF.closed, 0);
});

test('history: getAccountBalances needs flags.history and follows the filter', async () => {
  const client = await ledgerWith([1n, 2n], new FakeClock(), AF.history);
  await client.createAccounts([account(3n)]);
  const results = await client.createTransfers([transfer(10n, 1n, 2n, 5n), transfer(11n, 2n, 1n, 3n, { code: 7 }), transfer(12n, 1n, 3n, 1n)]);
  const all = await client.getAccountBalances(accountFilter(1n));
  assert.deepEqual(all.map((b) => [b.debits_posted, b.credits_posted]), [[5n, 0n], [5n, 3n], [6n, 3n]]);
  assert.deepEqual(all.map((b) => b.timestamp), results.map((r) => r.timestamp));
  const debitsReversed = await client.getAccountBalances(accountFilter(1n, { flags: FF.debits | FF.reversed, limit: 1 }));
  assert.deepEqual(debitsReversed.map((b) => b.debits_posted), [6n]);
  const creditsOnly = await client.getAccountBalances(accountFilter(1n, { flags: FF.credits }));
  assert.deepEqual(creditsOnly.map((b) => b.credits_posted), [3n]);
  assert.deepEqual((await client.getAccountBalances(accountFilter(1n, { code: 7 }))).map((b) => b.credits_posted), [3n]);
  assert.deepEqual(await client.getAccountBalances(accountFilter(3n)), [], 'no history flag: no balances');
  assert.deepEqual(await client.getAccountBalances(accountFilter(1n, { flags: 0 })), [], 'neither debits nor credits: invalid');
});

test('imported events keep their timestamps, which must increase and predate the ledger clock', async () => {
  const client = await makeClient();
  open.push(client);
  const accounts = await client.createAccounts([account(1n, { flags: AF.imported, timestamp: 1000n }), account(2n, { flags: AF.imported, timestamp: 2000n })]);
  assert.deepEqual(accounts.map((r) => [r.status, r.timestamp]), [[CREATED, 1000n], [CREATED, 2000n]]);
  const transfers = await client.createTransfers([
    transfer(10n, 1n, 2n, 5n, { flags: TF.imported, timestamp: 3000n }),
    transfer(11n, 1n, 2n, 5n, { flags: TF.imported, timestamp: 2500n }),
    transfer(12n, 1n, 2n, 5n, { flags: TF.imported, timestamp: 2000n }),
    transfer(13n, 1n, 2n, 5n, { flags: TF.imported, timestamp: 4000n }),
  ]);
  assert.deepEqual(transfers.map((r) => TS[r.status]), ['created', 'imported_event_timestamp_must_not_regress', 'imported_event_timestamp_must_not_regress', 'created']);
  assert.deepEqual((await client.lookupTransfers([10n, 13n])).map((t) => t.timestamp), [3000n, 4000n]);
  // An account may not be imported at a transfer's timestamp, nor before the latest account.
  assert.equal((await client.createAccounts([account(3n, { flags: AF.imported, timestamp: 4000n })]))[0].status, AS.imported_event_timestamp_must_not_regress);
  assert.equal((await client.createAccounts([account(3n, { flags: AF.imported, timestamp: 4500n })]))[0].status, CREATED);
});

test('timestamps are unique and increase across accounts and transfers, even if the clock stands still', async () => {
  const clock = new FakeClock();
  const client = await ledgerWith([1n, 2n], clock);
  const a = await client.createAccounts([account(3n), account(4n)]);
  const t = await client.createTransfers([transfer(10n, 1n, 2n, 1n), transfer(11n, 3n, 4n, 1n)]);
  const stamps = [...a, ...t].map((r) => r.timestamp);
  for (let i = 1; i < stamps.length; i++) assert.ok(stamps[i] > stamps[i - 1]);
  clock.nowNs -= 1000n * NS_PER_S; // the clock steps back
  const later = await client.createTransfers([transfer(12n, 1n, 2n, 1n)]);
  assert.ok(later[0].timestamp > stamps[stamps.length - 1]);
});

test('lookups return found objects in request order and skip missing ids', async () => {
  const client = await ledgerWith([1n, 2n, 3n]);
  await client.createTransfers([transfer(10n, 1n, 2n, 1n), transfer(11n, 2n, 3n, 1n)]);
  assert.deepEqual((await client.lookupAccounts([3n, 99n, 1n])).map((a) => a.id), [3n, 1n]);
  assert.deepEqual((await client.lookupTransfers([11n, 98n, 10n])).map((t) => t.id), [11n, 10n]);
  assert.deepEqual(await client.lookupAccounts([]), []);
});

test('a rolled-back pending transfer leaves no expiry behind: an imported transfer reusing its timestamp stays pending', async () => {
  // Found by the differential fuzzer: the expiry queue kept the entry of a pending transfer whose chain was
  // rolled back, and expired the imported transfer that later took the same timestamp.
  const clock = new FakeClock();
  const client = await ledgerWith([1n, 2n], clock);
  const chain = await client.createTransfers([
    transfer(10n, 1n, 2n, 5n, { flags: TF.pending | TF.linked, timeout: 1 }),
    transfer(11n, 1n, 99n, 1n), // credit account missing: the chain and its pending transfer roll back
  ]);
  assert.deepEqual(chain.map((r) => TS[r.status]), ['linked_event_failed', 'credit_account_not_found']);
  clock.nowNs += NS_PER_S / 2n;
  const [imported] = await client.createTransfers([transfer(20n, 1n, 2n, 7n, { flags: TF.pending | TF.imported, timestamp: chain[0].timestamp })]);
  assert.equal(imported.status, CREATED);
  clock.advanceSeconds(2);
  assert.deepEqual(await balances(client, 1n), [7n, 0n, 0n, 0n], 'the imported pending transfer did not expire');
});
