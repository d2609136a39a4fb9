// The engine hooks durability builds on: a snapshot is a frozen, consistent view while commits continue
// (copy-on-write pages), applyRecord replays commit records and extensions, bulkLoad fills a table in key
// order with a well-formed tree, and sequence state round-trips.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openStore } from 'purser';
import { engineOf, hex, u32Key } from './_helpers.js';

test('a snapshot keeps its contents while later commits change, split and merge its pages', async () => {
  const store = await openStore();
  await store.transaction(async (tx) => {
    for (let i = 0; i < 2_000; i++) await tx.put('t', u32Key(i), new Uint8Array(60).fill(i & 0xff));
  });
  const engine = engineOf(store);
  const snapshot = engine.snapshot();
  const expected = [...snapshot.records('t')].map(([k, v]) => hex(k) + hex(v));
  await store.transaction(async (tx) => {
    for (let i = 0; i < 2_000; i += 2) await tx.put('t', u32Key(i), new Uint8Array(60).fill(0xee)); // same size: in place
    for (let i = 1; i < 2_000; i += 4) await tx.delete('t', u32Key(i));
    for (let i = 2_000; i < 3_000; i++) await tx.put('t', u32Key(i), new Uint8Array(90));
  });
  engine.checkInvariants();
  assert.deepEqual(snapshot.tables(), ['t']);
  assert.deepEqual([...snapshot.records('t')].map(([k, v]) => hex(k) + hex(v)), expected);
  snapshot.release();
  const after = engine.snapshot();
  assert.equal([...after.records('t')].length, 2_000 - 500 + 1_000);
  after.release();
  await store.close();
});

test('applyRecord replays writes and registered extensions; bulkLoad builds a well-formed table', async () => {
  const store = await openStore();
  const engine = engineOf(store);
  const replayed: string[] = [];
  engine.registerExtension('note', (payload) => replayed.push(new TextDecoder().decode(payload)));
  engine.applyRecord({
    writes: [{ table: 'a', key: u32Key(1), value: new Uint8Array([1]) }, { table: 'a', key: u32Key(2), value: undefined }],
    extensions: [{ kind: 'note', payload: new TextEncoder().encode('hello') }],
  });
  assert.deepEqual(replayed, ['hello']);
  const records = Array.from({ length: 50_000 }, (_, i): [Uint8Array, Uint8Array] => [u32Key(i * 3), new Uint8Array(20).fill(i & 0xff)]);
  engine.bulkLoad('bulk', records);
  engine.checkInvariants();
  assert.equal(store.stats().records, 50_001);
  const seen = await store.transaction(async (tx) => [await tx.get('a', u32Key(1)), await tx.get('bulk', u32Key(300)), await tx.get('bulk', u32Key(301))]);
  assert.deepEqual(seen, [new Uint8Array([1]), new Uint8Array(20).fill(100), undefined]);
  await store.transaction(async (tx) => {
    for (let i = 0; i < 5_000; i++) await tx.put('bulk', u32Key(i * 3 + 1), new Uint8Array(20));
  });
  engine.checkInvariants();
  await store.close();
});
