// The official tigerbeetle-node@0.17.9 client, unmodified, against the TigerBeetle listener. Each case
// runs the client in a child process with a timeout, because a protocol mistake makes it abort or hang;
// the server side is a RecordingLedger double that counts calls, so the tests can prove that a resent
// request was answered from the cache and not executed again. Faults are injected by a TCP proxy that
// drops, corrupts or rewrites whole messages.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { HEADER_OFFSETS, packRelease, sealMessage } from '../../../../src/wire/tigerbeetle/header.js';
import { RecordingLedger, runOfficialClient, startListener, startProxy } from './_harness.js';

const REPLY = 8;
const REQUEST = 5;
const CREATE_TRANSFERS = 147;
const OPERATION_IN_REPLY = 236;
const OPERATION_IN_REQUEST = 196;

/** JavaScript run inside the child before each scenario: builders for accounts, transfers and filters. */
const PRELUDE = `
  const account = (id, fields = {}) => ({ id, debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, reserved: 0, ledger: 1, code: 1, flags: 0, timestamp: 0n, ...fields });
  const transfer = (id, fields = {}) => ({ id, debit_account_id: 1n, credit_account_id: 2n, amount: 1n, pending_id: 0n, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, timeout: 0, ledger: 1, code: 1, flags: 0, timestamp: 0n, ...fields });
  const accountFilter = (fields = {}) => ({ account_id: 1n, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, code: 0, timestamp_min: 0n, timestamp_max: 0n, limit: 100, flags: 3, ...fields });
  const queryFilter = (fields = {}) => ({ user_data_128: 0n, user_data_64: 0n, user_data_32: 0, ledger: 0, code: 0, timestamp_min: 0n, timestamp_max: 0n, limit: 100, flags: 0, ...fields });
  const statuses = (results) => results.map((r) => r.status);
`;

const CREATED = 0xffff_ffff;
let ledger: RecordingLedger;
let listener: Awaited<ReturnType<typeof startListener>>;

before(async () => {
  ledger = new RecordingLedger();
  listener = await startListener(ledger);
});
after(async () => {
  await listener.close();
});

test('register and all eight operations, with the results the ledger produced', async () => {
  const output = await runOfficialClient(
    listener.url,
    `${PRELUDE}
    return {
      accounts: statuses(await client.createAccounts([account(1n), account(2n), account(0n)])),
      again: statuses(await client.createAccounts([account(1n)])),
      transfers: statuses(await client.createTransfers([transfer(10n, { amount: 7n }), transfer(11n, { debit_account_id: 99n })])),
      lookupAccounts: await client.lookupAccounts([2n, 404n, 1n]),
      lookupTransfers: await client.lookupTransfers([10n, 11n]),
      accountTransfers: await client.getAccountTransfers(accountFilter()),
      balances: await client.getAccountBalances(accountFilter()),
      queryAccounts: await client.queryAccounts(queryFilter({ ledger: 1 })),
      queryTransfers: await client.queryTransfers(queryFilter({ code: 1 })),
    };`,
  );
  assert.equal(output.error, undefined, output.error);
  const r = output.result as Record<string, unknown[]>;
  assert.deepEqual(r.accounts, [CREATED, CREATED, 6 /* id_must_not_be_zero */]);
  assert.deepEqual(r.again, [21 /* exists */]);
  assert.deepEqual(r.transfers, [CREATED, 21 /* debit_account_not_found */]);
  assert.deepEqual(r.lookupAccounts, [{ ...ledger.accounts.get(2n) }, { ...ledger.accounts.get(1n) }]);
  assert.equal((r.lookupAccounts[1] as { debits_posted: bigint }).debits_posted, 7n);
  assert.deepEqual(r.lookupTransfers, [{ ...ledger.transfers.get(10n) }]);
  assert.deepEqual(r.accountTransfers, [{ ...ledger.transfers.get(10n) }]);
  assert.deepEqual(r.balances, [{ debits_pending: 0n, debits_posted: 7n, credits_pending: 0n, credits_posted: 0n, timestamp: ledger.transfers.get(10n)!.timestamp }]);
  assert.equal(r.queryAccounts.length, 2);
  assert.deepEqual(r.queryTransfers, [{ ...ledger.transfers.get(10n) }]);
});

