/**
 * The ledger against ledgers built on PostgreSQL 15 and SQLite, on TigerBeetle's benchmark shape: 10,000
 * accounts, transfers in batches of 8,189 between random accounts, every batch durable before the next.
 *
 * 1. random accounts — Purser (`openLedger({ dir })`) vs PostgreSQL (one transaction per batch, each
 *    transfer an INSERT plus two relative balance UPDATEs checked by row count: the "ledgers are simple"
 *    approach; fsync on, synchronous_commit on) vs SQLite (better-sqlite3, WAL, synchronous=FULL, the same
 *    statements in one transaction per batch);
 * 2. a hot account: every transfer debits account 1;
 * 3. two limit-10 queries (the latest transfers of an account with a given user_data_64; the latest
 *    transfers with a user_data_64 on a ledger and code) at 10,000 and at 1,000,000 transfers, each
 *    returning 10: through indexes, their cost should not grow with the ledger.
 *
 * PostgreSQL is started by this benchmark in a temporary directory on loopback (initdb + pg_ctl as the
 * `postgres` user, since the benchmark may run as root) and stopped at the end. Batch counts per run are
 * scaled by LEDGER_BENCH_SCALE (default 1) so the whole benchmark fits in a few minutes on a shared 2-core
 * machine; rates are per second and compare across scales. Each figure is the median of runs(3)
 * interleaved runs; the machine is shared with other work, so expect noise.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import pg from 'pg';
import { AccountFilterFlags, CreateTransferStatus, openLedger, QueryFilterFlags, type Transfer } from '../src/index.js';
import { median, percentile, report, runs, type Measurement } from './_harness.js';

const SCALE = Number(process.env.LEDGER_BENCH_SCALE ?? 1);
const ACCOUNTS = 10_000;
const BATCH = 8189;
const PURSER_BATCHES = Math.max(2, Math.round(10 * SCALE));
const SQLITE_BATCHES = Math.max(2, Math.round(4 * SCALE));
const PG_BATCHES = Math.max(1, Math.round(2 * SCALE));
const QUERY_LARGE_TRANSFERS = Math.round(Number(process.env.LEDGER_BENCH_QUERY_TRANSFERS ?? 1_000_000));
const QUERY_SMALL_TRANSFERS = 10_000;
const QUERIES = 300;
const RUNS = runs(3);
/** Distinct user_data_64 values: every value is on at least 16 of 10,000 transfers, so a limit-10 query fills. */
const USER_DATA_VALUES = 500;
const PG_BIN = '/usr/lib/postgresql/15/bin';

type Workload = 'random' | 'hot';

interface RunResult {
  transfersPerSecond: number;
  batchMs: number[];
}

let nextTransferId = 1n;

function randomAccount(): number {
  return 1 + Math.floor(Math.random() * ACCOUNTS);
}

function makeBatch(workload: Workload): Transfer[] {
  const batch: Transfer[] = [];
  for (let i = 0; i < BATCH; i++) {
    const debit = workload === 'hot' ? 1 : randomAccount();
    let credit = randomAccount();
    if (credit === debit) credit = (credit % ACCOUNTS) + 1;
    batch.push({
      id: nextTransferId++, debit_account_id: BigInt(debit), credit_account_id: BigInt(credit), amount: BigInt(1 + (i % 100)),
      pending_id: 0n, user_data_128: 0n, user_data_64: BigInt(i % USER_DATA_VALUES), user_data_32: 0, timeout: 0, ledger: 1, code: 1, flags: 0, timestamp: 0n,
    });
  }
  return batch;
}

function accountsBatch(from: number, to: number) {
  const accounts = [];
  for (let id = from; id <= to; id++) {
    accounts.push({
      id: BigInt(id), debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n, user_data_128: 0n,
      user_data_64: 0n, user_data_32: 0, reserved: 0, ledger: 1, code: 1, flags: 0, timestamp: 0n,
    });
  }
  return accounts;
}

