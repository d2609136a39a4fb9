/**
 * `connect(address)`: the bus over TCP. A `BusClient` mirrors the in-process bus — `call`, `acall`,
 * `getReply`, `cancel` with the same flags, the same `Reply` and the same `XatmiError` codes — so code moves
 * between in-process and remote callers without change.
 *
 * One connection carries any number of concurrent calls: each gets a call id (which is also its `cd`) and
 * replies come back in any order. The deadline is kept on both sides: the node runs the request against the
 * remaining time it was sent, and the client fires TPETIME itself at the deadline, so a slow or partitioned
 * node cannot hold a caller past it. A reply that arrives after that is dropped and counted (`stats()`),
 * never delivered to a later call.
 *
 * Frames produced in one turn of the event loop go out in one write (see `FrameWriter`).
 *
 * Descriptor rules, as the bus: `acall` returns a cd (0 with TPNOREPLY); its reply waits until `getReply`
 * takes it (by cd or TPGETANY); `cancel` forgets it (a later reply is dropped); an unknown, cancelled or
 * already-taken cd is TPEBADDESC; more than the node's in-flight limit is TPELIMIT. A cd that timed out
 * keeps its TPETIME outcome until `getReply` takes it, like any other outcome. When the connection is lost,
 * every call in flight ends with TPESVCERR (it may or may not have run); calls after that, or after
 * `close()`, are TPEPROTO.
 */
import { Socket, isIP } from 'node:net';
import { InvalidArgumentError, requireArgument } from '../errors.js';
import { XatmiError } from '../bus/errors.js';
import { DEFAULT_TIMEOUT_MS, TIMEOUT_MS_MAX } from '../bus/bus.js';
import { TPGETANY, TPNOBLOCK, TPNOREPLY, TPNOTIME, TP_FLAGS_ALL, type CallOptions, type GetReplyOptions, type Reply } from '../bus/interfaces.js';
import { ClientError } from './errors.js';
import { DeadlineHeap, type Deadlined } from '../bus/deadlines.js';
import { LedgerBatchTooLargeError, LedgerClosedError, LedgerInvalidRequestError } from '../ledger/errors.js';
import type {
  Account, AccountBalance, AccountFilter, Client as LedgerClient, CreateAccountResult, CreateTransferResult, QueryFilter, Transfer,
} from '../ledger/types.js';
import { checkAccountFilter, checkAccounts, checkIds, checkQueryFilter, checkTransfers } from '../ledger/validate.js';
// The struct layouts are TigerBeetle's; the TigerBeetle listener's codec is the one place that has them all.
import {
  ACCOUNT_BALANCE_SIZE_BYTES, ACCOUNT_FILTER_SIZE_BYTES, ACCOUNT_SIZE_BYTES, CREATE_RESULT_SIZE_BYTES, ID_SIZE_BYTES, QUERY_FILTER_SIZE_BYTES,
  TRANSFER_SIZE_BYTES, decodeAccount, decodeAccountBalance, decodeCreateResult, decodeTransfer, encodeAccount, encodeAccountFilter,
  encodeQueryFilter, encodeTransfer, writeU128,
} from '../wire/tigerbeetle/codec.js';
import { Operation } from '../wire/tigerbeetle/operations.js';
import {
  CALL_ID_MAX, DEFAULT_BUS_PORT, DataError, ErrorReason, FRAME_BYTES_MAX, FrameDecoder, FrameReader, FrameWriter, LedgerStatus, Op,
  PROTOCOL_VERSION, ProtocolViolation, SERVICE_NAME_BYTES_MAX, TOO_LARGE, type Frame, type LedgerReplyFrame, type ReplyFrame,
} from '../wire/bus-protocol.js';

export const DEFAULT_CONNECT_TIMEOUT_MS = 5 * 1000; // 5 seconds
/**
 * Call descriptors (= call ids) start above every flag value, as the bus's do, so `getReply(TPGETANY)` can
 * never be mistaken for a cd.
 */
