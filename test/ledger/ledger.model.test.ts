// Randomized model-based test: random batches of transfers (plain, pending, posts, voids, resubmissions,
// unknown accounts, linked pairs, accounts with limits) go to the ledger and to a small reference model
// written independently here. After every batch the statuses must agree and the invariants hold: total
// debits equal total credits (posted and pending), every account balance equals the sum of its transfers
// as read back from the ledger, and no pending transfer is resolved twice. Seeded, so failures replay.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AccountFlags as AF, amount_max, CreateTransferStatus as TS, TransferFlags as TF, type Transfer } from 'purser';
import { account, accountFilter, makeClient, transfer } from './_client.js';

const ACCOUNTS = 8;
const BATCHES = 60;

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

interface ModelAccount { dp: bigint; dpo: bigint; cp: bigint; cpo: bigint; limited: boolean }
interface ModelTransfer { t: Transfer; amount: bigint }

class Model {
  accounts = new Map<bigint, ModelAccount>();
  transfers = new Map<bigint, ModelTransfer>();
  failed = new Set<bigint>();
  resolved = new Map<bigint, 'posted' | 'voided'>();

  /** The status of one event (no chains), applying it if created. A subset of the ladder, same order. */
  apply(t: Transfer): TS {
    const existing = this.transfers.get(t.id);
    if (existing !== undefined) {
      const e = existing.t;
      if (t.flags !== e.flags) return TS.exists_with_different_flags;
      if (t.pending_id !== e.pending_id) return TS.exists_with_different_pending_id;
      if ((t.flags & (TF.post_pending_transfer | TF.void_pending_transfer)) !== 0) {
        return t.amount === e.amount || (t.amount === amount_max && existing.amount === this.transfers.get(t.pending_id)!.amount) ? TS.exists : TS.exists_with_different_amount;
      }
      if (t.debit_account_id !== e.debit_account_id) return TS.exists_with_different_debit_account_id;
      if (t.credit_account_id !== e.credit_account_id) return TS.exists_with_different_credit_account_id;
      return t.amount === e.amount ? TS.exists : TS.exists_with_different_amount;
    }
    if (this.failed.has(t.id)) return TS.id_already_failed;
    if ((t.flags & (TF.post_pending_transfer | TF.void_pending_transfer)) !== 0) return this.resolve(t);
    const dr = this.accounts.get(t.debit_account_id);
    if (dr === undefined) return this.fail(t, TS.debit_account_not_found);
    const cr = this.accounts.get(t.credit_account_id);
    if (cr === undefined) return this.fail(t, TS.credit_account_not_found);
    if (dr.limited && dr.dp + dr.dpo + t.amount > dr.cpo) return this.fail(t, TS.exceeds_credits);
    if ((t.flags & TF.pending) !== 0) {
      dr.dp += t.amount;
      cr.cp += t.amount;
    } else {
      dr.dpo += t.amount;
      cr.cpo += t.amount;
    }
    this.transfers.set(t.id, { t, amount: t.amount });
    return TS.created;
  }

  private resolve(t: Transfer): TS {
    const p = this.transfers.get(t.pending_id);
    if (p === undefined) return this.fail(t, TS.pending_transfer_not_found);
    if ((p.t.flags & TF.pending) === 0) return TS.pending_transfer_not_pending;
    const post = (t.flags & TF.post_pending_transfer) !== 0;
    const amount = post ? (t.amount === amount_max ? p.amount : t.amount) : t.amount === 0n ? p.amount : t.amount;
    if (amount > p.amount) return TS.exceeds_pending_transfer_amount;
    if (!post && amount < p.amount) return TS.pending_transfer_has_different_amount;
    const done = this.resolved.get(t.pending_id);
    if (done === 'posted') return TS.pending_transfer_already_posted;
    if (done === 'voided') return TS.pending_transfer_already_voided;
    const dr = this.accounts.get(p.t.debit_account_id)!;
    const cr = this.accounts.get(p.t.credit_account_id)!;
    dr.dp -= p.amount;
    cr.cp -= p.amount;
    if (post) {
      dr.dpo += amount;
      cr.cpo += amount;
    }
    this.resolved.set(t.pending_id, post ? 'posted' : 'voided');
    this.transfers.set(t.id, { t, amount });
    return TS.created;
  }

  private fail(t: Transfer, status: TS): TS {
    this.failed.add(t.id);
    return status;
  }
}

