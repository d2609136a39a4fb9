/**
 * The task outbox against graphile-worker 0.17.3 and pg-boss 10.4.2 on PostgreSQL 15 (fsync and synchronous
 * commit on, loopback; started by this benchmark, see _postgres.ts), every system durable and every enqueue
 * inside a transaction of the producer's (the outbox pattern):
 *
 * 1. enqueue rate: BENCH_TASKS (default 100,000) tasks in transactions of 100, from 4 concurrent producers,
 *    no worker running. Purser: `tasks.enqueue(tx, …)` ×100 in `store.transaction` (durable store);
 *    graphile-worker: `SELECT graphile_worker.add_job(…)` ×100 between BEGIN and COMMIT (its unbatched
 *    path); pg-boss: `boss.send(…, { db })` ×100 on the producer's connection between BEGIN and COMMIT.
 * 2. execution rate: those tasks run by a no-op handler, from the worker's start until every task has run
 *    and its completion is committed. Purser: one outbox, concurrency 256; graphile-worker: concurrency 32
 *    (one runner, its pool); pg-boss: 8 `work()` subscriptions with batchSize 64.
 * 3. single-task throughput: 32 producers in a closed loop of one-task transactions, workers running, for
 *    2 s: tasks run per second (the capacity of the latency workload).
 * 4. pickup latency at 50% load: single-task transactions at half the rate of (3), open loop, for ~3 s (at
 *    most 3,000 tasks); latency from the start of the enqueue transaction to the handler's start (so it
 *    includes the enqueue's commit and fsync), p50 and p99.
 *
 * Runs are interleaved (Purser, graphile-worker, pg-boss, repeat) and each system gets a fresh store or
 * database per run. Environment: BENCH_RUNS (default 3), BENCH_TASKS, BENCH_PG_BIN.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Logger as GraphileLogger, makeWorkerUtils, run as runGraphile, type Runner } from 'graphile-worker';
import PgBoss from 'pg-boss';
import { openStore, openTasks } from '../src/index.js';
import { median, percentile, report, runs, type Measurement } from './_harness.js';
import { type Postgres, startPostgres } from './_postgres.js';

const RUNS = runs(3);
const TASKS = Number(process.env.BENCH_TASKS ?? 100_000);
const BATCH = 100;
const PRODUCERS = 4;
const LATENCY_WINDOW_MS = 3000;
const SATURATION_MS = 2000;
const LATENCY_TASKS_MAX = 3000;

const progress = (message: string) => console.error(`[tasks bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface RunResult {
  enqueuePerSecond: number;
  executePerSecond: number;
  /** Single-task transactions enqueued and run per second in a closed loop (the latency workload's capacity). */
  singlePerSecond: number;
  pickupP50Ms: number;
  pickupP99Ms: number;
}

/** One system: enqueue a backlog, run it, then the open-loop latency phase. */
interface System {
  enqueue(count: number, onProgress: (t: number) => void): Promise<void>;
  /** Starts the workers; `handled(t)` is called at each handler start with the payload's enqueue-start time. */
  startWorkers(handled: (enqueuedAtMs: number) => void): Promise<void>;
  /** Resolves when no task is left unfinished (completions committed). */
  drained(): Promise<boolean>;
  enqueueOne(t: number): Promise<void>;
  close(): Promise<void>;
}

async function measure(system: System): Promise<RunResult> {
  const start = performance.now();
  await system.enqueue(TASKS, () => {});
  const enqueueMs = performance.now() - start;

  let handled = 0;
  let handledInWindow = 0;
  let inWindow = false;
  const latencies: number[] = [];
  let measuringLatency = false;
  const runStart = performance.now();
  await system.startWorkers((enqueuedAtMs) => {
    handled++;
    if (inWindow) handledInWindow++;
    if (measuringLatency) latencies.push(performance.now() - enqueuedAtMs);
  });
  while (handled < TASKS) await sleep(2);
  while (!(await system.drained())) await sleep(5);
  const executeMs = performance.now() - runStart;

  // The latency workload's own capacity: single-task transactions from 32 producers in a closed loop,
  // workers running, for SATURATION_MS; the rate is what the handlers got through in that window.
  let stop = false;
  let sent = 0;
  inWindow = true;
  const producers = Array.from({ length: 32 }, async () => {
    while (!stop) {
      sent++;
      await system.enqueueOne(0);
    }
  });
  await sleep(SATURATION_MS);
  inWindow = false;
  stop = true;
  await Promise.all(producers);
  const saturatedPerSecond = handledInWindow / (SATURATION_MS / 1000);
  while (handled < TASKS + sent) await sleep(2);
  while (!(await system.drained())) await sleep(5);

  // Open loop at half that: each tick enqueues what the schedule says is due by now.
  const rate = saturatedPerSecond / 2;
  const total = Math.min(LATENCY_TASKS_MAX, Math.max(50, Math.round((rate * LATENCY_WINDOW_MS) / 1000)));
  measuringLatency = true;
  const latencyStart = performance.now();
  let launched = 0;
  const inFlight: Array<Promise<void>> = [];
  while (launched < total) {
    const due = Math.min(total, Math.floor(((performance.now() - latencyStart) / 1000) * rate) + 1);
    for (; launched < due; launched++) inFlight.push(system.enqueueOne(performance.now()));
    await sleep(1);
  }
  await Promise.all(inFlight);
  while (latencies.length < total) await sleep(2);
  return {
    enqueuePerSecond: TASKS / (enqueueMs / 1000),
    executePerSecond: TASKS / (executeMs / 1000),
    singlePerSecond: saturatedPerSecond,
    pickupP50Ms: percentile(latencies, 50),
    pickupP99Ms: percentile(latencies, 99),
  };
}