const CD_FIRST = 0x100;
const CD_LAST = CALL_ID_MAX;
/** How long close() waits for the node to close its side before destroying the socket. */
const CLOSE_LINGER_MS = 1000;
/** Encoded service names are cached up to this many, so the hot path does not re-encode them. */
const SERVICE_NAME_CACHE_MAX = 1024;

export interface ConnectOptions {
  /** Longest wait for the TCP connection and the handshake. Default 5000. */
  connectTimeoutMs?: number;
  /** Deadline of calls that give no `timeoutMs`. Default: the bus's (30000). */
  defaultTimeoutMs?: number;
}

export interface ClientStats {
  /** Replies that came after their call had timed out or was cancelled; dropped. */
  lateReplies: number;
  /** Calls now in flight on the connection. */
  inFlight: number;
}

/**
 * The bus client, and the ledger's `Client` (tigerbeetle-node's methods, names and types) over the same
 * connection: `createAccounts`, `createTransfers`, `lookupAccounts`, … run against the node's ledger.
 */
export interface BusClient extends LedgerClient {
  /** `host:port` of the node this client is connected to. */
  readonly address: string;
  call(service: string, data: unknown, options?: CallOptions): Promise<Reply>;
  acall(service: string, data: unknown, options?: CallOptions): number;
  getReply(cd: number, options?: GetReplyOptions): Promise<Reply>;
  cancel(cd: number): void;
  stats(): ClientStats;
  /** Closes the connection. Calls still in flight end with TPESVCERR. Safe to call more than once. */
  close(): Promise<void>;
  /** tigerbeetle-node's name for closing: `close()` without waiting. */
  destroy(): void;
}

/** A ledger request in flight: how to read its results, and whom to give them. */
interface LedgerPending {
  readonly resultSizeBytes: number;
  readonly decode: (view: DataView, at: number) => unknown;
  resolve(results: unknown[]): void;
  reject(error: Error): void;
}

/** Where a call stands. `outcome` is set once its reply (or TPETIME) is in; `waiter` while someone awaits it. */
interface Pending extends Deadlined {
  readonly callId: number;
  /** Made by `call` (never visible as a cd, never taken by TPGETANY) rather than `acall`. */
  readonly internal: boolean;
  readonly timeoutMs: number;
  outcome: Reply | XatmiError | undefined;
  waiter: { resolve(reply: Reply): void; reject(error: XatmiError): void } | undefined;
}

/** Connects to a node's bus listener: `connect('127.0.0.1:7700')`, `connect(7700)`, `connect({ host, port })`. */
export async function connect(address: string | number | { host?: string; port: number }, options: ConnectOptions = {}): Promise<BusClient> {
  const { host, port } = parseAddress(address);
  requireArgument(typeof options === 'object' && options !== null, 'connect options must be an object');
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const defaultTimeoutMs = options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  requireArgument(Number.isInteger(connectTimeoutMs) && connectTimeoutMs > 0, `connectTimeoutMs must be a positive integer, got ${String(connectTimeoutMs)}`);
  requireArgument(Number.isInteger(defaultTimeoutMs) && defaultTimeoutMs > 0 && defaultTimeoutMs <= TIMEOUT_MS_MAX, `defaultTimeoutMs must be a positive integer up to ${TIMEOUT_MS_MAX}, got ${String(defaultTimeoutMs)}`);
  const connection = new Connection(host, port, defaultTimeoutMs);
  await connection.open(connectTimeoutMs);
  return connection;
}

function parseAddress(address: unknown): { host: string; port: number } {
  const validPort = (port: unknown): port is number => Number.isInteger(port) && (port as number) > 0 && (port as number) <= 65535;
  if (typeof address === 'number') {
    requireArgument(validPort(address), `port must be an integer 1..65535, got ${address}`);
    return { host: '127.0.0.1', port: address };
  }
  if (typeof address === 'string') {
    const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
    const port = match ? Number(match[3]) : NaN;
    requireArgument(match !== null && validPort(port), `address must look like host:port (e.g. 127.0.0.1:${DEFAULT_BUS_PORT}), got ${JSON.stringify(address)}`);
    return { host: match[1] ?? match[2], port };
  }
  if (typeof address === 'object' && address !== null) {
    const { host = '127.0.0.1', port } = address as { host?: unknown; port?: unknown };
    requireArgument(typeof host === 'string' && host.length > 0, 'address.host must be a non-empty string');
    requireArgument(validPort(port), `address.port must be an integer 1..65535, got ${String(port)}`);
    return { host, port };
  }
  throw new InvalidArgumentError(`address must be "host:port", a port number or { host, port }, got ${typeof address}`);
}

