// The ledger's public entry points: bad input of every kind is a typed error and changes nothing; batches
// over 8,189 events are refused whole; ledger.transaction() makes ledger requests atomic with the caller's
// own store writes (a throwing function leaves no trace in either); destroy() closes the client; a store
// failure under a request stops the ledger; id() is monotonic and time-based.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  id, InvalidArgumentError, LedgerBatchTooLargeError, LedgerClosedError, LedgerFailedError, LedgerInvalidRequestError, openLedger,
  openStore, BATCH_EVENTS_MAX, PurserError,
} from 'purser';
import { SimDisk } from '../../src/store/durability/sim-disk.js';
import { account, accountFilter, makeClient, queryFilter, transfer } from './_client.js';

test('malformed events, ids and filters are typed errors and change nothing', async () => {
  const client = await makeClient();
  await client.createAccounts([account(1n), account(2n)]);
  const bad: [string, () => Promise<unknown>][] = [
    ['not an array', () => client.createAccounts({} as never)],
    ['null event', () => client.createAccounts([null as never])],
    ['number id', () => client.createAccounts([{ ...account(3n), id: 3 as never }])],
    ['negative amount', () => client.createTransfers([transfer(10n, 1n, 2n, -1n)])],
    ['amount over u128', () => client.createTransfers([transfer(10n, 1n, 2n, 1n << 128n)])],
    ['ledger not an integer', () => client.createTransfers([transfer(10n, 1n, 2n, 1n, { ledger: 1.5 })])],
    ['code over u16', () => client.createTransfers([transfer(10n, 1n, 2n, 1n, { code: 70000 })])],
    ['user_data_64 over u64', () => client.createTransfers([transfer(10n, 1n, 2n, 1n, { user_data_64: 1n << 64n })])],
    ['missing field', () => client.createTransfers([{ id: 10n } as never])],
    ['bad id in lookup', () => client.lookupAccounts(['1' as never])],
    ['bad filter', () => client.getAccountTransfers({ ...accountFilter(1n), limit: -1 })],
    ['bad query filter', () => client.queryTransfers({ ...queryFilter(), user_data_128: 1 as never })],
  ];
  for (const [name, call] of bad) {
    await assert.rejects(call, (error: unknown) => error instanceof LedgerInvalidRequestError && error.code === 'LEDGER_INVALID_REQUEST', name);
  }
  // One good event before a bad one: the whole request is refused.
  await assert.rejects(client.createTransfers([transfer(10n, 1n, 2n, 1n), transfer(11n, 1n, 2n, -1n)]), LedgerInvalidRequestError);
  assert.deepEqual(await client.lookupTransfers([10n, 11n]), []);
  assert.equal((await client.lookupAccounts([1n]))[0].debits_posted, 0n);
  await client.close();
});

test('a batch over 8,189 events is refused whole with a typed error', async () => {
  const client = await makeClient();
  await client.createAccounts([account(1n), account(2n)]);
  const tooMany = Array.from({ length: BATCH_EVENTS_MAX + 1 }, (_, i) => transfer(BigInt(i + 1), 1n, 2n, 1n));
  await assert.rejects(client.createTransfers(tooMany), (error: unknown) => error instanceof LedgerBatchTooLargeError && error.code === 'LEDGER_BATCH_TOO_LARGE');
  await assert.rejects(client.lookupTransfers(tooMany.map((t) => t.id)), LedgerBatchTooLargeError);
  assert.equal((await client.lookupAccounts([1n]))[0].debits_posted, 0n);
  const full = await client.createTransfers(tooMany.slice(0, BATCH_EVENTS_MAX));
  assert.equal(full.length, BATCH_EVENTS_MAX);
  assert.equal((await client.lookupAccounts([1n]))[0].debits_posted, BigInt(BATCH_EVENTS_MAX));
  await client.close();
});

