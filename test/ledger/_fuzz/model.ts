/**
 * A reference model of the ledger for differential fuzzing: TigerBeetle 0.17's semantics written the
 * plainest way, with nothing shared with `src/ledger` but the public types. Everything lives in Maps of
 * immutable objects (a change replaces an object, never mutates it), so a linked chain is rolled back by
 * restoring a shallow copy of the Maps taken when it began, and expiry scans every pending transfer. Slow
 * and obviously correct is the point; the fuzzer keeps its state small by starting over now and then.
 *
 * Timestamps follow the ledger's documented rules: a request first expires, in (expiry time, timestamp)
 * order, every pending transfer due at its clock reading, each expiry an event at max(expiry time, last
 * timestamp + 1); a batch of n events then takes the n timestamps ending at max(now, last + n).
 */
import {
  AccountFlags as AF, CreateAccountStatus as AS, CreateTransferStatus as TS, TransferFlags as TF,
  type Account, type AccountBalance, type CreateAccountResult, type CreateTransferResult, type Transfer,
} from 'purser';

const U128_MAX = (1n << 128n) - 1n;
const TS_MAX = (1n << 63n) - 1n;
const NS_PER_S = 1_000_000_000n;
const LINKED = 1;

type Pending = 'pending' | 'posted' | 'voided' | 'expired';

interface HistoryEntry extends AccountBalance {
  side: 'debit' | 'credit';
}

interface Tables {
  accounts: Map<bigint, Account>;
  transfers: Map<bigint, Transfer>;
  /** Status of each pending transfer, by the pending transfer's id. */
  pending: Map<bigint, Pending>;
  failed: Set<bigint>;
  /** Per account with flags.history: one entry per event that changed it, in order. */
  history: Map<bigint, readonly HistoryEntry[]>;
  /** Every timestamp of an account (for imported transfers, which must not reuse one). */
  accountTimestamps: Set<bigint>;
  commit: bigint;
}

function copy(t: Tables): Tables {
  return {
    accounts: new Map(t.accounts), transfers: new Map(t.transfers), pending: new Map(t.pending), failed: new Set(t.failed),
    history: new Map(t.history), accountTimestamps: new Set(t.accountTimestamps), commit: t.commit,
  };
}

function maxOf(values: Iterable<bigint>): bigint {
  let max = 0n;
  for (const v of values) if (v > max) max = v;
  return max;
}

export class ReferenceLedger {
  private t: Tables = {
    accounts: new Map(), transfers: new Map(), pending: new Map(), failed: new Set(), history: new Map(), accountTimestamps: new Set(), commit: 0n,
  };

  // ---- requests ------------------------------------------------------------------------------------

  createAccounts(nowNs: bigint, events: Account[]): CreateAccountResult[] {
    this.expire(nowNs);
    return this.batch(nowNs, events, AF.imported, AS, (a, ts) => this.createAccount(a, ts), (a) => this.t.accounts.get(a.id)!.timestamp, () => false);
  }

  createTransfers(nowNs: bigint, events: Transfer[]): CreateTransferResult[] {
    this.expire(nowNs);
    return this.batch(nowNs, events, TF.imported, TS, (t, ts) => this.createTransfer(t, ts), (t) => this.t.transfers.get(t.id)!.timestamp, isTransient);
  }

  lookupAccounts(nowNs: bigint, ids: bigint[]): Account[] {
    this.expire(nowNs);
    return ids.flatMap((id) => (this.t.accounts.has(id) ? [{ ...this.t.accounts.get(id)! }] : []));
  }

  lookupTransfers(nowNs: bigint, ids: bigint[]): Transfer[] {
    this.expire(nowNs);
    return ids.flatMap((id) => (this.t.transfers.has(id) ? [{ ...this.t.transfers.get(id)! }] : []));
  }

  /** getAccountBalances with both sides, no other filter, limit 8,189, oldest first. */
  balances(nowNs: bigint, id: bigint): AccountBalance[] {
    this.expire(nowNs);
    const account = this.t.accounts.get(id);
    if (account === undefined || (account.flags & AF.history) === 0) return [];
    return (this.t.history.get(id) ?? []).slice(0, 8189).map(({ side: _side, ...balance }) => balance);
  }

