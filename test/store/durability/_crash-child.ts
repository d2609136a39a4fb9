// The child of the kill -9 test (crash.test.ts) and of scripts/crash-soak.mjs: opens the store in the
// directory given as argv[2], then runs WORKERS concurrent money-moving transactions forever, printing
// "ack <id>" on stdout after each commit resolves (that is, after it is durable). The parent kills it with
// SIGKILL at a random moment and checks that every acknowledged transfer survived.
import { openStore } from '../../../src/store/store.js';

const WORKERS = 16;
const ACCOUNTS = 32; // the same as _crash-harness.ts

function accountKey(account: number): Uint8Array {
  return Buffer.from([0xac, account]);
}

function readBalance(bytes: Uint8Array | undefined): bigint {
  if (!bytes) throw new Error('account missing');
  return Buffer.from(bytes).readBigInt64BE();
}

function balanceBytes(value: bigint): Uint8Array {
  const bytes = Buffer.alloc(8);
  bytes.writeBigInt64BE(value);
  return bytes;
}

async function main(): Promise<void> {
  const dir = process.argv[2];
  const checkpointLogBytes = Number(process.argv[3] ?? 65536);
  const store = await openStore({ dir, checkpointLogBytes, onFailure: (error) => process.stderr.write(`store failed: ${error.message}\n`) });
  const ids = store.sequence('transfer-ids');
  const worker = async (): Promise<void> => {
    for (;;) {
      const id = await ids.next();
      const from = Math.floor(Math.random() * ACCOUNTS);
      const to = (from + 1 + Math.floor(Math.random() * (ACCOUNTS - 1))) % ACCOUNTS;
      const amount = BigInt(1 + Math.floor(Math.random() * 100));
      const committed = await store.transaction(async (tx) => {
        const fromBalance = readBalance(await tx.get('accounts', accountKey(from)));
        await new Promise((resolve) => setImmediate(resolve));
        const toBalance = readBalance(await tx.get('accounts', accountKey(to)));
        await tx.put('accounts', accountKey(from), balanceBytes(fromBalance - amount));
        await tx.put('accounts', accountKey(to), balanceBytes(toBalance + amount));
        const key = Buffer.alloc(8);
        key.writeBigUInt64BE(id);
        const value = Buffer.alloc(10 + Math.floor(Math.random() * 200));
        value.writeUInt8(from, 0);
        value.writeUInt8(to, 1);
        value.writeBigUInt64BE(amount, 2);
        await tx.put('transfers', key, value);
        return true;
      }).catch((error: unknown) => {
        // A transfer that loses a deadlock or a lock wait is retried until it commits; only one still
        // failing at its deadline (30 s) simply did not happen (and is not acknowledged). Anything else is fatal.
        const code = (error as { code?: string }).code;
        if (code === 'STORE_TRANSACTION_TIMEOUT') return false;
        throw error;
      });
      if (committed) process.stdout.write(`ack ${String(id)}\n`);
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, worker));
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
