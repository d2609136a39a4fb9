/**
 * The ledger's `Client` (tigerbeetle-node's methods, names and types) over a bus connection: each method
 * checks its input with the embedded ledger's own checks (so both raise the same errors for the same
 * input and nothing bad is sent), writes the events as TigerBeetle structs in a LEDGER frame and decodes
 * the results of the LEDGER_REPLY.
 */
import { ClientError } from './errors.js';
import type { Connection } from './connection.js';
import { LedgerBatchTooLargeError, LedgerClosedError, LedgerInvalidRequestError } from '../ledger/errors.js';
import type {
  Account, AccountBalance, AccountFilter, Client as LedgerClient, CreateAccountResult, CreateTransferResult, QueryFilter, Transfer,
} from '../ledger/types.js';
import { asError } from '../errors.js';
import { Operation } from '../wire/tigerbeetle/operations.js';
import { checkAccountFilter, checkAccounts, checkIds, checkQueryFilter, checkTransfers } from '../wire/tigerbeetle/validate.js';
import {
  ACCOUNT_BALANCE_SIZE_BYTES, ACCOUNT_FILTER_SIZE_BYTES, ACCOUNT_SIZE_BYTES, CREATE_RESULT_SIZE_BYTES, ID_SIZE_BYTES, QUERY_FILTER_SIZE_BYTES,
  TRANSFER_SIZE_BYTES, decodeAccount, decodeAccountBalance, decodeCreateResult, decodeTransfer, encodeAccount, encodeAccountFilter,
  encodeQueryFilter, encodeTransfer, writeU128,
} from '../wire/tigerbeetle/codec.js';
import { ErrorReason, LedgerStatus, Op, type LedgerReplyFrame } from '../wire/bus-protocol.js';
import { ProtocolViolation } from '../wire/errors.js';

/** A ledger request in flight: how to read its results, and whom to give them. */
interface LedgerPending {
  readonly resultSizeBytes: number;
  readonly decode: (view: DataView, at: number) => unknown;
  resolve(results: unknown[]): void;
  reject(error: Error): void;
}

export class LedgerCalls implements Omit<LedgerClient, 'destroy'> {
  private readonly pending = new Map<number, LedgerPending>();

  /** `takeCallId` hands out ids no bus call holds: both kinds of request share the connection's ids. */
  constructor(
    private readonly connection: Connection,
    private readonly takeCallId: () => number,
  ) {}

  get size(): number {
    return this.pending.size;
  }

  has(callId: number): boolean {
    return this.pending.has(callId);
  }

  createAccounts(batch: Account[]): Promise<CreateAccountResult[]> {
    return this.request(() => checkAccounts(batch), Operation.create_accounts, () => batch.length, ACCOUNT_SIZE_BYTES,
      (view, at, i) => encodeAccount(view, at, batch[i]), CREATE_RESULT_SIZE_BYTES, decodeCreateResult) as Promise<CreateAccountResult[]>;
  }

  createTransfers(batch: Transfer[]): Promise<CreateTransferResult[]> {
    return this.request(() => checkTransfers(batch), Operation.create_transfers, () => batch.length, TRANSFER_SIZE_BYTES,
      (view, at, i) => encodeTransfer(view, at, batch[i]), CREATE_RESULT_SIZE_BYTES, decodeCreateResult) as Promise<CreateTransferResult[]>;
  }

  lookupAccounts(ids: bigint[]): Promise<Account[]> {
    return this.request(() => checkIds(ids), Operation.lookup_accounts, () => ids.length, ID_SIZE_BYTES,
      (view, at, i) => writeU128(view, at, ids[i]), ACCOUNT_SIZE_BYTES, decodeAccount) as Promise<Account[]>;
  }

  lookupTransfers(ids: bigint[]): Promise<Transfer[]> {
    return this.request(() => checkIds(ids), Operation.lookup_transfers, () => ids.length, ID_SIZE_BYTES,
      (view, at, i) => writeU128(view, at, ids[i]), TRANSFER_SIZE_BYTES, decodeTransfer) as Promise<Transfer[]>;
  }

  getAccountTransfers(filter: AccountFilter): Promise<Transfer[]> {
    return this.request(() => checkAccountFilter(filter), Operation.get_account_transfers, () => 1, ACCOUNT_FILTER_SIZE_BYTES,
      (view, at) => encodeAccountFilter(view, at, filter), TRANSFER_SIZE_BYTES, decodeTransfer) as Promise<Transfer[]>;
  }

