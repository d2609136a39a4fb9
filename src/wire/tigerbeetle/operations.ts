/**
 * The eight state-machine operations of TigerBeetle 0.17, each mapped to one method of the ledger's
 * `Client` interface: its operation number, the sizes of its events and results on the wire, and how
 * one batch of events becomes one batch of results.
 *
 * Batches of a multi-batch request are independent (a linked chain never spans two), so each batch is
 * one ledger call, in order. Query operations take exactly one filter per batch; their result count is
 * capped both by the filter's limit and by the room left in the 1 MiB reply, so a reply always fits.
 */
import { BATCH_EVENTS_MAX, Operation, type Client } from '../../ledger/types.js';
import {
  ACCOUNT_BALANCE_SIZE_BYTES,
  ACCOUNT_FILTER_SIZE_BYTES,
  ACCOUNT_SIZE_BYTES,
  CREATE_RESULT_SIZE_BYTES,
  ID_SIZE_BYTES,
  QUERY_FILTER_SIZE_BYTES,
  TRANSFER_SIZE_BYTES,
  decodeAccount,
  decodeAccountFilter,
  decodeQueryFilter,
  decodeTransfer,
  encodeAccount,
  encodeAccountBalance,
  encodeCreateResult,
  encodeTransfer,
  filterReservedIsZero,
  readU128,
} from './codec.js';

// The batch limit and the operation numbers are the ledger's (`src/ledger/types.ts`); re-exported here for
// the two listeners that speak them.
export { BATCH_EVENTS_MAX, Operation };

/** A batch of events in a request body: `count` events of the operation's size starting at `offset`. */
export interface EventBatch {
  body: Uint8Array;
  view: DataView;
  offset: number;
  count: number;
}

export interface OperationSpec {
  operation: Operation;
  eventSizeBytes: number;
  resultSizeBytes: number;
  /** Queries take exactly one filter per batch; the others up to `BATCH_EVENTS_MAX` events. */
  isQuery: boolean;
  /** Runs one batch against the ledger; `resultsMax` is how many results still fit in the reply. */
  execute(ledger: Client, batch: EventBatch, resultsMax: number): Promise<readonly unknown[]>;
  encodeResult(view: DataView, at: number, result: unknown): void;
}

function decodeAll<T>(batch: EventBatch, sizeBytes: number, decode: (view: DataView, at: number) => T): T[] {
  const events = new Array<T>(batch.count);
  for (let i = 0; i < batch.count; i += 1) events[i] = decode(batch.view, batch.offset + i * sizeBytes);
  return events;
}

/**
 * Filters with their limit capped by the reply's room. A filter with reserved bytes set matches nothing
 * in TigerBeetle, so it gets a limit of 0 and the ledger is not asked.
 */
function accountFilterOf(batch: EventBatch, resultsMax: number) {
  const filter = decodeAccountFilter(batch.view, batch.offset);
  const reservedZero = filterReservedIsZero(batch.body, batch.offset, ACCOUNT_FILTER_SIZE_BYTES);
  return { ...filter, limit: reservedZero ? Math.min(filter.limit, BATCH_EVENTS_MAX, resultsMax) : 0 };
}

function queryFilterOf(batch: EventBatch, resultsMax: number) {
  const filter = decodeQueryFilter(batch.view, batch.offset);
  const reservedZero = filterReservedIsZero(batch.body, batch.offset, QUERY_FILTER_SIZE_BYTES);
  return { ...filter, limit: reservedZero ? Math.min(filter.limit, BATCH_EVENTS_MAX, resultsMax) : 0 };
}

const encodeAccountResult = (view: DataView, at: number, result: unknown) => encodeAccount(view, at, result as Parameters<typeof encodeAccount>[2]);
const encodeTransferResult = (view: DataView, at: number, result: unknown) => encodeTransfer(view, at, result as Parameters<typeof encodeTransfer>[2]);

/** An empty query result without asking the ledger: a limit of 0 asks for nothing. */
async function unlessEmpty<T>(limit: number, run: () => Promise<T[]>): Promise<T[]> {
  return limit === 0 ? [] : run();
}