function summarize(batchMs: number[]): RunResult {
  const totalMs = batchMs.reduce((a, b) => a + b, 0);
  return { transfersPerSecond: (batchMs.length * BATCH) / (totalMs / 1000), batchMs };
}

// ---- Purser ----

async function runPurser(workload: Workload, batches: number): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'purser-bench-ledger-'));
  const ledger = await openLedger({ dir });
  try {
    for (let id = 1; id <= ACCOUNTS; id += BATCH) await ledger.createAccounts(accountsBatch(id, Math.min(ACCOUNTS, id + BATCH - 1)));
    const batchMs: number[] = [];
    for (let b = 0; b < batches; b++) {
      const batch = makeBatch(workload);
      const started = performance.now();
      const results = await ledger.createTransfers(batch);
      batchMs.push(performance.now() - started);
      if (results.some((r) => r.status !== CreateTransferStatus.created)) throw new Error('purser: a transfer failed');
    }
    return summarize(batchMs);
  } finally {
    await ledger.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- SQLite ----

function runSqlite(workload: Workload, batches: number): RunResult {
  const dir = mkdtempSync(join(tmpdir(), 'purser-bench-sqlite-'));
  const db = new Database(join(dir, 'ledger.db'));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE accounts (id INTEGER PRIMARY KEY, debits_posted INTEGER NOT NULL, credits_posted INTEGER NOT NULL)');
    db.exec('CREATE TABLE transfers (id INTEGER PRIMARY KEY, debit_account_id INTEGER NOT NULL, credit_account_id INTEGER NOT NULL, amount INTEGER NOT NULL, user_data_64 INTEGER NOT NULL, ts INTEGER NOT NULL)');
    db.exec('CREATE INDEX transfers_debit ON transfers (debit_account_id, ts)');
    db.exec('CREATE INDEX transfers_credit ON transfers (credit_account_id, ts)');
    const insertAccount = db.prepare('INSERT INTO accounts VALUES (?, 0, 0)');
    db.transaction(() => {
      for (let id = 1; id <= ACCOUNTS; id++) insertAccount.run(id);
    })();
    const insert = db.prepare('INSERT INTO transfers VALUES (?, ?, ?, ?, ?, ?)');
    const debit = db.prepare('UPDATE accounts SET debits_posted = debits_posted + ? WHERE id = ?');
    const credit = db.prepare('UPDATE accounts SET credits_posted = credits_posted + ? WHERE id = ?');
    const apply = db.transaction((batch: Transfer[]) => {
      for (const t of batch) {
        insert.run(t.id, t.debit_account_id, t.credit_account_id, t.amount, t.user_data_64, Date.now());
        if (debit.run(t.amount, t.debit_account_id).changes !== 1) throw new Error('debit account missing');
        if (credit.run(t.amount, t.credit_account_id).changes !== 1) throw new Error('credit account missing');
      }
    });
    const batchMs: number[] = [];
    for (let b = 0; b < batches; b++) {
      const batch = makeBatch(workload);
      const started = performance.now();
      apply(batch);
      batchMs.push(performance.now() - started);
    }
    return summarize(batchMs);
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- PostgreSQL ----

interface Postgres {
  port: number;
  dataDir: string;
  stop(): void;
}

function asPostgres(args: string[]): void {
  const result = spawnSync('runuser', ['-u', 'postgres', '--', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  if (result.status !== 0) throw new Error(`${args[0]} failed: ${result.stderr.toString()}`);
}

function startPostgres(): Postgres {
  const dataDir = mkdtempSync(join(tmpdir(), 'purser-bench-pg-'));
  chmodSync(dataDir, 0o777);
  execFileSync('chown', ['postgres', dataDir]);
  const port = 15432 + Math.floor(Math.random() * 1000);
  asPostgres([`${PG_BIN}/initdb`, '-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-sync']);
  asPostgres([
    `${PG_BIN}/pg_ctl`, '-D', dataDir, '-w', '-l', join(dataDir, 'log'), '-o',
    // autovacuum off: on this 2-core machine PostgreSQL's background work after a run would otherwise
    // overlap the next Purser or SQLite run (each PostgreSQL run also ends with an untimed CHECKPOINT).
    `-p ${port} -k ${dataDir} -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on -c full_page_writes=on -c autovacuum=off`, 'start',
  ]);
  return {
    port,
    dataDir,
    stop() {
      asPostgres([`${PG_BIN}/pg_ctl`, '-D', dataDir, '-m', 'fast', 'stop']);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function runPostgres(server: Postgres, workload: Workload, batches: number): Promise<RunResult> {
  const client = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'postgres', database: 'postgres' });
  await client.connect();
  try {
    await client.query('DROP TABLE IF EXISTS transfers; DROP TABLE IF EXISTS accounts');
    await client.query('CREATE TABLE accounts (id bigint PRIMARY KEY, debits_posted numeric NOT NULL, credits_posted numeric NOT NULL)');
    await client.query('CREATE TABLE transfers (id numeric PRIMARY KEY, debit_account_id bigint NOT NULL, credit_account_id bigint NOT NULL, amount numeric NOT NULL, user_data_64 numeric NOT NULL, ts timestamptz NOT NULL DEFAULT now())');
    await client.query('CREATE INDEX transfers_debit ON transfers (debit_account_id, ts)');
    await client.query('CREATE INDEX transfers_credit ON transfers (credit_account_id, ts)');
    await client.query(`INSERT INTO accounts SELECT g, 0, 0 FROM generate_series(1, ${ACCOUNTS}) g`);
    const batchMs: number[] = [];
    for (let b = 0; b < batches; b++) {
      const batch = makeBatch(workload);
      const started = performance.now();
      await client.query('BEGIN');
      for (const t of batch) {
        await client.query({ name: 'insert', text: 'INSERT INTO transfers (id, debit_account_id, credit_account_id, amount, user_data_64) VALUES ($1, $2, $3, $4, $5)', values: [String(t.id), String(t.debit_account_id), String(t.credit_account_id), String(t.amount), String(t.user_data_64)] });
        const debited = await client.query({ name: 'debit', text: 'UPDATE accounts SET debits_posted = debits_posted + $1 WHERE id = $2', values: [String(t.amount), String(t.debit_account_id)] });
        const credited = await client.query({ name: 'credit', text: 'UPDATE accounts SET credits_posted = credits_posted + $1 WHERE id = $2', values: [String(t.amount), String(t.credit_account_id)] });
        if (debited.rowCount !== 1 || credited.rowCount !== 1) throw new Error('postgres: account missing');
      }
      await client.query('COMMIT');
      batchMs.push(performance.now() - started);
    }
    await client.query('CHECKPOINT');
    return summarize(batchMs);
  } finally {
    await client.end();
  }
}

// ---- queries at two sizes ----

async function queryCostMicros(transfers: number): Promise<number[]> {
  const ledger = await openLedger();
  try {
    for (let id = 1; id <= ACCOUNTS; id += BATCH) await ledger.createAccounts(accountsBatch(id, Math.min(ACCOUNTS, id + BATCH - 1)));
    // Every transfer debits account 1 (the hot workload), so both queries return exactly 10 at either size.
    for (let done = 0; done < transfers; done += BATCH) {
      const batch = makeBatch('hot').slice(0, Math.min(BATCH, transfers - done));
      await ledger.createTransfers(batch);
    }
    const micros: number[] = [];
    for (let q = 0; q < QUERIES; q++) {
      const started = performance.now();
      const byAccount = await ledger.getAccountTransfers({
        account_id: 1n, user_data_128: 0n, user_data_64: BigInt(q % USER_DATA_VALUES), user_data_32: 0, code: 0, timestamp_min: 0n,
        timestamp_max: 0n, limit: 10, flags: AccountFilterFlags.debits | AccountFilterFlags.reversed,
      });
      const byUserData = await ledger.queryTransfers({
        user_data_128: 0n, user_data_64: BigInt((q * 7) % USER_DATA_VALUES), user_data_32: 0, ledger: 1, code: 1, timestamp_min: 0n,
        timestamp_max: 0n, limit: 10, flags: QueryFilterFlags.reversed,
      });
      micros.push((performance.now() - started) * 1000);
      if (byAccount.length !== 10 || byUserData.length !== 10) throw new Error('a query returned fewer than 10 transfers');
    }
    return [median(micros)];
  } finally {
    await ledger.close();
  }
}

// ---- main ----

const purser: Record<Workload, RunResult[]> = { random: [], hot: [] };
const sqlite: Record<Workload, RunResult[]> = { random: [], hot: [] };
const postgres: Record<Workload, RunResult[]> = { random: [], hot: [] };
const server = startPostgres();
try {
  for (let run = 0; run < RUNS; run++) {
    for (const workload of ['random', 'hot'] as const) {
      purser[workload].push(await runPurser(workload, PURSER_BATCHES));
      sqlite[workload].push(runSqlite(workload, SQLITE_BATCHES));
      postgres[workload].push(await runPostgres(server, workload, PG_BATCHES));
      console.log(`run ${run + 1}/${RUNS} ${workload}: purser ${Math.round(purser[workload][run].transfersPerSecond)}/s, sqlite ${Math.round(sqlite[workload][run].transfersPerSecond)}/s, postgres ${Math.round(postgres[workload][run].transfersPerSecond)}/s`);
    }
  }
} finally {
  server.stop();
}

const rate = (results: RunResult[]) => results.map((r) => r.transfersPerSecond);
const p = (results: RunResult[], q: number) => results.map((r) => percentile(r.batchMs, q));
const measurements: Measurement[] = [];
for (const workload of ['random', 'hot'] as const) {
  const label = workload === 'random' ? '10,000 random accounts' : 'one hot debit account';
  measurements.push(
    { name: `transfers/s durable, ${label}`, unit: 'transfers/s', higherIsBetter: true, purser: rate(purser[workload]), peer: rate(postgres[workload]), peerName: 'PostgreSQL 15', targetRatio: 20 },
    { name: `transfers/s durable, ${label}`, unit: 'transfers/s', higherIsBetter: true, purser: rate(purser[workload]), peer: rate(sqlite[workload]), peerName: 'SQLite WAL FULL', targetRatio: 10 },
    { name: `batch p50, ${label}`, unit: 'ms', higherIsBetter: false, purser: p(purser[workload], 50), peer: p(postgres[workload], 50), peerName: 'PostgreSQL 15' },
    { name: `batch p99, ${label}`, unit: 'ms', higherIsBetter: false, purser: p(purser[workload], 99), peer: p(postgres[workload], 99), peerName: 'PostgreSQL 15' },
    { name: `batch p50, ${label}`, unit: 'ms', higherIsBetter: false, purser: p(purser[workload], 50), peer: p(sqlite[workload], 50), peerName: 'SQLite WAL FULL' },
    { name: `batch p99, ${label}`, unit: 'ms', higherIsBetter: false, purser: p(purser[workload], 99), peer: p(sqlite[workload], 99), peerName: 'SQLite WAL FULL' },
  );
}
const small = await queryCostMicros(QUERY_SMALL_TRANSFERS);
const large = await queryCostMicros(QUERY_LARGE_TRANSFERS);
measurements.push({
  name: `two limit-10 queries at ${QUERY_LARGE_TRANSFERS.toLocaleString('en-US')} transfers (peer: the same at 10,000)`,
  unit: 'µs', higherIsBetter: false, purser: large, peer: small, peerName: '10,000 transfers',
  note: 'a ratio near 1 means the query cost does not grow with the number of transfers',
});
measurements[0].note = `${PURSER_BATCHES} batches of ${BATCH} per Purser run, ${PG_BATCHES} per PostgreSQL run, ${SQLITE_BATCHES} per SQLite run; target ≥ 250,000 transfers/s`;
report('ledger', measurements);
