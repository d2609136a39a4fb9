/**
 * The bank workload under contention: read two balances, write both, over 10, 100 and 10,000
 * accounts at 16, 64 and 256 concurrent transfers, in a closed loop for a fixed window per point. Every
 * system is durable (an acknowledged transfer survives a crash) and every failed transfer is counted:
 *
 * - Purser, plain reads: `get` from, `get` to, `put` both (the naive read-then-write, which collides on lock
 *   upgrades and is retried by the store until it commits);
 * - Purser, reads for update: `getMany([from, to] in key order, { forUpdate: true })`, then `put` both;
 * - Purser, plain reads without lock plans (what the retry's lock plan buys; an engine switch for this
 *   measurement only);
 * - PostgreSQL 15, SERIALIZABLE: two SELECTs, two UPDATEs (in id order, so writers do not deadlock and wait
 *   out PostgreSQL's 1 s deadlock_timeout), retried on serialization failures and deadlocks (40001, 40P01)
 *   at once — the TPC-C-style retry loop;
 * - PostgreSQL 15, READ COMMITTED with `SELECT … WHERE id = ANY($1) ORDER BY id FOR UPDATE` (one statement,
 *   rows locked in one order, so no deadlocks), then two UPDATEs;
 * - SQLite through better-sqlite3 (WAL, synchronous=FULL), `BEGIN IMMEDIATE` transactions: the driver is
 *   synchronous, so transfers run one at a time and concurrency does not apply to it.
 *
 * Each point reports transfers committed within the window per second, p50/p99 latency of a transfer (from its first try to its
 * commit, retries included; for SQLite, its own run time), retries per commit and failed transfers, and
 * checks that money is conserved. A PostgreSQL transfer still retrying when the window closes stops
 * retrying (it is rolled back and counted as unfinished, not failed), so the run does not wait out a retry
 * storm; Purser's transfers are left to commit (they do, quickly). PostgreSQL runs in a cluster this benchmark starts on loopback in a
 * temporary directory (bench/_postgres.ts); if it cannot, its rows are skipped with the reason.
 * Environment: BENCH_RUNS (interleaved runs, default 3), BENCH_CONTENTION_MS (window per point, default
 * 2,000), BENCH_PG_BIN (PostgreSQL binaries), BENCH_CONTENTION_SYSTEMS (a comma-separated subset of SYSTEMS).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { openStore, type Store } from '../src/index.js';
import { median, percentile, report, runs, type Measurement } from './_harness.js';
import { type Postgres, startPostgres } from './_postgres.js';

const ACCOUNT_COUNTS = [10, 100, 10_000];
const CONCURRENCIES = [16, 64, 256];
const WINDOW_MS = Number(process.env.BENCH_CONTENTION_MS ?? 2_000);
const RUNS = runs(3);
const START_BALANCE = 1_000_000n;
const TARGET = { accounts: 100, concurrency: 64, ratio: 5 };

const SYSTEMS = ['purser-plain', 'purser-forupdate', 'purser-noplan', 'pg-serializable', 'pg-forupdate', 'sqlite'] as const;
type System = (typeof SYSTEMS)[number];
const LABELS: Record<System, string> = {
  'purser-plain': 'Purser, plain reads',
  'purser-forupdate': 'Purser, forUpdate',
  'purser-noplan': 'Purser, plain, no lock plans',
  'pg-serializable': 'PostgreSQL SERIALIZABLE + retry',
  'pg-forupdate': 'PostgreSQL READ COMMITTED + FOR UPDATE',
  sqlite: 'SQLite BEGIN IMMEDIATE',
};

const progress = (message: string) => console.error(`[contention bench ${new Date().toISOString().slice(11, 19)}] ${message}`);

/** One system set up for one point: moves money, counts its retries, reports the total, cleans up. */
interface Bank {
  /**
   * Moves `amount`; resolves to the retries it took (systems that count them per transfer), rejects if it
   * failed, or with `Unfinished` if it gave up retrying after `windowEndMs`.
   */
  transfer(worker: number, from: number, to: number, amount: bigint, windowEndMs: number): Promise<number>;
  /** Retries counted by the system itself since setup (Purser), or undefined to use the per-transfer counts. */
  retriesSinceSetup(): number | undefined;
  total(): Promise<bigint>;
  close(): Promise<void>;
}

/** A transfer that stopped retrying when the window closed: rolled back, neither committed nor failed. */
class Unfinished extends Error {}

interface PointResult {
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  retriesPerCommit: number;
  failed: number;
  unfinished: number;
  firstFailure: string | null;
}

function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x100000000;
  };
}

