// kill -9: a child process streams batches of transfers into a durable ledger (on a store that checkpoints
// often) and prints each acknowledged batch; it is killed with SIGKILL at a random moment, several times on
// one directory. After every kill the ledger is reopened and must hold every acknowledged transfer, with
// the books balanced: total debits equal total credits (posted and pending), and each account's balances
// equal the sum of its transfers as read back through getAccountTransfers.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { openLedger, TransferFlags, type Transfer } from 'purser';
import { accountFilter } from './_client.js';

const CYCLES = 6;
const ACCOUNTS = 16;

async function bundleChild(outDir: string): Promise<string> {
  const outfile = join(outDir, 'ledger-crash-child.mjs');
  await build({
    entryPoints: [fileURLToPath(new URL('./_crash-child.ts', import.meta.url))],
    bundle: true, platform: 'node', format: 'esm', target: 'node20', conditions: ['purser-source'], outfile, logLevel: 'silent',
  });
  return outfile;
}

/** Runs the child until it has acknowledged a few batches and a random extra moment has passed, then kills it. */
function runChild(script: string, dir: string): Promise<bigint[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acknowledged: bigint[] = [];
    let buffered = '';
    let stderr = '';
    let killTimer: NodeJS.Timeout | undefined;
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const [, first, count] = buffered.slice(0, newline).split(' ');
        buffered = buffered.slice(newline + 1);
        for (let i = 0n; i < BigInt(count); i++) acknowledged.push(BigInt(first) + i);
        if (killTimer === undefined && acknowledged.length >= 900) {
          killTimer = setTimeout(() => child.kill('SIGKILL'), Math.floor(Math.random() * 150));
        }
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const deadline = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('exit', (_code, signal) => {
      clearTimeout(deadline);
      if (signal !== 'SIGKILL') reject(new Error(`child exited on its own: ${stderr}`));
      else resolve(acknowledged);
    });
  });
}

async function allTransfersOf(ledger: Awaited<ReturnType<typeof openLedger>>, accountId: bigint): Promise<Transfer[]> {
  const all: Transfer[] = [];
  let timestampMin = 0n;
  for (;;) {
    const page = await ledger.getAccountTransfers(accountFilter(accountId, { timestamp_min: timestampMin, limit: 8189 }));
    all.push(...page);
    if (page.length < 8189) return all;
    timestampMin = page[page.length - 1].timestamp + 1n;
  }
}

test(`${CYCLES} kill -9 cycles lose no acknowledged transfer and keep the books balanced`, { timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'purser-ledger-crash-'));
  const script = await bundleChild(dir);
  const acknowledged: bigint[] = [];
  try {
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      acknowledged.push(...(await runChild(script, join(dir, 'data'))));
      const ledger = await openLedger({ dir: join(dir, 'data') });
      for (let i = 0; i < acknowledged.length; i += 8189) {
        const ids = acknowledged.slice(i, i + 8189);
        const found = await ledger.lookupTransfers(ids);
        assert.equal(found.length, ids.length, `cycle ${cycle}: acknowledged transfers missing after restart`);
      }
      const accounts = await ledger.lookupAccounts(Array.from({ length: ACCOUNTS }, (_, i) => BigInt(i + 1)));
      const total = (f: (a: (typeof accounts)[number]) => bigint) => accounts.reduce((sum, a) => sum + f(a), 0n);
      assert.equal(total((a) => a.debits_posted), total((a) => a.credits_posted));
      assert.equal(total((a) => a.debits_pending), total((a) => a.credits_pending));
      for (const account of accounts) {
        let posted = 0n;
        let pending = 0n;
        for (const t of await allTransfersOf(ledger, account.id)) {
          if (t.debit_account_id !== account.id) continue;
          if ((t.flags & TransferFlags.pending) !== 0) pending += t.amount;
          else posted += t.amount;
        }
        assert.equal(posted, account.debits_posted, `cycle ${cycle}: account ${String(account.id)} posted`);
        assert.equal(pending, account.debits_pending, `cycle ${cycle}: account ${String(account.id)} pending`);
      }
      await ledger.close();
    }
    assert.ok(acknowledged.length >= CYCLES * 900);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
