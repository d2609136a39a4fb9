/**
 * Differential fuzzing: the same random requests go to a ledger under test (embedded, or over the wire
 * through tigerbeetle-node) and to `ReferenceLedger`; every create result (status and timestamp) must be
 * equal, and every few requests all accounts, a sample of transfers, each history account's balances and
 * some accounts' transfers are compared too. The generator aims at the corners: linked chains with ids
 * repeated inside and across chains, two-phase transfers with timeouts of a few seconds and a clock that
 * steps forward and back, closing and balancing transfers, imported batches, amounts near 2^128.
 *
 * A run is reproducible from its seed: the first mismatch throws a `FuzzMismatch` that names the seed,
 * the request and the batch. The state starts over every `restartEvery` events (a new ledger and a new
 * model), which keeps the model's naive data structures fast.
 */
import { isDeepStrictEqual } from 'node:util';
import {
  AccountFlags as AF, TransferFlags as TF,
  type Account, type AccountBalance, type AccountFilter, type CreateAccountResult, type CreateTransferResult, type Transfer,
} from 'purser';
import { ReferenceLedger } from './model.js';

const U128_MAX = (1n << 128n) - 1n;
const NS_PER_S = 1_000_000_000n;
const NS_PER_MS = 1_000_000n;
const CLOCK_START_NS = 1_767_225_600n * NS_PER_S;
const ACCOUNT_POOL = 24;

/** The client methods the fuzzer drives: tigerbeetle-node's and Purser's `Client` both have them. */
export interface FuzzClient {
  createAccounts(batch: Account[]): Promise<CreateAccountResult[]>;
  createTransfers(batch: Transfer[]): Promise<CreateTransferResult[]>;
  lookupAccounts(ids: bigint[]): Promise<Account[]>;
  lookupTransfers(ids: bigint[]): Promise<Transfer[]>;
  getAccountBalances(filter: AccountFilter): Promise<AccountBalance[]>;
  getAccountTransfers(filter: AccountFilter): Promise<Transfer[]>;
}

/** A fresh ledger under test whose clock reads `clock.nowNs`. */
export interface FuzzTarget {
  client: FuzzClient;
  close(): Promise<void>;
}

export type OpenTarget = (clock: { nowNs: bigint }) => Promise<FuzzTarget>;

export class FuzzMismatch extends Error {}

export interface FuzzReport {
  events: number;
  requests: number;
  ledgers: number;
  /** Results compared per status name: what the run covered. */
  statuses: Map<string, number>;
}

/** mulberry32: small, fast, seedable. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function show(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
}

/** For arrays, the first element that differs (a long history would bury it), else both values. */
function difference(expected: unknown, actual: unknown): string {
  if (Array.isArray(expected) && Array.isArray(actual)) {
    const at = expected.findIndex((value, i) => !isDeepStrictEqual(value, actual[i]));
    const index = at >= 0 ? at : Math.min(expected.length, actual.length);
    return `lengths ${expected.length} expected, ${actual.length} actual; first difference at [${index}]\n` +
      `expected: ${show(expected.slice(Math.max(0, index - 2), index + 2))}\nactual:   ${show(actual.slice(Math.max(0, index - 2), index + 2))}`;
  }
  return `expected: ${show(expected)}\nactual:   ${show(actual)}`;
}

function filterFor(accountId: bigint): AccountFilter {
  return { account_id: accountId, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, code: 0, timestamp_min: 0n, timestamp_max: 0n, limit: 8189, flags: 3 };
}

class Generator {
  private nextTransferId = 1n;
  private readonly recent: Transfer[] = [];

  constructor(private readonly random: () => number, private readonly model: ReferenceLedger) {}

  private chance(p: number): boolean {
    return this.random() < p;
  }

