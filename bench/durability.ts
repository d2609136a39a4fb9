/**
 * Durable commits, against peers with the same promise (a commit is on disk when acknowledged):
 * lmdb (default overlappingSync, awaiting `flushed`) and better-sqlite3 (WAL, synchronous=FULL).
 *
 * 1. single-put transactions, one at a time — versus SQLite FULL and lmdb;
 * 2. 64 concurrent writers committing single-put transactions — versus lmdb (group commit);
 * 3. random puts in durable transactions of 1,000 — versus lmdb;
 * 4. recovery: log records replayed per second on open, and the time to open after a checkpoint;
 * plus the longest commit stall a checkpoint causes while single-put commits keep arriving.
 *
 * Keys are 16 random bytes, values 128 bytes, as in bench/store.ts. The counts are the issue's, scaled by
 * DURABILITY_BENCH_SCALE (default 0.2, so the whole benchmark fits in a few minutes on a shared 2-core
 * machine; rates are per second, so they compare across scales). Each figure is the median of runs(3)
 * interleaved runs; the machine is shared, so expect noise.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { open as openLmdb } from 'lmdb';
import { checkpointStore, openStore, type Store } from '../src/index.js';
import { median, report, runs, type Measurement } from './_harness.js';

const SCALE = Number(process.env.DURABILITY_BENCH_SCALE ?? 0.2);
const SINGLE_PUTS = Math.round(100_000 * SCALE);
const CONCURRENT_WRITERS = 64;
const CONCURRENT_COMMITS = Math.round(100_000 * SCALE);
const BATCH_PUTS_TOTAL = Math.round(1_000_000 * SCALE);
const BATCH_SIZE = 1000;
const RECOVERY_RECORDS = Math.round(Number(process.env.DURABILITY_BENCH_RECOVERY_RECORDS ?? 10_000_000 * SCALE));
const VALUE = randomBytes(128);
const RUNS = runs(3);

function freshDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `purser-bench-${label}-`));
}

function keys(count: number): Buffer[] {
  const all = randomBytes(16 * count);
  return Array.from({ length: count }, (_, i) => all.subarray(i * 16, i * 16 + 16));
}

// ---- Purser ----

async function withPurser<T>(use: (store: Store) => Promise<T>, options: { checkpointLogBytes?: number } = {}): Promise<T> {
  const dir = freshDir('purser');
  const store = await openStore({ dir, ...options });
  try {
    return await use(store);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const purserSingle = () =>
  withPurser(async (store) => {
    const all = keys(SINGLE_PUTS);
    const started = performance.now();
    for (const key of all) await store.transaction(async (tx) => tx.put('t', key, VALUE));
    return SINGLE_PUTS / ((performance.now() - started) / 1000);
  });

const purserConcurrent = () =>
  withPurser(async (store) => {
    const all = keys(CONCURRENT_COMMITS);
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENT_WRITERS }, async () => {
        while (next < all.length) {
          const key = all[next++];
          await store.transaction(async (tx) => tx.put('t', key, VALUE));
        }
      }),
    );
    return CONCURRENT_COMMITS / ((performance.now() - started) / 1000);
  });

const purserBatches = () =>
  withPurser(async (store) => {
    const all = keys(BATCH_PUTS_TOTAL);
    const started = performance.now();
    for (let i = 0; i < all.length; i += BATCH_SIZE) {
      await store.transaction(async (tx) => {
        for (let j = i; j < i + BATCH_SIZE; j++) await tx.put('t', all[j], VALUE);
      });
    }
    return BATCH_PUTS_TOTAL / ((performance.now() - started) / 1000);
  });

// ---- lmdb (default overlappingSync; a commit counts once `flushed` resolves) ----

async function withLmdb<T>(use: (db: ReturnType<typeof openLmdb<Buffer, Buffer>>) => Promise<T>): Promise<T> {
  const dir = freshDir('lmdb');
  const db = openLmdb<Buffer, Buffer>({ path: join(dir, 'db'), keyEncoding: 'binary', encoding: 'binary' });
  try {
    return await use(db);
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const lmdbSingle = () =>
  withLmdb(async (db) => {
    const all = keys(SINGLE_PUTS);
    const started = performance.now();
    for (const key of all) {
      await db.put(key, VALUE);
      await db.flushed;
    }
    return SINGLE_PUTS / ((performance.now() - started) / 1000);
  });

const lmdbConcurrent = () =>
  withLmdb(async (db) => {
    const all = keys(CONCURRENT_COMMITS);
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENT_WRITERS }, async () => {
        while (next < all.length) {
          await db.put(all[next++], VALUE);
          await db.flushed;
        }
      }),
    );
    return CONCURRENT_COMMITS / ((performance.now() - started) / 1000);
  });

const lmdbBatches = () =>
  withLmdb(async (db) => {
    const all = keys(BATCH_PUTS_TOTAL);
    const started = performance.now();
    for (let i = 0; i < all.length; i += BATCH_SIZE) {
      await db.transaction(() => {
        for (let j = i; j < i + BATCH_SIZE; j++) void db.put(all[j], VALUE);
      });
      await db.flushed;
    }
    return BATCH_PUTS_TOTAL / ((performance.now() - started) / 1000);
  });

// ---- SQLite (WAL, synchronous=FULL) ----

function sqliteSingle(): number {
  const dir = freshDir('sqlite');
  const db = new Database(join(dir, 'db.sqlite'));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE t (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID');
    const insert = db.prepare('INSERT OR REPLACE INTO t (k, v) VALUES (?, ?)');
    const all = keys(SINGLE_PUTS);
    const started = performance.now();
    for (const key of all) insert.run(key, VALUE);
    return SINGLE_PUTS / ((performance.now() - started) / 1000);
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- recovery and checkpoint stall (no peer) ----

async function fillInBatches(store: Store, count: number): Promise<void> {
  for (let i = 0; i < count; i += BATCH_SIZE) {
    const batch = keys(Math.min(BATCH_SIZE, count - i));
    await store.transaction(async (tx) => {
      for (const key of batch) await tx.put('t', key, VALUE);
    });
  }
}

async function recovery(): Promise<{ replayPerSecond: number; replayMs: number; openAfterCheckpointMs: number }> {
  const dir = freshDir('recovery');
  try {
    let store = await openStore({ dir, checkpointLogBytes: 0 });
    await fillInBatches(store, RECOVERY_RECORDS);
    await store.close();
    (globalThis as { gc?: () => void }).gc?.();
    let started = performance.now();
    store = await openStore({ dir, checkpointLogBytes: 0 });
    const replayMs = performance.now() - started;
    if (store.stats().records !== RECOVERY_RECORDS) throw new Error(`recovered ${store.stats().records} of ${RECOVERY_RECORDS} records`);
    await checkpointStore(store);
    await store.close();
    (globalThis as { gc?: () => void }).gc?.();
    started = performance.now();
    store = await openStore({ dir, checkpointLogBytes: 0 });
    const openAfterCheckpointMs = performance.now() - started;
    await store.close();
    return { replayPerSecond: RECOVERY_RECORDS / (replayMs / 1000), replayMs, openAfterCheckpointMs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Longest single-put commit latency while a checkpoint of the filled store runs, and without one. */
