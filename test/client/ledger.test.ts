// The ledger's Client methods over the bus connection: every method sends TigerBeetle structs to a node
// whose listener has a ledger, and its results equal what the embedded ledger itself answers for the same
// state (reads are compared against direct calls; creates by their statuses). Bad input raises the
// embedded ledger's own errors before anything is sent; a node without a ledger, a closed client and
// invalid requests each get a typed error.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import {
  ClientError, CreateAccountStatus, CreateTransferStatus, LedgerBatchTooLargeError, LedgerClosedError, LedgerInvalidRequestError,
  TransferFlags, connect, createBus, openLedger, type Bus, type BusClient,
} from 'purser';
import type { Ledger } from '../../src/ledger/ledger.js';
import { startBusListener, type BusListener } from '../../src/node/listeners/bus.js';
import { FakeClock, account, accountFilter, queryFilter, transfer } from '../ledger/_client.js';

const silent = pino({ level: process.env.C2_DEBUG ? 'error' : 'silent' });
let bus: Bus;
let ledger: Ledger;
let listener: BusListener;
let client: BusClient;

before(async () => {
  bus = createBus();
  ledger = await openLedger({ clock: new FakeClock().read });
  listener = await startBusListener({ host: '127.0.0.1', port: 0, bus, logger: silent, ledger });
  client = await connect(listener.address.port);
});

after(async () => {
  await client.close();
  await listener.close({ drainTimeoutMs: 100 });
  await bus.close({ drainTimeoutMs: 100 });
  ledger.destroy();
});

test('every ledger method over the wire answers what the embedded ledger answers', async () => {
  const accounts = [account(1n, { user_data_128: 7n, code: 10 }), account(2n, { user_data_64: 9n }), account(3n, { flags: 2 /* debits_must_not_exceed_credits */ })];
  const created = await client.createAccounts([...accounts, account(1n)]);
  assert.deepEqual(created.slice(0, 3).map((result) => result.status), [CreateAccountStatus.created, CreateAccountStatus.created, CreateAccountStatus.created]);
  assert.notEqual(created[3].status, CreateAccountStatus.created); // id 1 again, with other fields
  assert.ok(created.slice(0, 3).every((result) => result.timestamp > 0n));

  const transfers = [
    transfer(100n, 1n, 2n, 500n),
    transfer(101n, 2n, 1n, 2n ** 100n), // a u128 amount travels whole
    transfer(102n, 3n, 1n, 1n), // exceeds credits
    transfer(103n, 1n, 2n, 50n, { flags: TransferFlags.pending, timeout: 60 }),
  ];
  const results = await client.createTransfers(transfers);
  assert.deepEqual(results.map((result) => result.status), [CreateTransferStatus.created, CreateTransferStatus.created, CreateTransferStatus.exceeds_credits, CreateTransferStatus.created]);

  const ids = [1n, 2n, 3n, 404n];
  assert.deepEqual(await client.lookupAccounts(ids), await ledger.lookupAccounts(ids));
  assert.equal((await client.lookupAccounts(ids)).length, 3);
  assert.equal((await client.lookupAccounts([2n]))[0].credits_posted, 500n);
  assert.deepEqual(await client.lookupTransfers([100n, 101n, 102n, 103n]), await ledger.lookupTransfers([100n, 101n, 102n, 103n]));
  assert.equal((await client.lookupTransfers([101n]))[0].amount, 2n ** 100n);
  assert.deepEqual(await client.getAccountTransfers(accountFilter(1n)), await ledger.getAccountTransfers(accountFilter(1n)));
  assert.equal((await client.getAccountTransfers(accountFilter(1n))).length, 3);
  assert.deepEqual(await client.getAccountBalances(accountFilter(1n)), await ledger.getAccountBalances(accountFilter(1n)));
  assert.deepEqual(await client.queryAccounts(queryFilter({ code: 10 })), await ledger.queryAccounts(queryFilter({ code: 10 })));
  assert.equal((await client.queryAccounts(queryFilter({ code: 10 }))).length, 1);
  assert.deepEqual(await client.queryTransfers(queryFilter({ ledger: 1 })), await ledger.queryTransfers(queryFilter({ ledger: 1 })));
  assert.deepEqual(await client.createAccounts([]), []);
});

test('ledger requests and bus calls share one connection, concurrently', async () => {
  bus.advertise('ECHO', (request) => request.data);
  const work: Array<Promise<unknown>> = [];
  for (let i = 0; i < 200; i += 1) {
    work.push(client.call('ECHO', i).then((reply) => assert.equal(reply.data, i)));
    work.push(client.lookupAccounts([1n, 2n]).then((found) => assert.deepEqual(found.map((a) => a.id), [1n, 2n])));
  }
  await Promise.all(work);
});

test('bad input raises the embedded ledger\'s errors, and nothing is sent', async () => {
  const before = client.stats().inFlight;
  await assert.rejects(client.createAccounts('nope' as never), LedgerInvalidRequestError);
  await assert.rejects(client.createAccounts([{ id: 1 } as never]), LedgerInvalidRequestError);
  await assert.rejects(client.createTransfers([transfer(1n, 1n, 2n, -5n)]), LedgerInvalidRequestError);
  await assert.rejects(client.lookupAccounts([1n, 'x' as never]), LedgerInvalidRequestError);
  await assert.rejects(client.lookupAccounts(Array.from({ length: 8190 }, (_, i) => BigInt(i + 1))), LedgerBatchTooLargeError);
  await assert.rejects(client.getAccountTransfers(null as never), LedgerInvalidRequestError);
  await assert.rejects(client.queryTransfers({ limit: 1 } as never), LedgerInvalidRequestError);
  assert.equal(client.stats().inFlight, before);
  assert.equal((await client.lookupAccounts([1n])).length, 1);
});

test('a node without a ledger answers CLIENT_NO_LEDGER; a closed client raises LedgerClosedError', async () => {
  const bare = await startBusListener({ host: '127.0.0.1', port: 0, bus, logger: silent });
  const other = await connect(bare.address.port);
  try {
    await assert.rejects(other.lookupAccounts([1n]), (error: unknown) => error instanceof ClientError && error.code === 'CLIENT_NO_LEDGER');
    other.destroy();
    await assert.rejects(other.lookupAccounts([1n]), LedgerClosedError);
  } finally {
    await other.close();
    await bare.close({ drainTimeoutMs: 100 });
  }
});