  private int(min: number, max: number): number {
    return min + Math.floor(this.random() * (max - min + 1));
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)];
  }

  accountId(): bigint {
    if (this.chance(0.01)) return this.pick([0n, U128_MAX, U128_MAX - 1n]);
    // Mostly accounts that exist, some that do not yet.
    const existing = this.model.accountIds();
    if (existing.length > 0 && this.chance(0.9)) return this.pick(existing);
    return BigInt(this.int(1, ACCOUNT_POOL));
  }

  amount(): bigint {
    const r = this.random();
    if (r < 0.05) return 0n;
    if (r < 0.08) return this.pick([U128_MAX, U128_MAX - 1n, 1n << 127n, (1n << 127n) + 1n, U128_MAX - BigInt(this.int(0, 1000))]);
    if (r < 0.1) return 1n << 64n;
    return BigInt(this.int(1, 1000));
  }

  accounts(imported: boolean, lastTimestamp: bigint): Account[] {
    const count = this.int(1, 6);
    const batch: Account[] = [];
    let timestamp = lastTimestamp + BigInt(this.int(1, 5));
    for (let i = 0; i < count; i++) {
      let flags = 0;
      if (this.chance(0.15)) flags |= AF.linked;
      if (this.chance(0.2)) flags |= AF.debits_must_not_exceed_credits;
      if (this.chance(0.15)) flags |= AF.credits_must_not_exceed_debits;
      if (this.chance(0.3)) flags |= AF.history;
      if (this.chance(0.005)) flags |= AF.closed;
      if (imported !== this.chance(0.03)) flags |= AF.imported;
      if (this.chance(0.005)) flags |= 1 << 6;
      const a: Account = {
        id: this.accountId(), debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n,
        user_data_128: BigInt(this.int(0, 2)), user_data_64: BigInt(this.int(0, 2)), user_data_32: this.int(0, 2),
        reserved: this.chance(0.01) ? 1 : 0, ledger: this.chance(0.02) ? 0 : this.chance(0.03) ? 2 : 1, code: this.chance(0.02) ? 0 : this.int(1, 2),
        flags, timestamp: 0n,
      };
      if (this.chance(0.03)) a[this.pick(['debits_pending', 'debits_posted', 'credits_pending', 'credits_posted'] as const)] = 1n;
      if ((flags & AF.imported) !== 0) {
        // Now and then out of range, at or past the batch's end, or on a transfer's timestamp (must not regress).
        a.timestamp = this.chance(0.08) ? this.pick([0n, 1n << 63n, lastTimestamp, lastTimestamp + 10_000n * NS_PER_S, this.model.lastTransferTimestamp]) : timestamp;
        timestamp += BigInt(this.int(1, 3));
      } else if (this.chance(0.01)) a.timestamp = 5n;
      if (this.chance(0.01)) a.id = 1n << 100n; // an id beyond 2^53 (kept apart from small ids)
      batch.push(a);
    }
    return batch;
  }

  transfers(imported: boolean, lastTimestamp: bigint): Transfer[] {
    const count = this.int(1, 24);
    const batch: Transfer[] = [];
    // Imported transfers start after the last event, or just after the last transfer (then they may
    // predate an account created since, or an expiry).
    const base = this.chance(0.3) ? this.model.lastTransferTimestamp : lastTimestamp;
    let timestamp = base + BigInt(this.int(1, 5));
    for (let i = 0; i < count; i++) {
      let t: Transfer;
      const r = this.random();
      if (r < 0.12 && this.recent.length > 0) {
        // An earlier event again: exactly (exists) or with one field changed.
        t = { ...this.pick(this.recent) };
        if (this.chance(0.4)) this.mutate(t);
      } else if (r < 0.18 && batch.length > 0) {
        t = { ...this.pick(batch) }; // an id repeated inside this batch (and maybe inside its chain)
        if (this.chance(0.3)) this.mutate(t);
      } else {
        t = this.fresh();
      }
      t.flags &= ~TF.linked;
      if (this.chance(0.1)) t.flags |= TF.linked;
      t.flags &= ~TF.imported;
      if (imported !== this.chance(0.03)) {
        t.flags |= TF.imported;
        t.timeout = this.chance(0.9) ? 0 : t.timeout;
        t.timestamp = this.chance(0.05) ? this.pick([0n, lastTimestamp, 1n << 63n]) : timestamp;
        timestamp += BigInt(this.int(1, 3));
      } else {
        t.timestamp = this.chance(0.005) ? 7n : 0n;
      }
      batch.push(t);
    }
    for (const t of batch) {
      this.recent.push(t);
      if (this.recent.length > 300) this.recent.shift();
    }
    return batch;
  }

  private fresh(): Transfer {
    const t: Transfer = {
      id: this.chance(0.01) ? this.pick([0n, U128_MAX]) : this.nextTransferId++,
      debit_account_id: this.accountId(), credit_account_id: this.accountId(), amount: this.amount(), pending_id: 0n,
      user_data_128: BigInt(this.int(0, 3)), user_data_64: BigInt(this.int(0, 3)), user_data_32: this.int(0, 3),
      timeout: 0, ledger: this.chance(0.01) ? 0 : this.chance(0.02) ? 2 : 1, code: this.chance(0.02) ? 0 : this.int(1, 3), flags: 0, timestamp: 0n,
    };
    const r = this.random();
    const pendingIds = this.model.pendingIds();
    if (r < 0.3) {
      t.flags |= TF.pending;
      t.timeout = this.pick([0, 0, 1, 1, 2, 3, 60]);
      if (this.chance(0.03)) {
        t.flags |= this.pick([TF.closing_debit, TF.closing_credit, TF.closing_debit | TF.closing_credit]);
        t.timeout = this.pick([0, 1, 2]); // mostly expiring soon: expiry re-opens the account
      }
    } else if (r < 0.5 && pendingIds.length > 0) {
      t.flags |= this.chance(0.6) ? TF.post_pending_transfer : TF.void_pending_transfer;
      const r2 = this.random();
      if (r2 < 0.88) t.pending_id = this.pick(pendingIds);
      else if (r2 < 0.94 && this.recent.length > 0) t.pending_id = this.pick(this.recent).id; // maybe not a pending transfer
      else t.pending_id = this.pick([0n, U128_MAX, t.id, 999_999n]);
      if (this.chance(0.6)) t.debit_account_id = 0n;
      if (this.chance(0.6)) t.credit_account_id = 0n;
      if (this.chance(0.5)) t.ledger = 0;
      if (this.chance(0.5)) t.code = 0;
      t.amount = this.pick([0n, U128_MAX, t.amount, BigInt(this.int(1, 50))]);
      if (this.chance(0.03)) t.flags |= this.pick([TF.pending, TF.balancing_debit, TF.void_pending_transfer, TF.closing_credit]);
    } else if (r < 0.58) {
      t.flags |= this.pick([TF.balancing_debit, TF.balancing_credit, TF.balancing_debit | TF.balancing_credit]);
    } else if (r < 0.6) {
      t.flags |= this.pick([TF.closing_debit, 1 << 9, 1 << 12]);
      if (this.chance(0.5)) t.timeout = 1;
    } else if (r < 0.62) {
      t.timeout = 1; // on a posted transfer: reserved for pending ones
    } else if (r < 0.63) {
      t.pending_id = 5n; // on a transfer that is not a post or void
    } else if (r < 0.64) {
      t.flags |= TF.pending;
      t.timeout = 0xffff_ffff; // overflows the timestamp range
    }
    return t;
  }

  private mutate(t: Transfer): void {
    switch (this.int(0, 10)) {
      case 8: t.pending_id = t.pending_id === 0n || t.pending_id === U128_MAX ? 1n : t.pending_id + 1n; break;
      case 9: t.credit_account_id = this.accountId(); break;
      case 10: t.ledger = t.ledger === 1 ? 2 : 1; break;
      case 0: t.amount = t.amount === U128_MAX ? 0n : t.amount + 1n; break;
      case 1: t.user_data_128 += 1n; break;
      case 2: t.user_data_64 += 1n; break;
      case 3: t.user_data_32 += 1; break;
      case 4: t.code += 1; break;
      case 5: t.flags ^= TF.pending; break;
      case 6: t.timeout = (t.timeout + 1) % 0x1_0000_0000; break;
      default: t.debit_account_id = this.accountId(); break;
    }
  }
}

