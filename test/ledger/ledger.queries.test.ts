// Every query shape: getAccountTransfers by side, user data, code, timestamp range, reversed and limit;
// queryAccounts and queryTransfers by each indexed field and their combinations; invalid filters return
// nothing. Expected results are computed by filtering the created objects directly (a scan) and compared
// with what the ledger's indexes return.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AccountFilterFlags as FF, CreateAccountStatus, CreateTransferStatus, QueryFilterFlags as QF, type Account, type Transfer } from 'purser';
import { account, accountFilter, makeClient, queryFilter, transfer, type TestClient } from './_client.js';

let client: TestClient;
let accounts: Account[] = [];
let transfers: Transfer[] = [];

before(async () => {
  client = await makeClient();
  const batch: Account[] = [];
  for (let i = 1; i <= 12; i++) {
    batch.push(account(BigInt(i), { user_data_128: BigInt(i % 3), user_data_64: BigInt(i % 2), user_data_32: i % 4, ledger: i <= 6 ? 1 : 2, code: 10 + (i % 5) }));
  }
  assert.ok((await client.createAccounts(batch)).every((r) => r.status === CreateAccountStatus.created));
  const tBatch: Transfer[] = [];
  for (let i = 1; i <= 200; i++) {
    // Accounts 1-6 are ledger 1, 7-12 ledger 2; each transfer stays inside one group.
    const group = i % 2;
    const dr = 1 + ((i * 7) % 6);
    let cr = 1 + ((i * 5 + 3) % 6);
    if (cr === dr) cr = (dr % 6) + 1;
    tBatch.push(transfer(BigInt(1000 + i), BigInt(dr + group * 6), BigInt(cr + group * 6), BigInt(i), {
      ledger: 1 + group, user_data_128: BigInt(i % 4), user_data_64: BigInt(i % 3), user_data_32: i % 5, code: 1 + (i % 3),
    }));
  }
  const results = await client.createTransfers(tBatch);
  assert.ok(results.every((r) => r.status === CreateTransferStatus.created), JSON.stringify(results.filter((r) => r.status !== CreateTransferStatus.created).slice(0, 3), (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
  accounts = await client.lookupAccounts(batch.map((a) => a.id));
  transfers = await client.lookupTransfers(tBatch.map((t) => t.id));
});
after(async () => client.close());

const ids = (objects: { id: bigint }[]) => objects.map((o) => o.id);

function expectTransfers(predicate: (t: Transfer) => boolean, reversed: boolean, limit: number): bigint[] {
  const matching = transfers.filter(predicate);
  if (reversed) matching.reverse();
  return ids(matching.slice(0, limit));
}

test('getAccountTransfers: debits, credits, both; reversed; limit', async () => {
  for (const flags of [FF.debits, FF.credits, FF.debits | FF.credits]) {
    for (const reversed of [false, true]) {
      for (const limit of [1, 5, 8189, 100000]) {
        const got = await client.getAccountTransfers(accountFilter(3n, { flags: flags | (reversed ? FF.reversed : 0), limit }));
        const want = expectTransfers((t) => ((flags & FF.debits) !== 0 && t.debit_account_id === 3n) || ((flags & FF.credits) !== 0 && t.credit_account_id === 3n), reversed, Math.min(limit, 8189));
        assert.deepEqual(ids(got), want, `flags ${flags} reversed ${reversed} limit ${limit}`);
      }
    }
  }
});

test('getAccountTransfers: user data, code and timestamp range filters combine', async () => {
  const t0 = transfers[20].timestamp;
  const t1 = transfers[150].timestamp;
  const cases: [Partial<Parameters<typeof accountFilter>[1]>, (t: Transfer) => boolean][] = [
    [{ user_data_128: 2n }, (t) => t.user_data_128 === 2n],
    [{ user_data_64: 1n }, (t) => t.user_data_64 === 1n],
    [{ user_data_32: 3 }, (t) => t.user_data_32 === 3],
    [{ code: 2 }, (t) => t.code === 2],
    [{ timestamp_min: t0 }, (t) => t.timestamp >= t0],
    [{ timestamp_max: t1 }, (t) => t.timestamp <= t1],
    [{ timestamp_min: t0, timestamp_max: t1, code: 3, user_data_64: 2n }, (t) => t.timestamp >= t0 && t.timestamp <= t1 && t.code === 3 && t.user_data_64 === 2n],
  ];
  for (const [fields, predicate] of cases) {
    for (const account of [2n, 7n]) {
      const got = await client.getAccountTransfers(accountFilter(account, fields));
      const want = expectTransfers((t) => (t.debit_account_id === account || t.credit_account_id === account) && predicate(t), false, 8189);
      assert.deepEqual(ids(got), want, JSON.stringify(fields, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
    }
  }
});

test('the latest transfer of a kind: limit 1, reversed, by code (statuses without a control-plane database)', async () => {
  const got = await client.getAccountTransfers(accountFilter(5n, { code: 2, flags: FF.credits | FF.reversed, limit: 1 }));
  assert.deepEqual(ids(got), expectTransfers((t) => t.credit_account_id === 5n && t.code === 2, true, 1));
});

test('invalid account filters return nothing', async () => {
  for (const fields of [{ account_id: 0n }, { limit: 0 }, { flags: 0 }, { flags: 8 | FF.debits }, { timestamp_min: 10n, timestamp_max: 5n }, { timestamp_min: 1n << 63n }]) {
    assert.deepEqual(await client.getAccountTransfers(accountFilter(3n, fields)), []);
  }
  assert.deepEqual(await client.getAccountTransfers(accountFilter(99n)), [], 'unknown account');
});

test('queryAccounts by each field and combinations, reversed, limit, timestamp range', async () => {
  const cases: [Partial<Parameters<typeof queryFilter>[0]>, (a: Account) => boolean][] = [
    [{}, () => true],
    [{ user_data_128: 1n }, (a) => a.user_data_128 === 1n],
    [{ user_data_64: 1n }, (a) => a.user_data_64 === 1n],
    [{ user_data_32: 2 }, (a) => a.user_data_32 === 2],
    [{ ledger: 2 }, (a) => a.ledger === 2],
    [{ code: 12 }, (a) => a.code === 12],
    [{ user_data_128: 2n, ledger: 1 }, (a) => a.user_data_128 === 2n && a.ledger === 1],
    [{ timestamp_min: accounts[3].timestamp, timestamp_max: accounts[8].timestamp, ledger: 1 }, (a) => a.timestamp >= accounts[3].timestamp && a.timestamp <= accounts[8].timestamp && a.ledger === 1],
    [{ code: 99 }, () => false],
  ];
  for (const [fields, predicate] of cases) {
    for (const reversed of [false, true]) {
      const got = await client.queryAccounts(queryFilter({ ...fields, flags: reversed ? QF.reversed : 0, limit: 3 }));
      const matching = accounts.filter(predicate);
      if (reversed) matching.reverse();
      assert.deepEqual(ids(got), ids(matching.slice(0, 3)));
    }
  }
});

test('queryTransfers by each field and combinations', async () => {
  const cases: [Partial<Parameters<typeof queryFilter>[0]>, (t: Transfer) => boolean][] = [
    [{}, () => true],
    [{ user_data_128: 3n }, (t) => t.user_data_128 === 3n],
    [{ user_data_64: 2n }, (t) => t.user_data_64 === 2n],
    [{ user_data_32: 4 }, (t) => t.user_data_32 === 4],
    [{ ledger: 2 }, (t) => t.ledger === 2],
    [{ code: 1 }, (t) => t.code === 1],
    [{ user_data_128: 1n, user_data_32: 1, ledger: 2 }, (t) => t.user_data_128 === 1n && t.user_data_32 === 1 && t.ledger === 2],
    [{ timestamp_min: transfers[50].timestamp, code: 3 }, (t) => t.timestamp >= transfers[50].timestamp && t.code === 3],
  ];
  for (const [fields, predicate] of cases) {
    for (const reversed of [false, true]) {
      const got = await client.queryTransfers(queryFilter({ ...fields, flags: reversed ? QF.reversed : 0, limit: 7 }));
      assert.deepEqual(ids(got), expectTransfers(predicate, reversed, 7));
    }
  }
});

test('invalid query filters return nothing', async () => {
  for (const fields of [{ limit: 0 }, { flags: 2 }, { timestamp_min: 10n, timestamp_max: 5n }]) {
    assert.deepEqual(await client.queryAccounts(queryFilter(fields)), []);
    assert.deepEqual(await client.queryTransfers(queryFilter(fields)), []);
  }
});
