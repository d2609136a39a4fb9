// The inputs that used to stop the ledger, sent by the official tigerbeetle-node client over the wire, to a real ledger (in
// memory, on a clock the test moves): a linked chain repeating an id it created gets TigerBeetle's exact
// results; 30,000 holds expiring at once expire in bounded steps and the next request sees them all
// released; a clock reading beyond 2^63 ns refuses only the request it was read for (TigerBeetle's
// protocol has no error reply, so that client is evicted) and the next client is served. After each, the
// ledger is up with no internal error.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openLedger, type Ledger } from 'purser';
import { CLOCK_START_NS, NS_PER_S } from '../../../ledger/_client.js';
import { runOfficialClient, startListener } from './_harness.js';

const PRELUDE = `
  const account = (id, fields = {}) => ({ id, debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, reserved: 0, ledger: 1, code: 1, flags: 0, timestamp: 0n, ...fields });
  const transfer = (id, fields = {}) => ({ id, debit_account_id: 1n, credit_account_id: 2n, amount: 1n, pending_id: 0n, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, timeout: 0, ledger: 1, code: 1, flags: 0, timestamp: 0n, ...fields });
`;
const CREATED = 0xffff_ffff;
const LINKED_EVENT_FAILED = 1;
const ACCOUNT_EXISTS = 21;
const TRANSFER_EXISTS = 46;

let nowNs = CLOCK_START_NS;
let badReading: bigint | undefined;
let ledger: Ledger;
let listener: Awaited<ReturnType<typeof startListener>>;

before(async () => {
  ledger = await openLedger({ clock: () => badReading ?? nowNs, logger: { error: () => undefined, warn: () => undefined } });
  listener = await startListener(ledger);
});
after(async () => {
  await listener.close();
  await ledger.close();
});

test('over the wire: a chain repeating an id it created returns exists inside the chain, linked_event_failed around it', async () => {
  const output = await runOfficialClient(listener.url, `${PRELUDE}
    const linked = tb.AccountFlags.linked;
    await client.createAccounts([account(7n)]);
    const accounts = await client.createAccounts([account(1n, { flags: linked }), account(2n, { flags: linked }), account(1n, { flags: linked }), account(3n)]);
    const found = await client.lookupAccounts([1n, 2n, 3n, 7n]);
    await client.createAccounts([account(1n), account(2n)]);
    const tlinked = tb.TransferFlags.linked;
    const transfers = await client.createTransfers([transfer(10n, { flags: tlinked }), transfer(11n, { flags: tlinked }), transfer(10n, { flags: tlinked }), transfer(12n)]);
    return { accounts, found: found.map((a) => a.id), transfers, lookup: await client.lookupTransfers([10n, 11n, 12n]) };`);
  assert.equal(output.error, undefined, output.error);
  const r = output.result as { accounts: { status: number; timestamp: bigint }[]; found: bigint[]; transfers: { status: number; timestamp: bigint }[]; lookup: unknown[] };
  assert.deepEqual(r.accounts.map((a) => a.status), [LINKED_EVENT_FAILED, LINKED_EVENT_FAILED, ACCOUNT_EXISTS, LINKED_EVENT_FAILED]);
  assert.equal(r.accounts[2].timestamp, r.accounts[0].timestamp);
  assert.deepEqual(r.found, [7n]);
  assert.deepEqual(r.transfers.map((t) => t.status), [LINKED_EVENT_FAILED, LINKED_EVENT_FAILED, TRANSFER_EXISTS, LINKED_EVENT_FAILED]);
  assert.deepEqual(r.lookup, []);
  assert.equal(ledger.stats().internalErrors, 0);
});

test('over the wire: 30,000 holds expiring at once are all released for the next request', async () => {
  const created = await runOfficialClient(listener.url, `${PRELUDE}
    await client.createAccounts([account(101n), account(102n)]);
    let ok = 0;
    for (let first = 0; first < 30000; first += 8189) {
      const count = Math.min(8189, 30000 - first);
      const batch = Array.from({ length: count }, (_, i) => transfer(BigInt(100000 + first + i), { debit_account_id: 101n, credit_account_id: 102n, flags: tb.TransferFlags.pending, timeout: 1 }));
      ok += (await client.createTransfers(batch)).filter((r) => r.status === ${CREATED}).length;
    }
    return { ok, pending: (await client.lookupAccounts([101n]))[0].debits_pending };`);
  assert.equal(created.error, undefined, created.error);
  assert.deepEqual(created.result, { ok: 30_000, pending: 30_000n });
  nowNs += 2n * NS_PER_S;
  const after = await runOfficialClient(listener.url, 'return (await client.lookupAccounts([101n, 102n])).map((a) => [a.debits_pending, a.credits_pending]);');
  assert.equal(after.error, undefined, after.error);
  assert.deepEqual(after.result, [[0n, 0n], [0n, 0n]]);
  assert.equal(ledger.stats().transfersExpired, 30_000);
  assert.equal(ledger.stats().internalErrors, 0);
});

test('over the wire: a clock reading beyond 2^63 ns refuses that request only; the next client is served', async () => {
  badReading = 1n << 63n;
  const refused = await runOfficialClient(listener.url, `${PRELUDE} return await client.createTransfers([transfer(500n)]);`);
  assert.notEqual(refused.error, undefined, 'the request was refused (evicted: the protocol has no error reply)');
  badReading = undefined;
  nowNs += NS_PER_S;
  const served = await runOfficialClient(listener.url, `${PRELUDE}
    const [result] = await client.createTransfers([transfer(500n)]);
    return { status: result.status, timestamp: result.timestamp };`);
  assert.equal(served.error, undefined, served.error);
  const r = served.result as { status: number; timestamp: bigint };
  assert.equal(r.status, CREATED);
  assert.ok(r.timestamp < nowNs + NS_PER_S, 'timestamps follow the corrected clock');
  assert.equal(ledger.stats().clockRefusals, 1);
  assert.equal(ledger.stats().up, true);
});

test('over the wire: a wall clock stepped 10 years ahead is not believed by a guarded clock; the hold still expires on time', async () => {
  const TEN_YEARS_NS = 10n * 365n * 86_400n * NS_PER_S;
  let wallNs = CLOCK_START_NS;
  let monotonicNs = 1_000n * NS_PER_S;
  const guarded = await openLedger({ clock: () => wallNs, monotonicClock: () => monotonicNs, logger: { error: () => undefined, warn: () => undefined } });
  const server = await startListener(guarded);
  try {
    wallNs += TEN_YEARS_NS;
    const created = await runOfficialClient(server.url, `${PRELUDE}
      await client.createAccounts([account(1n), account(2n)]);
      const [hold] = await client.createTransfers([transfer(10n, { flags: tb.TransferFlags.pending, timeout: 5, amount: 9n })]);
      return { status: hold.status, timestamp: hold.timestamp };`);
    assert.equal(created.error, undefined, created.error);
    const hold = created.result as { status: number; timestamp: bigint };
    assert.equal(hold.status, CREATED);
    assert.ok(hold.timestamp < CLOCK_START_NS + NS_PER_S, 'the 10-year step did not reach the timestamp');
    assert.equal(guarded.stats().clockSkewNs, TEN_YEARS_NS);
    wallNs -= TEN_YEARS_NS;
    monotonicNs += 6n * NS_PER_S;
    const after = await runOfficialClient(server.url, 'return (await client.lookupAccounts([1n]))[0].debits_pending;');
    assert.equal(after.error, undefined, after.error);
    assert.equal(after.result, 0n, 'expired after 5 s of monotonic time');
  } finally {
    await server.close();
    await guarded.close();
  }
});
