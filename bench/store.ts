/**
 * The store engine against lmdb (noSync) and better-sqlite3 (WAL, synchronous=OFF), same keys and values,
 * in the same process run, several interleaved runs, medians:
 *   1. random 16-byte keys with 128-byte values, put in transactions of 1,000
 *   2. random point reads of those keys (Purser: transactions of 1,000 gets; lmdb: getBinaryFast);
 *      2b. the same reads through tx.getMany, 1,000 keys per call and transaction
 *   3. hot spot: 64 concurrent transactions each inserting one key and awaiting 1 ms before commit,
 *      keys from a plain sequence versus a spread sequence
 *   4. hot counter: 64 concurrent transfers out of one balance with a 1 ms await in the middle,
 *      serializable read-modify-write (with retries) versus escrow increments
 *   5. resident memory and heap after loading 10,000,000 records, in a child process
 * Environment: BENCH_RUNS (runs), BENCH_STORE_RECORDS (records for 1 and 2, default 1,000,000),
 * BENCH_RECORDS_10M (records for 5, default 10,000,000; 0 skips it when the machine is busy).
 */
import { execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { open as openLmdb } from 'lmdb';
import { decodeCounter, openStore, type Store } from '../src/index.js';
import { report, runs, type Measurement } from './_harness.js';

const RECORDS = Number(process.env.BENCH_STORE_RECORDS ?? 1_000_000);
const RECORDS_10M = Number(process.env.BENCH_RECORDS_10M ?? 10_000_000);
const BATCH = 1_000;
const KEY_BYTES = 16;
const VALUE_BYTES = 128;
const CONCURRENCY = 64;
const HOT_SPOT_TRANSACTIONS = 3_000;
const HOT_SPOT_PRELOAD = 100_000;
const HOT_COUNTER_TRANSFERS = 640;
const MEMORY_TARGET_MB = 3 * 1024;

const progress = (message: string) => console.error(`[store bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const perSecond = (count: number, startedMs: number) => (count / (performance.now() - startedMs)) * 1000;

function randomKeys(count: number): Buffer[] {
  const all = randomFillSync(Buffer.allocUnsafe(count * KEY_BYTES));
  return Array.from({ length: count }, (_, i) => all.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES));
}

function shuffled<T>(items: T[]): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

async function purserPutsAndGets(keys: Buffer[], reads: Buffer[], value: Uint8Array): Promise<[number, number, number]> {
  const store = await openStore();
  let started = performance.now();
  for (let i = 0; i < keys.length; i += BATCH) {
    await store.transaction(async (tx) => {
      for (let j = i; j < i + BATCH && j < keys.length; j++) await tx.put('t', keys[j], value);
    });
  }
  const puts = perSecond(keys.length, started);
  started = performance.now();
  let found = 0;
  for (let i = 0; i < reads.length; i += BATCH) {
    await store.transaction(async (tx) => {
      for (let j = i; j < i + BATCH && j < reads.length; j++) if ((await tx.get('t', reads[j])) !== undefined) found++;
    });
  }
  const gets = perSecond(reads.length, started);
  if (found !== reads.length) throw new Error(`purser found ${String(found)} of ${String(reads.length)}`);
  // The same reads through the batched call: one awaited getMany of 1,000 keys per transaction.
  started = performance.now();
  found = 0;
  for (let i = 0; i < reads.length; i += BATCH) {
    const values = await store.transaction((tx) => tx.getMany('t', reads.slice(i, i + BATCH)));
    for (const read of values) if (read !== undefined) found++;
  }
  const batchedGets = perSecond(reads.length, started);
  if (found !== reads.length) throw new Error(`purser getMany found ${String(found)} of ${String(reads.length)}`);
  await store.close();
  return [puts, gets, batchedGets];
}

async function lmdbPutsAndGets(keys: Buffer[], reads: Buffer[], value: Buffer): Promise<[number, number]> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-lmdb-'));
  const db = openLmdb({ path: dir, noSync: true, keyEncoding: 'binary', encoding: 'binary', compression: false });
  try {
    let started = performance.now();
    for (let i = 0; i < keys.length; i += BATCH) {
      db.transactionSync(() => {
        for (let j = i; j < i + BATCH && j < keys.length; j++) void db.putSync(keys[j], value);
      });
    }
    const puts = perSecond(keys.length, started);
    started = performance.now();
    let found = 0;
    for (const key of reads) if (db.getBinaryFast(key) !== undefined) found++;
    const gets = perSecond(reads.length, started);
    if (found !== reads.length) throw new Error(`lmdb found ${String(found)} of ${String(reads.length)}`);
    return [puts, gets];
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function sqlitePutsAndGets(keys: Buffer[], reads: Buffer[], value: Buffer): [number, number] {
  const dir = mkdtempSync(join(tmpdir(), 'bench-sqlite-'));
  const db = new Database(join(dir, 'db.sqlite'));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = OFF');
    db.exec('CREATE TABLE t (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID');
    const insert = db.prepare('INSERT OR REPLACE INTO t (k, v) VALUES (?, ?)');
    const batch = db.transaction((from: number) => {
      for (let j = from; j < from + BATCH && j < keys.length; j++) insert.run(keys[j], value);
    });
    let started = performance.now();
    for (let i = 0; i < keys.length; i += BATCH) batch(i);
    const puts = perSecond(keys.length, started);
    const select = db.prepare('SELECT v FROM t WHERE k = ?').pluck();
    started = performance.now();
    let found = 0;
    for (const key of reads) if (select.get(key) !== undefined) found++;
    const gets = perSecond(reads.length, started);
    if (found !== reads.length) throw new Error(`sqlite found ${String(found)} of ${String(reads.length)}`);
    return [puts, gets];
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function sequenceKey(value: bigint): Uint8Array {
  const key = new Uint8Array(8);
  new DataView(key.buffer).setBigUint64(0, value);
  return key;
}

/** Runs `total` transactions from `CONCURRENCY` concurrent loops; returns committed transactions per second. */
async function concurrently(total: number, transaction: () => Promise<void>): Promise<number> {
  let remaining = total;
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (remaining > 0) {
      remaining--;
      await transaction();
    }
  }));
  return perSecond(total, started);
}

async function hotSpot(spread: boolean): Promise<number> {
  const store = await openStore();
  const sequence = store.sequence('orders', { spread });
  const value = new Uint8Array(VALUE_BYTES);
  // A table that already holds orders, keyed by earlier values of the same sequence.
  for (let i = 0; i < HOT_SPOT_PRELOAD; i += BATCH) {
    const ids = await Promise.all(Array.from({ length: BATCH }, () => sequence.next()));
    await store.transaction(async (tx) => {
      for (const id of ids) await tx.put('orders', sequenceKey(id), value);
    });
  }
  const rate = await concurrently(HOT_SPOT_TRANSACTIONS, async () => {
    const id = await sequence.next();
    await store.transaction(async (tx) => {
      await tx.put('orders', sequenceKey(id), value);
      await sleep(1);
    }, { retries: 1000 });
  });
  await store.close();
  return rate;
}

const BALANCE = 1_000_000_000n;
const encoder = new TextEncoder();
const HOT = encoder.encode('hot');

async function hotCounter(escrow: boolean): Promise<number> {
  const store = await openStore();
  await store.transaction(async (tx) => tx.increment('balances', HOT, BALANCE));
  let next = 0;
  const rate = await concurrently(HOT_COUNTER_TRANSFERS, async () => {
    const destination = encoder.encode(`account-${String(next++ % CONCURRENCY)}`);
    await store.transaction(async (tx) => {
      if (escrow) {
        await tx.increment('balances', HOT, -1n, { min: 0n });
        await sleep(1);
        await tx.increment('accounts', destination, 1n);
      } else {
        const balance = await tx.counter('balances', HOT);
        await sleep(1);
        if (balance < 1n) throw new Error('insufficient funds');
        await tx.increment('balances', HOT, -1n); // holds SHARED already, so this is a plain read-modify-write
        await tx.increment('accounts', destination, 1n);
      }
    }, { retries: 1000 });
  });
  await checkConserved(store);
  await store.close();
  return rate;
}

async function checkConserved(store: Store): Promise<void> {
  const total = await store.transaction(async (tx) => {
    let sum = await tx.counter('balances', HOT);
    for await (const [, value] of tx.range('accounts')) sum += decodeCounter(value);
    return sum;
  });
  if (total !== BALANCE) throw new Error(`money not conserved: ${String(total)}`);
}

/** Child mode: load RECORDS_10M records and print memory figures as one JSON line. */
async function loadTenMillion(count: number): Promise<void> {
  const store = await openStore();
  const value = randomFillSync(new Uint8Array(VALUE_BYTES));
  const key = new Uint8Array(KEY_BYTES);
  const started = performance.now();
  for (let i = 0; i < count; i += BATCH) {
    await store.transaction(async (tx) => {
      for (let j = i; j < i + BATCH && j < count; j++) await tx.put('t', randomFillSync(key), value);
    });
  }
  const seconds = (performance.now() - started) / 1000;
  (globalThis as { gc?: () => void }).gc?.();
  const memory = process.memoryUsage();
  console.log(JSON.stringify({ records: store.stats().records, pages: store.stats().pages, seconds, rssBytes: memory.rss, heapUsedBytes: memory.heapUsed, externalBytes: memory.external }));
}

async function main(): Promise<void> {
  const measurements: Measurement[] = [];
  const count = runs(3);
  const value = randomFillSync(Buffer.alloc(VALUE_BYTES));
  const result = { purserPuts: [] as number[], lmdbPuts: [] as number[], sqlitePuts: [] as number[], purserGets: [] as number[], purserBatchedGets: [] as number[], lmdbGets: [] as number[], sqliteGets: [] as number[] };
  for (let run = 0; run < count; run++) {
    const keys = randomKeys(RECORDS);
    const reads = shuffled(keys);
    progress(`run ${String(run + 1)}: puts and gets`);
    const [purserPuts, purserGets, purserBatchedGets] = await purserPutsAndGets(keys, reads, value);
    const [lmdbPuts, lmdbGets] = await lmdbPutsAndGets(keys, reads, value);
    const [sqlitePuts, sqliteGets] = sqlitePutsAndGets(keys, reads, value);
    result.purserPuts.push(purserPuts);
    result.lmdbPuts.push(lmdbPuts);
    result.sqlitePuts.push(sqlitePuts);
    result.purserGets.push(purserGets);
    result.purserBatchedGets.push(purserBatchedGets);
    result.lmdbGets.push(lmdbGets);
    result.sqliteGets.push(sqliteGets);
  }
  const records = RECORDS.toLocaleString('en-US');
  measurements.push(
    { name: `1. ${records} random puts (16 B key, 128 B value), tx of 1,000`, unit: 'puts/s', higherIsBetter: true, purser: result.purserPuts, peer: result.lmdbPuts, peerName: 'lmdb noSync', targetRatio: 5 },
    { name: '1. same, against SQLite', unit: 'puts/s', higherIsBetter: true, purser: result.purserPuts, peer: result.sqlitePuts, peerName: 'better-sqlite3 WAL sync=OFF' },
    { name: `2. ${records} random point reads`, unit: 'gets/s', higherIsBetter: true, purser: result.purserGets, peer: result.lmdbGets, peerName: 'lmdb getBinaryFast', targetRatio: 1, note: 'Purser reads inside transactions of 1,000 gets (each get takes a page lock and is awaited); lmdb reads outside any transaction' },
    { name: '2. same, against SQLite', unit: 'gets/s', higherIsBetter: true, purser: result.purserGets, peer: result.sqliteGets, peerName: 'better-sqlite3 prepared get' },
    { name: '2b. same reads through tx.getMany (1,000 keys per call)', unit: 'gets/s', higherIsBetter: true, purser: result.purserBatchedGets, peer: result.lmdbGets, peerName: 'lmdb getBinaryFast', note: 'a separate row: the batched call, not the per-get figure 2; same page locks and copies per key' },
  );

  const spread: number[] = [];
  const plain: number[] = [];
  const escrow: number[] = [];
  const readModifyWrite: number[] = [];
  for (let run = 0; run < count; run++) {
    progress(`run ${String(run + 1)}: hot spot`);
    spread.push(await hotSpot(true));
    plain.push(await hotSpot(false));
    progress(`run ${String(run + 1)}: hot counter`);
    escrow.push(await hotCounter(true));
    readModifyWrite.push(await hotCounter(false));
  }
  measurements.push(
    { name: `3. hot spot: ${String(CONCURRENCY)} concurrent inserts, 1 ms await before commit`, unit: 'tx/s', higherIsBetter: true, purser: spread, peer: plain, peerName: 'plain sequence (Purser)', targetRatio: 5, note: `Purser = spread sequence; both tables preloaded with ${HOT_SPOT_PRELOAD.toLocaleString('en-US')} keys of the same sequence` },
    { name: `4. hot counter: ${String(CONCURRENCY)} concurrent transfers from one balance, 1 ms await`, unit: 'tx/s', higherIsBetter: true, purser: escrow, peer: readModifyWrite, peerName: 'read-modify-write + retries (Purser)', targetRatio: 10, note: 'Purser = escrow increments (min 0n)' },
  );

  if (RECORDS_10M > 0) {
    progress(`loading ${RECORDS_10M.toLocaleString('en-US')} records in a child process`);
    const output = execFileSync(process.execPath, ['--conditions=purser-source', '--import', 'tsx', '--expose-gc', '--max-old-space-size=4096', fileURLToPath(import.meta.url), '--load-10m'], {
      env: { ...process.env },
      encoding: 'utf8',
      maxBuffer: 1024 * 1024,
    });
    const figures = JSON.parse(output.trim().split('\n').pop() ?? '{}') as { records: number; pages: number; seconds: number; rssBytes: number; heapUsedBytes: number; externalBytes: number };
    const rssMb = figures.rssBytes / 2 ** 20;
    measurements.push({
      name: `5. resident memory after loading ${figures.records.toLocaleString('en-US')} records`,
      unit: 'MB RSS',
      higherIsBetter: false,
      purser: [rssMb],
      note: `heap used ${String(Math.round(figures.heapUsedBytes / 2 ** 20))} MB, external (page buffers) ${String(Math.round(figures.externalBytes / 2 ** 20))} MB, ${String(figures.pages)} pages, loaded in ${figures.seconds.toFixed(0)} s (random keys, tx of 1,000); target ≤ ${String(MEMORY_TARGET_MB)} MB: ${rssMb <= MEMORY_TARGET_MB ? 'met' : 'MISSED'}`,
    });
  }
  report('store', measurements);
}

if (process.argv.includes('--load-10m')) await loadTenMillion(RECORDS_10M);
else await main();
