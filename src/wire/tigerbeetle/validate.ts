/**
 * Shape checks for what callers pass to the ledger, in process or through a client: does each event fit
 * the struct layouts of `codec.ts`? TigerBeetle's client encodes every field into a fixed binary layout,
 * so a missing field, a `number` where a `bigint` belongs or a value wider than its field cannot reach its
 * state machine; here they are a `LedgerInvalidRequestError` and the request is not run.
 * Semantic checks (zero ids, flags, amounts) are not done here: they are per-event statuses.
 */
import { LedgerBatchTooLargeError, LedgerInvalidRequestError } from '../../ledger/errors.js';
import { BATCH_EVENTS_MAX, type Account, type AccountFilter, type QueryFilter, type Transfer } from '../../ledger/types.js';

type FieldKind = 'u128' | 'u64' | 'u32' | 'u16';

const ACCOUNT_FIELDS: [keyof Account, FieldKind][] = [
  ['id', 'u128'], ['debits_pending', 'u128'], ['debits_posted', 'u128'], ['credits_pending', 'u128'],
  ['credits_posted', 'u128'], ['user_data_128', 'u128'], ['user_data_64', 'u64'], ['user_data_32', 'u32'],
  ['reserved', 'u32'], ['ledger', 'u32'], ['code', 'u16'], ['flags', 'u16'], ['timestamp', 'u64'],
];

const TRANSFER_FIELDS: [keyof Transfer, FieldKind][] = [
  ['id', 'u128'], ['debit_account_id', 'u128'], ['credit_account_id', 'u128'], ['amount', 'u128'],
  ['pending_id', 'u128'], ['user_data_128', 'u128'], ['user_data_64', 'u64'], ['user_data_32', 'u32'],
  ['timeout', 'u32'], ['ledger', 'u32'], ['code', 'u16'], ['flags', 'u16'], ['timestamp', 'u64'],
];

const ACCOUNT_FILTER_FIELDS: [keyof AccountFilter, FieldKind][] = [
  ['account_id', 'u128'], ['user_data_128', 'u128'], ['user_data_64', 'u64'], ['user_data_32', 'u32'],
  ['code', 'u16'], ['timestamp_min', 'u64'], ['timestamp_max', 'u64'], ['limit', 'u32'], ['flags', 'u32'],
];

const QUERY_FILTER_FIELDS: [keyof QueryFilter, FieldKind][] = [
  ['user_data_128', 'u128'], ['user_data_64', 'u64'], ['user_data_32', 'u32'], ['ledger', 'u32'],
  ['code', 'u16'], ['timestamp_min', 'u64'], ['timestamp_max', 'u64'], ['limit', 'u32'], ['flags', 'u32'],
];

const BIGINT_MAX = { u128: (1n << 128n) - 1n, u64: (1n << 64n) - 1n } as const;
const NUMBER_MAX = { u32: 0xffff_ffff, u16: 0xffff } as const;

/** Why `value` does not fit `kind`, or undefined if it does. Messages are built only on failure. */
function fieldProblem(value: unknown, kind: FieldKind): string | undefined {
  if (kind === 'u128' || kind === 'u64') {
    if (typeof value !== 'bigint') return `must be a bigint, got ${typeof value}`;
    if (value < 0n || value > BIGINT_MAX[kind]) return `is out of range for ${kind}`;
    return undefined;
  }
  if (typeof value !== 'number' || !Number.isInteger(value)) return 'must be an integer number';
  if (value < 0 || value > NUMBER_MAX[kind]) return `is out of range for ${kind}`;
  return undefined;
}

function checkField(value: unknown, kind: FieldKind, where: string): void {
  const problem = fieldProblem(value, kind);
  if (problem !== undefined) throw new LedgerInvalidRequestError(`${where} ${problem}`);
}

function checkObject<T>(value: unknown, fields: [keyof T, FieldKind][], what: string, index?: number): void {
  const where = index === undefined ? what : `${what}[${index}]`;
  if (typeof value !== 'object' || value === null) throw new LedgerInvalidRequestError(`${where} must be an object`);
  const record = value as Record<string, unknown>;
  for (const [field, kind] of fields) {
    const problem = fieldProblem(record[field as string], kind);
    if (problem !== undefined) throw new LedgerInvalidRequestError(`${where}.${String(field)} ${problem}`);
  }
}

function checkBatch(batch: unknown, what: string): asserts batch is unknown[] {
  if (!Array.isArray(batch)) throw new LedgerInvalidRequestError(`${what} must be an array`);
  if (batch.length > BATCH_EVENTS_MAX) throw new LedgerBatchTooLargeError(batch.length, BATCH_EVENTS_MAX);
}

export function checkAccounts(batch: unknown): asserts batch is Account[] {
  checkBatch(batch, 'accounts');
  for (let i = 0; i < batch.length; i++) checkObject<Account>(batch[i], ACCOUNT_FIELDS, 'accounts', i);
}

const U128_MAX = BIGINT_MAX.u128;
const U64_MAX = BIGINT_MAX.u64;

function isU128(value: unknown): boolean {
  return typeof value === 'bigint' && value >= 0n && value <= U128_MAX;
}

function isU64(value: unknown): boolean {
  return typeof value === 'bigint' && value >= 0n && value <= U64_MAX;
}

function isUint(value: unknown, max: number): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= max;
}

/** The common case in one expression (a full batch is 8,189 of these); the field loop explains a failure. */
function transferWellFormed(t: Transfer): boolean {
  return (
    isU128(t.id) && isU128(t.debit_account_id) && isU128(t.credit_account_id) && isU128(t.amount) && isU128(t.pending_id) &&
    isU128(t.user_data_128) && isU64(t.user_data_64) && isUint(t.user_data_32, NUMBER_MAX.u32) && isUint(t.timeout, NUMBER_MAX.u32) &&
    isUint(t.ledger, NUMBER_MAX.u32) && isUint(t.code, NUMBER_MAX.u16) && isUint(t.flags, NUMBER_MAX.u16) && isU64(t.timestamp)
  );
}

export function checkTransfers(batch: unknown): asserts batch is Transfer[] {
  checkBatch(batch, 'transfers');
  for (let i = 0; i < batch.length; i++) {
    const t: unknown = batch[i];
    if (typeof t === 'object' && t !== null && transferWellFormed(t as Transfer)) continue;
    checkObject<Transfer>(t, TRANSFER_FIELDS, 'transfers', i);
  }
}

export function checkIds(batch: unknown): asserts batch is bigint[] {
  checkBatch(batch, 'ids');
  for (let i = 0; i < batch.length; i++) checkField(batch[i], 'u128', `ids[${i}]`);
}

export function checkAccountFilter(filter: unknown): asserts filter is AccountFilter {
  checkObject<AccountFilter>(filter, ACCOUNT_FILTER_FIELDS, 'filter');
}

export function checkQueryFilter(filter: unknown): asserts filter is QueryFilter {
  checkObject<QueryFilter>(filter, QUERY_FILTER_FIELDS, 'filter');
}