/** Runs `concurrency` workers moving money between random accounts until the window closes. */
async function drive(bank: Bank, accounts: number, concurrency: number): Promise<PointResult> {
  const latenciesMs: number[] = [];
  let committedInWindow = 0;
  let retries = 0;
  let failed = 0;
  let unfinished = 0;
  let firstFailure: string | null = null;
  const started = performance.now();
  const endMs = started + WINDOW_MS;
  const worker = async (index: number): Promise<void> => {
    const next = random(index * 7919 + accounts);
    while (performance.now() < endMs) {
      const from = Math.floor(next() * accounts);
      const to = (from + 1 + Math.floor(next() * (accounts - 1))) % accounts;
      const amount = BigInt(1 + Math.floor(next() * 100));
      const transferStarted = performance.now();
      try {
        retries += await bank.transfer(index, from, to, amount, endMs);
        const finishedMs = performance.now();
        latenciesMs.push(finishedMs - transferStarted);
        if (finishedMs <= endMs) committedInWindow++;
      } catch (error) {
        if (error instanceof Unfinished) {
          unfinished++;
        } else {
          failed++;
          firstFailure ??= String(error);
        }
      }
    }
  };
  // Transfers in flight when the window closes still finish (money must add up), but count only if in time.
  await Promise.all(Array.from({ length: concurrency }, (_, index) => worker(index)));
  const total = await bank.total();
  if (total !== START_BALANCE * BigInt(accounts)) throw new Error(`money not conserved: ${String(total)}`);
  const committed = latenciesMs.length;
  return {
    perSecond: (committedInWindow / WINDOW_MS) * 1000,
    p50Ms: percentile(latenciesMs, 50),
    p99Ms: percentile(latenciesMs, 99),
    retriesPerCommit: (bank.retriesSinceSetup() ?? retries) / Math.max(1, committed),
    failed,
    unfinished,
    firstFailure,
  };
}

// ---- Purser ----

function accountKey(account: number): Uint8Array {
  const key = new Uint8Array(8);
  new DataView(key.buffer).setBigUint64(0, BigInt(account));
  return key;
}

function balanceBytes(value: bigint): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigInt64(0, value);
  return bytes;
}

function balanceOf(bytes: Uint8Array | undefined): bigint {
  if (bytes === undefined) throw new Error('account missing');
  return new DataView(bytes.buffer, bytes.byteOffset).getBigInt64(0);
}

