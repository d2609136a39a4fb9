/**
 * The ledger's data model: TigerBeetle 0.17's accounts, transfers, filters, flags and result statuses, with
 * the same names, numeric values and object shapes as the `tigerbeetle-node` 0.17 client. Code written for
 * TigerBeetle compiles against these types with only the import changed, and both wire protocols
 * encode exactly these values.
 *
 * Money and identifiers are unsigned 128-bit integers held in `bigint`; `timestamp` is nanoseconds since the
 * Unix epoch (u64); `timeout` is seconds (u32); `user_data_32`, `ledger` (u32), `code` (u16) and `flags` are
 * `number`.
 */

/** Account flags (a bit set in `Account.flags`). */
export enum AccountFlags {
  none = 0,
  linked = 1 << 0,
  debits_must_not_exceed_credits = 1 << 1,
  credits_must_not_exceed_debits = 1 << 2,
  history = 1 << 3,
  imported = 1 << 4,
  closed = 1 << 5,
}

/** Transfer flags (a bit set in `Transfer.flags`). */
export enum TransferFlags {
  none = 0,
  linked = 1 << 0,
  pending = 1 << 1,
  post_pending_transfer = 1 << 2,
  void_pending_transfer = 1 << 3,
  balancing_debit = 1 << 4,
  balancing_credit = 1 << 5,
  closing_debit = 1 << 6,
  closing_credit = 1 << 7,
  imported = 1 << 8,
}

/** Flags of an `AccountFilter` (`getAccountTransfers`, `getAccountBalances`). */
export enum AccountFilterFlags {
  none = 0,
  debits = 1 << 0,
  credits = 1 << 1,
  reversed = 1 << 2,
}

/** Flags of a `QueryFilter` (`queryAccounts`, `queryTransfers`). */
export enum QueryFilterFlags {
  none = 0,
  reversed = 1 << 0,
}

export type Account = {
  id: bigint;
  debits_pending: bigint;
  debits_posted: bigint;
  credits_pending: bigint;
  credits_posted: bigint;
  user_data_128: bigint;
  user_data_64: bigint;
  user_data_32: number;
  reserved: number;
  ledger: number;
  code: number;
  flags: number;
  timestamp: bigint;
};

export type Transfer = {
  id: bigint;
  debit_account_id: bigint;
  credit_account_id: bigint;
  amount: bigint;
  pending_id: bigint;
  user_data_128: bigint;
  user_data_64: bigint;
  user_data_32: number;
  timeout: number;
  ledger: number;
  code: number;
  flags: number;
  timestamp: bigint;
};

/**
 * The status of one `createAccounts` event. `created` is u32 max; the failures are listed in the order in
 * which TigerBeetle checks them (the numeric values are the protocol's and are not in that order).
 */
export enum CreateAccountStatus {
  created = 0xffff_ffff,
  linked_event_failed = 1,
  linked_event_chain_open = 2,
  imported_event_expected = 22,
  imported_event_not_expected = 23,
  timestamp_must_be_zero = 3,
  imported_event_timestamp_out_of_range = 24,
  imported_event_timestamp_must_not_advance = 25,
  reserved_field = 4,
  reserved_flag = 5,
  id_must_not_be_zero = 6,
  id_must_not_be_int_max = 7,
  exists_with_different_flags = 15,
  exists_with_different_user_data_128 = 16,
  exists_with_different_user_data_64 = 17,
  exists_with_different_user_data_32 = 18,
  exists_with_different_ledger = 19,
  exists_with_different_code = 20,
  exists = 21,
  flags_are_mutually_exclusive = 8,
  debits_pending_must_be_zero = 9,
  debits_posted_must_be_zero = 10,
  credits_pending_must_be_zero = 11,
  credits_posted_must_be_zero = 12,
  ledger_must_not_be_zero = 13,
  code_must_not_be_zero = 14,
  imported_event_timestamp_must_not_regress = 26,
}