  /** getAccountTransfers with both sides, no other filter, limit 8,189, oldest first. */
  accountTransfers(nowNs: bigint, id: bigint): Transfer[] {
    this.expire(nowNs);
    return [...this.t.transfers.values()]
      .filter((t) => t.debit_account_id === id || t.credit_account_id === id)
      .sort((a, b) => (a.timestamp < b.timestamp ? -1 : 1))
      .slice(0, 8189)
      .map((t) => ({ ...t }));
  }

  accountIds(): bigint[] {
    return [...this.t.accounts.keys()];
  }

  pendingIds(): bigint[] {
    return [...this.t.pending.keys()];
  }

  /** When each still-pending transfer with a timeout expires. */
  expiryTimes(): bigint[] {
    const times: bigint[] = [];
    for (const [id, status] of this.t.pending) {
      const p = this.t.transfers.get(id)!;
      if (status === 'pending' && p.timeout !== 0) times.push(p.timestamp + BigInt(p.timeout) * NS_PER_S);
    }
    return times;
  }

  /** The latest transfer timestamp (an imported transfer must exceed it), or 0n. */
  get lastTransferTimestamp(): bigint {
    return maxOf([...this.t.transfers.values()].map((t) => t.timestamp));
  }

  get lastTimestamp(): bigint {
    return this.t.commit;
  }

  // ---- the batch loop ------------------------------------------------------------------------------

  private batch<E extends { id: bigint; flags: number; timestamp: bigint }>(
    nowNs: bigint, events: E[], importedFlag: number, S: typeof AS | typeof TS,
    create: (event: E, timestamp: bigint) => number, existing: (event: E) => bigint, transient: (status: number) => boolean,
  ): { status: number; timestamp: bigint }[] {
    const created: number = S.created;
    const exists: number = S.exists;
    const chainOpen: number = S.linked_event_chain_open;
    const n = BigInt(events.length);
    const last = nowNs > this.t.commit + n ? nowNs : this.t.commit + n;
    if (last > TS_MAX) throw new Error('model: timestamps exhausted');
    this.t.commit = last;
    const results: { status: number; timestamp: bigint }[] = [];
    const batchImported = events.length > 0 && (events[0].flags & importedFlag) !== 0;
    let chainStart = -1;
    let chainSnapshot: Tables | undefined;
    let broken = false;
    events.forEach((event, index) => {
      const timestamp = last - n + BigInt(index) + 1n;
      const linked = (event.flags & LINKED) !== 0;
      if (linked && chainStart < 0) {
        chainStart = index;
        chainSnapshot = copy(this.t);
      }
      let status: number;
      const imported = (event.flags & importedFlag) !== 0;
      if (linked && index === events.length - 1) status = S.linked_event_chain_open;
      else if (broken) status = S.linked_event_failed;
      else if (imported !== batchImported) status = imported ? S.imported_event_not_expected : S.imported_event_expected;
      else if (imported && (event.timestamp < 1n || event.timestamp > TS_MAX)) status = S.imported_event_timestamp_out_of_range;
      else if (imported && event.timestamp >= last) status = S.imported_event_timestamp_must_not_advance;
      else if (!imported && event.timestamp !== 0n) status = S.timestamp_must_be_zero;
      else status = create(event, imported ? event.timestamp : timestamp);
      let resultTimestamp = timestamp;
      if (status === created && imported) resultTimestamp = event.timestamp;
      if (status === exists) resultTimestamp = existing(event);
      results.push({ status, timestamp: resultTimestamp });
      if (status !== created) {
        if (chainStart >= 0 && !broken) {
          broken = true;
          const commit = this.t.commit;
          this.t = chainSnapshot!;
          this.t.commit = commit;
          for (let i = chainStart; i < index; i++) results[i].status = S.linked_event_failed;
        }
        if (transient(status)) this.t.failed = new Set(this.t.failed).add(event.id);
      }
      if (chainStart >= 0 && (!linked || status === chainOpen)) {
        chainStart = -1;
        broken = false;
        chainSnapshot = undefined;
      }
    });
    return results;
  }

  // ---- accounts ------------------------------------------------------------------------------------