const SPECS: readonly OperationSpec[] = [
  {
    operation: Operation.create_accounts,
    eventSizeBytes: ACCOUNT_SIZE_BYTES,
    resultSizeBytes: CREATE_RESULT_SIZE_BYTES,
    isQuery: false,
    execute: (ledger, batch) => ledger.createAccounts(decodeAll(batch, ACCOUNT_SIZE_BYTES, decodeAccount)),
    encodeResult: (view, at, result) => encodeCreateResult(view, at, result as Parameters<typeof encodeCreateResult>[2]),
  },
  {
    operation: Operation.create_transfers,
    eventSizeBytes: TRANSFER_SIZE_BYTES,
    resultSizeBytes: CREATE_RESULT_SIZE_BYTES,
    isQuery: false,
    execute: (ledger, batch) => ledger.createTransfers(decodeAll(batch, TRANSFER_SIZE_BYTES, decodeTransfer)),
    encodeResult: (view, at, result) => encodeCreateResult(view, at, result as Parameters<typeof encodeCreateResult>[2]),
  },
  {
    operation: Operation.lookup_accounts,
    eventSizeBytes: ID_SIZE_BYTES,
    resultSizeBytes: ACCOUNT_SIZE_BYTES,
    isQuery: false,
    execute: (ledger, batch) => ledger.lookupAccounts(decodeAll(batch, ID_SIZE_BYTES, readU128)),
    encodeResult: encodeAccountResult,
  },
  {
    operation: Operation.lookup_transfers,
    eventSizeBytes: ID_SIZE_BYTES,
    resultSizeBytes: TRANSFER_SIZE_BYTES,
    isQuery: false,
    execute: (ledger, batch) => ledger.lookupTransfers(decodeAll(batch, ID_SIZE_BYTES, readU128)),
    encodeResult: encodeTransferResult,
  },
  {
    operation: Operation.get_account_transfers,
    eventSizeBytes: ACCOUNT_FILTER_SIZE_BYTES,
    resultSizeBytes: TRANSFER_SIZE_BYTES,
    isQuery: true,
    execute: (ledger, batch, resultsMax) => {
      const filter = accountFilterOf(batch, resultsMax);
      return unlessEmpty(filter.limit, () => ledger.getAccountTransfers(filter));
    },
    encodeResult: encodeTransferResult,
  },
  {
    operation: Operation.get_account_balances,
    eventSizeBytes: ACCOUNT_FILTER_SIZE_BYTES,
    resultSizeBytes: ACCOUNT_BALANCE_SIZE_BYTES,
    isQuery: true,
    execute: (ledger, batch, resultsMax) => {
      const filter = accountFilterOf(batch, resultsMax);
      return unlessEmpty(filter.limit, () => ledger.getAccountBalances(filter));
    },
    encodeResult: (view, at, result) => encodeAccountBalance(view, at, result as Parameters<typeof encodeAccountBalance>[2]),
  },
  {
    operation: Operation.query_accounts,
    eventSizeBytes: QUERY_FILTER_SIZE_BYTES,
    resultSizeBytes: ACCOUNT_SIZE_BYTES,
    isQuery: true,
    execute: (ledger, batch, resultsMax) => {
      const filter = queryFilterOf(batch, resultsMax);
      return unlessEmpty(filter.limit, () => ledger.queryAccounts(filter));
    },
    encodeResult: encodeAccountResult,
  },
  {
    operation: Operation.query_transfers,
    eventSizeBytes: QUERY_FILTER_SIZE_BYTES,
    resultSizeBytes: TRANSFER_SIZE_BYTES,
    isQuery: true,
    execute: (ledger, batch, resultsMax) => {
      const filter = queryFilterOf(batch, resultsMax);
      return unlessEmpty(filter.limit, () => ledger.queryTransfers(filter));
    },
    encodeResult: encodeTransferResult,
  },
];

const BY_NUMBER = new Map<number, OperationSpec>(SPECS.map((spec) => [spec.operation, spec]));

/** The operation with this number, or undefined if the state machine has none. */
export function operationSpec(operation: number): OperationSpec | undefined {
  return BY_NUMBER.get(operation);
}