async function purserBank(accounts: number, system: 'purser-plain' | 'purser-forupdate' | 'purser-noplan'): Promise<Bank> {
  const dir = mkdtempSync(join(tmpdir(), 'purser-bench-contention-'));
  const store: Store = await openStore({ dir });
  // The engine switch exists for this measurement only; it is not part of the public Store.
  if (system === 'purser-noplan') (store as unknown as { learnLockPlan: boolean }).learnLockPlan = false;
  await store.transaction(async (tx) => {
    for (let account = 0; account < accounts; account++) await tx.put('accounts', accountKey(account), balanceBytes(START_BALANCE));
  });
  const retriesAtSetup = store.stats().retries;
  const forUpdate = system === 'purser-forupdate';
  return {
    transfer: async (_worker, from, to, amount) => {
      await store.transaction(async (tx) => {
        let fromBalance: bigint;
        let toBalance: bigint;
        if (forUpdate) {
          const [low, high] = await tx.getMany('accounts', from < to ? [accountKey(from), accountKey(to)] : [accountKey(to), accountKey(from)], { forUpdate: true });
          [fromBalance, toBalance] = from < to ? [balanceOf(low), balanceOf(high)] : [balanceOf(high), balanceOf(low)];
        } else {
          fromBalance = balanceOf(await tx.get('accounts', accountKey(from)));
          toBalance = balanceOf(await tx.get('accounts', accountKey(to)));
        }
        await tx.put('accounts', accountKey(from), balanceBytes(fromBalance - amount));
        await tx.put('accounts', accountKey(to), balanceBytes(toBalance + amount));
      });
      return 0;
    },
    retriesSinceSetup: () => store.stats().retries - retriesAtSetup,
    total: () => store.transaction(async (tx) => {
      let sum = 0n;
      for await (const [, value] of tx.range('accounts')) sum += balanceOf(value);
      return sum;
    }),
    close: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---- PostgreSQL ----

const RETRYABLE = new Set(['40001', '40P01']);

async function postgresBank(clients: pg.Client[], accounts: number, system: 'pg-serializable' | 'pg-forupdate'): Promise<Bank> {
  await clients[0].query('DROP TABLE IF EXISTS accounts');
  await clients[0].query('CREATE TABLE accounts (id bigint PRIMARY KEY, balance bigint NOT NULL)');
  await clients[0].query(`INSERT INTO accounts SELECT g, ${String(START_BALANCE)} FROM generate_series(0, ${String(accounts - 1)}) g`);
  await clients[0].query('VACUUM ANALYZE accounts');
  const update = (client: pg.Client, id: number, balance: bigint) =>
    client.query({ name: 'update', text: 'UPDATE accounts SET balance = $2 WHERE id = $1', values: [id, String(balance)] });
  const updateInOrder = async (client: pg.Client, from: number, fromBalance: bigint, to: number, toBalance: bigint): Promise<void> => {
    if (from < to) {
      await update(client, from, fromBalance);
      await update(client, to, toBalance);
    } else {
      await update(client, to, toBalance);
      await update(client, from, fromBalance);
    }
  };
  const serializable = async (client: pg.Client, from: number, to: number, amount: bigint): Promise<void> => {
    await client.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
    const select = (id: number) => client.query<{ balance: string }>({ name: 'select', text: 'SELECT balance FROM accounts WHERE id = $1', values: [id] });
    const fromBalance = BigInt((await select(from)).rows[0].balance);
    const toBalance = BigInt((await select(to)).rows[0].balance);
    await updateInOrder(client, from, fromBalance - amount, to, toBalance + amount);
    await client.query('COMMIT');
  };
  const forUpdate = async (client: pg.Client, from: number, to: number, amount: bigint): Promise<void> => {
    await client.query('BEGIN');
    const rows = (await client.query<{ id: string; balance: string }>({
      name: 'lock', text: 'SELECT id, balance FROM accounts WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE', values: [[from, to]],
    })).rows;
    const balances = new Map(rows.map((row) => [Number(row.id), BigInt(row.balance)]));
    await updateInOrder(client, from, (balances.get(from) ?? 0n) - amount, to, (balances.get(to) ?? 0n) + amount);
    await client.query('COMMIT');
  };
  const run = system === 'pg-serializable' ? serializable : forUpdate;
  return {
    transfer: async (worker, from, to, amount, windowEndMs) => {
      const client = clients[worker];
      for (let retries = 0; ; retries++) {
        try {
          await run(client, from, to, amount);
          return retries;
        } catch (error) {
          await client.query('ROLLBACK');
          if (!RETRYABLE.has((error as { code?: string }).code ?? '')) throw error;
          if (performance.now() > windowEndMs) throw new Unfinished();
        }
      }
    },
    retriesSinceSetup: () => undefined,
    total: async () => BigInt((await clients[0].query<{ sum: string }>('SELECT sum(balance)::text AS sum FROM accounts')).rows[0].sum),
    close: () => Promise.resolve(),
  };
}

// ---- SQLite ----

function sqliteBank(accounts: number): Bank {
  const dir = mkdtempSync(join(tmpdir(), 'purser-bench-contention-sqlite-'));
  const db = new Database(join(dir, 'bank.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)');
  const insert = db.prepare('INSERT INTO accounts (id, balance) VALUES (?, ?)');
  db.transaction(() => {
    for (let account = 0; account < accounts; account++) insert.run(account, START_BALANCE);
  })();
  db.defaultSafeIntegers(true);
  const select = db.prepare<[number], { balance: bigint }>('SELECT balance FROM accounts WHERE id = ?');
  const update = db.prepare('UPDATE accounts SET balance = ? WHERE id = ?');
  const move = db.transaction((from: number, to: number, amount: bigint) => {
    const fromBalance = select.get(from)?.balance;
    const toBalance = select.get(to)?.balance;
    if (fromBalance === undefined || toBalance === undefined) throw new Error('account missing');
    update.run(fromBalance - amount, from);
    update.run(toBalance + amount, to);
  });
  return {
    transfer: (_worker, from, to, amount) => {
      move.immediate(from, to, amount);
      return Promise.resolve(0);
    },
    retriesSinceSetup: () => undefined,
    total: () => Promise.resolve(db.prepare<[], { sum: bigint }>('SELECT sum(balance) AS sum FROM accounts').get()?.sum ?? 0n),
    close: () => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
}

// ---- the run ----

async function main(): Promise<void> {
  const server = startPostgres({ max_connections: String(Math.max(...CONCURRENCIES) + 10), autovacuum: 'off' });
  let postgres: Postgres | null = null;
  const clients: pg.Client[] = [];
  if ('skipped' in server) {
    console.log(`PostgreSQL rows skipped: ${server.skipped}`);
  } else {
    postgres = server;
    for (let i = 0; i < Math.max(...CONCURRENCIES); i++) {
      const client = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'postgres', database: 'postgres' });
      await client.connect();
      clients.push(client);
    }
  }
  const wanted = process.env.BENCH_CONTENTION_SYSTEMS?.split(',') ?? SYSTEMS;
  const systems = SYSTEMS.filter((system) => wanted.includes(system) && (postgres !== null || !system.startsWith('pg-')));
  const results = new Map<string, PointResult[]>();
  const keyOf = (accounts: number, concurrency: number, system: System) => `${String(accounts)}/${String(concurrency)}/${system}`;
  try {
    for (let run = 1; run <= RUNS; run++) {
      for (const accounts of ACCOUNT_COUNTS) {
        for (const concurrency of CONCURRENCIES) {
          for (const system of systems) {
            const bank = system.startsWith('purser')
              ? await purserBank(accounts, system as 'purser-plain')
              : system === 'sqlite' ? sqliteBank(accounts) : await postgresBank(clients, accounts, system as 'pg-forupdate');
            try {
              const result = await drive(bank, accounts, concurrency);
              const key = keyOf(accounts, concurrency, system);
              results.set(key, [...(results.get(key) ?? []), result]);
              progress(`run ${String(run)}/${String(RUNS)} ${String(accounts)} accounts × ${String(concurrency)} ${LABELS[system]}: ${Math.round(result.perSecond).toLocaleString('en-US')}/s`);
            } finally {
              await bank.close();
            }
          }
        }
      }
    }
  } finally {
    await Promise.all(clients.map((client) => client.end()));
    postgres?.stop();
  }
  printTable(systems, results, keyOf);
}

function printTable(systems: readonly System[], results: Map<string, PointResult[]>, keyOf: (a: number, c: number, s: System) => string): void {
  const fixed = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : '—');
  console.log(`\nbank workload, committed transfers/s and latency (medians of ${String(RUNS)} runs of ${String(WINDOW_MS)} ms; durable)`);
  const header = ['accounts', 'conc.', 'system', 'committed/s', 'p50 ms', 'p99 ms', 'retries/commit', 'failed', 'unfinished'];
  const rows: string[][] = [];
  const measurements: Measurement[] = [];
  for (const accounts of ACCOUNT_COUNTS) {
    for (const concurrency of CONCURRENCIES) {
      const rates = new Map<System, number[]>();
      for (const system of systems) {
        const points = results.get(keyOf(accounts, concurrency, system)) ?? [];
        const rate = points.map((point) => point.perSecond);
        rates.set(system, rate);
        const failed = points.reduce((sum, point) => sum + point.failed, 0);
        const unfinished = points.reduce((sum, point) => sum + point.unfinished, 0);
        rows.push([String(accounts), String(concurrency), LABELS[system], Math.round(median(rate)).toLocaleString('en-US'),
          fixed(median(points.map((p) => p.p50Ms)), 2), fixed(median(points.map((p) => p.p99Ms)), 2),
          fixed(median(points.map((p) => p.retriesPerCommit)), 3), String(failed), String(unfinished)]);
        const failure = points.find((point) => point.firstFailure !== null)?.firstFailure;
        if (failure) console.log(`failures at ${String(accounts)} × ${String(concurrency)} ${LABELS[system]}: ${failure}`);
      }
      const serializable = rates.get('pg-serializable') ?? [];
      const forUpdate = rates.get('pg-forupdate') ?? [];
      const bestPostgres = median(serializable) >= median(forUpdate) ? { rate: serializable, name: LABELS['pg-serializable'] } : { rate: forUpdate, name: LABELS['pg-forupdate'] };
      const label = `${String(accounts)} accounts × ${String(concurrency)}`;
      const isTarget = accounts === TARGET.accounts && concurrency === TARGET.concurrency;
      if (bestPostgres.rate.length > 0) {
        measurements.push({ name: `${label}: forUpdate vs PostgreSQL's better mode`, unit: 'transfers/s', higherIsBetter: true, purser: rates.get('purser-forupdate') ?? [], peer: bestPostgres.rate, peerName: bestPostgres.name, targetRatio: isTarget ? TARGET.ratio : undefined });
        measurements.push({ name: `${label}: plain reads vs PostgreSQL's better mode`, unit: 'transfers/s', higherIsBetter: true, purser: rates.get('purser-plain') ?? [], peer: bestPostgres.rate, peerName: bestPostgres.name });
      }
      measurements.push({ name: `${label}: forUpdate vs SQLite`, unit: 'transfers/s', higherIsBetter: true, purser: rates.get('purser-forupdate') ?? [], peer: rates.get('sqlite') ?? [], peerName: LABELS.sqlite });
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i >= 3 ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join('  ');
  console.log(line(header));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const row of rows) console.log(line(row));
  report('contention', measurements);
}

await main();