/** Splits `count` tasks into transactions of BATCH across PRODUCERS concurrent producers. */
async function produce(count: number, transaction: (size: number, producer: number) => Promise<void>): Promise<void> {
  let left = count;
  await Promise.all(Array.from({ length: PRODUCERS }, async (_, producer) => {
    while (left > 0) {
      const size = Math.min(BATCH, left);
      left -= size;
      await transaction(size, producer);
    }
  }));
}

async function purserSystem(): Promise<System> {
  const dir = mkdtempSync(join(tmpdir(), 'purser-bench-tasks-'));
  const store = await openStore({ dir });
  const tasks = await openTasks({ store });
  let onHandled: (t: number) => void = () => {};
  tasks.register('noop', (job) => onHandled((job.payload as { t: number }).t), { concurrency: 256 });
  return {
    enqueue: (count) => produce(count, (size) => store.transaction(async (tx) => {
      for (let i = 0; i < size; i++) await tasks.enqueue(tx, 'noop', { t: 0 });
    })),
    startWorkers: async (handled) => {
      onHandled = handled;
      await tasks.start();
    },
    drained: async () => (await tasks.queues()).every((queue) => queue.ready + queue.running + queue.scheduled === 0),
    enqueueOne: (t) => store.transaction(async (tx) => void (await tasks.enqueue(tx, 'noop', { t }))),
    close: async () => {
      await tasks.stop();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function connect(server: Postgres, database: string): Promise<pg.Client> {
  const client = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'postgres', database });
  await client.connect();
  return client;
}

async function freshDatabase(server: Postgres, name: string): Promise<string> {
  const admin = await connect(server, 'postgres');
  await admin.query(`DROP DATABASE IF EXISTS ${name}`);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  return `postgres://postgres@127.0.0.1:${server.port}/${name}`;
}

async function graphileSystem(server: Postgres, database: string): Promise<System> {
  const connectionString = await freshDatabase(server, database);
  const producers = await Promise.all(Array.from({ length: PRODUCERS }, () => connect(server, database)));
  let runner: Runner | undefined;
  // Installs the schema without running anything, so the enqueue phase has no worker.
  const utils = await makeWorkerUtils({ connectionString });
  await utils.migrate();
  await utils.release();
  const addJob = 'SELECT graphile_worker.add_job($1, json_build_object(\'t\', $2::float8))';
  return {
    enqueue: (count) => produce(count, async (size, producer) => {
      const client = producers[producer];
      await client.query('BEGIN');
      for (let i = 0; i < size; i++) await client.query(addJob, ['noop', 0]);
      await client.query('COMMIT');
    }),
    startWorkers: async (handled) => {
      runner = await runGraphile({
        connectionString, concurrency: 32, noHandleSignals: true, pollInterval: 1000,
        logger: new GraphileLogger(() => () => {}),
        taskList: { noop: (payload) => void handled((payload as { t: number }).t) },
      });
    },
    drained: async () => {
      const { rows } = await producers[0].query<{ n: string }>('SELECT count(*) AS n FROM graphile_worker._private_jobs');
      return Number(rows[0].n) === 0;
    },
    enqueueOne: async (t) => {
      const c = await pool(connectionString).connect();
      try {
        await c.query('BEGIN');
        await c.query(addJob, ['noop', t]);
        await c.query('COMMIT');
      } finally {
        c.release();
      }
    },
    close: async () => {
      await runner?.stop();
      for (const client of producers) await client.end();
      await closePools();
    },
  };
}

async function pgBossSystem(server: Postgres, database: string): Promise<System> {
  const connectionString = await freshDatabase(server, database);
  const boss = new PgBoss({ connectionString, max: 16, supervise: false, schedule: false });
  boss.on('error', (error) => progress(`pg-boss error: ${(error).message}`));
  await boss.start();
  await boss.createQueue('noop');
  const producers = await Promise.all(Array.from({ length: PRODUCERS }, () => connect(server, database)));
  const dbOf = (client: pg.ClientBase) => ({ executeSql: (text: string, values: unknown[]) => client.query(text, values) });
  return {
    enqueue: (count) => produce(count, async (size, producer) => {
      const client = producers[producer];
      await client.query('BEGIN');
      for (let i = 0; i < size; i++) await boss.send('noop', { t: 0 }, { db: dbOf(client) });
      await client.query('COMMIT');
    }),
    startWorkers: async (handled) => {
      for (let i = 0; i < 8; i++) {
        await boss.work<{ t: number }>('noop', { batchSize: 64, pollingIntervalSeconds: 0.5 }, (jobs) => {
          for (const job of jobs) handled(job.data.t);
          return Promise.resolve();
        });
      }
    },
    drained: async () => {
      const { rows } = await producers[0].query<{ n: string }>("SELECT count(*) AS n FROM pgboss.job WHERE state < 'completed'");
      return Number(rows[0].n) === 0;
    },
    enqueueOne: async (t) => {
      const c = await pool(connectionString).connect();
      try {
        await c.query('BEGIN');
        await boss.send('noop', { t }, { db: dbOf(c) });
        await c.query('COMMIT');
      } finally {
        c.release();
      }
    },
    close: async () => {
      await boss.stop({ graceful: false, wait: true });
      for (const client of producers) await client.end();
      await closePools();
    },
  };
}

const pools = new Map<string, pg.Pool>();
/** One pool per database for the latency phase's concurrent single-task transactions. */
function pool(connectionString: string): pg.Pool {
  let p = pools.get(connectionString);
  if (p === undefined) pools.set(connectionString, (p = new pg.Pool({ connectionString, max: 32 })));
  return p;
}
async function closePools(): Promise<void> {
  for (const p of pools.values()) await p.end();
  pools.clear();
}

async function main(): Promise<void> {
  // Autovacuum stays on: the peers' job tables churn, and their planners need fresh statistics.
  const server = startPostgres({ max_connections: '300' });
  const results: Record<string, RunResult[]> = { purser: [], graphile: [], pgboss: [] };
  try {
    for (let runIndex = 0; runIndex < RUNS; runIndex++) {
      for (const name of ['purser', 'graphile', 'pgboss'] as const) {
        if (name !== 'purser' && 'skipped' in server) continue;
        progress(`run ${runIndex + 1}/${RUNS}: ${name}, ${TASKS} tasks`);
        const system = name === 'purser' ? await purserSystem()
          : name === 'graphile' ? await graphileSystem(server as Postgres, `bench_graphile_${runIndex}`)
          : await pgBossSystem(server as Postgres, `bench_pgboss_${runIndex}`);
        try {
          const result = await measure(system);
          results[name].push(result);
          progress(`${name}: enqueue ${Math.round(result.enqueuePerSecond)}/s, execute ${Math.round(result.executePerSecond)}/s, single-task ${Math.round(result.singlePerSecond)}/s, pickup p50 ${result.pickupP50Ms.toFixed(2)} ms p99 ${result.pickupP99Ms.toFixed(2)} ms`);
        } finally {
          await system.close();
        }
      }
    }
  } finally {
    if (!('skipped' in server)) server.stop();
  }
  if ('skipped' in server) progress(`PostgreSQL peers skipped: ${server.skipped}`);
  const pick = (name: string, field: keyof RunResult) => results[name].map((result) => result[field]);
  const measurements: Measurement[] = [];
  for (const [peer, label] of [['graphile', 'graphile-worker 0.17.3'], ['pgboss', 'pg-boss 10.4.2']] as const) {
    const target = { targetRatio: 10 };
    measurements.push(
      { name: `enqueue, transactions of ${BATCH}`, unit: 'tasks/s', higherIsBetter: true, purser: pick('purser', 'enqueuePerSecond'), peer: pick(peer, 'enqueuePerSecond'), peerName: label, ...target },
      { name: 'execute, no-op handler', unit: 'tasks/s', higherIsBetter: true, purser: pick('purser', 'executePerSecond'), peer: pick(peer, 'executePerSecond'), peerName: label, ...target },
      { name: 'one-task transactions, enqueued and run', unit: 'tasks/s', higherIsBetter: true, purser: pick('purser', 'singlePerSecond'), peer: pick(peer, 'singlePerSecond'), peerName: label },
      { name: 'pickup p50 at 50% load', unit: 'ms', higherIsBetter: false, purser: pick('purser', 'pickupP50Ms'), peer: pick(peer, 'pickupP50Ms'), peerName: label },
      { name: 'pickup p99 at 50% load', unit: 'ms', higherIsBetter: false, purser: pick('purser', 'pickupP99Ms'), peer: pick(peer, 'pickupP99Ms'), peerName: label, note: peer === 'pgboss' ? 'pg-boss polls (0.5 s at least); its pickup is bounded by the polling interval' : undefined },
    );
  }
  console.log(`purser pickup p99 at 50% load: ${median(pick('purser', 'pickupP99Ms')).toFixed(2)} ms (target < 5 ms)`);
  report('tasks', measurements);
}

await main();