test('a batch of 8,189 transfers and a lookup of 8,189 ids, each in one request', async () => {
  const before = listener.stats.requestsExecuted;
  const output = await runOfficialClient(
    listener.url,
    `${PRELUDE}
    await client.createAccounts([account(1n), account(2n)]);
    const batch = Array.from({ length: 8189 }, (_, i) => transfer(1_000_000n + BigInt(i), { amount: BigInt(i + 1) }));
    const results = await client.createTransfers(batch);
    const found = await client.lookupTransfers(batch.map((t) => t.id));
    return { created: results.filter((r) => r.status === ${CREATED}).length, results: results.length, found: found.length, lastAmount: found[8188].amount };`,
  );
  assert.equal(output.error, undefined, output.error);
  assert.deepEqual(output.result, { created: 8189, results: 8189, found: 8189, lastAmount: 8189n });
  assert.ok(ledger.calls.some((call) => call.method === 'createTransfers' && call.events === 8189));
  assert.equal(listener.stats.requestsExecuted - before, 3);
});

test('concurrent requests are merged by the client into multi-batch requests and split back', async () => {
  const before = listener.stats.requestsExecuted;
  const output = await runOfficialClient(
    listener.url,
    `${PRELUDE}
    await client.createAccounts([account(1n), account(2n)]);
    const calls = Array.from({ length: 200 }, (_, i) => client.createTransfers([transfer(2_000_000n + BigInt(i)), transfer(0n)]));
    const lookups = Array.from({ length: 50 }, (_, i) => client.lookupAccounts([1n, 3n, 2n]));
    const results = await Promise.all(calls);
    const looked = await Promise.all(lookups);
    return { shapes: [...new Set(results.map((r) => JSON.stringify(statuses(r))))], lookups: [...new Set(looked.map((l) => l.map((a) => String(a.id)).join(',')))] };`,
  );
  assert.equal(output.error, undefined, output.error);
  assert.deepEqual(output.result, { shapes: [JSON.stringify([CREATED, 5 /* id_must_not_be_zero */])], lookups: ['1,2'] });
  const requests = listener.stats.requestsExecuted - before;
  // 251 calls submitted together while the first is in flight: unmerged they would be 251 requests.
  assert.ok(requests < 50, `the client merged 251 calls into ${String(requests)} requests`);
});

test('a dropped reply: the client resends and gets the cached reply; the batch runs once', async () => {
  let dropped = 0;
  const proxy = await startProxy(listener.address, (message, direction) => {
    if (direction === 'toClient' && message[HEADER_OFFSETS.command] === REPLY && message[OPERATION_IN_REPLY] === CREATE_TRANSFERS && dropped === 0) {
      dropped += 1;
      return 'drop';
    }
    return message;
  });
  try {
    const callsBefore = ledger.callsOf('createTransfers');
    const resentBefore = listener.stats.repliesResent;
    const output = await runOfficialClient(proxy.url, `${PRELUDE} await client.createAccounts([account(1n), account(2n)]); return statuses(await client.createTransfers([transfer(3_000_000n)]));`);
    assert.equal(output.error, undefined, output.error);
    assert.equal(dropped, 1);
    assert.deepEqual(output.result, [CREATED], 'created, not exists: the resend was not executed again');
    assert.equal(ledger.callsOf('createTransfers') - callsBefore, 1);
    assert.ok(listener.stats.repliesResent > resentBefore);
  } finally {
    await proxy.close();
  }
});

