/**
 * Fairness of the node's ledger listeners: how long a light client's lookup waits while another
 * connection floods the ledger with full batches.
 *
 * A second process hosts a bus listener over a durable ledger (a data directory: every batch commits with
 * an fsync). This process opens two `connect()` clients: the flooder keeps `FLOOD_IN_FLIGHT` batches of
 * 8,189 transfers in flight for the whole window; the victim runs one `lookupAccounts` at a time and
 * records each round trip. The peer figure is the same victim on the same node with nobody flooding.
 * Served first come, first served, a lookup waits behind every batch queued before it; served
 * round-robin per connection, behind at most the batches that were already running.
 *
 * The figures are the victim's p50 and p99 and the flooder's throughput (its share of the ledger).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { connect, createBus, openLedger, type Account, type Transfer } from '../src/index.js';
import { startBusListener } from '../src/node/listeners/bus.js';
import { percentile, report, runs } from './_harness.js';

const BATCH_EVENTS = 8189;
const FLOOD_IN_FLIGHT = 32;
const ACCOUNTS = 1000;
const WINDOW_MS = 4000;
const WARMUP_MS = 500;
const silent = pino({ level: 'silent' });

function account(id: bigint): Account {
  return { id, debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, reserved: 0, ledger: 1, code: 1, flags: 0, timestamp: 0n };
}

function transfer(id: bigint): Transfer {
  const debit = 1n + (id % BigInt(ACCOUNTS));
  const credit = 1n + ((id + 1n) % BigInt(ACCOUNTS));
  return { id, debit_account_id: debit, credit_account_id: credit, amount: 1n, pending_id: 0n, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, timeout: 0, ledger: 1, code: 1, flags: 0, timestamp: 0n };
}

// ------------------------------------------------------------------------------------------ server role

async function serve(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'purser-fairness-'));
  const ledger = await openLedger({ dir });
  await ledger.createAccounts(Array.from({ length: ACCOUNTS }, (_, i) => account(BigInt(i + 1))));
  const bus = createBus({ logger: silent });
  const listener = await startBusListener({ host: '127.0.0.1', port: 0, bus, logger: silent, ledger });
  process.stdout.write(`${JSON.stringify({ busPort: listener.address.port })}\n`);
  process.stdin.resume();
  await new Promise<void>((resolve) => process.stdin.once('end', () => resolve()));
  await listener.close({ drainTimeoutMs: 100 });
  await bus.close({ drainTimeoutMs: 100 });
  await ledger.close();
  await rm(dir, { recursive: true, force: true });
}

async function startServerProcess(): Promise<{ child: ChildProcess; busPort: number }> {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, PURSER_BENCH_FAIRNESS_ROLE: 'server' },
  });
  const busPort = await new Promise<number>((resolve, reject) => {
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const match = /"busPort":(\d+)/.exec(buffered);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`bench server exited with ${String(code)} before listening`)));
  });
  return { child, busPort };
}

// ------------------------------------------------------------------------------------------ client role

interface Run { p50Ms: number; p99Ms: number; lookups: number; transfersPerSecond: number }

async function victimRun(busPort: number, flood: boolean, firstId: bigint): Promise<Run> {
  const victim = await connect(busPort, { defaultTimeoutMs: 120_000 });
  const flooder = await connect(busPort, { defaultTimeoutMs: 120_000 });
  let nextId = firstId;
  let flooding = flood;
  let transfers = 0;
  const floodLoops = flood ? Array.from({ length: FLOOD_IN_FLIGHT }, async () => {
    while (flooding) {
      const batch = Array.from({ length: BATCH_EVENTS }, () => transfer(nextId++));
      await flooder.createTransfers(batch);
      transfers += BATCH_EVENTS;
    }
  }) : [];
  const latenciesMs: number[] = [];
  const phase = async (ms: number, record: boolean) => {
    const endAt = performance.now() + ms;
    while (performance.now() < endAt) {
      const startedAt = performance.now();
      const found = await victim.lookupAccounts([1n]);
      if (found.length !== 1) throw new Error('the victim lost account 1');
      if (record) latenciesMs.push(performance.now() - startedAt);
    }
  };
  await phase(WARMUP_MS, false);
  const transfersBefore = transfers;
  const startedAt = performance.now();
  await phase(WINDOW_MS, true);
  const elapsedMs = performance.now() - startedAt;
  const transfersPerSecond = ((transfers - transfersBefore) / elapsedMs) * 1000;
  flooding = false;
  await Promise.all(floodLoops);
  await victim.close();
  await flooder.close();
  return { p50Ms: percentile(latenciesMs, 50), p99Ms: percentile(latenciesMs, 99), lookups: latenciesMs.length, transfersPerSecond };
}

async function main(): Promise<void> {
  const server = await startServerProcess();
  const flooded: Run[] = [];
  const quiet: Run[] = [];
  let firstId = 1n;
  for (let run = 0; run < runs(3); run += 1) {
    flooded.push(await victimRun(server.busPort, true, firstId));
    firstId += 10_000_000n;
    quiet.push(await victimRun(server.busPort, false, firstId));
  }
  server.child.stdin!.end();
  await new Promise<void>((resolve) => (server.child.exitCode !== null ? resolve() : server.child.once('exit', () => resolve())));
  const note = `victim: 1 lookupAccounts at a time over ${String(WINDOW_MS)} ms; flooder: ${String(FLOOD_IN_FLIGHT)} createTransfers of ${String(BATCH_EVENTS)} in flight on one connection; durable ledger in a second process`;
  report('fairness', [
    { name: 'victim lookup p50 while another connection floods', unit: 'ms', higherIsBetter: false, purser: flooded.map((r) => r.p50Ms), peer: quiet.map((r) => r.p50Ms), peerName: 'same victim, no flood', note },
    { name: 'victim lookup p99 while another connection floods', unit: 'ms', higherIsBetter: false, purser: flooded.map((r) => r.p99Ms), peer: quiet.map((r) => r.p99Ms), peerName: 'same victim, no flood' },
    { name: 'victim lookups completed in the window', unit: 'lookups', higherIsBetter: true, purser: flooded.map((r) => r.lookups), peer: quiet.map((r) => r.lookups), peerName: 'same victim, no flood' },
    { name: 'flooder throughput', unit: 'transfers/s', higherIsBetter: true, purser: flooded.map((r) => r.transfersPerSecond) },
  ]);
}

if (process.env.PURSER_BENCH_FAIRNESS_ROLE === 'server') await serve();
else await main();
