// kill -9: a child process streams batches of transfers into a durable ledger (on a store that checkpoints
// often) and prints each acknowledged batch; it is killed with SIGKILL once it has acknowledged a random
// number of batches (at least one), several times on one directory. After every kill the ledger is reopened and must hold every acknowledged transfer, with
// the books balanced: total debits equal total credits (posted and pending), and each account's balances
// equal the sum of its transfers as read back through getAccountTransfers.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openLedger, TransferFlags, type Transfer } from 'purser';
import { bundleChild } from '../store/durability/_bundle.js';
import { accountFilter } from './_client.js';

const CYCLES = 6;
const ACCOUNTS = 16;

/**
 * Runs the child until it has acknowledged a random number of batches (at least one: the kill waits for
 * that state, never for a time, so a slow machine wastes no cycle), then kills it at once; the child keeps
 * writing while the signal travels, so the kill lands at an arbitrary point of a batch or a checkpoint.
 */
function runChild(script: string, dir: string): Promise<bigint[]> {
  const batchesBeforeKill = 1 + Math.floor(Math.random() * 4);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acknowledged: bigint[] = [];
    let batches = 0;
    let buffered = '';
    let stderr = '';
    let killed = false;
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const [, first, count] = buffered.slice(0, newline).split(' ');
        buffered = buffered.slice(newline + 1);
        for (let i = 0n; i < BigInt(count); i++) acknowledged.push(BigInt(first) + i);
        batches++;
      }
      if (!killed && batches >= batchesBeforeKill) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    // 'close', not 'exit': every line the child wrote before it died has been read by then.
    child.on('close', (code, signal) => {
      if (killed && signal === 'SIGKILL') resolve(acknowledged);
      else reject(new Error(`child exited on its own (code ${String(code)}, signal ${String(signal)}) after ${batches} batches: ${stderr}`));
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
  // The shared bundler: it leaves the store's native lock package external and resolvable.
  const bundle = await bundleChild('../../ledger/_crash-child.ts');
  const script = bundle.file;
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
  } finally {
    await bundle.remove();
    rmSync(dir, { recursive: true, force: true });
  }
});