test('ledger.transaction commits ledger requests with the caller’s writes, or neither', async () => {
  const store = await openStore();
  const ledger = await openLedger({ store });
  await ledger.createAccounts([account(1n), account(2n)]);
  const key = new TextEncoder().encode('order-1');
  await assert.rejects(ledger.transaction(async (session, tx) => {
    await tx.put('orders', key, Uint8Array.of(1));
    const results = await session.createTransfers([transfer(10n, 1n, 2n, 5n)]);
    assert.equal(results[0].status, 0xffff_ffff);
    assert.equal((await session.lookupAccounts([1n]))[0].debits_posted, 5n, 'the session sees its own transfer');
    throw new Error('payment declined downstream');
  }), /declined/);
  assert.equal((await ledger.lookupAccounts([1n]))[0].debits_posted, 0n);
  assert.deepEqual(await ledger.lookupTransfers([10n]), []);
  assert.equal(await store.transaction((tx) => tx.get('orders', key)), undefined);
  // The same id is usable afterwards: the aborted transfer left nothing behind.
  await ledger.transaction(async (session, tx) => {
    await tx.put('orders', key, Uint8Array.of(2));
    assert.equal((await session.createTransfers([transfer(10n, 1n, 2n, 5n)]))[0].status, 0xffff_ffff);
  });
  assert.equal((await ledger.lookupAccounts([1n]))[0].debits_posted, 5n);
  assert.deepEqual(await store.transaction((tx) => tx.get('orders', key)), Uint8Array.of(2));
  await ledger.close();
  await store.close();
});

test('destroy() closes the client; later requests fail with LedgerClosedError', async () => {
  const client = await makeClient();
  client.destroy();
  await assert.rejects(client.lookupAccounts([1n]), (error: unknown) => error instanceof LedgerClosedError && error instanceof PurserError);
});

test('openLedger refuses bad options', async () => {
  await assert.rejects(openLedger({ dir: '' }), InvalidArgumentError);
  await assert.rejects(openLedger({ clock: 5 as never }), InvalidArgumentError);
  await assert.rejects(openLedger(null as never), InvalidArgumentError);
});

test('id() is strictly increasing and carries the time in its high 48 bits', () => {
  const before = BigInt(Date.now());
  const ids = Array.from({ length: 10000 }, () => id());
  const afterMs = BigInt(Date.now());
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1]);
  const ms = ids[0] >> 80n;
  assert.ok(ms >= before && ms <= afterMs);
  assert.ok(ids.every((x) => x < 1n << 128n && x > 0n));
});

test('a request whose store fails under it stops the ledger: later requests get LedgerFailedError', async () => {
  const disk = new SimDisk(7);
  await disk.mkdir('/ledger');
  const store = await openStore({ dir: '/ledger', fs: disk });
  const ledger = await openLedger({ store });
  await ledger.createAccounts([account(1n), account(2n)]);
  disk.injectFault('FSYNC', 1, true);
  await assert.rejects(ledger.createTransfers([transfer(10n, 1n, 2n, 5n)]));
  await assert.rejects(ledger.lookupAccounts([1n]), (error: unknown) => error instanceof LedgerFailedError && error.code === 'LEDGER_FAILED');
  await ledger.close();
  await store.close().catch(() => undefined);
});

test('a request is taken when it is made: changing the caller’s objects afterwards changes nothing', async () => {
  const client = await makeClient();
  await client.createAccounts([account(1n), account(2n)]);
  const batch = [transfer(10n, 1n, 2n, 5n)];
  const pending = client.createTransfers(batch);
  batch[0].amount = -1n; // would be refused as malformed had it been read now
  batch.push(transfer(11n, 1n, 2n, 7n));
  assert.deepEqual((await pending).map((r) => r.status), [0xffff_ffff]);
  assert.deepEqual((await client.lookupTransfers([10n, 11n])).map((t) => t.amount), [5n]);
  await client.close();
});
