/**
 * Lookups and queries. Every query is answered from the in-memory indexes (see indexes.ts): the conditions
 * of a filter become lists of timestamps to intersect, so a limit-10 query reads about ten records however
 * many transfers the ledger holds. Records are then read from the store by timestamp.
 *
 * An invalid filter gives an empty result, as in TigerBeetle; limits above 8,189 are capped to it.
 */
import { readU128 } from '../wire/tigerbeetle/codec.js';
import { findInPage } from './pages.js';
import { scan, type Condition, type ScanRange, type TimestampList } from './indexes.js';
import { TIMESTAMP_MAX } from './state-machine.js';
import { LedgerState, publicAccount, TABLES, u128Key, u64Key, HISTORY_VALUE_SIZE_BYTES, type LedgerTx } from './state.js';
import {
  AccountFilterFlags,
  AccountFlags,
  amount_max,
  BATCH_EVENTS_MAX,
  QueryFilterFlags,
  type Account,
  type AccountBalance,
  type AccountFilter,
  type QueryFilter,
  type Transfer,
} from './types.js';

const ACCOUNT_FILTER_FLAGS_KNOWN = AccountFilterFlags.debits | AccountFilterFlags.credits | AccountFilterFlags.reversed;
const QUERY_FILTER_FLAGS_KNOWN = QueryFilterFlags.reversed;
const HISTORY_SIDE_DEBIT = 1;
const HISTORY_SIDE_CREDIT = 2;

export function lookupAccounts(state: LedgerState, ids: bigint[]): Account[] {
  const found: Account[] = [];
  for (const id of ids) {
    const account = state.accounts.get(id);
    if (account !== undefined) found.push(publicAccount(account));
  }
  return found;
}

/** The last transfer page read by a query: consecutive results usually share a page. */
export interface PageCache {
  start: bigint;
  page: Uint8Array | undefined;
}

export async function readTransfer(state: LedgerState, tx: LedgerTx, timestamp: bigint, cache?: PageCache): Promise<Transfer> {
  const start = state.transferPages.startOf(timestamp);
  let page: Uint8Array | undefined;
  if (cache !== undefined && cache.page !== undefined && cache.start === start) page = cache.page;
  else {
    page = await tx.get(TABLES.transfers, state.transferPages.keyOf(timestamp));
    if (cache !== undefined) {
      cache.start = start;
      cache.page = page;
    }
  }
  const found = page === undefined ? undefined : findInPage(page, timestamp);
  if (found === undefined) throw new Error(`ledger: indexed transfer ${String(timestamp)} has no record`);
  return found;
}

export async function lookupTransfers(state: LedgerState, tx: LedgerTx, ids: bigint[]): Promise<Transfer[]> {
  const found: Transfer[] = [];
  const cache: PageCache = { start: 0n, page: undefined };
  for (const id of ids) {
    const timestamp = state.transferTimestamp(id);
    if (timestamp !== undefined) found.push(await readTransfer(state, tx, timestamp, cache));
  }
  return found;
}

function rangeValid(timestampMin: bigint, timestampMax: bigint, limit: number): boolean {
  if (limit === 0) return false;
  if (timestampMin > TIMESTAMP_MAX || timestampMax > TIMESTAMP_MAX) return false;
  return timestampMax === 0n || timestampMin <= timestampMax;
}

function accountFilterValid(filter: AccountFilter): boolean {
  if (filter.account_id === 0n || filter.account_id === amount_max) return false;
  if ((filter.flags & ~ACCOUNT_FILTER_FLAGS_KNOWN) !== 0) return false;
  if ((filter.flags & (AccountFilterFlags.debits | AccountFilterFlags.credits)) === 0) return false;
  return rangeValid(filter.timestamp_min, filter.timestamp_max, filter.limit);
}

function scanRange(filter: AccountFilter | QueryFilter, reversedFlag: number): ScanRange {
  return { timestampMin: filter.timestamp_min, timestampMax: filter.timestamp_max, reversed: (filter.flags & reversedFlag) !== 0 };
}

function limitOf(filter: AccountFilter | QueryFilter): number {
  return Math.min(filter.limit, BATCH_EVENTS_MAX);
}