  private createAccount(a: Account, timestamp: bigint): AS {
    if (a.reserved !== 0) return AS.reserved_field;
    if ((a.flags & ~0x3f) !== 0) return AS.reserved_flag;
    if (a.id === 0n) return AS.id_must_not_be_zero;
    if (a.id === U128_MAX) return AS.id_must_not_be_int_max;
    const e = this.t.accounts.get(a.id);
    if (e !== undefined) {
      if (a.flags !== e.flags) return AS.exists_with_different_flags;
      if (a.user_data_128 !== e.user_data_128) return AS.exists_with_different_user_data_128;
      if (a.user_data_64 !== e.user_data_64) return AS.exists_with_different_user_data_64;
      if (a.user_data_32 !== e.user_data_32) return AS.exists_with_different_user_data_32;
      if (a.ledger !== e.ledger) return AS.exists_with_different_ledger;
      if (a.code !== e.code) return AS.exists_with_different_code;
      return AS.exists;
    }
    if ((a.flags & AF.debits_must_not_exceed_credits) !== 0 && (a.flags & AF.credits_must_not_exceed_debits) !== 0) return AS.flags_are_mutually_exclusive;
    if (a.debits_pending !== 0n) return AS.debits_pending_must_be_zero;
    if (a.debits_posted !== 0n) return AS.debits_posted_must_be_zero;
    if (a.credits_pending !== 0n) return AS.credits_pending_must_be_zero;
    if (a.credits_posted !== 0n) return AS.credits_posted_must_be_zero;
    if (a.ledger === 0) return AS.ledger_must_not_be_zero;
    if (a.code === 0) return AS.code_must_not_be_zero;
    if ((a.flags & AF.imported) !== 0) {
      if (timestamp <= maxOf(this.t.accountTimestamps)) return AS.imported_event_timestamp_must_not_regress;
      if ([...this.t.transfers.values()].some((t) => t.timestamp === timestamp)) return AS.imported_event_timestamp_must_not_regress;
    }
    this.t.accounts.set(a.id, { ...a, timestamp });
    this.t.accountTimestamps.add(timestamp);
    return AS.created;
  }

  // ---- transfers -----------------------------------------------------------------------------------

