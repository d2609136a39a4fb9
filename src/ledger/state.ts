/**
 * The ledger's in-memory state: account balances, the id maps, the pending-transfer statuses, the expiry
 * queue and every secondary index. It is derived entirely from the ledger's tables in the store (rebuilt by
 * `load()` on open), and every change made while executing a request is (a) undoable through the request's
 * `Scope` — for linked chains that fail and for requests that fail — and (b) mirrored as a write
 * to those tables, which the caller puts into the store transaction that carries the request.
 *
 * Full transfer records live only in the store (128 bytes each, TigerBeetle's layout); the state keeps
 * what validation and indexes need, so a million transfers cost little heap.
 */
import { assert } from '../errors.js';
import { decodeAccount, RECORD_SIZE_BYTES, viewOf } from '../wire/tigerbeetle/codec.js';
import { TransferIdIndex } from './id-index.js';
import { TimestampList, ValueIndex } from './indexes.js';
import { AccountPages, TransferPages } from './pages.js';
import { TransferFlags, type Account, type Transfer } from './types.js';

export const TABLES = {
  accounts: 'ledger.accounts',
  transfers: 'ledger.transfers',
  failed: 'ledger.failed',
  pending: 'ledger.pending',
  history: 'ledger.history',
  meta: 'ledger.meta',
} as const;

export const META_COMMIT_TIMESTAMP_KEY = new TextEncoder().encode('commit_timestamp');

/** What became of a pending transfer. Stored as one byte in `ledger.pending`, keyed by its timestamp. */
export enum PendingStatus {
  pending = 1,
  posted = 2,
  voided = 3,
  expired = 4,
}

/** What expiry needs of a pending transfer, kept in memory so expiring needs no read. */
export interface PendingInfo {
  status: PendingStatus;
  /** `timestamp + timeout * 1e9`, or 0n for a pending transfer without timeout. */
  expiresAtNs: bigint;
  debitAccountId: bigint;
  creditAccountId: bigint;
  amount: bigint;
  flags: number;
}

/** The narrow view of a store transaction the ledger needs. `Transaction` from the store satisfies it. */
export interface LedgerTx {
  get(table: string, key: Uint8Array): Promise<Uint8Array | undefined>;
  put(table: string, key: Uint8Array, value: Uint8Array): Promise<void>;
  range(table: string): AsyncIterable<[Uint8Array, Uint8Array]>;
}

export interface Write {
  table: string;
  key: Uint8Array;
  value: Uint8Array;
}

/**
 * Everything one ledger transaction changed, so it can be written out or undone.
 *
 * Every change records its undo entry, for every request: a failed chain rolls back to where it began, and
 * a request that fails for any reason (the caller's function threw, the store transaction aborted, an
 * invariant broke) is undone whole, so the ledger serves on exactly as it was before the request. Costs a
 * closure per change; measured on `npm run bench -- ledger` (README, Ledger).
 */
export class Scope {
  readonly undo: (() => void)[] = [];

  readonly writes: Write[] = [];
  readonly dirtyAccounts = new Set<StoredAccount>();
  /** Accounts already encoded into their pages by this scope: re-encoded if the scope is undone. */
  readonly writtenAccounts = new Set<StoredAccount>();
  /** Transfers read (prefetched) or created in this scope, by id. */
  readonly transfers = new Map<bigint, Transfer>();
  /** Transfers created and not yet appended to the transfer pages, in timestamp order. */
  readonly createdTransfers: Transfer[] = [];

  rollbackTo(undoLength: number, writesLength: number): void {
    while (this.undo.length > undoLength) this.undo.pop()!();
    this.writes.length = writesLength;
  }
}

export function u128Key(value: bigint): Uint8Array {
  const key = new Uint8Array(16);
  const view = new DataView(key.buffer);
  view.setBigUint64(0, value >> 64n);
  view.setBigUint64(8, value & 0xffff_ffff_ffff_ffffn);
  return key;
}