/**
 * Moves the clock: mostly a little forward, sometimes past a timeout, sometimes back, rarely far ahead,
 * and sometimes to a few nanoseconds before a pending transfer expires, so that the events of the next
 * batch fall exactly on the expiry time.
 */
function stepClock(clock: { nowNs: bigint }, random: () => number, model: ReferenceLedger): void {
  const r = random();
  const expiries = model.expiryTimes();
  if (r < 0.06 && expiries.length > 0) clock.nowNs = expiries[Math.floor(random() * expiries.length)] - BigInt(Math.floor(random() * 12));
  else if (r < 0.16) return; // the clock stands still: timestamps run ahead of it, across expiry times too
  else if (r < 0.6) clock.nowNs += BigInt(Math.floor(random() * 300)) * NS_PER_MS;
  else if (r < 0.85) clock.nowNs += BigInt(1000 + Math.floor(random() * 3000)) * NS_PER_MS;
  else if (r < 0.97) clock.nowNs -= BigInt(Math.floor(random() * 4000)) * NS_PER_MS;
  else clock.nowNs += 3_600n * NS_PER_S;
}

export async function fuzz(options: { seed: number; events: number; open: OpenTarget; restartEvery?: number; checkEvery?: number; onProgress?: (report: FuzzReport) => void }): Promise<FuzzReport> {
  const random = prng(options.seed);
  const restartEvery = options.restartEvery ?? 4000;
  const checkEvery = options.checkEvery ?? 25;
  const report: FuzzReport = { events: 0, requests: 0, ledgers: 0, statuses: new Map() };
  while (report.events < options.events) {
    const clock = { nowNs: CLOCK_START_NS };
    const target = await options.open(clock);
    report.ledgers++;
    const model = new ReferenceLedger();
    const generator = new Generator(random, model);
    const fail = (what: string, request: unknown, expected: unknown, actual: unknown): never => {
      throw new FuzzMismatch(`seed ${options.seed}, ledger ${report.ledgers}, request ${report.requests}: ${what} differs\n` +
        `request:  ${show(request)}\n${difference(expected, actual)}`);
    };
    try {
      let eventsHere = 0;
      while (eventsHere < restartEvery && report.events < options.events) {
        stepClock(clock, random, model);
        report.requests++;
        const importing = random() < 0.03;
        if (importing) clock.nowNs = (model.lastTimestamp > clock.nowNs ? model.lastTimestamp : clock.nowNs) + 60n * NS_PER_S;
        if (random() < (model.accountIds().length < 8 ? 0.6 : 0.12)) {
          const batch = generator.accounts(importing, model.lastTimestamp);
          const expected = model.createAccounts(clock.nowNs, batch.map((a) => ({ ...a })));
          const actual = plain(await target.client.createAccounts(batch));
          if (!isDeepStrictEqual(actual, expected)) fail('createAccounts results', batch, expected, actual);
          count(report, 'account', expected);
          eventsHere += batch.length;
          report.events += batch.length;
        } else {
          const batch = generator.transfers(importing, model.lastTimestamp);
          const expected = model.createTransfers(clock.nowNs, batch.map((t) => ({ ...t })));
          const actual = plain(await target.client.createTransfers(batch));
          if (!isDeepStrictEqual(actual, expected)) fail('createTransfers results', batch, expected, actual);
          count(report, 'transfer', expected);
          eventsHere += batch.length;
          report.events += batch.length;
        }
        if (report.requests % checkEvery === 0) await compareState(target.client, model, clock, random, fail);
      }
      await compareState(target.client, model, clock, random, fail);
      options.onProgress?.(report);
    } finally {
      await target.close();
    }
  }
  return report;
}

