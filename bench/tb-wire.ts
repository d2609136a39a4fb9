/**
 * The TigerBeetle wire protocol's cost.
 *
 * 1. The official `tigerbeetle-node` client creating transfers in batches of 8,189 against Purser's
 *    TigerBeetle listener, backed by a durable ledger (a data directory; a batch's reply is sent after
 *    its commit is on disk) — versus the same batches through Purser's own network client (`connect()`,
 *    its ledger methods over the bus listener) to the same kind of durable ledger, and versus the ledger
 *    called in-process (what any wire costs). All run in this process, interleaved, on fresh ledgers.
 * 2. Checksum throughput: the AEGIS-128L checksum in TypeScript (T-table AES), on 1 MiB messages,
 *    against node:crypto's native SHA-256 as a yardstick for "a hash implemented in C".
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import tb from 'tigerbeetle-node';
import { openLedger, type Account, type Transfer } from '../src/index.js';
import { connect } from '../src/client/client.js';
import { createBus } from '../src/bus/bus.js';
import { startBusListener } from '../src/node/listeners/bus.js';
import { checksum } from '../src/wire/tigerbeetle/checksum.js';
import { startTigerBeetleListener } from '../src/node/listeners/tigerbeetle/listener.js';
import { report, runs } from './_harness.js';

const BATCH_EVENTS = 8189;
const BATCHES_PER_RUN = 8;
const ACCOUNTS = 10_000;
const CREATED = 0xffff_ffff;
const CHECKSUM_MESSAGE_BYTES = 1024 * 1024;
const CHECKSUM_ROUNDS = 32;
/** Untimed rounds first, so the optimizing compiler has run before the clock starts. */
const CHECKSUM_WARMUP_ROUNDS = 8;

function account(id: bigint): Account {
  return { id, debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, reserved: 0, ledger: 1, code: 1, flags: 0, timestamp: 0n };
}

/** The same batches for both sides: transfers between pseudo-random distinct accounts. */
function makeBatches(): Transfer[][] {
  let seed = 12345;
  const nextAccount = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return BigInt(1 + (seed % ACCOUNTS));
  };
  let id = 1n;
  return Array.from({ length: BATCHES_PER_RUN }, () =>
    Array.from({ length: BATCH_EVENTS }, () => {
      const debit = nextAccount();
      let credit = nextAccount();
      if (credit === debit) credit = (debit % BigInt(ACCOUNTS)) + 1n;
      return { id: id++, debit_account_id: debit, credit_account_id: credit, amount: 1n, pending_id: 0n, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, timeout: 0, ledger: 1, code: 1, flags: 0, timestamp: 0n };
    }),
  );
}

type Create = (batch: Transfer[]) => Promise<{ status: number }[]>;

async function timeBatches(create: Create, batches: Transfer[][]): Promise<number> {
  const started = process.hrtime.bigint();
  for (const batch of batches) {
    const results = await create(batch);
    if (results.length !== batch.length || results.some((r) => r.status !== CREATED)) throw new Error('a transfer was not created');
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return (batches.length * BATCH_EVENTS) / seconds;
}

async function withDurableLedger<T>(work: (ledger: Awaited<ReturnType<typeof openLedger>>) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'purser-tb-wire-'));
  const ledger = await openLedger({ dir });
  try {
    const accounts = Array.from({ length: ACCOUNTS }, (_, i) => account(BigInt(i + 1)));
    for (let i = 0; i < accounts.length; i += BATCH_EVENTS) await ledger.createAccounts(accounts.slice(i, i + BATCH_EVENTS));
    return await work(ledger);
  } finally {
    await ledger.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function overTheWire(batches: Transfer[][]): Promise<number> {
  return withDurableLedger(async (ledger) => {
    const listener = await startTigerBeetleListener({ host: '127.0.0.1', port: 0, ledger, logger: pino({ level: 'silent' }) });
    const client = tb.createClient({ cluster_id: 0n, replica_addresses: [String(listener.address.port)] });
    try {
      await client.lookupAccounts([1n]); // Registers the session outside the timed part.
      return await timeBatches((batch) => client.createTransfers(batch), batches);
    } finally {
      client.destroy();
      await listener.close();
    }
  });
}

async function overPurserClient(batches: Transfer[][]): Promise<number> {
  return withDurableLedger(async (ledger) => {
    const logger = pino({ level: 'silent' });
    const bus = createBus({ logger });
    const listener = await startBusListener({ host: '127.0.0.1', port: 0, bus, logger, ledger });
    const client = await connect(listener.address.port);
    try {
      await client.lookupAccounts([1n]);
      return await timeBatches((batch) => client.createTransfers(batch), batches);
    } finally {
      await client.close();
      await listener.close();
      await bus.close();
    }
  });
}

function inProcess(batches: Transfer[][]): Promise<number> {
  return withDurableLedger((ledger) => timeBatches((batch) => ledger.createTransfers(batch), batches));
}

function throughputMBps(hash: (bytes: Uint8Array) => unknown): number {
  // Collect the ledger runs' garbage first (the runner passes --expose-gc), so it is not charged here.
  (globalThis as { gc?: () => void }).gc?.();
  const message = new Uint8Array(CHECKSUM_MESSAGE_BYTES);
  for (let i = 0; i < message.length; i += 1) message[i] = (i * 131) & 0xff;
  for (let round = 0; round < CHECKSUM_WARMUP_ROUNDS; round += 1) hash(message);
  const started = process.hrtime.bigint();
  for (let round = 0; round < CHECKSUM_ROUNDS; round += 1) hash(message);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return (CHECKSUM_ROUNDS * CHECKSUM_MESSAGE_BYTES) / (1024 * 1024) / seconds;
}

const batches = makeBatches();
const wire: number[] = [];
const purserClient: number[] = [];
const local: number[] = [];
const aegis: number[] = [];
const sha256: number[] = [];
for (let run = 0; run < runs(3); run += 1) {
  wire.push(await overTheWire(batches));
  purserClient.push(await overPurserClient(batches));
  local.push(await inProcess(batches));
  aegis.push(throughputMBps(checksum));
  sha256.push(throughputMBps((bytes) => createHash('sha256').update(bytes).digest()));
}
report('tb-wire', [
  {
    name: `createTransfers, ${String(BATCH_EVENTS)}-event batches, durable ledger: TigerBeetle protocol vs Purser's client`,
    unit: 'transfers/s',
    higherIsBetter: true,
    purser: wire,
    peer: purserClient,
    peerName: "Purser's connect() client",
    note: 'official tigerbeetle-node@0.17.9 over the TigerBeetle listener, against the same batches through connect() and the bus listener',
  },
  {
    name: `createTransfers, ${String(BATCH_EVENTS)}-event batches, durable ledger: TigerBeetle protocol vs in-process`,
    unit: 'transfers/s',
    higherIsBetter: true,
    purser: wire,
    peer: local,
    peerName: 'same ledger in-process',
    note: 'the ratio is the share of in-process throughput that survives the TigerBeetle wire',
  },
  {
    name: 'checksum (AEGIS-128L MAC, 1 MiB messages)',
    unit: 'MB/s',
    higherIsBetter: true,
    purser: aegis,
    peer: sha256,
    peerName: 'node:crypto SHA-256 (native)',
  },
]);
