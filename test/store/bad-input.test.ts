// Bad input to every store entry point gets a typed error with a stable code and changes nothing:
// wrong types, empty and oversize keys, oversize values, bad options, non-counter records, write limits,
// use of a finished transaction, and use of a closed store.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CounterFormatError, decodeCounter, encodeCounter, openStore, PurserError, StoreArgumentError, StoreClosedError, TransactionFinishedError,
  TransactionTooLargeError, type Transaction,
} from 'purser';
import { text } from './_helpers.js';

const bad = (error: unknown) => error instanceof StoreArgumentError && error.code === 'STORE_INVALID_ARGUMENT';
const anyValue = (value: unknown) => value as never;

test('openStore refuses bad options', async () => {
  for (const options of [null, 5, { dir: '' }, { dir: 3 }, { valueSizeMaxBytes: -1 }, { valueSizeMaxBytes: 2 ** 30 }, { transactionWritesMax: 0 }, { lockTimeoutMs: 1.5 }, { retries: 0 }]) {
    await assert.rejects(openStore(anyValue(options)), bad, JSON.stringify(options));
  }
});

test('every transaction operation refuses bad arguments and the store is unchanged', async () => {
  const store = await openStore({ valueSizeMaxBytes: 100 });
  const attempts: Array<[string, (tx: Transaction) => unknown]> = [
    ['table not a string', (tx) => tx.get(anyValue(1), text('k'))],
    ['empty table', (tx) => tx.put('', text('k'), text('v'))],
    ['long table', (tx) => tx.put('t'.repeat(129), text('k'), text('v'))],
    ['NUL in table', (tx) => tx.put('a\u0000b', text('k'), text('v'))],
    ['key not bytes', (tx) => tx.get('t', anyValue('k'))],
    ['empty key', (tx) => tx.put('t', new Uint8Array(0), text('v'))],
    ['key over 1 KiB', (tx) => tx.put('t', new Uint8Array(1025), text('v'))],
    ['value not bytes', (tx) => tx.put('t', text('k'), anyValue('v'))],
    ['value over the limit', (tx) => tx.put('t', text('k'), new Uint8Array(101))],
    ['delete key not bytes', (tx) => tx.delete('t', anyValue(null))],
    ['increment delta not bigint', (tx) => tx.increment('t', text('k'), anyValue(1))],
    ['increment min not bigint', (tx) => tx.increment('t', text('k'), 1n, anyValue({ min: 0 }))],
    ['increment min > max', (tx) => tx.increment('t', text('k'), 1n, { min: 5n, max: 1n })],
    ['increment options not object', (tx) => tx.increment('t', text('k'), 1n, anyValue('x'))],
    ['counter empty key', (tx) => tx.counter('t', new Uint8Array(0))],
    ['range gte and gt', (tx) => tx.range('t', { gte: text('a'), gt: text('a') })],
    ['range lte and lt', (tx) => tx.range('t', { lte: text('a'), lt: text('a') })],
    ['range bound empty', (tx) => tx.range('t', { gte: new Uint8Array(0) })],
    ['range limit negative', (tx) => tx.range('t', { limit: -1 })],
    ['range reverse not boolean', (tx) => tx.range('t', anyValue({ reverse: 'yes' }))],
    ['range options not object', (tx) => tx.range('t', anyValue(7))],
    ['extension kind empty', (tx) => { tx.addExtension('', new Uint8Array(1)); }],
    ['extension payload not bytes', (tx) => { tx.addExtension('k', anyValue('x')); }],
    ['extension replaces not array', (tx) => { tx.addExtension('k', new Uint8Array(1), anyValue({ replacesTables: 't' })); }],
  ];
  for (const [name, attempt] of attempts) {
    await assert.rejects(store.transaction(async (tx) => {
      await tx.put('kept', text('k'), text('before')); // must be undone along with the failed call
      await attempt(tx);
    }), bad, name);
  }
  assert.equal(store.stats().records, 0);
  assert.equal(store.stats().transactionsCommitted, 0);
  await store.close();
});

test('transaction() and sequence() refuse bad arguments', async () => {
  const store = await openStore();
  await assert.rejects(store.transaction(anyValue(null)), bad);
  for (const options of [null, { retries: 0 }, { retries: 1.5 }, { lockTimeoutMs: 0 }, { lockTimeoutMs: 'x' }]) {
    await assert.rejects(store.transaction(() => Promise.resolve(1), anyValue(options)), bad, JSON.stringify(options));
  }
  assert.throws(() => store.sequence(''), bad);
  assert.throws(() => store.sequence(anyValue(5)), bad);
  assert.throws(() => store.sequence('s', anyValue({ spread: 1 })), bad);
  await store.close();
});