  private createTransfer(t: Transfer, timestamp: bigint): TS {
    if ((t.flags & ~0x1ff) !== 0) return TS.reserved_flag;
    if (t.id === 0n) return TS.id_must_not_be_zero;
    if (t.id === U128_MAX) return TS.id_must_not_be_int_max;
    const e = this.t.transfers.get(t.id);
    if (e !== undefined) return this.transferExists(t, e);
    if (this.t.failed.has(t.id)) return TS.id_already_failed;
    if ((t.flags & (TF.post_pending_transfer | TF.void_pending_transfer)) !== 0) return this.resolve(t, timestamp);
    if (t.debit_account_id === 0n) return TS.debit_account_id_must_not_be_zero;
    if (t.debit_account_id === U128_MAX) return TS.debit_account_id_must_not_be_int_max;
    if (t.credit_account_id === 0n) return TS.credit_account_id_must_not_be_zero;
    if (t.credit_account_id === U128_MAX) return TS.credit_account_id_must_not_be_int_max;
    if (t.credit_account_id === t.debit_account_id) return TS.accounts_must_be_different;
    if (t.pending_id !== 0n) return TS.pending_id_must_be_zero;
    const pending = (t.flags & TF.pending) !== 0;
    if (!pending && t.timeout !== 0) return TS.timeout_reserved_for_pending_transfer;
    if (!pending && (t.flags & (TF.closing_debit | TF.closing_credit)) !== 0) return TS.closing_transfer_must_be_pending;
    if (t.ledger === 0) return TS.ledger_must_not_be_zero;
    if (t.code === 0) return TS.code_must_not_be_zero;
    const dr = this.t.accounts.get(t.debit_account_id);
    if (dr === undefined) return TS.debit_account_not_found;
    const cr = this.t.accounts.get(t.credit_account_id);
    if (cr === undefined) return TS.credit_account_not_found;
    if (dr.ledger !== cr.ledger) return TS.accounts_must_have_the_same_ledger;
    if (t.ledger !== dr.ledger) return TS.transfer_must_have_the_same_ledger_as_accounts;
    if ((t.flags & TF.imported) !== 0) {
      if (this.importRegresses(timestamp, dr, cr)) return TS.imported_event_timestamp_must_not_regress;
      if (timestamp <= dr.timestamp) return TS.imported_event_timestamp_must_postdate_debit_account;
      if (timestamp <= cr.timestamp) return TS.imported_event_timestamp_must_postdate_credit_account;
      if (t.timeout !== 0) return TS.imported_event_timeout_must_be_zero;
    }
    if ((dr.flags & AF.closed) !== 0) return TS.debit_account_already_closed;
    if ((cr.flags & AF.closed) !== 0) return TS.credit_account_already_closed;
    let amount = t.amount;
    if ((t.flags & TF.balancing_debit) !== 0) amount = min(amount, floor0(dr.credits_posted - dr.debits_posted - dr.debits_pending));
    if ((t.flags & TF.balancing_credit) !== 0) amount = min(amount, floor0(cr.debits_posted - cr.credits_posted - cr.credits_pending));
    if (pending && amount + dr.debits_pending > U128_MAX) return TS.overflows_debits_pending;
    if (pending && amount + cr.credits_pending > U128_MAX) return TS.overflows_credits_pending;
    if (amount + dr.debits_posted > U128_MAX) return TS.overflows_debits_posted;
    if (amount + cr.credits_posted > U128_MAX) return TS.overflows_credits_posted;
    if (amount + dr.debits_pending + dr.debits_posted > U128_MAX) return TS.overflows_debits;
    if (amount + cr.credits_pending + cr.credits_posted > U128_MAX) return TS.overflows_credits;
    if (t.timeout !== 0 && timestamp + BigInt(t.timeout) * NS_PER_S > TS_MAX) return TS.overflows_timeout;
    if ((dr.flags & AF.debits_must_not_exceed_credits) !== 0 && dr.debits_pending + dr.debits_posted + amount > dr.credits_posted) return TS.exceeds_credits;
    if ((cr.flags & AF.credits_must_not_exceed_debits) !== 0 && cr.credits_pending + cr.credits_posted + amount > cr.debits_posted) return TS.exceeds_debits;

    const stored: Transfer = { ...t, amount, timestamp };
    this.t.transfers.set(t.id, stored);
    let newDr: Account;
    let newCr: Account;
    if (pending) {
      this.t.pending.set(t.id, 'pending');
      newDr = { ...dr, debits_pending: dr.debits_pending + amount };
      newCr = { ...cr, credits_pending: cr.credits_pending + amount };
    } else {
      newDr = { ...dr, debits_posted: dr.debits_posted + amount };
      newCr = { ...cr, credits_posted: cr.credits_posted + amount };
    }
    if ((t.flags & TF.closing_debit) !== 0) newDr = { ...newDr, flags: newDr.flags | AF.closed };
    if ((t.flags & TF.closing_credit) !== 0) newCr = { ...newCr, flags: newCr.flags | AF.closed };
    this.apply(newDr, newCr, timestamp);
    return TS.created;
  }

  /** TigerBeetle's rule, plus Purser's: not into the past of a history account's events (expiries). */
  private importRegresses(timestamp: bigint, dr: Account, cr: Account): boolean {
    if (timestamp <= maxOf([...this.t.transfers.values()].map((x) => x.timestamp)) || this.t.accountTimestamps.has(timestamp)) return true;
    return [dr, cr].some((a) => (a.flags & AF.history) !== 0 && (this.t.history.get(a.id) ?? []).some((h) => h.timestamp >= timestamp));
  }