export function u64Key(value: bigint): Uint8Array {
  const key = new Uint8Array(8);
  new DataView(key.buffer).setBigUint64(0, value);
  return key;
}

function readU64Key(key: Uint8Array, offset = 0): bigint {
  return new DataView(key.buffer, key.byteOffset + offset, 8).getBigUint64(0);
}

function readU128Key(key: Uint8Array): bigint {
  const view = new DataView(key.buffer, key.byteOffset, 16);
  return (view.getBigUint64(0) << 64n) | view.getBigUint64(8);
}

/**
 * A min-heap of (expiresAtNs, pending timestamp), ordered by both: transfers due at the same time expire
 * in timestamp order (as TigerBeetle's expires_at index orders them), so expiry timestamps do not depend on
 * the heap's shape. Stale entries (resolved transfers) are skipped on pop.
 */
export class ExpiryQueue {
  private readonly heap: [bigint, bigint][] = [];

  push(expiresAtNs: bigint, timestamp: bigint): void {
    const heap = this.heap;
    heap.push([expiresAtNs, timestamp]);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i], heap[parent])) break;
      [heap[parent], heap[i]] = [heap[i], heap[parent]];
      i = parent;
    }
  }

  peek(): [bigint, bigint] | undefined {
    return this.heap[0];
  }

  pop(): [bigint, bigint] | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last !== undefined) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < heap.length && before(heap[left], heap[smallest])) smallest = left;
        if (right < heap.length && before(heap[right], heap[smallest])) smallest = right;
        if (smallest === i) break;
        [heap[smallest], heap[i]] = [heap[i], heap[smallest]];
        i = smallest;
      }
    }
    return top;
  }
}

function before(a: [bigint, bigint], b: [bigint, bigint]): boolean {
  return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
}

export interface AccountIndexes {
  user_data_128: ValueIndex<bigint>;
  user_data_64: ValueIndex<bigint>;
  user_data_32: ValueIndex<number>;
  ledger: ValueIndex<number>;
  code: ValueIndex<number>;
}

/** Transfers by debit and credit account are indexed on the account itself (`StoredAccount`). */
export type TransferIndexes = AccountIndexes;

/**
 * An account as the ledger keeps it: the public fields, its slot in the account pages, and the timestamps
 * of its transfers on each side (the index behind `getAccountTransfers`). Kept on the account so the hot
 * path finds them without another map lookup; never handed out (see `publicAccount`).
 */
export interface StoredAccount extends Account {
  slot: number;
  debitsIndex: TimestampList;
  creditsIndex: TimestampList;
}

export function publicAccount(a: Account): Account {
  return {
    id: a.id, debits_pending: a.debits_pending, debits_posted: a.debits_posted, credits_pending: a.credits_pending,
    credits_posted: a.credits_posted, user_data_128: a.user_data_128, user_data_64: a.user_data_64, user_data_32: a.user_data_32,
    reserved: a.reserved, ledger: a.ledger, code: a.code, flags: a.flags, timestamp: a.timestamp,
  };
}

/** The largest id an `AccountMap` keys by number: every integer up to it converts to a number exactly. */
const NUMBER_KEY_MAX = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Account id → account. Ids up to 2^53 − 1 (sequential ids, most ledgers) are keyed by their exact number
 * value, others by bigint. Looking up the two accounts of every transfer was a large share of
 * `createTransfer`'s own time; a number-keyed Map was measured about 1.5–2× faster than a bigint-keyed one
 * (10,000 accounts: ≈37–67 ns against ≈60–83 ns per lookup, more once the map falls out of cache).
 */
export class AccountMap {
  private readonly byNumber = new Map<number, StoredAccount>();
  private readonly byBigint = new Map<bigint, StoredAccount>();

  get(id: bigint): StoredAccount | undefined {
    return id <= NUMBER_KEY_MAX ? this.byNumber.get(Number(id)) : this.byBigint.get(id);
  }