/** Results as status and timestamp only (tigerbeetle-node's carry a `reserved` field as well). */
function plain(results: { status: number; timestamp: bigint }[]): { status: number; timestamp: bigint }[] {
  return results.map(({ status, timestamp }) => ({ status, timestamp }));
}

function count(report: FuzzReport, kind: string, results: { status: number }[]): void {
  for (const { status } of results) {
    const key = `${kind}:${status}`;
    report.statuses.set(key, (report.statuses.get(key) ?? 0) + 1);
  }
}

async function compareState(
  client: FuzzClient, model: ReferenceLedger, clock: { nowNs: bigint }, random: () => number,
  fail: (what: string, request: unknown, expected: unknown, actual: unknown) => never,
): Promise<void> {
  const ids = [...model.accountIds(), 404n].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const expectedAccounts = model.lookupAccounts(clock.nowNs, ids);
  const accounts = await client.lookupAccounts(ids);
  if (!isDeepStrictEqual(accounts, expectedAccounts)) fail('lookupAccounts', ids, expectedAccounts, accounts);
  const transferIds = [...model.pendingIds().slice(-40), ...Array.from({ length: 40 }, () => BigInt(1 + Math.floor(random() * 2000)))];
  const expectedTransfers = model.lookupTransfers(clock.nowNs, transferIds);
  const transfers = await client.lookupTransfers(transferIds);
  if (!isDeepStrictEqual(transfers, expectedTransfers)) fail('lookupTransfers', transferIds, expectedTransfers, transfers);
  for (const account of expectedAccounts) {
    if ((account.flags & AF.history) !== 0) {
      const expected = model.balances(clock.nowNs, account.id);
      const actual = await client.getAccountBalances(filterFor(account.id));
      if (!isDeepStrictEqual(actual, expected)) fail(`getAccountBalances(${account.id})`, account.id, expected, actual);
    }
  }
  if (expectedAccounts.length > 0) {
    const id = expectedAccounts[Math.floor(random() * expectedAccounts.length)].id;
    const expected = model.accountTransfers(clock.nowNs, id);
    const actual = await client.getAccountTransfers(filterFor(id));
    if (!isDeepStrictEqual(actual, expected)) fail(`getAccountTransfers(${id})`, id, expected, actual);
  }
}