/** The status of one `createTransfers` event, in TigerBeetle's check order (values are the protocol's). */
export enum CreateTransferStatus {
  created = 0xffff_ffff,
  linked_event_failed = 1,
  linked_event_chain_open = 2,
  imported_event_expected = 56,
  imported_event_not_expected = 57,
  timestamp_must_be_zero = 3,
  imported_event_timestamp_out_of_range = 58,
  imported_event_timestamp_must_not_advance = 59,
  reserved_flag = 4,
  id_must_not_be_zero = 5,
  id_must_not_be_int_max = 6,
  exists_with_different_flags = 36,
  exists_with_different_pending_id = 40,
  exists_with_different_timeout = 44,
  exists_with_different_debit_account_id = 37,
  exists_with_different_credit_account_id = 38,
  exists_with_different_amount = 39,
  exists_with_different_user_data_128 = 41,
  exists_with_different_user_data_64 = 42,
  exists_with_different_user_data_32 = 43,
  exists_with_different_ledger = 67,
  exists_with_different_code = 45,
  exists = 46,
  id_already_failed = 68,
  flags_are_mutually_exclusive = 7,
  debit_account_id_must_not_be_zero = 8,
  debit_account_id_must_not_be_int_max = 9,
  credit_account_id_must_not_be_zero = 10,
  credit_account_id_must_not_be_int_max = 11,
  accounts_must_be_different = 12,
  pending_id_must_be_zero = 13,
  pending_id_must_not_be_zero = 14,
  pending_id_must_not_be_int_max = 15,
  pending_id_must_be_different = 16,
  timeout_reserved_for_pending_transfer = 17,
  closing_transfer_must_be_pending = 64,
  ledger_must_not_be_zero = 19,
  code_must_not_be_zero = 20,
  debit_account_not_found = 21,
  credit_account_not_found = 22,
  accounts_must_have_the_same_ledger = 23,
  transfer_must_have_the_same_ledger_as_accounts = 24,
  pending_transfer_not_found = 25,
  pending_transfer_not_pending = 26,
  pending_transfer_has_different_debit_account_id = 27,
  pending_transfer_has_different_credit_account_id = 28,
  pending_transfer_has_different_ledger = 29,
  pending_transfer_has_different_code = 30,
  exceeds_pending_transfer_amount = 31,
  pending_transfer_has_different_amount = 32,
  pending_transfer_already_posted = 33,
  pending_transfer_already_voided = 34,
  pending_transfer_expired = 35,
  imported_event_timestamp_must_not_regress = 60,
  imported_event_timestamp_must_postdate_debit_account = 61,
  imported_event_timestamp_must_postdate_credit_account = 62,
  imported_event_timeout_must_be_zero = 63,
  debit_account_already_closed = 65,
  credit_account_already_closed = 66,
  overflows_debits_pending = 47,
  overflows_credits_pending = 48,
  overflows_debits_posted = 49,
  overflows_credits_posted = 50,
  overflows_debits = 51,
  overflows_credits = 52,
  overflows_timeout = 53,
  exceeds_credits = 54,
  exceeds_debits = 55,
}

/**
 * One result per `createAccounts` event, in event order ("dense" results, new in 0.17). `timestamp` is the
 * account's timestamp when it was created or already exists with the same fields, and otherwise the time
 * the event was validated (its place in the batch), as TigerBeetle 0.17 reports it.
 */
export type CreateAccountResult = {
  timestamp: bigint;
  status: CreateAccountStatus;
};

/** One result per `createTransfers` event, in event order; `timestamp` as for accounts. */
export type CreateTransferResult = {
  timestamp: bigint;
  status: CreateTransferStatus;
};

/** Older names for the result shapes (the brief's and the wire protocol's). */
export type CreateAccountsResult = CreateAccountResult[];
export type CreateTransfersResult = CreateTransferResult[];

/** Selects one account's transfers or balances (`getAccountTransfers`, `getAccountBalances`). */
export type AccountFilter = {
  account_id: bigint;
  user_data_128: bigint;
  user_data_64: bigint;
  user_data_32: number;
  code: number;
  timestamp_min: bigint;
  timestamp_max: bigint;
  limit: number;
  flags: number;
};

/** Selects accounts or transfers by their indexed fields (`queryAccounts`, `queryTransfers`). */
export type QueryFilter = {
  user_data_128: bigint;
  user_data_64: bigint;
  user_data_32: number;
  ledger: number;
  code: number;
  timestamp_min: bigint;
  timestamp_max: bigint;
  limit: number;
  flags: number;
};

/** An account's balances just after one of its transfers (needs `AccountFlags.history`). */
export type AccountBalance = {
  debits_pending: bigint;
  debits_posted: bigint;
  credits_pending: bigint;
  credits_posted: bigint;
  timestamp: bigint;
};

export type AccountID = bigint;
export type TransferID = bigint;

/** The operation numbers of TigerBeetle's protocol (used by the wire protocols). */
export enum Operation {
  pulse = 128,
  get_change_events = 137,
  lookup_accounts = 140,
  lookup_transfers = 141,
  get_account_transfers = 142,
  get_account_balances = 143,
  query_accounts = 144,
  query_transfers = 145,
  create_accounts = 146,
  create_transfers = 147,
}

/** The largest u128: as a post's amount it means "the whole pending amount"; as a field value it is invalid. */
export const amount_max: bigint = (1n << 128n) - 1n;

/**
 * The client interface of `tigerbeetle-node` 0.17. `openLedger()` returns one backed by an embedded ledger;
 * the network client (`connect()`) offers the same one over the wire.
 */
export interface Client {
  createAccounts: (batch: Account[]) => Promise<CreateAccountResult[]>;
  createTransfers: (batch: Transfer[]) => Promise<CreateTransferResult[]>;
  lookupAccounts: (batch: AccountID[]) => Promise<Account[]>;
  lookupTransfers: (batch: TransferID[]) => Promise<Transfer[]>;
  getAccountTransfers: (filter: AccountFilter) => Promise<Transfer[]>;
  getAccountBalances: (filter: AccountFilter) => Promise<AccountBalance[]>;
  queryAccounts: (filter: QueryFilter) => Promise<Account[]>;
  queryTransfers: (filter: QueryFilter) => Promise<Transfer[]>;
  destroy: () => void;
}

/** The most events (or ids) one request may carry: TigerBeetle's 1 MiB message less its header, /128 bytes. */
export const BATCH_EVENTS_MAX = 8189;