  private resolve(t: Transfer, timestamp: bigint): TS {
    const post = (t.flags & TF.post_pending_transfer) !== 0;
    const isVoid = (t.flags & TF.void_pending_transfer) !== 0;
    if (post && isVoid) return TS.flags_are_mutually_exclusive;
    if ((t.flags & (TF.pending | TF.balancing_debit | TF.balancing_credit | TF.closing_debit | TF.closing_credit)) !== 0) return TS.flags_are_mutually_exclusive;
    if (t.pending_id === 0n) return TS.pending_id_must_not_be_zero;
    if (t.pending_id === U128_MAX) return TS.pending_id_must_not_be_int_max;
    if (t.pending_id === t.id) return TS.pending_id_must_be_different;
    if (t.timeout !== 0) return TS.timeout_reserved_for_pending_transfer;
    const p = this.t.transfers.get(t.pending_id);
    if (p === undefined) return TS.pending_transfer_not_found;
    if ((p.flags & TF.pending) === 0) return TS.pending_transfer_not_pending;
    const dr = this.t.accounts.get(p.debit_account_id)!;
    const cr = this.t.accounts.get(p.credit_account_id)!;
    if (t.debit_account_id !== 0n && t.debit_account_id !== p.debit_account_id) return TS.pending_transfer_has_different_debit_account_id;
    if (t.credit_account_id !== 0n && t.credit_account_id !== p.credit_account_id) return TS.pending_transfer_has_different_credit_account_id;
    if (t.ledger !== 0 && t.ledger !== p.ledger) return TS.pending_transfer_has_different_ledger;
    if (t.code !== 0 && t.code !== p.code) return TS.pending_transfer_has_different_code;
    const amount = isVoid ? (t.amount > 0n ? t.amount : p.amount) : t.amount === U128_MAX ? p.amount : t.amount;
    if (amount > p.amount) return TS.exceeds_pending_transfer_amount;
    if (isVoid && amount < p.amount) return TS.pending_transfer_has_different_amount;
    const status = this.t.pending.get(p.id);
    if (status === 'posted') return TS.pending_transfer_already_posted;
    if (status === 'voided') return TS.pending_transfer_already_voided;
    if (status === 'expired') return TS.pending_transfer_expired;
    if (p.timeout !== 0 && p.timestamp + BigInt(p.timeout) * NS_PER_S <= timestamp) return TS.pending_transfer_expired;
    if ((t.flags & TF.imported) !== 0 && this.importRegresses(timestamp, dr, cr)) return TS.imported_event_timestamp_must_not_regress;
    if ((dr.flags & AF.closed) !== 0 && !isVoid) return TS.debit_account_already_closed;
    if ((cr.flags & AF.closed) !== 0 && !isVoid) return TS.credit_account_already_closed;

    this.t.transfers.set(t.id, {
      id: t.id, debit_account_id: p.debit_account_id, credit_account_id: p.credit_account_id, amount, pending_id: t.pending_id,
      user_data_128: t.user_data_128 !== 0n ? t.user_data_128 : p.user_data_128,
      user_data_64: t.user_data_64 !== 0n ? t.user_data_64 : p.user_data_64,
      user_data_32: t.user_data_32 !== 0 ? t.user_data_32 : p.user_data_32,
      timeout: 0, ledger: p.ledger, code: p.code, flags: t.flags, timestamp,
    });
    this.t.pending.set(p.id, post ? 'posted' : 'voided');
    let newDr: Account = { ...dr, debits_pending: dr.debits_pending - p.amount };
    let newCr: Account = { ...cr, credits_pending: cr.credits_pending - p.amount };
    if (post) {
      newDr = { ...newDr, debits_posted: newDr.debits_posted + amount };
      newCr = { ...newCr, credits_posted: newCr.credits_posted + amount };
    } else {
      if ((p.flags & TF.closing_debit) !== 0) newDr = { ...newDr, flags: newDr.flags & ~AF.closed };
      if ((p.flags & TF.closing_credit) !== 0) newCr = { ...newCr, flags: newCr.flags & ~AF.closed };
    }
    this.apply(newDr, newCr, timestamp);
    return TS.created;
  }

