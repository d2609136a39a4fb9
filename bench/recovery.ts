/**
 * Recovery of a ledger's data directory (issue: "opening 10,000,000 ledger transfers in under 30 s"): a
 * durable ledger (`openLedger({ dir })`, automatic checkpoints every 128 MiB of log as a node runs) takes
 * RECOVERY_TRANSFERS transfers (default 10,000,000) between 10,000 accounts in batches of 8,189, then is
 * closed and opened again, twice:
 *   1. as it was left: the newest snapshot plus the log written after it (what a crash leaves);
 *   2. after a checkpoint: the snapshot alone.
 * It prints each open's time (the store's recovery, then the ledger's own start on it), the records
 * recovered and the rate. No peer runs here (TigerBeetle is not installable on this machine), so there is
 * no ratio; the target is absolute.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkpointStore, CreateTransferStatus, openLedger, openStore, type Transfer } from '../src/index.js';
import { report, type Measurement } from './_harness.js';

const TRANSFERS = Number(process.env.RECOVERY_TRANSFERS ?? 10_000_000);
const ACCOUNTS = 10_000;
const BATCH = 8189;
const TARGET_MS = 30_000;

function accounts(from: number, to: number) {
  return Array.from({ length: to - from + 1 }, (_, index) => ({
    id: BigInt(from + index), debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n, user_data_128: 0n,
    user_data_64: 0n, user_data_32: 0, reserved: 0, ledger: 1, code: 1, flags: 0, timestamp: 0n,
  }));
}

let nextId = 1n;
let seed = 0x2545f491;
function random(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) % ACCOUNTS;
}

function batch(size: number): Transfer[] {
  return Array.from({ length: size }, () => {
    const debit = random() + 1;
    const credit = (debit % ACCOUNTS) + 1;
    return {
      id: nextId++, debit_account_id: BigInt(debit), credit_account_id: BigInt(credit), amount: 1n, pending_id: 0n,
      user_data_128: 0n, user_data_64: 0n, user_data_32: 0, timeout: 0, ledger: 1, code: 1, flags: 0, timestamp: 0n,
    };
  });
}

/** Opens the directory's store and the ledger on it; returns the times of each step and what was recovered. */
async function reopen(dir: string): Promise<{ storeMs: number; ledgerMs: number; records: number }> {
  const started = performance.now();
  const store = await openStore({ dir });
  const storeMs = performance.now() - started;
  const ledger = await openLedger({ store });
  const ledgerMs = performance.now() - started - storeMs;
  const records = store.stats().records;
  const [account] = await ledger.lookupAccounts([1n]);
  if (account === undefined || account.debits_posted + account.credits_posted === 0n) throw new Error('the ledger came back empty');
  await ledger.close();
  await store.close();
  return { storeMs, ledgerMs, records };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'purser-bench-recovery-'));
  try {
    const store = await openStore({ dir });
    const ledger = await openLedger({ store });
    for (let id = 1; id <= ACCOUNTS; id += BATCH) await ledger.createAccounts(accounts(id, Math.min(ACCOUNTS, id + BATCH - 1)));
    const loadStarted = performance.now();
    for (let done = 0; done < TRANSFERS; done += BATCH) {
      const results = await ledger.createTransfers(batch(Math.min(BATCH, TRANSFERS - done)));
      if (results.some((result) => result.status !== CreateTransferStatus.created)) throw new Error('a transfer failed');
      if (done % (BATCH * 100) === 0) process.stderr.write(`loaded ${done} transfers (${Math.round(performance.now() - loadStarted)} ms)\n`);
    }
    const loadMs = performance.now() - loadStarted;
    await ledger.close();
    await store.close();

    const asLeft = await reopen(dir);
    const checkpointed = await openStore({ dir });
    await checkpointStore(checkpointed);
    await checkpointed.close();
    const fromSnapshot = await reopen(dir);

    const row = (name: string, r: { storeMs: number; ledgerMs: number; records: number }): Measurement => ({
      name, unit: 's', higherIsBetter: false, purser: [(r.storeMs + r.ledgerMs) / 1000],
      note: `store ${(r.storeMs / 1000).toFixed(1)} s + ledger ${(r.ledgerMs / 1000).toFixed(1)} s for ${r.records.toLocaleString('en-US')} store records (${Math.round(r.records / (r.storeMs / 1000)).toLocaleString('en-US')} records/s); target ${TARGET_MS / 1000} s ${r.storeMs + r.ledgerMs <= TARGET_MS ? 'met' : 'MISSED'}`,
    });
    report('recovery', [
      { name: `load ${TRANSFERS.toLocaleString('en-US')} transfers (durable, batches of ${BATCH})`, unit: 'transfers/s', higherIsBetter: true, purser: [TRANSFERS / (loadMs / 1000)] },
      row(`1. open as left (snapshot + log since), ${TRANSFERS.toLocaleString('en-US')} transfers`, asLeft),
      row(`2. open after a checkpoint (snapshot only), ${TRANSFERS.toLocaleString('en-US')} transfers`, fromSnapshot),
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