  set(id: bigint, account: StoredAccount): void {
    if (id <= NUMBER_KEY_MAX) this.byNumber.set(Number(id), account);
    else this.byBigint.set(id, account);
  }

  delete(id: bigint): boolean {
    return id <= NUMBER_KEY_MAX ? this.byNumber.delete(Number(id)) : this.byBigint.delete(id);
  }

  get size(): number {
    return this.byNumber.size + this.byBigint.size;
  }
}

export class LedgerState {
  readonly accounts = new AccountMap();
  readonly accountPages = new AccountPages();
  readonly transferPages = new TransferPages();
  readonly accountIdByTimestamp = new Map<bigint, bigint>();
  readonly accountTimestamps = new TimestampList();
  readonly accountIndexes: AccountIndexes = newAccountIndexes();

  readonly transferTimestampById = new TransferIdIndex();
  /** Ids of transfers that failed with a transient status: they can never be used again. */
  readonly failedTransferIds = new Set<bigint>();
  readonly transferTimestamps = new TimestampList();
  readonly transferIndexes: TransferIndexes = newAccountIndexes();

  /** Pending transfers by their timestamp. */
  readonly pending = new Map<bigint, PendingInfo>();
  readonly expiry = new ExpiryQueue();
  /** Account id → timestamps of the events that changed it (accounts with `flags.history` only). */
  readonly history = new ValueIndex<bigint>();

  /** The highest timestamp handed out so far (to an event, failed or not, or to an expiry). */
  commitTimestamp = 0n;

  /** Indexes an account (new or loaded) and returns it as stored, with how to undo that. */
  indexAccount(fields: Account): [StoredAccount, () => void] {
    // An explicit literal, not a spread: objects cloned by spread were measured 20–30× slower to read and
    // compare bigint fields from (≈1.7 µs against ≈60 ns per overflow check) — the hot path reads these.
    const a = fields;
    const account: StoredAccount = {
      id: a.id, debits_pending: a.debits_pending, debits_posted: a.debits_posted, credits_pending: a.credits_pending,
      credits_posted: a.credits_posted, user_data_128: a.user_data_128, user_data_64: a.user_data_64, user_data_32: a.user_data_32,
      reserved: a.reserved, ledger: a.ledger, code: a.code, flags: a.flags, timestamp: a.timestamp,
      slot: this.accountPages.count++, debitsIndex: new TimestampList(), creditsIndex: new TimestampList(),
    };
    this.accounts.set(account.id, account);
    this.accountIdByTimestamp.set(account.timestamp, account.id);
    this.accountTimestamps.push(account.timestamp);
    const lists = [
      this.accountIndexes.user_data_128.add(account.user_data_128, account.timestamp),
      this.accountIndexes.user_data_64.add(account.user_data_64, account.timestamp),
      this.accountIndexes.user_data_32.add(account.user_data_32, account.timestamp),
      this.accountIndexes.ledger.add(account.ledger, account.timestamp),
      this.accountIndexes.code.add(account.code, account.timestamp),
    ];
    return [account, () => {
      this.accounts.delete(account.id);
      this.accountPages.count--;
      this.accountIdByTimestamp.delete(account.timestamp);
      this.accountTimestamps.truncate(this.accountTimestamps.length - 1);
      for (const list of lists) list?.truncate(list.length - 1);
    }];
  }

  /** The timestamp of the transfer with this id, if there is one. */
  transferTimestamp(id: bigint): bigint | undefined {
    return this.transferTimestampById.get(id);
  }

