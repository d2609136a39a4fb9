/**
 * `connect(address)`: a node's bus and ledger over TCP. A `BusClient` mirrors the in-process bus — `call`,
 * `acall`, `getReply`, `cancel` with the same flags, the same `Reply` and the same `XatmiError` codes — so
 * code moves between in-process and remote callers without change, and it is the ledger's `Client` too.
 *
 * One connection (`connection.ts`) carries any number of concurrent requests of both kinds: bus calls
 * (`bus-client.ts`) and ledger requests (`ledger-client.ts`) share its call ids and the node's in-flight
 * limit (more is TPELIMIT for a call, CLIENT_TOO_MANY_REQUESTS for a ledger request).
 */
import { InvalidArgumentError, requireArgument } from '../errors.js';
import { DEFAULT_TIMEOUT_MS, TIMEOUT_MS_MAX, type CallOptions, type GetReplyOptions, type Reply } from '../bus/interfaces.js';
import type {
  Account, AccountBalance, AccountFilter, Client as LedgerClient, CreateAccountResult, CreateTransferResult, QueryFilter, Transfer,
} from '../ledger/types.js';
import { DEFAULT_BUS_PORT, TOKEN_BYTES_MAX, type LedgerReplyFrame, type ReplyFrame } from '../wire/bus-protocol.js';
import type { ClientError } from './errors.js';
import { Connection, type ConnectionOwner, type ConnectionSecurity } from './connection.js';
import type { ConnectionOptions } from 'node:tls';
import { BusCalls } from './bus-client.js';
import { LedgerCalls } from './ledger-client.js';

export const DEFAULT_CONNECT_TIMEOUT_MS = 5 * 1000; // 5 seconds

export interface ConnectOptions {
  /** Longest wait for the TCP connection and the handshake. Default 5000. */
  connectTimeoutMs?: number;
  /** Deadline of calls that give no `timeoutMs`. Default: the bus's (30000). */
  defaultTimeoutMs?: number;
  /** The token the node asks for when it requires authentication (sent in HELLO, never logged). */
  token?: string;
  /**
   * Connect with TLS: `true` for the system's trusted CAs, or node:tls options (`ca` for a private CA,
   * `servername`, `cert`/`key` for a client certificate). Off by default.
   */
  tls?: boolean | ConnectionOptions;
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

/** Connects to a node's bus listener: `connect('127.0.0.1:7700')`, `connect(7700)`, `connect({ host, port })`. */
export async function connect(address: string | number | { host?: string; port: number }, options: ConnectOptions = {}): Promise<BusClient> {
  const { host, port } = parseAddress(address);
  requireArgument(typeof options === 'object' && options !== null, 'connect options must be an object');
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const defaultTimeoutMs = options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  requireArgument(Number.isInteger(connectTimeoutMs) && connectTimeoutMs > 0, `connectTimeoutMs must be a positive integer, got ${String(connectTimeoutMs)}`);
  requireArgument(Number.isInteger(defaultTimeoutMs) && defaultTimeoutMs > 0 && defaultTimeoutMs <= TIMEOUT_MS_MAX, `defaultTimeoutMs must be a positive integer up to ${TIMEOUT_MS_MAX}, got ${String(defaultTimeoutMs)}`);
  requireArgument(options.token === undefined || (typeof options.token === 'string' && options.token.length > 0 && Buffer.byteLength(options.token) <= TOKEN_BYTES_MAX), `token must be a non-empty string of at most ${TOKEN_BYTES_MAX} bytes`);
  requireArgument(options.tls === undefined || typeof options.tls === 'boolean' || (typeof options.tls === 'object' && options.tls !== null), 'tls must be true, false or node:tls options');
  const tls = options.tls === true ? {} : options.tls === false ? undefined : options.tls;
  const client = new RemoteClient(host, port, defaultTimeoutMs, { token: options.token, tls });
  await client.connection.open(connectTimeoutMs);
  return client;
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

class RemoteClient implements BusClient, ConnectionOwner {
  readonly connection: Connection;
  private readonly bus: BusCalls;
  private readonly ledger: LedgerCalls;

  constructor(host: string, port: number, defaultTimeoutMs: number, security: ConnectionSecurity) {
    this.connection = new Connection(host, port, this, security);
    this.bus = new BusCalls(this.connection, defaultTimeoutMs, (callId) => this.ledger.has(callId));
    this.ledger = new LedgerCalls(this.connection, () => this.bus.takeCallId());
  }

  get address(): string {
    return this.connection.address;
  }

  // ── ConnectionOwner ──

  onReply(frame: ReplyFrame): void {
    this.bus.onReply(frame);
  }

  onLedgerReply(frame: LedgerReplyFrame): void {
    this.ledger.onReply(frame);
  }

  onFailure(reason: ClientError): void {
    this.bus.fail(reason);
    this.ledger.fail(reason);
  }

  inFlight(): number {
    return this.bus.size + this.ledger.size;
  }

  // ── bus ──

  call(service: string, data: unknown, options?: CallOptions): Promise<Reply> {
    return this.bus.call(service, data, options);
  }

  acall(service: string, data: unknown, options?: CallOptions): number {
    return this.bus.acall(service, data, options);
  }

  getReply(cd: number, options?: GetReplyOptions): Promise<Reply> {
    return this.bus.getReply(cd, options);
  }

  cancel(cd: number): void {
    this.bus.cancel(cd);
  }

  stats(): ClientStats {
    return { lateReplies: this.bus.late, inFlight: this.inFlight() };
  }

  close(): Promise<void> {
    return this.connection.close();
  }

  destroy(): void {
    void this.close();
  }

  // ── ledger ──

  createAccounts(batch: Account[]): Promise<CreateAccountResult[]> {
    return this.ledger.createAccounts(batch);
  }

  createTransfers(batch: Transfer[]): Promise<CreateTransferResult[]> {
    return this.ledger.createTransfers(batch);
  }

  lookupAccounts(ids: bigint[]): Promise<Account[]> {
    return this.ledger.lookupAccounts(ids);
  }

  lookupTransfers(ids: bigint[]): Promise<Transfer[]> {
    return this.ledger.lookupTransfers(ids);
  }

  getAccountTransfers(filter: AccountFilter): Promise<Transfer[]> {
    return this.ledger.getAccountTransfers(filter);
  }

  getAccountBalances(filter: AccountFilter): Promise<AccountBalance[]> {
    return this.ledger.getAccountBalances(filter);
  }

  queryAccounts(filter: QueryFilter): Promise<Account[]> {
    return this.ledger.queryAccounts(filter);
  }

  queryTransfers(filter: QueryFilter): Promise<Transfer[]> {
    return this.ledger.queryTransfers(filter);
  }
}
