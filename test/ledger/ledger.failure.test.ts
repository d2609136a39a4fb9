// Failure atomicity: a request that meets an unexpected error fails alone, typed (LEDGER_INTERNAL), logged
// with the operation and the event it failed on, counted — and changes nothing. Faults are injected into
// the running ledger (an index update that throws mid-batch, a store write that throws mid-flush, a
// transaction over the store's write limit, an undo that throws too); after each, the ledger's answers
// and the bytes of its tables must equal those before the request, and replaying the request must give
// exactly what a twin ledger that never saw the fault gives (same clock): so balances, ids, timestamps,
// failed ids, expiry queue and indexes were all restored. Only a store durability failure stops it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  AccountFlags as AF, CreateTransferStatus as TS, LedgerFailedError, LedgerInternalError, openLedger, openStore,
  TransferFlags as TF, type Ledger, type LedgerLogger, type Store, type Transfer,
} from 'purser';
import { SimDisk } from '../../src/store/durability/sim-disk.js';
import { account, accountFilter, FakeClock, queryFilter, transfer } from './_client.js';

const work = mkdtempSync(join(tmpdir(), 'purser-ledger-failure-'));
after(() => rmSync(work, { recursive: true, force: true }));

interface Logged {
  level: 'error' | 'warn';
  fields: Record<string, unknown>;
  message: string;
}

function captureLogger(): LedgerLogger & { entries: Logged[] } {
  const entries: Logged[] = [];
  return {
    entries,
    error: (fields, message) => entries.push({ level: 'error', fields: fields as Record<string, unknown>, message }),
    warn: (fields, message) => entries.push({ level: 'warn', fields: fields as Record<string, unknown>, message }),
  };
}

const ACCOUNT_IDS = [1n, 2n, 3n, 4n];

/** Accounts (one with history, one with a limit), posted and pending transfers, a burnt id. */
async function populate(ledger: Ledger, clock: FakeClock): Promise<void> {
  await ledger.createAccounts([
    account(1n, { flags: AF.history }), account(2n), account(3n, { flags: AF.debits_must_not_exceed_credits }), account(4n, { flags: AF.history }),
  ]);
  await ledger.createTransfers([
    transfer(10n, 1n, 2n, 100n),
    transfer(11n, 2n, 3n, 50n),
    transfer(12n, 1n, 4n, 30n, { flags: TF.pending, timeout: 60 }),
    transfer(13n, 4n, 2n, 20n, { flags: TF.pending }),
    transfer(14n, 3n, 1n, 500n), // exceeds credits: id 14 is burnt
  ]);
  clock.advanceSeconds(1);
}

/** The batch the faults hit: a chain, a post, a void, a new pending transfer, a failure, plain transfers. */
function victimBatch(): Transfer[] {
  return [
    transfer(20n, 1n, 2n, 5n, { flags: TF.linked }),
    transfer(21n, 2n, 4n, 6n, { flags: TF.linked }),
    transfer(22n, 0n, 0n, 10n, { flags: TF.post_pending_transfer, pending_id: 12n, ledger: 0, code: 0 }),
    transfer(23n, 3n, 1n, 10n),
    transfer(24n, 0n, 0n, 0n, { flags: TF.void_pending_transfer, pending_id: 13n, ledger: 0, code: 0 }),
    transfer(25n, 1n, 3n, 7n, { flags: TF.pending, timeout: 5 }),
    transfer(26n, 3n, 2n, 10_000n), // exceeds credits: would burn id 26
    transfer(27n, 4n, 1n, 1n),
  ];
}