test('a corrupted request checksum closes the connection; the client reconnects and resends', async () => {
  let corrupted = 0;
  const proxy = await startProxy(listener.address, (message, direction) => {
    if (direction === 'toServer' && message[HEADER_OFFSETS.command] === REQUEST && message[OPERATION_IN_REQUEST] === CREATE_TRANSFERS && corrupted === 0) {
      corrupted += 1;
      message[HEADER_OFFSETS.checksum] ^= 0xff;
    }
    return message;
  });
  try {
    const refusedBefore = listener.stats.connectionsRefused;
    const callsBefore = ledger.callsOf('createTransfers');
    const output = await runOfficialClient(proxy.url, `${PRELUDE} await client.createAccounts([account(1n), account(2n)]); return statuses(await client.createTransfers([transfer(4_000_000n)]));`);
    assert.equal(output.error, undefined, output.error);
    assert.deepEqual(output.result, [CREATED]);
    assert.equal(corrupted, 1);
    assert.equal(listener.stats.connectionsRefused - refusedBefore, 1);
    assert.ok(proxy.connections >= 2, 'the client reconnected');
    assert.equal(ledger.callsOf('createTransfers') - callsBefore, 1);
  } finally {
    await proxy.close();
  }
});

test('eviction: a client whose session was dropped from a full table gets ERR_CLIENT_EVICTED', async () => {
  const small = await startListener(new RecordingLedger(), { sessionsMax: 1 });
  try {
    const output = await runOfficialClient(
      small.url,
      `${PRELUDE}
      await client.lookupAccounts([1n]);
      const second = tb.createClient({ cluster_id: 0n, replica_addresses: [${JSON.stringify(small.url)}] });
      await second.lookupAccounts([1n]);
      second.destroy();
      await client.lookupAccounts([1n]);
      return 'not evicted';`,
    );
    assert.equal(output.code, 'ERR_CLIENT_EVICTED');
    assert.equal(small.stats.evictions, 1);
  } finally {
    await small.close();
  }
});

test('eviction: a client release newer than 0.17.9 gets ERR_CLIENT_RELEASE_TOO_HIGH', async () => {
  const proxy = await startProxy(listener.address, (message, direction) => {
    if (direction === 'toServer') {
      message.writeUInt32LE(packRelease(0, 17, 10), HEADER_OFFSETS.release);
      sealMessage(message);
    }
    return message;
  });
  try {
    const output = await runOfficialClient(proxy.url, `${PRELUDE} await client.lookupAccounts([1n]); return 'served';`);
    assert.equal(output.code, 'ERR_CLIENT_RELEASE_TOO_HIGH');
  } finally {
    await proxy.close();
  }
});

test('a client of another cluster is refused and never served; one of ours with cluster id 7 is', async () => {
  const cluster7 = await startListener(new RecordingLedger(), { cluster: 7n });
  try {
    const ours = await runOfficialClient(cluster7.url, `${PRELUDE} return statuses(await client.createAccounts([account(1n)]));`, { cluster: 7n });
    assert.deepEqual(ours.result, [CREATED]);
    const before = cluster7.stats.requestsExecuted;
    // The official client retries a refused connection forever: wait for the refusal (a state), then stop it.
    const stop = new AbortController();
    let settled = false;
    const theirs = runOfficialClient(cluster7.url, `${PRELUDE} return statuses(await client.createAccounts([account(2n)]));`, { cluster: 8n, signal: stop.signal })
      .then((output) => `answered ${JSON.stringify(output.result, (_key, value: unknown) => (typeof value === 'bigint' ? String(value) : value))}`, (error: Error) => error.message)
      .finally(() => (settled = true));
    while (cluster7.stats.connectionsRefused < 1 && !settled) await new Promise((resolve) => setTimeout(resolve, 5));
    stop.abort();
    assert.equal(await theirs, 'official client stopped by the test', 'the other cluster\'s client was never answered');
    assert.equal(cluster7.stats.requestsExecuted, before);
    assert.ok(cluster7.stats.connectionsRefused >= 1);
  } finally {
    await cluster7.close();
  }
});