async function checkpointStall(): Promise<{ duringMs: number; baselineMs: number; syncStepMs: number }> {
  return withPurser(
    async (store) => {
      await fillInBatches(store, BATCH_PUTS_TOTAL);
      const longestCommit = async (whileRunning: Promise<unknown>) => {
        let done = false;
        void whileRunning.finally(() => (done = true));
        let longest = 0;
        let i = 0;
        while (!done) {
          const key = Buffer.alloc(16);
          key.writeUInt32BE(i++);
          const started = performance.now();
          await store.transaction(async (tx) => tx.put('u', key, VALUE));
          longest = Math.max(longest, performance.now() - started);
        }
        return longest;
      };
      const checkpoint = checkpointStore(store);
      const duringMs = await longestCommit(checkpoint);
      const { syncStepMs } = await checkpoint;
      const baselineMs = await longestCommit(new Promise((resolve) => setTimeout(resolve, 1000)));
      return { duringMs, baselineMs, syncStepMs };
    },
    { checkpointLogBytes: 0 },
  );
}

// ---- main ----

const results = {
  purserSingle: [] as number[], sqliteSingle: [] as number[], lmdbSingle: [] as number[],
  purserConcurrent: [] as number[], lmdbConcurrent: [] as number[],
  purserBatches: [] as number[], lmdbBatches: [] as number[],
  replayPerSecond: [] as number[], openAfterCheckpointMs: [] as number[], replayMs: [] as number[],
  stallMs: [] as number[], baselineStallMs: [] as number[], syncStepMs: [] as number[],
};