/**
 * Adds the condition for one filter field; false if the value is indexed nowhere (no result possible).
 * A list holding every object (`everyLength`: one ledger, one code) filters nothing, so it is left out
 * rather than probed for every candidate; results are verified field by field anyway.
 */
function addCondition<K extends bigint | number>(
  conditions: Condition[], index: { get(value: K): TimestampList | undefined }, value: K, everyLength = -1,
): boolean {
  if (value === 0 || value === 0n) return true;
  const list = index.get(value);
  if (list === undefined) return false;
  if (list.length !== everyLength) conditions.push([list]);
  return true;
}

/** The conditions on a transfer's user data and code shared by the account filter and the query filter. */
function transferFieldConditions(state: LedgerState, filter: AccountFilter | QueryFilter, conditions: Condition[]): boolean {
  const indexes = state.transferIndexes;
  return (
    addCondition(conditions, indexes.user_data_128, filter.user_data_128) &&
    addCondition(conditions, indexes.user_data_64, filter.user_data_64) &&
    addCondition(conditions, indexes.user_data_32, filter.user_data_32) &&
    addCondition(conditions, indexes.code, filter.code, state.transferTimestamps.length)
  );
}

/** Whether an object has the filter's user data and code (zero fields match anything). */
function fieldsMatch(o: Transfer | Account, filter: AccountFilter | QueryFilter): boolean {
  return (
    (filter.user_data_128 === 0n || o.user_data_128 === filter.user_data_128) &&
    (filter.user_data_64 === 0n || o.user_data_64 === filter.user_data_64) &&
    (filter.user_data_32 === 0 || o.user_data_32 === filter.user_data_32) &&
    (filter.code === 0 || o.code === filter.code)
  );
}

function accountSideCondition(state: LedgerState, filter: AccountFilter): Condition {
  const condition: Condition = [];
  const account = state.accounts.get(filter.account_id);
  if (account === undefined) return condition;
  if ((filter.flags & AccountFilterFlags.debits) !== 0) condition.push(account.debitsIndex);
  if ((filter.flags & AccountFilterFlags.credits) !== 0) condition.push(account.creditsIndex);
  return condition;
}

/** Reads candidates in order, keeps those `matches` accepts, up to `limit`. */
async function collectTransfers(state: LedgerState, tx: LedgerTx, candidates: Iterable<bigint>, limit: number, matches: (t: Transfer) => boolean): Promise<Transfer[]> {
  const transfers: Transfer[] = [];
  if (limit === 0) return transfers;
  const cache: PageCache = { start: 0n, page: undefined };
  for (const timestamp of candidates) {
    const t = await readTransfer(state, tx, timestamp, cache);
    if (!matches(t)) continue;
    transfers.push(t);
    if (transfers.length === limit) break;
  }
  return transfers;
}

export async function getAccountTransfers(state: LedgerState, tx: LedgerTx, filter: AccountFilter): Promise<Transfer[]> {
  if (!accountFilterValid(filter)) return [];
  const side = accountSideCondition(state, filter);
  if (side.length === 0) return [];
  const conditions: Condition[] = [side];
  if (!transferFieldConditions(state, filter, conditions)) return [];
  const debits = (filter.flags & AccountFilterFlags.debits) !== 0;
  const credits = (filter.flags & AccountFilterFlags.credits) !== 0;
  const candidates = scan(conditions, state.transferTimestamps, scanRange(filter, AccountFilterFlags.reversed));
  return collectTransfers(state, tx, candidates, limitOf(filter), (t) =>
    ((debits && t.debit_account_id === filter.account_id) || (credits && t.credit_account_id === filter.account_id)) && fieldsMatch(t, filter));
}

/**
 * The account's balances after each of its events (transfers, posts, voids and expiries), for accounts
 * with `flags.history`. `debits`/`credits` select events where the account was on that side; user data
 * and code select events that are transfers carrying them.
 */