test('a counter operation on a record that is not a counter fails with CounterFormatError', async () => {
  const store = await openStore();
  await store.transaction(async (tx) => tx.put('t', text('k'), text('not a counter')));
  await assert.rejects(store.transaction(async (tx) => tx.counter('t', text('k'))), (e) => e instanceof CounterFormatError && e.code === 'STORE_NOT_A_COUNTER');
  await assert.rejects(store.transaction(async (tx) => tx.increment('t', text('k'), 1n)), CounterFormatError);
  assert.deepEqual(await store.transaction(async (tx) => tx.get('t', text('k'))), text('not a counter'));
  await store.close();
});

test('encodeCounter and decodeCounter refuse what is not a counter', () => {
  assert.throws(() => encodeCounter(anyValue(5)), bad);
  assert.throws(() => encodeCounter(1n << 127n), (e) => e instanceof CounterFormatError);
  assert.throws(() => decodeCounter(anyValue('x')), bad);
  assert.throws(() => decodeCounter(new Uint8Array(8)), (e) => e instanceof CounterFormatError);
  assert.equal(decodeCounter(encodeCounter(-(1n << 127n))), -(1n << 127n));
});

test('the per-transaction write limit fails with TransactionTooLargeError and nothing is applied', async () => {
  const store = await openStore({ transactionWritesMax: 10 });
  await assert.rejects(store.transaction(async (tx) => {
    for (let i = 0; i < 9; i++) await tx.put('t', new Uint8Array([i + 1]), text('v'));
    await tx.put('t', new Uint8Array([1]), text('a rewrite counts as a write too'));
    await tx.increment('t', new Uint8Array([99]), 1n);
  }), (e) => e instanceof TransactionTooLargeError && e.code === 'STORE_TRANSACTION_TOO_LARGE');
  assert.equal(store.stats().records, 0);
  await store.close();
});

test('a finished transaction refuses every operation', async () => {
  const store = await openStore();
  let leaked: Transaction | undefined;
  await store.transaction(async (tx) => {
    leaked = tx;
    await tx.put('t', text('k'), text('v'));
  });
  assert.ok(leaked !== undefined);
  const tx = leaked;
  const finished = (e: unknown) => e instanceof TransactionFinishedError && e.code === 'STORE_TRANSACTION_FINISHED';
  await assert.rejects(tx.get('t', text('k')), finished);
  await assert.rejects(tx.put('t', text('k'), text('w')), finished);
  await assert.rejects(tx.delete('t', text('k')), finished);
  await assert.rejects(tx.increment('t', text('n'), 1n), finished);
  await assert.rejects(tx.counter('t', text('n')), finished);
  assert.throws(() => tx.range('t'), finished);
  assert.throws(() => tx.addExtension('x', new Uint8Array(0)), finished);
  assert.throws(() => tx.abort(), finished);
  assert.deepEqual(await store.transaction(async (t) => t.get('t', text('k'))), text('v'));
  await store.close();
});

test('a closed store refuses transactions and sequences with STORE_CLOSED', async () => {
  const store = await openStore();
  const sequence = store.sequence('s');
  await store.close();
  await store.close(); // idempotent
  const closed = (e: unknown) => e instanceof StoreClosedError && e.code === 'STORE_CLOSED' && e instanceof PurserError;
  await assert.rejects(store.transaction(() => Promise.resolve(1)), closed);
  await assert.rejects(sequence.next(), closed);
  assert.throws(() => store.sequence('t'), closed);
});

test('a durability failure stops the store: the commit and every later transaction fail with STORE_FAILED', async () => {
  const store = await openStore();
  const { engineOf } = await import('./_helpers.js');
  engineOf(store).setDurability({
    logCommit: () => Promise.reject(new Error('fsync: EIO')),
    logSequence: () => undefined,
    durableNow: () => undefined,
  });
  const failed = (e: unknown) => e instanceof StoreClosedError && e.code === 'STORE_FAILED';
  await assert.rejects(store.transaction(async (tx) => tx.put('t', text('k'), text('v'))), failed);
  await assert.rejects(store.transaction(async (tx) => tx.get('t', text('k'))), failed);
  await store.close();
});