  private transferExists(t: Transfer, e: Transfer): TS {
    if (t.flags !== e.flags) return TS.exists_with_different_flags;
    if (t.pending_id !== e.pending_id) return TS.exists_with_different_pending_id;
    if (t.timeout !== e.timeout) return TS.exists_with_different_timeout;
    if ((t.flags & (TF.post_pending_transfer | TF.void_pending_transfer)) !== 0) {
      const p = this.t.transfers.get(t.pending_id)!;
      const orPending = <V>(given: V, zero: V, stored: V, fromPending: V) => (given === zero ? stored !== fromPending : given !== stored);
      if (t.debit_account_id !== 0n && t.debit_account_id !== e.debit_account_id) return TS.exists_with_different_debit_account_id;
      if (t.credit_account_id !== 0n && t.credit_account_id !== e.credit_account_id) return TS.exists_with_different_credit_account_id;
      const amountZero = (t.flags & TF.void_pending_transfer) !== 0 ? 0n : U128_MAX;
      if (orPending(t.amount, amountZero, e.amount, p.amount)) return TS.exists_with_different_amount;
      if (orPending(t.user_data_128, 0n, e.user_data_128, p.user_data_128)) return TS.exists_with_different_user_data_128;
      if (orPending(t.user_data_64, 0n, e.user_data_64, p.user_data_64)) return TS.exists_with_different_user_data_64;
      if (orPending(t.user_data_32, 0, e.user_data_32, p.user_data_32)) return TS.exists_with_different_user_data_32;
      if (t.ledger !== 0 && t.ledger !== e.ledger) return TS.exists_with_different_ledger;
      if (t.code !== 0 && t.code !== e.code) return TS.exists_with_different_code;
      return TS.exists;
    }
    if (t.debit_account_id !== e.debit_account_id) return TS.exists_with_different_debit_account_id;
    if (t.credit_account_id !== e.credit_account_id) return TS.exists_with_different_credit_account_id;
    const balancing = (t.flags & (TF.balancing_debit | TF.balancing_credit)) !== 0;
    if (balancing ? t.amount < e.amount : t.amount !== e.amount) return TS.exists_with_different_amount;
    if (t.user_data_128 !== e.user_data_128) return TS.exists_with_different_user_data_128;
    if (t.user_data_64 !== e.user_data_64) return TS.exists_with_different_user_data_64;
    if (t.user_data_32 !== e.user_data_32) return TS.exists_with_different_user_data_32;
    if (t.ledger !== e.ledger) return TS.exists_with_different_ledger;
    if (t.code !== e.code) return TS.exists_with_different_code;
    return TS.exists;
  }

  // ---- effects -------------------------------------------------------------------------------------

  /** Stores the two accounts' new versions and, for accounts with history, their balances after the event. */
  private apply(dr: Account, cr: Account, timestamp: bigint): void {
    this.t.accounts.set(dr.id, dr);
    this.t.accounts.set(cr.id, cr);
    for (const [a, side] of [[dr, 'debit'], [cr, 'credit']] as const) {
      if ((a.flags & AF.history) === 0) continue;
      const entry: HistoryEntry = {
        debits_pending: a.debits_pending, debits_posted: a.debits_posted, credits_pending: a.credits_pending, credits_posted: a.credits_posted,
        timestamp, side,
      };
      this.t.history.set(a.id, [...(this.t.history.get(a.id) ?? []), entry]);
    }
  }

  /** Expires every pending transfer due at `nowNs`, in (expiry time, timestamp) order. */
  private expire(nowNs: bigint): void {
    const due: { at: bigint; p: Transfer }[] = [];
    for (const [id, status] of this.t.pending) {
      const p = this.t.transfers.get(id)!;
      if (status !== 'pending' || p.timeout === 0) continue;
      const at = p.timestamp + BigInt(p.timeout) * NS_PER_S;
      if (at <= nowNs) due.push({ at, p });
    }
    due.sort((x, y) => (x.at !== y.at ? (x.at < y.at ? -1 : 1) : x.p.timestamp < y.p.timestamp ? -1 : 1));
    for (const { at, p } of due) {
      const timestamp = at > this.t.commit ? at : this.t.commit + 1n;
      this.t.commit = timestamp;
      this.t.pending.set(p.id, 'expired');
      const dr = this.t.accounts.get(p.debit_account_id)!;
      const cr = this.t.accounts.get(p.credit_account_id)!;
      let newDr: Account = { ...dr, debits_pending: dr.debits_pending - p.amount };
      let newCr: Account = { ...cr, credits_pending: cr.credits_pending - p.amount };
      if ((p.flags & TF.closing_debit) !== 0) newDr = { ...newDr, flags: newDr.flags & ~AF.closed };
      if ((p.flags & TF.closing_credit) !== 0) newCr = { ...newCr, flags: newCr.flags & ~AF.closed };
      this.apply(newDr, newCr, timestamp);
    }
  }
}

function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

function floor0(value: bigint): bigint {
  return value > 0n ? value : 0n;
}

const TRANSIENT = new Set<number>([
  TS.debit_account_not_found, TS.credit_account_not_found, TS.pending_transfer_not_found, TS.exceeds_credits, TS.exceeds_debits,
  TS.debit_account_already_closed, TS.credit_account_already_closed,
]);

function isTransient(status: number): boolean {
  return TRANSIENT.has(status);
}