export async function getAccountBalances(state: LedgerState, tx: LedgerTx, filter: AccountFilter): Promise<AccountBalance[]> {
  if (!accountFilterValid(filter)) return [];
  const account = state.accounts.get(filter.account_id);
  if (account === undefined || (account.flags & AccountFlags.history) === 0) return [];
  const history = state.history.get(filter.account_id);
  if (history === undefined) return [];
  const conditions: Condition[] = [[history]];
  if (!transferFieldConditions(state, filter, conditions)) return [];
  const bothSides = (filter.flags & (AccountFilterFlags.debits | AccountFilterFlags.credits)) === (AccountFilterFlags.debits | AccountFilterFlags.credits);
  const wantedSide = (filter.flags & AccountFilterFlags.debits) !== 0 ? HISTORY_SIDE_DEBIT : HISTORY_SIDE_CREDIT;
  const checkFields = filter.user_data_128 !== 0n || filter.user_data_64 !== 0n || filter.user_data_32 !== 0 || filter.code !== 0;
  const limit = limitOf(filter);
  const balances: AccountBalance[] = [];
  const keyPrefix = u128Key(filter.account_id);
  for (const timestamp of scan(conditions, state.transferTimestamps, scanRange(filter, AccountFilterFlags.reversed))) {
    if (balances.length === limit) break;
    if (checkFields) {
      // An expiry is an event but not a transfer: it has no user data or code to match.
      if (!state.transferTimestamps.has(timestamp)) continue;
      if (!fieldsMatch(await readTransfer(state, tx, timestamp), filter)) continue;
    }
    const key = new Uint8Array(24);
    key.set(keyPrefix, 0);
    key.set(u64Key(timestamp), 16);
    const value = await tx.get(TABLES.history, key);
    if (value === undefined) throw new Error(`ledger: indexed history ${String(timestamp)} has no record`);
    if (!bothSides && value[HISTORY_VALUE_SIZE_BYTES] !== wantedSide) continue;
    const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
    balances.push({
      debits_pending: readU128(view, 0),
      debits_posted: readU128(view, 16),
      credits_pending: readU128(view, 32),
      credits_posted: readU128(view, 48),
      timestamp,
    });
  }
  return balances;
}

function queryFilterValid(filter: QueryFilter): boolean {
  if ((filter.flags & ~QUERY_FILTER_FLAGS_KNOWN) !== 0) return false;
  return rangeValid(filter.timestamp_min, filter.timestamp_max, filter.limit);
}

export function queryAccounts(state: LedgerState, filter: QueryFilter): Account[] {
  if (!queryFilterValid(filter)) return [];
  const indexes = state.accountIndexes;
  const conditions: Condition[] = [];
  const possible =
    addCondition(conditions, indexes.user_data_128, filter.user_data_128) &&
    addCondition(conditions, indexes.user_data_64, filter.user_data_64) &&
    addCondition(conditions, indexes.user_data_32, filter.user_data_32) &&
    addCondition(conditions, indexes.ledger, filter.ledger, state.accountTimestamps.length) &&
    addCondition(conditions, indexes.code, filter.code, state.accountTimestamps.length);
  if (!possible) return [];
  const limit = limitOf(filter);
  const accounts: Account[] = [];
  for (const timestamp of scan(conditions, state.accountTimestamps, scanRange(filter, QueryFilterFlags.reversed))) {
    if (accounts.length === limit) break;
    const account = state.accounts.get(state.accountIdByTimestamp.get(timestamp)!)!;
    if (fieldsMatch(account, filter) && (filter.ledger === 0 || account.ledger === filter.ledger)) accounts.push(publicAccount(account));
  }
  return accounts;
}

export async function queryTransfers(state: LedgerState, tx: LedgerTx, filter: QueryFilter): Promise<Transfer[]> {
  if (!queryFilterValid(filter)) return [];
  const conditions: Condition[] = [];
  if (!transferFieldConditions(state, filter, conditions)) return [];
  if (!addCondition(conditions, state.transferIndexes.ledger, filter.ledger, state.transferTimestamps.length)) return [];
  const candidates = scan(conditions, state.transferTimestamps, scanRange(filter, QueryFilterFlags.reversed));
  return collectTransfers(state, tx, candidates, limitOf(filter), (t) => fieldsMatch(t, filter) && (filter.ledger === 0 || t.ledger === filter.ledger));
}
