// A million holds expiring at once (a node down longer than the timeout of a million card authorizations):
// in memory, then on disk with the expiring process killed (SIGKILL) in the middle and the rest expired
// after restart. Every request must succeed and see every due hold released; the books must balance; each
// hold must end `expired` exactly once (a post of any of them is `pending_transfer_expired`).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CreateTransferStatus as TS, openLedger, TransferFlags as TF, type Ledger } from 'purser';
import { PendingStatus } from '../../src/ledger/state.js';
import { bundleChild } from '../store/durability/_bundle.js';
import { account, FakeClock, NS_PER_S, transfer } from './_client.js';

const HOLDS = 1_000_000;
const ACCOUNTS = 100;
const BATCH = 8189;
const quiet = { error: () => undefined, warn: () => undefined };
const work = mkdtempSync(join(tmpdir(), 'purser-expiry-million-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** 100 accounts and a million 1-unit holds, all made at the same clock time, with `timeoutOf(n)` seconds each. */
async function makeHolds(ledger: Ledger, timeoutOf: (n: number) => number = () => 1): Promise<void> {
  await ledger.createAccounts(Array.from({ length: ACCOUNTS }, (_, i) => account(BigInt(i + 1))));
  for (let first = 0; first < HOLDS; first += BATCH) {
    const count = Math.min(BATCH, HOLDS - first);
    const batch = Array.from({ length: count }, (_, i) => {
      const n = first + i;
      return transfer(BigInt(1_000_000 + n), BigInt(1 + (n % ACCOUNTS)), BigInt(1 + ((n + 1) % ACCOUNTS)), 1n, { flags: TF.pending, timeout: timeoutOf(n) });
    });
    const results = await ledger.createTransfers(batch);
    assert.ok(results.every((r) => r.status === TS.created));
  }
}

async function pendingTotal(ledger: Ledger): Promise<bigint> {
  const accounts = await ledger.lookupAccounts(Array.from({ length: ACCOUNTS }, (_, i) => BigInt(i + 1)));
  assert.equal(accounts.length, ACCOUNTS);
  return accounts.reduce((sum, a) => sum + a.debits_pending + a.credits_pending, 0n);
}

function countStatus(ledger: Ledger, status: PendingStatus): number {
  let count = 0;
  for (const info of ledger.state.pending.values()) if (info.status === status) count++;
  return count;
}

async function assertAllExpired(ledger: Ledger): Promise<void> {
  assert.equal(await pendingTotal(ledger), 0n, 'every hold released');
  assert.equal(countStatus(ledger, PendingStatus.expired), HOLDS);
  const post = await ledger.createTransfers([transfer(5n, 0n, 0n, 1n, { flags: TF.post_pending_transfer, pending_id: BigInt(1_000_000 + HOLDS - 1), ledger: 0, code: 0 })]);
  assert.equal(post[0].status, TS.pending_transfer_expired);
  const [first] = await ledger.lookupAccounts([1n]);
  assert.equal(first.debits_posted + first.credits_posted, 0n, 'nothing was posted');
}

test('in memory: a million holds expire at once in bounded steps; the first request after sees them all released', async () => {
  const clock = new FakeClock();
  const ledger = await openLedger({ clock: clock.read, logger: quiet });
  await makeHolds(ledger);
  assert.equal(await pendingTotal(ledger), BigInt(2 * HOLDS));
  clock.advanceSeconds(2);
  const steps = ledger.stats().expirySteps;
  await assertAllExpired(ledger);
  assert.ok(ledger.stats().expirySteps - steps >= Math.ceil(HOLDS / BATCH), 'bounded steps, at most 8,189 holds each');
  assert.equal(ledger.stats().transfersExpired, HOLDS);
  assert.equal(ledger.stats().internalErrors, 0);
  await ledger.close();
});

/** Runs the child (which expires in the background and reports progress) and kills it mid-way. */
function expireAndKill(script: string, dir: string, nowNs: bigint): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, dir, String(nowNs)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buffered = '';
    let stderr = '';
    let seen = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        seen = Number(buffered.slice(0, newline).split(' ')[1]);
        buffered = buffered.slice(newline + 1);
        if (seen >= HOLDS / 5) child.kill('SIGKILL');
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (_code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`child exited on its own after ${seen} expiries: ${stderr}`));
      else resolve(seen);
    });
  });
}

test('on disk: a million holds, the expiring process killed mid-way (SIGKILL), the rest expire after restart', async () => {
  const dir = join(work, 'ledger');
  const clock = new FakeClock();
  const ledger = await openLedger({ dir, clock: clock.read, logger: quiet });
  // Half the holds time out after a second, half after an hour, and the child's clock stands at 10 s: it
  // can expire only the first half. So it is killed before every hold expired however late the kill lands
  // (before, with all due, a slow parent could let the child finish them all before the kill).
  const HOLDS_DUE = HOLDS / 2;
  await makeHolds(ledger, (n) => (n < HOLDS_DUE ? 1 : 3600));
  await ledger.close();

  const nowNs = clock.nowNs + 10n * NS_PER_S;
  // The shared bundler: it leaves the store's native lock package external and resolvable.
  const bundle = await bundleChild('../../ledger/_expiry-child.ts');
  const reported = await expireAndKill(bundle.file, dir, nowNs).finally(() => bundle.remove());
  assert.ok(reported >= HOLDS / 5 && reported <= HOLDS_DUE, `killed after a fifth of the holds expired (${reported} expired)`);

  // Reopened past every timeout: the holds the child did not expire (at least the hour-long half) now do.
  clock.nowNs = nowNs + 7200n * NS_PER_S;
  const reopened = await openLedger({ dir, clock: clock.read, logger: quiet });
  // Read before any request or background step: what the killed process committed survived, and not all.
  const durable = countStatus(reopened, PendingStatus.expired);
  assert.ok(durable >= reported && durable <= HOLDS_DUE, `${durable} expiries were durable when killed`);
  assert.equal(countStatus(reopened, PendingStatus.pending), HOLDS - durable);
  await assertAllExpired(reopened);
  assert.equal(reopened.stats().transfersExpired, HOLDS - durable, 'each hold expired once: none again after restart');
  await reopened.close();
});