/** Everything a client can observe, as comparable text. */
async function observe(ledger: Ledger): Promise<string> {
  const parts: unknown[] = [
    await ledger.lookupAccounts(ACCOUNT_IDS),
    await ledger.queryTransfers(queryFilter()),
    await ledger.queryAccounts(queryFilter()),
    await ledger.getAccountBalances(accountFilter(1n)),
    await ledger.getAccountBalances(accountFilter(4n)),
    await ledger.lookupTransfers([10n, 12n, 13n, 20n, 24n, 25n]),
    ledger.state.commitTimestamp,
    ledger.state.failedTransferIds.size,
  ];
  for (const id of ACCOUNT_IDS) parts.push(await ledger.getAccountTransfers(accountFilter(id)));
  return JSON.stringify(parts, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
}

/** The bytes of every ledger table in the store. */
async function tables(store: Store): Promise<string> {
  const out: string[] = [];
  await store.transaction(async (tx) => {
    for (const table of ['ledger.accounts', 'ledger.transfers', 'ledger.failed', 'ledger.pending', 'ledger.history', 'ledger.meta']) {
      for await (const [key, value] of tx.range(table)) out.push(`${table} ${Buffer.from(key).toString('hex')} ${Buffer.from(value).toString('hex')}`);
    }
  });
  return out.join('\n');
}

/** A ledger on a store the test can break: `failPutAfter(n)` makes the n-th next put throw once. */
async function breakableLedger(clock: FakeClock, logger: LedgerLogger, storeOptions: { transactionWritesMax?: number } = {}) {
  const inner = await openStore(storeOptions);
  let putsUntilFault = -1;
  const store: Store = {
    transaction: (fn, options) => inner.transaction((tx) => fn(new Proxy(tx, {
      get(target, property) {
        const member = Reflect.get(target, property) as unknown;
        // Methods run on the real transaction (its identity owns the locks).
        if (property !== 'put') return typeof member === 'function' ? (member as (...args: unknown[]) => unknown).bind(target) : member;
        return (table: string, key: Uint8Array, value: Uint8Array) => {
          if (putsUntilFault > 0 && --putsUntilFault === 0) throw new Error('injected: the write failed');
          return target.put(table, key, value);
        };
      },
    })), options),
    sequence: (name, options) => inner.sequence(name, options),
    stats: () => inner.stats(),
    close: () => inner.close(),
  };
  const ledger = await openLedger({ store, clock: clock.read, logger });
  return { ledger, store: inner, failPutAfter: (n: number) => (putsUntilFault = n) };
}

/** A twin that never saw the fault: same clock start, same requests. */
async function twin(): Promise<{ ledger: Ledger; clock: FakeClock }> {
  const clock = new FakeClock();
  const ledger = await openLedger({ clock: clock.read, logger: captureLogger() });
  await populate(ledger, clock);
  return { ledger, clock };
}

async function assertRecovered(ledger: Ledger, store: Store, before: { view: string; bytes: string }, clock: FakeClock): Promise<void> {
  assert.equal(await observe(ledger), before.view, 'the failed request left no trace a client can see');
  assert.equal(await tables(store), before.bytes, 'the failed request left no trace in the store');
  const reference = await twin();
  reference.clock.nowNs = clock.nowNs;
  const retried = await ledger.createTransfers(victimBatch());
  assert.deepEqual(retried, await reference.ledger.createTransfers(victimBatch()), 'the retry gives what a ledger that never failed gives');
  assert.equal(await observe(ledger), await observe(reference.ledger));
  assert.equal(retried[6].status, TS.exceeds_credits);
  await reference.ledger.close();
}

test('an error thrown mid-batch (after a chain and a post were applied) undoes the request; the ledger serves on', async () => {
  const clock = new FakeClock();
  const logger = captureLogger();
  const { ledger, store } = await breakableLedger(clock, logger);
  await populate(ledger, clock);
  const before = { view: await observe(ledger), bytes: await tables(store) };
  // The fifth transfer indexed in the batch throws: events 0–3 were applied (a chain, a post) and the
  // void (event 4) is half done.
  const indexTransfer = ledger.state.indexTransfer.bind(ledger.state);
  let calls = 0;
  ledger.state.indexTransfer = (t, dr, cr) => {
    if (++calls === 5) throw new TypeError('injected: index update failed');
    indexTransfer(t, dr, cr);
  };
  await assert.rejects(ledger.createTransfers(victimBatch()), (error: unknown) => error instanceof LedgerInternalError && error.code === 'LEDGER_INTERNAL');
  ledger.state.indexTransfer = indexTransfer;
  const logged = logger.entries.filter((e) => e.level === 'error');
  assert.equal(logged.length, 1);
  assert.equal(logged[0].fields.operation, 'create_transfers');
  assert.equal(logged[0].fields.events, 8);
  assert.equal(logged[0].fields.eventIndex, 4);
  assert.equal((logged[0].fields.event as { id: string }).id, '24');
  assert.equal(ledger.stats().internalErrors, 1);
  assert.equal(ledger.stats().up, true);
  await assertRecovered(ledger, store, before, clock);
  await ledger.close();
});

test('a store write that throws while the request is written out undoes it', async () => {
  const clock = new FakeClock();
  const { ledger, store, failPutAfter } = await breakableLedger(clock, captureLogger());
  await populate(ledger, clock);
  const before = { view: await observe(ledger), bytes: await tables(store) };
  failPutAfter(3); // the transfer page and an account page went in; the third write fails
  await assert.rejects(ledger.createTransfers(victimBatch()), LedgerInternalError);
  await assertRecovered(ledger, store, before, clock);
  assert.equal(ledger.stats().internalErrors, 1);
  await ledger.close();
});

test('a request over the store transaction write limit fails alone; smaller ones go on', async () => {
  const clock = new FakeClock();
  const { ledger, store } = await breakableLedger(clock, captureLogger(), { transactionWritesMax: 40 });
  await populate(ledger, clock);
  const before = { view: await observe(ledger), bytes: await tables(store) };
  const big = Array.from({ length: 300 }, (_, i) => transfer(1000n + BigInt(i), 1n, 2n, 1n, { flags: TF.pending }));
  await assert.rejects(ledger.createTransfers(big), LedgerInternalError);
  await assertRecovered(ledger, store, before, clock);
  await ledger.close();
});

test('if undoing a failed request fails too, the state is rebuilt from the committed tables', async () => {
  const clock = new FakeClock();
  const logger = captureLogger();
  const { ledger, store } = await breakableLedger(clock, logger);
  await populate(ledger, clock);
  const before = { view: await observe(ledger), bytes: await tables(store) };
  const state = ledger.state;
  const indexTransfer = state.indexTransfer.bind(state);
  let calls = 0;
  state.indexTransfer = (t, dr, cr) => {
    if (++calls === 5) throw new TypeError('injected: index update failed');
    indexTransfer(t, dr, cr);
  };
  state.unindexTransfer = () => {
    throw new TypeError('injected: undo failed');
  };
  await assert.rejects(ledger.createTransfers(victimBatch()), LedgerInternalError);
  assert.notEqual(ledger.state, state, 'the state was rebuilt');
  assert.ok(logger.entries.some((e) => e.message.includes('rebuilding the state')));
  await assertRecovered(ledger, store, before, clock);
  await ledger.close();
});

test('an unexpected error inside ledger.transaction aborts it even if the caller catches it', async () => {
  const clock = new FakeClock();
  const { ledger, store } = await breakableLedger(clock, captureLogger());
  await populate(ledger, clock);
  const before = { view: await observe(ledger), bytes: await tables(store) };
  let calls = 0;
  const state = ledger.state;
  const indexTransfer = state.indexTransfer.bind(state);
  state.indexTransfer = (t, dr, cr) => {
    if (++calls === 2) throw new TypeError('injected');
    indexTransfer(t, dr, cr);
  };
  await assert.rejects(ledger.transaction(async (session, tx) => {
    await tx.put('app', Uint8Array.of(1), Uint8Array.of(1));
    await session.createTransfers([transfer(30n, 1n, 2n, 1n)]);
    await session.createTransfers(victimBatch()).catch(() => undefined); // swallowed by the caller
    return 'committed?';
  }), LedgerInternalError);
  state.indexTransfer = indexTransfer; // (the ledger may have rebuilt its state: undoing a half-made insert fails)
  assert.equal(await store.transaction((tx) => tx.get('app', Uint8Array.of(1))), undefined, 'the caller\'s own write aborted too');
  await assertRecovered(ledger, store, before, clock);
  await ledger.close();
});

test('a store durability failure (fsync) stops the ledger, and its stats say why', async () => {
  const disk = new SimDisk(7);
  const store = await openStore({ dir: join(work, 'fsync'), fs: disk });
  const clock = new FakeClock();
  const ledger = await openLedger({ store, clock: clock.read, logger: captureLogger() });
  await ledger.createAccounts([account(1n), account(2n)]);
  disk.injectFault('FSYNC', 1, true);
  await assert.rejects(ledger.createTransfers([transfer(10n, 1n, 2n, 1n)]), LedgerFailedError);
  const stats = ledger.stats();
  assert.equal(stats.up, false);
  assert.match(stats.downReason ?? '', /store failed/);
  await assert.rejects(ledger.lookupAccounts([1n]), LedgerFailedError);
  await ledger.close();
  await store.close().catch(() => undefined);
});

test('a session call whose writes overflow the store transaction poisons ledger.transaction even if the caller catches it', async () => {
  const clock = new FakeClock();
  const { ledger, store } = await breakableLedger(clock, captureLogger(), { transactionWritesMax: 40 });
  await populate(ledger, clock);
  const before = { view: await observe(ledger), bytes: await tables(store) };
  const big = Array.from({ length: 300 }, (_, i) => transfer(1000n + BigInt(i), 1n, 2n, 1n, { flags: TF.pending }));
  await assert.rejects(ledger.transaction(async (session) => {
    // The batch executed in memory, then its writes did not fit: swallowing that must not commit half of it.
    await session.createTransfers(big).catch(() => undefined);
    return 'committed?';
  }), (error: unknown) => error instanceof Error && (error as { code?: string }).code === 'STORE_TRANSACTION_TOO_LARGE');
  await assertRecovered(ledger, store, before, clock);
  await ledger.close();
});