test('random batches agree with the reference model and keep the books balanced', async () => {
  const random = prng(20261121);
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)];
  const client = await makeClient();
  const model = new Model();
  const accounts = Array.from({ length: ACCOUNTS }, (_, i) => account(BigInt(i + 1), { flags: i < 2 ? AF.debits_must_not_exceed_credits : 0 }));
  await client.createAccounts(accounts);
  for (const a of accounts) model.accounts.set(a.id, { dp: 0n, dpo: 0n, cp: 0n, cpo: 0n, limited: a.flags !== 0 });
  const ids: bigint[] = [];
  let nextId = 1n;
  for (let b = 0; b < BATCHES; b++) {
    const batch: Transfer[] = [];
    for (let i = 0; i < 1 + Math.floor(random() * 40); i++) {
      const roll = random();
      const dr = BigInt(1 + Math.floor(random() * (ACCOUNTS + 1))); // ACCOUNTS + 1 does not exist
      let cr = BigInt(1 + Math.floor(random() * ACCOUNTS));
      if (cr === dr) cr = (cr % BigInt(ACCOUNTS)) + 1n;
      const amount = BigInt(Math.floor(random() * 100));
      if (roll < 0.1 && ids.length > 0) {
        const old = (await client.lookupTransfers([pick(ids)]))[0];
        if (old !== undefined) batch.push({ ...old, timestamp: 0n, amount: random() < 0.5 ? old.amount : old.amount + 1n });
        continue;
      }
      const id = nextId++;
      ids.push(id);
      if (roll < 0.45) batch.push(transfer(id, dr, cr, amount));
      else if (roll < 0.7) batch.push(transfer(id, dr, cr, amount, { flags: TF.pending }));
      else {
        const post = random() < 0.6;
        const pendingId = ids.length > 1 ? pick(ids.slice(0, -1)) : 999999n;
        const resolveAmount = post ? (random() < 0.5 ? amount_max : amount) : random() < 0.7 ? 0n : amount;
        batch.push(transfer(id, 0n, 0n, resolveAmount, { flags: post ? TF.post_pending_transfer : TF.void_pending_transfer, pending_id: pendingId, ledger: 0, code: 0 }));
      }
    }
    // The model applies events one by one in batch order, as the ledger executes them, so an event may
    // refer to one earlier in the same batch.
    const results = await client.createTransfers(batch);
    const expected = batch.map((t) => model.apply(t));
    assert.deepEqual(results.map((r) => TS[r.status]), expected.map((s) => TS[s]), `batch ${b}`);
    await checkInvariants(client, model);
  }
  await client.close();
});

async function checkInvariants(client: Awaited<ReturnType<typeof makeClient>>, model: Model): Promise<void> {
  const ids = Array.from({ length: ACCOUNTS }, (_, i) => BigInt(i + 1));
  const accounts = await client.lookupAccounts(ids);
  const sum = (f: (a: (typeof accounts)[number]) => bigint) => accounts.reduce((total, a) => total + f(a), 0n);
  assert.equal(sum((a) => a.debits_posted), sum((a) => a.credits_posted), 'posted debits equal posted credits');
  assert.equal(sum((a) => a.debits_pending), sum((a) => a.credits_pending), 'pending debits equal pending credits');
  const resolvedPending = new Set<bigint>();
  for (const a of accounts) {
    const m = model.accounts.get(a.id)!;
    assert.deepEqual([a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted], [m.dp, m.dpo, m.cp, m.cpo], `account ${String(a.id)}`);
    // Balance = sum of the account's own transfers, read back through the index.
    const transfers = await client.getAccountTransfers(accountFilter(a.id));
    let debitsPosted = 0n;
    let debitsPending = 0n;
    const pendingAmounts = new Map<bigint, bigint>();
    for (const t of transfers) {
      if (t.debit_account_id !== a.id) continue;
      if ((t.flags & TF.pending) !== 0) {
        debitsPending += t.amount;
        pendingAmounts.set(t.id, t.amount);
      } else if ((t.flags & (TF.post_pending_transfer | TF.void_pending_transfer)) !== 0) {
        assert.ok(!resolvedPending.has(t.pending_id), 'a pending transfer is resolved once');
        resolvedPending.add(t.pending_id);
        debitsPending -= pendingAmounts.get(t.pending_id)!;
        if ((t.flags & TF.post_pending_transfer) !== 0) debitsPosted += t.amount;
      } else debitsPosted += t.amount;
    }
    assert.equal(debitsPosted, a.debits_posted);
    assert.equal(debitsPending, a.debits_pending);
  }
}