class Connection implements BusClient {
  readonly address: string;
  private readonly socket = new Socket();
  private readonly reader = new FrameReader(FRAME_BYTES_MAX);
  private readonly decoder = new FrameDecoder();
  private writer = new FrameWriter();
  private flushScheduled = false;
  private readonly pending = new Map<number, Pending>();
  /** The client's own deadlines, one timer for all (the bus's heap: no setTimeout per call). */
  private readonly deadlines = new DeadlineHeap<Pending>((pending) => this.expire(pending));
  private readonly ledgerPending = new Map<number, LedgerPending>();
  /** acall outcomes not yet taken, in arrival order, for TPGETANY. */
  private readonly ready = new Set<number>();
  /** getReply(TPGETANY) callers waiting for the next acall outcome. */
  private readonly anyWaiters: Array<{ resolve(reply: Reply): void; reject(error: XatmiError): void }> = [];
  private readonly serviceNames = new Map<string, Buffer>();
  private nextCallId = CD_FIRST;
  /** acall descriptors not yet taken (TPGETANY waits only while there are more of them than waiters). */
  private asyncOutstanding = 0;
  private inFlightMax = 0;
  private lateReplies = 0;
  /** Replies in the last chunk of data from the node: more than one means callers are in a burst. */
  private repliesInLastData = 0;
  /** Set once the connection is unusable: why new calls fail. */
  private failure: ClientError | undefined;
  private handshake: { resolve(): void; reject(error: Error): void } | undefined;
  private closed: Promise<void> | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly defaultTimeoutMs: number,
  ) {
    this.address = isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
  }

  open(connectTimeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.handshake = undefined;
        this.socket.destroy();
        reject(new ClientError('CLIENT_CONNECT_FAILED', `no handshake from ${this.address} within ${connectTimeoutMs} ms`));
      }, connectTimeoutMs);
      this.handshake = {
        resolve: () => { clearTimeout(timer); resolve(); },
        reject: (error) => { clearTimeout(timer); reject(error); },
      };
      this.socket.setNoDelay(true);
      this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
      this.socket.on('error', (error) => this.fail(new ClientError('CLIENT_CONNECTION_LOST', `connection to ${this.address} failed: ${error.message}`, { cause: error })));
      this.socket.on('close', () => this.fail(new ClientError('CLIENT_CONNECTION_LOST', `connection to ${this.address} closed`)));
      this.socket.connect(this.port, this.host, () => {
        this.writer.hello(0);
        this.flush();
      });
    });
  }

  call(service: string, data: unknown, options?: CallOptions): Promise<Reply> {
    let pending: Pending;
    try {
      const flags = this.checkFlags(options, TP_FLAGS_ALL & ~TPNOREPLY & ~TPGETANY);
      pending = this.send(service, data, options, flags, true);
    } catch (error) {
      return Promise.reject(asError(error));
    }
    return new Promise<Reply>((resolve, reject) => {
      pending.waiter = { resolve, reject };
    });
  }

  acall(service: string, data: unknown, options?: CallOptions): number {
    const flags = this.checkFlags(options, TP_FLAGS_ALL & ~TPGETANY);
    const pending = this.send(service, data, options, flags, false);
    return pending.callId;
  }

  getReply(cd: number, options?: GetReplyOptions): Promise<Reply> {
    try {
      requireXatmi(options === undefined || (typeof options === 'object' && options !== null), 'getReply options must be an object');
      const flags = options?.flags ?? 0;
      requireXatmi(Number.isInteger(flags) && flags >= 0 && (flags & ~(TPGETANY | TPNOBLOCK | TPNOTIME)) === 0, `getReply flags must be TPGETANY | TPNOBLOCK | TPNOTIME, got ${String(flags)}`);
      if (cd === TPGETANY || (flags & TPGETANY) !== 0) return this.getAny((flags & TPNOBLOCK) !== 0);
      requireXatmi(Number.isInteger(cd), `call descriptor must be an integer, got ${String(cd)}`);
      return this.getOne(cd, (flags & TPNOBLOCK) !== 0);
    } catch (error) {
      return Promise.reject(asError(error));
    }
  }

  cancel(cd: number): void {
    requireXatmi(Number.isInteger(cd), `call descriptor must be an integer, got ${String(cd)}`);
    const pending = this.pending.get(cd);
    if (pending === undefined || pending.internal) throw new XatmiError('TPEBADDESC', `cancel: no outstanding call descriptor ${String(cd)}`);
    this.forget(pending);
    pending.waiter?.reject(new XatmiError('TPEBADDESC', `call descriptor ${cd} was cancelled`));
    this.failOrphanedAnyWaiters();
    if (this.failure === undefined) {
      this.writer.cancel(cd);
      this.scheduleFlush();
    }
  }

  stats(): ClientStats {
    return { lateReplies: this.lateReplies, inFlight: this.pending.size + this.ledgerPending.size };
  }

  destroy(): void {
    void this.close();
  }

  // ------------------------------------------------------------------------------------------ ledger

  createAccounts(batch: Account[]): Promise<CreateAccountResult[]> {
    return this.ledgerRequest(() => checkAccounts(batch), Operation.create_accounts, () => batch.length, ACCOUNT_SIZE_BYTES,
      (view, at, i) => encodeAccount(view, at, batch[i]), CREATE_RESULT_SIZE_BYTES, decodeCreateResult) as Promise<CreateAccountResult[]>;
  }

  createTransfers(batch: Transfer[]): Promise<CreateTransferResult[]> {
    return this.ledgerRequest(() => checkTransfers(batch), Operation.create_transfers, () => batch.length, TRANSFER_SIZE_BYTES,
      (view, at, i) => encodeTransfer(view, at, batch[i]), CREATE_RESULT_SIZE_BYTES, decodeCreateResult) as Promise<CreateTransferResult[]>;
  }

  lookupAccounts(ids: bigint[]): Promise<Account[]> {
    return this.ledgerRequest(() => checkIds(ids), Operation.lookup_accounts, () => ids.length, ID_SIZE_BYTES,
      (view, at, i) => writeU128(view, at, ids[i]), ACCOUNT_SIZE_BYTES, decodeAccount) as Promise<Account[]>;
  }

  lookupTransfers(ids: bigint[]): Promise<Transfer[]> {
    return this.ledgerRequest(() => checkIds(ids), Operation.lookup_transfers, () => ids.length, ID_SIZE_BYTES,
      (view, at, i) => writeU128(view, at, ids[i]), TRANSFER_SIZE_BYTES, decodeTransfer) as Promise<Transfer[]>;
  }

  getAccountTransfers(filter: AccountFilter): Promise<Transfer[]> {
    return this.ledgerRequest(() => checkAccountFilter(filter), Operation.get_account_transfers, () => 1, ACCOUNT_FILTER_SIZE_BYTES,
      (view, at) => encodeAccountFilter(view, at, filter), TRANSFER_SIZE_BYTES, decodeTransfer) as Promise<Transfer[]>;
  }

  getAccountBalances(filter: AccountFilter): Promise<AccountBalance[]> {
    return this.ledgerRequest(() => checkAccountFilter(filter), Operation.get_account_balances, () => 1, ACCOUNT_FILTER_SIZE_BYTES,
      (view, at) => encodeAccountFilter(view, at, filter), ACCOUNT_BALANCE_SIZE_BYTES, decodeAccountBalance) as Promise<AccountBalance[]>;
  }

  queryAccounts(filter: QueryFilter): Promise<Account[]> {
    return this.ledgerRequest(() => checkQueryFilter(filter), Operation.query_accounts, () => 1, QUERY_FILTER_SIZE_BYTES,
      (view, at) => encodeQueryFilter(view, at, filter), ACCOUNT_SIZE_BYTES, decodeAccount) as Promise<Account[]>;
  }

  queryTransfers(filter: QueryFilter): Promise<Transfer[]> {
    return this.ledgerRequest(() => checkQueryFilter(filter), Operation.query_transfers, () => 1, QUERY_FILTER_SIZE_BYTES,
      (view, at) => encodeQueryFilter(view, at, filter), TRANSFER_SIZE_BYTES, decodeTransfer) as Promise<Transfer[]>;
  }

  /**
   * Validates with the embedded ledger's own checks (so both raise the same errors for the same input),
   * writes the events as TigerBeetle structs and waits for the results.
   */
  private ledgerRequest(
    check: () => void, operation: number, count: () => number, eventSizeBytes: number, encode: (view: DataView, at: number, index: number) => void,
    resultSizeBytes: number, decode: (view: DataView, at: number) => unknown,
  ): Promise<unknown[]> {
    try {
      if (this.failure !== undefined) throw this.ledgerFailure(this.failure);
      check();
      if (this.pending.size + this.ledgerPending.size >= this.inFlightMax) throw new ClientError('CLIENT_TOO_MANY_REQUESTS', `${this.inFlightMax} requests in flight on this connection, the node's limit`);
      const callId = this.takeCallId();
      this.writer.ledger(Op.ledger, callId, operation, count(), eventSizeBytes, encode);
      this.flushSoon();
      return new Promise<unknown[]>((resolve, reject) => this.ledgerPending.set(callId, { resultSizeBytes, decode, resolve, reject }));
    } catch (error) {
      return Promise.reject(asError(error));
    }
  }

  private onLedgerReply(frame: LedgerReplyFrame): void {
    this.repliesInLastData += 1;
    const pending = this.ledgerPending.get(frame.callId);
    if (pending === undefined) throw new ProtocolViolation(ErrorReason.badFrame, `LEDGER_REPLY for call id ${frame.callId}, which is not in flight`);
    // Checked while the request is still pending, so that the violation's failure reaches it too.
    if (frame.status === LedgerStatus.ok && frame.results.length !== frame.count * pending.resultSizeBytes) {
      throw new ProtocolViolation(ErrorReason.badFrame, `LEDGER_REPLY of ${frame.count} results has ${frame.results.length} bytes of them`);
    }
    this.ledgerPending.delete(frame.callId);
    if (frame.status !== LedgerStatus.ok) return pending.reject(ledgerError(frame.status, frame.results.toString('utf8')));
    const view = new DataView(frame.results.buffer, frame.results.byteOffset, frame.results.length);
    const results = new Array<unknown>(frame.count);
    for (let i = 0; i < frame.count; i += 1) results[i] = pending.decode(view, i * pending.resultSizeBytes);
    pending.resolve(results);
  }

  /** The error a ledger request gets once the connection is unusable: LedgerClosedError after close(), as the embedded ledger after destroy(). */
  private ledgerFailure(reason: ClientError): Error {
    return reason.code === 'CLIENT_CLOSED' ? new LedgerClosedError() : reason;
  }

  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      this.fail(new ClientError('CLIENT_CLOSED', 'the client was closed'));
      if (this.socket.destroyed) resolve();
      else this.socket.once('close', () => resolve());
      this.socket.end();
      // A node that never closes its side does not hold close() up for long.
      setTimeout(() => this.socket.destroy(), CLOSE_LINGER_MS).unref();
    });
    return this.closed;
  }

  // ------------------------------------------------------------------------------------------ sending

  private checkFlags(options: CallOptions | undefined, allowed: number): number {
    requireXatmi(options === undefined || (typeof options === 'object' && options !== null), 'call options must be an object');
    const flags = options?.flags ?? 0;
    requireXatmi(Number.isInteger(flags) && flags >= 0 && (flags & ~allowed) === 0, `flags ${String(flags)} include a flag not allowed here`);
    return flags;
  }

  /** Validates, encodes and queues one CALL frame; registers its pending entry unless TPNOREPLY. */
  private send(service: string, data: unknown, options: CallOptions | undefined, flags: number, internal: boolean): Pending {
    if (this.failure !== undefined) throw new XatmiError('TPEPROTO', `client cannot call: ${this.failure.message}`, { cause: this.failure });
    const serviceBytes = this.serviceBytes(service);
    const givenMs = (flags & TPNOTIME) !== 0 ? 0 : (options?.timeoutMs ?? this.defaultTimeoutMs);
    requireXatmi((flags & TPNOTIME) !== 0 || (typeof givenMs === 'number' && givenMs > 0 && givenMs <= TIMEOUT_MS_MAX), `timeoutMs must be a number from 1 to ${TIMEOUT_MS_MAX}, got ${String(givenMs)}`);
    // Whole milliseconds travel; a fraction rounds up, so a deadline is never earlier than asked.
    const timeoutMs = Math.ceil(givenMs);
    const noReply = (flags & TPNOREPLY) !== 0;
    if (!noReply && this.pending.size + this.ledgerPending.size >= this.inFlightMax) throw new XatmiError('TPELIMIT', `${this.pending.size} calls in flight on this connection, the node's limit`);
    const callId = noReply ? 0 : this.takeCallId();
    try {
      this.writer.call(callId, flags, timeoutMs, serviceBytes, data);
    } catch (error) {
      if (error instanceof DataError) throw new XatmiError('TPEINVAL', `data cannot be sent: ${error.message}`, { cause: error });
      throw error;
    }
    this.flushSoon();
    const pending: Pending = { callId, internal, timeoutMs, deadlineMs: Infinity, heapIndex: -1, outcome: undefined, waiter: undefined };
    if (noReply) return pending;
    this.pending.set(callId, pending);
    if (!internal) this.asyncOutstanding += 1;
    if ((flags & TPNOTIME) === 0) {
      pending.deadlineMs = performance.now() + timeoutMs;
      this.deadlines.add(pending);
    }
    return pending;
  }

  private serviceBytes(service: string): Buffer {
    let bytes = this.serviceNames.get(service);
    if (bytes !== undefined) return bytes;
    requireXatmi(typeof service === 'string' && service.length > 0, 'service must be a non-empty string');
    bytes = Buffer.from(service, 'utf8');
    requireXatmi(bytes.length <= SERVICE_NAME_BYTES_MAX, `service name is ${bytes.length} bytes; at most ${SERVICE_NAME_BYTES_MAX}`);
    if (this.serviceNames.size < SERVICE_NAME_CACHE_MAX) this.serviceNames.set(service, bytes);
    return bytes;
  }

  /** Call ids run CD_FIRST..CD_LAST and wrap, skipping ids still in flight. */
  private takeCallId(): number {
    for (;;) {
      const callId = this.nextCallId;
      this.nextCallId = callId === CD_LAST ? CD_FIRST : callId + 1;
      if (!this.pending.has(callId) && !this.ledgerPending.has(callId)) return callId;
    }
  }

  /**
   * A lone caller's request goes out at once: nothing else is in flight and the last data from the node
   * answered at most one request. Otherwise requests wait for the tick's one write (see `FrameWriter`):
   * after a burst of replies, the callers' next requests all go out together (one syscall, not two).
   */
  private flushSoon(): void {
    const lone = this.pending.size + this.ledgerPending.size === 0 && this.repliesInLastData <= 1;
    if (lone && !this.flushScheduled) this.flush();
    else this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const bytes = this.writer.take();
    if (bytes !== undefined && !this.socket.destroyed) this.socket.write(bytes);
  }

  // ------------------------------------------------------------------------------------------ receiving

  private onData(chunk: Buffer): void {
    this.repliesInLastData = 0;
    try {
      this.reader.push(chunk, (body) => {
        const frame = this.decoder.decode(body);
        if (frame !== undefined) this.onFrame(frame);
      });
    } catch (error) {
      if (!(error instanceof ProtocolViolation)) throw error;
      // The node sent something this client cannot read: tell it why, and give up on the connection.
      this.writer.error(error.reason, error.message);
      this.flush();
      this.fail(new ClientError('CLIENT_PROTOCOL', `node at ${this.address} broke the protocol: ${error.message}`));
    }
  }

  private onFrame(frame: Frame): void {
    if (this.handshake !== undefined) return this.onHandshake(frame);
    switch (frame.op) {
      case Op.reply:
        return this.onReply(frame);
      case Op.ledgerReply:
        return this.onLedgerReply(frame);
      case Op.error: {
        const code = frame.reason === ErrorReason.versionMismatch ? 'CLIENT_VERSION_MISMATCH' : frame.reason === ErrorReason.shuttingDown ? 'CLIENT_CONNECTION_LOST' : 'CLIENT_PROTOCOL';
        return this.fail(new ClientError(code, `node at ${this.address} closed the connection: ${frame.message}`));
      }
      default:
        throw new ProtocolViolation(ErrorReason.badFrame, `unexpected op 0x${frame.op.toString(16)} from the node`);
    }
  }

  private onHandshake(frame: Frame): void {
    const handshake = this.handshake;
    this.handshake = undefined;
    if (frame.op === Op.hello && frame.version === PROTOCOL_VERSION && frame.inFlightMax > 0) {
      this.inFlightMax = frame.inFlightMax;
      handshake?.resolve();
      return;
    }
    const why = frame.op === Op.error ? frame.message : frame.op === Op.hello ? `it speaks protocol version ${frame.version}, this client ${PROTOCOL_VERSION}` : 'it did not answer with HELLO';
    const error = new ClientError(frame.op === Op.error && frame.reason !== ErrorReason.versionMismatch ? 'CLIENT_CONNECT_FAILED' : 'CLIENT_VERSION_MISMATCH', `node at ${this.address} refused the handshake: ${why}`);
    if (frame.op !== Op.error) {
      // The handshake fails both ways: the node learns why this client hangs up.
      this.writer.error(ErrorReason.versionMismatch, `this client speaks protocol version ${PROTOCOL_VERSION}; ${why}`);
      this.flush();
    }
    handshake?.reject(error);
    this.fail(error);
  }

  private onReply(frame: ReplyFrame): void {
    this.repliesInLastData += 1;
    const pending = this.pending.get(frame.callId);
    if (pending === undefined || pending.outcome !== undefined) {
      this.lateReplies += 1;
      return;
    }
    this.deadlines.remove(pending);
    const cd = pending.internal ? 0 : pending.callId;
    const outcome = frame.data === TOO_LARGE
      ? new XatmiError('TPESVCERR', `the reply data does not fit in a frame of at most ${FRAME_BYTES_MAX} bytes`)
      : frame.code === undefined
      ? { cd, data: frame.data, urcode: frame.urcode }
      : new XatmiError(frame.code, frame.message ?? `the service failed with urcode ${frame.urcode} (${frame.code})`, { data: frame.data, urcode: frame.urcode });
    this.settle(pending, outcome);
  }

  /** The client's own deadline (the heap has let go of `pending`): TPETIME now, whatever the node does later. */
  private expire(pending: Pending): void {
    if (this.pending.get(pending.callId) !== pending || pending.outcome !== undefined) return;
    this.settle(pending, new XatmiError('TPETIME', `no reply within ${pending.timeoutMs} ms`));
    // The node's deadline fires about now too, but a cancel frees the call's slot in the node's in-flight
    // limit at once, so a caller who sends the next call right away does not meet TPELIMIT.
    if (this.failure === undefined) {
      this.writer.cancel(pending.callId);
      this.scheduleFlush();
    }
  }

  /** Hands an outcome to whoever waits for it, or keeps it for a later getReply. */
  private settle(pending: Pending, outcome: Reply | XatmiError): void {
    if (pending.waiter !== undefined) {
      this.forget(pending);
      deliver(pending.waiter, outcome);
      return;
    }
    if (!pending.internal && this.anyWaiters.length > 0) {
      this.forget(pending);
      deliver(this.anyWaiters.shift()!, outcome);
      return;
    }
    pending.outcome = outcome;
    this.ready.add(pending.callId);
  }

  private forget(pending: Pending): void {
    this.deadlines.remove(pending);
    if (this.pending.delete(pending.callId) && !pending.internal) this.asyncOutstanding -= 1;
    this.ready.delete(pending.callId);
  }

  /** TPGETANY waiters beyond the descriptors left would wait forever: answer them TPEBADDESC, as the bus. */
  private failOrphanedAnyWaiters(): void {
    while (this.anyWaiters.length > this.asyncOutstanding - this.ready.size) {
      this.anyWaiters.pop()!.reject(new XatmiError('TPEBADDESC', 'TPGETANY: no outstanding descriptors are left'));
    }
  }

  private getOne(cd: number, noBlock: boolean): Promise<Reply> {
    const pending = this.pending.get(cd);
    requireXatmiCode(pending !== undefined && !pending.internal, 'TPEBADDESC', `getReply: call descriptor ${cd} is not outstanding (never issued, cancelled, or its reply was taken)`);
    requireXatmiCode(pending.waiter === undefined, 'TPEPROTO', `another getReply is already waiting on descriptor ${cd}`);
    if (pending.outcome !== undefined) {
      this.forget(pending);
      return settled(pending.outcome);
    }
    requireXatmiCode(!noBlock, 'TPEBLOCK', `getReply: no reply yet for cd ${cd} (TPNOBLOCK)`);
    return new Promise<Reply>((resolve, reject) => {
      pending.waiter = { resolve, reject };
    });
  }

  private getAny(noBlock: boolean): Promise<Reply> {
    for (const callId of this.ready) {
      const pending = this.pending.get(callId)!;
      this.forget(pending);
      return settled(pending.outcome!);
    }
    requireXatmiCode(this.asyncOutstanding - this.anyWaiters.length > 0, 'TPEBADDESC', 'TPGETANY with no outstanding descriptors');
    requireXatmiCode(!noBlock, 'TPEBLOCK', 'getReply(TPGETANY): no reply yet (TPNOBLOCK)');
    return new Promise<Reply>((resolve, reject) => {
      this.anyWaiters.push({ resolve, reject });
    });
  }

  /** The connection is unusable: fail the handshake or every call in flight, and refuse new ones. */
  private fail(reason: ClientError): void {
    if (this.failure !== undefined) return;
    this.failure = reason;
    this.handshake?.reject(new ClientError(reason.code === 'CLIENT_CONNECTION_LOST' ? 'CLIENT_CONNECT_FAILED' : reason.code, `cannot connect to ${this.address}: ${reason.message}`, { cause: reason.cause ?? reason }));
    this.handshake = undefined;
    const lost = () => new XatmiError('TPESVCERR', `${reason.message}; the call may or may not have run`, { cause: reason });
    for (const pending of [...this.pending.values()]) {
      if (pending.outcome !== undefined) continue;
      this.deadlines.remove(pending);
      this.settle(pending, lost());
    }
    this.deadlines.stop();
    for (const waiter of this.anyWaiters.splice(0)) waiter.reject(lost());
    const ledgerPending = [...this.ledgerPending.values()];
    this.ledgerPending.clear();
    for (const pending of ledgerPending) pending.reject(this.ledgerFailure(reason));
    if (!this.socket.destroyed && reason.code !== 'CLIENT_CLOSED') this.socket.destroy();
  }
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
    default:
      return new ClientError('CLIENT_LEDGER_FAILED', message);
  }
}

function deliver(waiter: { resolve(reply: Reply): void; reject(error: XatmiError): void }, outcome: Reply | XatmiError): void {
  if (outcome instanceof XatmiError) waiter.reject(outcome);
  else waiter.resolve(outcome);
}

function settled(outcome: Reply | XatmiError): Promise<Reply> {
  return outcome instanceof XatmiError ? Promise.reject(outcome) : Promise.resolve(outcome);
}

function requireXatmi(condition: boolean, message: string): asserts condition {
  if (!condition) throw new XatmiError('TPEINVAL', message);
}

function requireXatmiCode(condition: boolean, code: 'TPEBADDESC' | 'TPEBLOCK' | 'TPEPROTO', message: string): asserts condition {
  if (!condition) throw new XatmiError(code, message);
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