  /** Indexes a transfer (new or loaded). Undo with `unindexTransfer(t)` while it is the latest. */
  indexTransfer(t: Transfer, dr: StoredAccount, cr: StoredAccount): void {
    this.transferTimestampById.insert(t.id, t.timestamp);
    this.transferTimestamps.push(t.timestamp);
    const indexes = this.transferIndexes;
    dr.debitsIndex.push(t.timestamp);
    cr.creditsIndex.push(t.timestamp);
    indexes.user_data_128.add(t.user_data_128, t.timestamp);
    indexes.user_data_64.add(t.user_data_64, t.timestamp);
    indexes.user_data_32.add(t.user_data_32, t.timestamp);
    indexes.ledger.add(t.ledger, t.timestamp);
    indexes.code.add(t.code, t.timestamp);
  }

  /** Removes the most recently indexed transfer from every index (indexes are append-only). */
  unindexTransfer(t: Transfer, dr: StoredAccount, cr: StoredAccount): void {
    assert(this.transferTimestamps.last() === t.timestamp, 'only the latest transfer can be unindexed');
    this.transferTimestampById.remove(t.id);
    this.transferTimestamps.truncate(this.transferTimestamps.length - 1);
    const indexes = this.transferIndexes;
    assert(dr.debitsIndex.last() === t.timestamp && cr.creditsIndex.last() === t.timestamp, 'index undo out of order');
    dr.debitsIndex.truncate(dr.debitsIndex.length - 1);
    cr.creditsIndex.truncate(cr.creditsIndex.length - 1);
    indexes.user_data_128.removeLast(t.user_data_128, t.timestamp);
    indexes.user_data_64.removeLast(t.user_data_64, t.timestamp);
    indexes.user_data_32.removeLast(t.user_data_32, t.timestamp);
    indexes.ledger.removeLast(t.ledger, t.timestamp);
    indexes.code.removeLast(t.code, t.timestamp);
  }

  /** Rebuilds the state from the ledger's tables (on open). */
  async load(tx: LedgerTx): Promise<void> {
    // Pages come in key order: accounts by slot (creation order), transfers by timestamp.
    for await (const [, value] of tx.range(TABLES.accounts)) {
      const view = viewOf(value);
      for (let offset = 0; offset < value.length; offset += RECORD_SIZE_BYTES) {
        const [account] = this.indexAccount(decodeAccount(view, offset));
        this.accountPages.write(account.slot, account);
      }
    }
    for await (const [, value] of tx.range(TABLES.transfers)) {
      for (const t of this.transferPages.load(value)) this.loadTransfer(t);
    }
    for await (const [key, value] of tx.range(TABLES.pending)) {
      const info = this.pending.get(readU64Key(key));
      assert(info !== undefined, 'a pending status without its pending transfer');
      info.status = value[0];
    }
    for await (const [key] of tx.range(TABLES.failed)) this.failedTransferIds.add(readU128Key(key));
    for await (const [key] of tx.range(TABLES.history)) this.history.add(readU128Key(key), readU64Key(key, 16));
    const meta = await tx.get(TABLES.meta, META_COMMIT_TIMESTAMP_KEY);
    if (meta !== undefined) this.commitTimestamp = readU64Key(meta);
  }

  private loadTransfer(t: Transfer): void {
    this.indexTransfer(t, this.accounts.get(t.debit_account_id)!, this.accounts.get(t.credit_account_id)!);
    if ((t.flags & TransferFlags.pending) === 0) return;
    const expiresAtNs = t.timeout === 0 ? 0n : t.timestamp + BigInt(t.timeout) * 1_000_000_000n;
    this.pending.set(t.timestamp, {
      status: PendingStatus.pending, expiresAtNs,
      debitAccountId: t.debit_account_id, creditAccountId: t.credit_account_id, amount: t.amount, flags: t.flags,
    });
    if (expiresAtNs !== 0n) this.expiry.push(expiresAtNs, t.timestamp);
  }
}

function newAccountIndexes(): AccountIndexes {
  return {
    user_data_128: new ValueIndex(true),
    user_data_64: new ValueIndex(true),
    user_data_32: new ValueIndex(true),
    ledger: new ValueIndex(),
    code: new ValueIndex(),
  };
}

export const HISTORY_VALUE_SIZE_BYTES = 64;
