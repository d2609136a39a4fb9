// Child of ledger.crash.test.ts: opens the ledger in the directory given, on a store that checkpoints
// every 256 KiB of log, and streams batches of transfers between 16 accounts until it is killed. After
// each batch is acknowledged it prints one line: `ack <first id> <count>` (ids are consecutive).
// Internals by relative path: the child is bundled alone, without the node's logging dependencies.
import { id } from '../../src/ledger/id.js';
import { openLedger } from '../../src/ledger/open.js';
import { TransferFlags, type Transfer } from '../../src/ledger/types.js';
import { openStore } from '../../src/store/store.js';

const ACCOUNTS = 16;
const BATCH = 300;
const dir = process.argv[2];
const store = await openStore({ dir, checkpointLogBytes: 256 * 1024 });
const ledger = await openLedger({ store });
await ledger.createAccounts(Array.from({ length: ACCOUNTS }, (_, i) => ({
  id: BigInt(i + 1), debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n, user_data_128: 0n,
  user_data_64: 0n, user_data_32: 0, reserved: 0, ledger: 1, code: 1, flags: 0, timestamp: 0n,
})));
for (;;) {
  const first = id();
  const batch: Transfer[] = [];
  for (let i = 0; i < BATCH; i++) {
    const debit = 1 + Math.floor(Math.random() * ACCOUNTS);
    const credit = (debit % ACCOUNTS) + 1;
    batch.push({
      id: first + BigInt(i), debit_account_id: BigInt(debit), credit_account_id: BigInt(credit), amount: BigInt(1 + Math.floor(Math.random() * 1000)),
      pending_id: 0n, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, timeout: 0, ledger: 1, code: 1,
      flags: i % 10 === 0 ? TransferFlags.pending : 0, timestamp: 0n,
    });
  }
  await ledger.createTransfers(batch);
  process.stdout.write(`ack ${String(first)} ${BATCH}\n`);
}
