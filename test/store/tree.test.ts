// Model-based tests of the store's B+tree through transactions: long seeded random sequences of put,
// delete, get and range (forward and reverse, all bound kinds, limits) are run against a sorted-map model,
// reads inside a transaction are checked against the model plus that transaction's own writes, some
// transactions throw (and must leave no trace), and the tree's structure (key order, fences, separators,
// depth, fill, leaf chain, counts) is checked after every transaction.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openStore, type RangeOptions, type Transaction } from 'purser';
import { engineOf, hex, random } from './_helpers.js';

type Model = Map<string, string>;

function randomKey(next: () => number): Uint8Array {
  // Short keys over a small alphabet collide often (replaces, deletes of present keys), and lengths 1–6
  // give prefixes (a key that is a prefix of another sorts first).
  const length = 1 + Math.floor(next() * 6);
  const key = new Uint8Array(length);
  for (let i = 0; i < length; i++) key[i] = Math.floor(next() * 6) * 40;
  return key;
}

function randomValue(next: () => number): Uint8Array {
  const roll = next();
  // Mostly small values, some large ones (several per page), rarely one larger than a page.
  const length = roll < 0.9 ? Math.floor(next() * 200) : roll < 0.99 ? 1000 + Math.floor(next() * 3000) : 9000 + Math.floor(next() * 3000);
  const value = new Uint8Array(length);
  for (let i = 0; i < length; i++) value[i] = Math.floor(next() * 256);
  return value;
}

function expectedRange(view: Model, options: RangeOptions): Array<[string, string]> {
  const bound = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : hex(bytes));
  const [gte, gt, lte, lt] = [bound(options.gte), bound(options.gt), bound(options.lte), bound(options.lt)];
  // Hex strings of bytes compare like the bytes (same length per byte, and hex digits ascend with value).
  let entries = [...view.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  entries = entries.filter(([k]) => (gte === undefined || k >= gte) && (gt === undefined || k > gt) && (lte === undefined || k <= lte) && (lt === undefined || k < lt));
  if (options.reverse) entries.reverse();
  return entries.slice(0, options.limit ?? entries.length);
}

function randomRange(next: () => number): RangeOptions {
  const options: RangeOptions = {};
  const roll = () => next();
  if (roll() < 0.5) options[roll() < 0.5 ? 'gte' : 'gt'] = randomKey(next);
  if (roll() < 0.5) options[roll() < 0.5 ? 'lte' : 'lt'] = randomKey(next);
  if (roll() < 0.5) options.reverse = true;
  if (roll() < 0.3) options.limit = Math.floor(next() * 20);
  return options;
}

async function collect(tx: Transaction, table: string, options: RangeOptions): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  for await (const [key, value] of tx.range(table, options)) out.push([hex(key), hex(value)]);
  return out;
}

async function runSeed(seed: number, transactions: number): Promise<void> {
  const next = random(seed);
  const store = await openStore();
  const model: Model = new Map();
  for (let t = 0; t < transactions; t++) {
    const view: Model = new Map(model);
    const fails = next() < 0.1;
    const operations = 1 + Math.floor(next() * 60);
    const run = store.transaction(async (tx) => {
      for (let i = 0; i < operations; i++) {
        const roll = next();
        const key = randomKey(next);
        if (roll < 0.45) {
          const value = randomValue(next);
          await tx.put('t', key, value);
          view.set(hex(key), hex(value));
        } else if (roll < 0.7) {
          assert.equal(await tx.delete('t', key), view.has(hex(key)), `seed ${String(seed)}: delete reports presence`);
          view.delete(hex(key));
        } else if (roll < 0.9) {
          const value = await tx.get('t', key);
          assert.equal(value === undefined ? undefined : hex(value), view.get(hex(key)), `seed ${String(seed)}: get`);
        } else {
          const options = randomRange(next);
          assert.deepEqual(await collect(tx, 't', options), expectedRange(view, options), `seed ${String(seed)}: range ${JSON.stringify(options)}`);
        }
      }
      if (fails) throw new Error('planned failure');
    });
    if (fails) {
      await assert.rejects(run, /planned failure/);
    } else {
      await run;
      for (const key of [...model.keys()]) if (!view.has(key)) model.delete(key);
      for (const [key, value] of view) model.set(key, value);
    }
    engineOf(store).checkInvariants();
  }
  await store.transaction(async (tx) => {
    assert.deepEqual(await collect(tx, 't', {}), expectedRange(model, {}), `seed ${String(seed)}: final contents`);
  });
  assert.equal(store.stats().records, model.size);
  await store.close();
}

test('random put/delete/get/range agree with a sorted-map model, tree stays well-formed (several seeds)', async () => {
  for (const seed of [1, 42, 1234]) await runSeed(seed, 150);
});

test('many records: splits over several inner levels, then deletes down to nothing merge pages back', async () => {
  const store = await openStore();
  const next = random(7);
  const keys: Uint8Array[] = [];
  for (let batch = 0; batch < 20; batch++) {
    await store.transaction(async (tx) => {
      for (let i = 0; i < 2_000; i++) {
        const key = new Uint8Array(16);
        for (let j = 0; j < 16; j++) key[j] = Math.floor(next() * 256);
        keys.push(key);
        await tx.put('big', key, new Uint8Array(100).fill(batch));
      }
    });
  }
  engineOf(store).checkInvariants();
  assert.equal(store.stats().records, 40_000);
  const pagesFull = store.stats().pages;
  assert.ok(pagesFull > 400, `40,000 records of ~126 bytes span hundreds of pages (got ${String(pagesFull)})`);
  for (let start = 0; start < keys.length; start += 5_000) {
    await store.transaction(async (tx) => {
      for (const key of keys.slice(start, start + 5_000)) assert.equal(await tx.delete('big', key), true);
    });
    engineOf(store).checkInvariants();
  }
  assert.equal(store.stats().records, 0);
  assert.ok(store.stats().pages < pagesFull / 10, `emptied pages are merged (${String(store.stats().pages)} left of ${String(pagesFull)})`);
  await store.close();
});

test('values handed out do not change when the page changes later', async () => {
  const store = await openStore();
  await store.transaction(async (tx) => tx.put('t', new Uint8Array([1]), new Uint8Array([1, 2, 3])));
  const seen = await store.transaction(async (tx) => tx.get('t', new Uint8Array([1])));
  await store.transaction(async (tx) => tx.put('t', new Uint8Array([1]), new Uint8Array([9, 9, 9])));
  assert.deepEqual([...(seen ?? [])], [1, 2, 3]);
  await store.close();
});