  getAccountBalances(filter: AccountFilter): Promise<AccountBalance[]> {
    return this.request(() => checkAccountFilter(filter), Operation.get_account_balances, () => 1, ACCOUNT_FILTER_SIZE_BYTES,
      (view, at) => encodeAccountFilter(view, at, filter), ACCOUNT_BALANCE_SIZE_BYTES, decodeAccountBalance) as Promise<AccountBalance[]>;
  }

  queryAccounts(filter: QueryFilter): Promise<Account[]> {
    return this.request(() => checkQueryFilter(filter), Operation.query_accounts, () => 1, QUERY_FILTER_SIZE_BYTES,
      (view, at) => encodeQueryFilter(view, at, filter), ACCOUNT_SIZE_BYTES, decodeAccount) as Promise<Account[]>;
  }

  queryTransfers(filter: QueryFilter): Promise<Transfer[]> {
    return this.request(() => checkQueryFilter(filter), Operation.query_transfers, () => 1, QUERY_FILTER_SIZE_BYTES,
      (view, at) => encodeQueryFilter(view, at, filter), TRANSFER_SIZE_BYTES, decodeTransfer) as Promise<Transfer[]>;
  }

  private request(
    check: () => void, operation: number, count: () => number, eventSizeBytes: number, encode: (view: DataView, at: number, index: number) => void,
    resultSizeBytes: number, decode: (view: DataView, at: number) => unknown,
  ): Promise<unknown[]> {
    try {
      const connection = this.connection;
      if (connection.failure !== undefined) throw ledgerFailure(connection.failure);
      check();
      if (connection.inFlight() >= connection.inFlightMax) throw new ClientError('CLIENT_TOO_MANY_REQUESTS', `${connection.inFlightMax} requests in flight on this connection, the node's limit`);
      const callId = this.takeCallId();
      connection.writer.ledger(Op.ledger, callId, operation, count(), eventSizeBytes, encode);
      connection.flushSoon();
      return new Promise<unknown[]>((resolve, reject) => this.pending.set(callId, { resultSizeBytes, decode, resolve, reject }));
    } catch (error) {
      return Promise.reject(asError(error));
    }
  }

  onReply(frame: LedgerReplyFrame): void {
    const pending = this.pending.get(frame.callId);
    if (pending === undefined) throw new ProtocolViolation(ErrorReason.badFrame, `LEDGER_REPLY for call id ${frame.callId}, which is not in flight`);
    // Checked while the request is still pending, so that the violation's failure reaches it too.
    if (frame.status === LedgerStatus.ok && frame.results.length !== frame.count * pending.resultSizeBytes) {
      throw new ProtocolViolation(ErrorReason.badFrame, `LEDGER_REPLY of ${frame.count} results has ${frame.results.length} bytes of them`);
    }
    this.pending.delete(frame.callId);
    if (frame.status !== LedgerStatus.ok) return pending.reject(ledgerError(frame.status, frame.results.toString('utf8')));
    const view = new DataView(frame.results.buffer, frame.results.byteOffset, frame.results.length);
    const results = new Array<unknown>(frame.count);
    for (let i = 0; i < frame.count; i += 1) results[i] = pending.decode(view, i * pending.resultSizeBytes);
    pending.resolve(results);
  }

  /** The connection is gone: every request in flight fails. */
  fail(reason: ClientError): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const request of pending) request.reject(ledgerFailure(reason));
  }
}

/** The error a ledger request gets once the connection is unusable: LedgerClosedError after close(), as the embedded ledger after destroy(). */
function ledgerFailure(reason: ClientError): Error {
  return reason.code === 'CLIENT_CLOSED' ? new LedgerClosedError() : reason;
}

function ledgerError(status: number, message: string): Error {
  switch (status) {
    case LedgerStatus.invalidRequest:
      return new LedgerInvalidRequestError(message);
    case LedgerStatus.batchTooLarge:
      return Object.assign(new LedgerBatchTooLargeError(0, 0), { message });
    case LedgerStatus.closed:
      return new LedgerClosedError();
    case LedgerStatus.noLedger:
      return new ClientError('CLIENT_NO_LEDGER', message);
    case LedgerStatus.forbidden:
      return new ClientError('CLIENT_FORBIDDEN', message);
    default:
      return new ClientError('CLIENT_LEDGER_FAILED', message);
  }
}