for (let run = 0; run < RUNS; run++) {
  results.purserSingle.push(await purserSingle());
  results.sqliteSingle.push(sqliteSingle());
  results.lmdbSingle.push(await lmdbSingle());
  results.purserConcurrent.push(await purserConcurrent());
  results.lmdbConcurrent.push(await lmdbConcurrent());
  results.purserBatches.push(await purserBatches());
  results.lmdbBatches.push(await lmdbBatches());
  const stall = await checkpointStall();
  results.stallMs.push(stall.duringMs);
  results.baselineStallMs.push(stall.baselineMs);
  results.syncStepMs.push(stall.syncStepMs);
  console.log(`run ${run + 1}/${RUNS} done`);
}
for (let run = 0; run < Math.min(RUNS, 2); run++) {
  const r = await recovery();
  results.replayPerSecond.push(r.replayPerSecond);
  results.replayMs.push(r.replayMs);
  results.openAfterCheckpointMs.push(r.openAfterCheckpointMs);
}

const measurements: Measurement[] = [
  { name: `(1) ${SINGLE_PUTS} single-put txns, one at a time`, unit: 'commits/s', higherIsBetter: true, purser: results.purserSingle, peer: results.sqliteSingle, peerName: 'SQLite WAL FULL', targetRatio: 1 },
  { name: `(1) ${SINGLE_PUTS} single-put txns, one at a time`, unit: 'commits/s', higherIsBetter: true, purser: results.purserSingle, peer: results.lmdbSingle, peerName: 'lmdb flushed' },
  { name: `(2) ${CONCURRENT_WRITERS} concurrent writers, ${CONCURRENT_COMMITS} single-put txns`, unit: 'commits/s', higherIsBetter: true, purser: results.purserConcurrent, peer: results.lmdbConcurrent, peerName: 'lmdb flushed', targetRatio: 2 },
  { name: `(3) ${BATCH_PUTS_TOTAL} random puts in txns of ${BATCH_SIZE}`, unit: 'puts/s', higherIsBetter: true, purser: results.purserBatches, peer: results.lmdbBatches, peerName: 'lmdb flushed', targetRatio: 3 },
  { name: `(4) replay of a ${RECOVERY_RECORDS}-record log on open`, unit: 'records/s', higherIsBetter: true, purser: results.replayPerSecond, note: `open took ${median(results.replayMs).toFixed(0)} ms; target: 10,000,000 records in under 30 s (${(10_000_000 / median(results.replayPerSecond)).toFixed(1)} s at this rate)` },
  { name: `(4) open after a checkpoint of ${RECOVERY_RECORDS} records`, unit: 'ms', higherIsBetter: false, purser: results.openAfterCheckpointMs },
  { name: `longest commit during a checkpoint of ${BATCH_PUTS_TOTAL} records`, unit: 'ms', higherIsBetter: false, purser: results.stallMs, peer: results.baselineStallMs, peerName: 'no checkpoint', note: `synchronous step (snapshot + log rotation): median ${median(results.syncStepMs).toFixed(2)} ms` },
];
report('durability', measurements);
