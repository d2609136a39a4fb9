/**
 * Helpers for the wire-protocol tests: run the official client in a child process, a byte-level TCP
 * proxy that can drop or corrupt chosen messages, a raw protocol client for fuzzing, and a small
 * in-memory ledger double (`RecordingLedger`) that counts calls so tests can prove a request ran once.
 *
 * The double implements only what the transport tests need (create, exists, not-found, lookups and
 * simple filters); the ledger's own semantics are tested through the wire with the real ledger
 * elsewhere.
 */
import { spawn } from 'node:child_process';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type {
  Account,
  AccountBalance,
  AccountFilter,
  Client,
  CreateAccountResult,
  CreateTransferResult,
  QueryFilter,
  Transfer,
} from '../../../../src/ledger/types.js';
import { CreateAccountStatus, CreateTransferStatus } from '../../../../src/ledger/types.js';
import { buildRequest, HEADER_OFFSETS, HEADER_SIZE_BYTES, OPERATION_REGISTER, packRelease, readFrame, readReply } from '../../../../src/wire/tigerbeetle/header.js';
import { multiBatchSizeBytes, writeMultiBatchTrailer } from '../../../../src/wire/tigerbeetle/multi-batch.js';
import { encodeAccount, writeU128 } from '../../../../src/wire/tigerbeetle/codec.js';
import { startTigerBeetleListener, type TigerBeetleListener } from '../../../../src/node/listeners/tigerbeetle/listener.js';

export const silentLogger = pino({ level: 'silent' });
const CHILD = fileURLToPath(new URL('./_client-child.mjs', import.meta.url));
/** A child that has not finished by then is taken to hang (the client retries a bad reply for ever). */
// A hang guard for the official client's child process, not a claim about speed (a loaded machine is slow).
export const CHILD_TIMEOUT_MS = 120_000;

/** Parses the child's JSON, turning "<digits>n" strings back into bigints. */
function revive(_key: string, value: unknown): unknown {
  return typeof value === 'string' && /^\d+n$/.test(value) ? BigInt(value.slice(0, -1)) : value;
}

export interface ChildOutput {
  result?: unknown;
  error?: string;
  code?: string;
}

/**
 * Runs `code` (the body of an async function of `tb` and `client`) with the official client connected
 * to `address`. Rejects if the child aborts, exits without output, or outlives `timeoutMs`.
 */
export function runOfficialClient(address: string, code: string, options: { cluster?: bigint; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<ChildOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, address, String(options.cluster ?? 0n), code], { stdio: ['ignore', 'pipe', 'pipe'] });
    // Aborting kills the child: for a client expected to hang, once the test has seen the state it waits for.
    options.signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error('official client stopped by the test'));
    }, { once: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`official client hung for ${String(options.timeoutMs ?? CHILD_TIMEOUT_MS)} ms; stderr: ${stderr.slice(-2000)}`));
    }, options.timeoutMs ?? CHILD_TIMEOUT_MS);
    child.once('exit', (exitCode, signal) => {
      clearTimeout(timer);
      const line = stdout.trim().split('\n').pop() ?? '';
      if (exitCode !== 0 || line === '') {
        reject(new Error(`official client exited with ${String(exitCode ?? signal)}; stderr: ${stderr.slice(-2000)}`));
        return;
      }
      resolve(JSON.parse(line, revive) as ChildOutput);
    });
  });
}

/** A listener on a free loopback port serving `ledger`. */
export async function startListener(ledger: Client, options: { cluster?: bigint; sessionsMax?: number } = {}): Promise<TigerBeetleListener & { url: string }> {
  const listener = await startTigerBeetleListener({ host: '127.0.0.1', port: 0, ledger, logger: silentLogger, ...options });
  return Object.assign(listener, { url: `127.0.0.1:${String(listener.address.port)}` });
}

// ---- A byte-level proxy ----------------------------------------------------------------------------

/** Decides, per whole message, whether to forward it, drop it, or forward a replacement. */
export type MessageFilter = (message: Buffer, direction: 'toServer' | 'toClient') => Buffer | 'drop';

/** Splits a byte stream into messages by the header's size field (no checksum checks: it is a wire). */
class Framer {
  private pending = Buffer.alloc(0);
  push(chunk: Buffer, onMessage: (message: Buffer) => void): void {
    this.pending = Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= HEADER_SIZE_BYTES) {
      const size = this.pending.readUInt32LE(HEADER_OFFSETS.size);
      if (size < HEADER_SIZE_BYTES || this.pending.length < size) return;
      onMessage(this.pending.subarray(0, size));
      this.pending = this.pending.subarray(size);
    }
  }
}

export interface Proxy {
  url: string;
  connections: number;
  close(): Promise<void>;
}

export async function startProxy(target: { port: number }, filter: MessageFilter): Promise<Proxy> {
  const sockets = new Set<Socket>();
  const state = { connections: 0 };
  const server: Server = createServer((downstream) => {
    state.connections += 1;
    const upstream = connect(target.port, '127.0.0.1');
    sockets.add(downstream).add(upstream);
    const toServer = new Framer();
    const toClient = new Framer();
    const forward = (socket: Socket, message: Buffer, direction: 'toServer' | 'toClient') => {
      const decision = filter(Buffer.from(message), direction);
      if (decision !== 'drop' && !socket.destroyed) socket.write(decision);
    };
    downstream.on('data', (chunk: Buffer) => toServer.push(chunk, (m) => forward(upstream, m, 'toServer')));
    upstream.on('data', (chunk: Buffer) => toClient.push(chunk, (m) => forward(downstream, m, 'toClient')));
    const end = () => {
      downstream.destroy();
      upstream.destroy();
    };
    for (const socket of [downstream, upstream]) {
      socket.on('close', end);
      socket.on('error', end);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `127.0.0.1:${String(port)}`,
    get connections() {
      return state.connections;
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---- A raw protocol client -------------------------------------------------------------------------

/** A TCP connection that sends raw bytes and collects whole messages back (for fuzzing and edge cases). */
export class RawConnection {
  readonly messages: Buffer[] = [];
  closed = false;
  private readonly framer = new Framer();
  private waiters: (() => void)[] = [];

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) =>
      this.framer.push(chunk, (message) => {
        this.messages.push(Buffer.from(message));
        this.wake();
      }),
    );
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static open(port: number, localAddress = '127.0.0.1'): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host: '127.0.0.1', localAddress }, () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  send(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }

  /** Waits until `count` messages arrived or the connection closed, at most `timeoutMs` (a hang guard). */
  async waitFor(count: number, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.length < count && !this.closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /**
   * Waits until the server closes the connection, at most `timeoutMs` (a hang guard: a loaded machine may
   * take seconds to get there, so the default is a minute, not the 5 s it was); returns whether it did.
   */
  async waitClosed(timeoutMs = 60_000): Promise<boolean> {
    await this.waitFor(Number.MAX_SAFE_INTEGER, timeoutMs);
    return this.closed;
  }

  close(): void {
    this.socket.destroy();
  }
}

// ---- A ledger double -------------------------------------------------------------------------------

/** An in-memory ledger that records every call; enough semantics to tell "created" from "exists". */
export class RecordingLedger implements Client {
  readonly calls: { method: string; events: number }[] = [];
  readonly accounts = new Map<bigint, Account>();
  readonly transfers = new Map<bigint, Transfer>();
  private timestampNs = 1_000_000n;

  private record(method: string, events: number): void {
    this.calls.push({ method, events });
  }

  callsOf(method: string): number {
    return this.calls.filter((call) => call.method === method).length;
  }

  createAccounts(batch: Account[]): Promise<CreateAccountResult[]> {
    this.record('createAccounts', batch.length);
    return Promise.resolve(
      batch.map((account) => {
        if (account.id === 0n) return { timestamp: 0n, status: CreateAccountStatus.id_must_not_be_zero };
        const existing = this.accounts.get(account.id);
        if (existing) return { timestamp: existing.timestamp, status: CreateAccountStatus.exists };
        this.timestampNs += 1n;
        this.accounts.set(account.id, { ...account, timestamp: this.timestampNs });
        return { timestamp: this.timestampNs, status: CreateAccountStatus.created };
      }),
    );
  }

  createTransfers(batch: Transfer[]): Promise<CreateTransferResult[]> {
    this.record('createTransfers', batch.length);
    return Promise.resolve(
      batch.map((transfer) => {
        if (transfer.id === 0n) return { timestamp: 0n, status: CreateTransferStatus.id_must_not_be_zero };
        const existing = this.transfers.get(transfer.id);
        if (existing) return { timestamp: existing.timestamp, status: CreateTransferStatus.exists };
        const debit = this.accounts.get(transfer.debit_account_id);
        const credit = this.accounts.get(transfer.credit_account_id);
        if (!debit) return { timestamp: 0n, status: CreateTransferStatus.debit_account_not_found };
        if (!credit) return { timestamp: 0n, status: CreateTransferStatus.credit_account_not_found };
        this.timestampNs += 1n;
        debit.debits_posted += transfer.amount;
        credit.credits_posted += transfer.amount;
        this.transfers.set(transfer.id, { ...transfer, timestamp: this.timestampNs });
        return { timestamp: this.timestampNs, status: CreateTransferStatus.created };
      }),
    );
  }

  lookupAccounts(ids: bigint[]): Promise<Account[]> {
    this.record('lookupAccounts', ids.length);
    return Promise.resolve(ids.flatMap((id) => (this.accounts.has(id) ? [{ ...this.accounts.get(id)! }] : [])));
  }

  lookupTransfers(ids: bigint[]): Promise<Transfer[]> {
    this.record('lookupTransfers', ids.length);
    return Promise.resolve(ids.flatMap((id) => (this.transfers.has(id) ? [{ ...this.transfers.get(id)! }] : [])));
  }

  private accountTransfers(filter: AccountFilter): Transfer[] {
    const all = [...this.transfers.values()].filter((t) => t.debit_account_id === filter.account_id || t.credit_account_id === filter.account_id);
    if (filter.flags & 4) all.reverse();
    return all.slice(0, filter.limit);
  }

  getAccountTransfers(filter: AccountFilter): Promise<Transfer[]> {
    this.record('getAccountTransfers', 1);
    return Promise.resolve(this.accountTransfers(filter));
  }

  getAccountBalances(filter: AccountFilter): Promise<AccountBalance[]> {
    this.record('getAccountBalances', 1);
    let debits = 0n;
    let credits = 0n;
    const balances: AccountBalance[] = [];
    for (const t of this.accountTransfers({ ...filter, flags: 0, limit: Number.MAX_SAFE_INTEGER })) {
      if (t.debit_account_id === filter.account_id) debits += t.amount;
      else credits += t.amount;
      balances.push({ debits_pending: 0n, debits_posted: debits, credits_pending: 0n, credits_posted: credits, timestamp: t.timestamp });
    }
    return Promise.resolve(balances.slice(0, filter.limit));
  }

  queryAccounts(filter: QueryFilter): Promise<Account[]> {
    this.record('queryAccounts', 1);
    return Promise.resolve([...this.accounts.values()].filter((a) => filter.ledger === 0 || a.ledger === filter.ledger).slice(0, filter.limit));
  }

  queryTransfers(filter: QueryFilter): Promise<Transfer[]> {
    this.record('queryTransfers', 1);
    return Promise.resolve([...this.transfers.values()].filter((t) => filter.code === 0 || t.code === filter.code).slice(0, filter.limit));
  }

  destroy(): void {}
}

// ---- A raw session: the protocol as a client speaks it, without the official client -----------------

export const CLIENT_RELEASE = packRelease(0, 17, 9);

/** A multi-batch body of `batches`, each a list of already-encoded elements of `elementSizeBytes`. */
export function multiBatchBody(elementSizeBytes: number, batches: Uint8Array[][]): Uint8Array {
  const counts = batches.map((batch) => batch.length);
  const body = new Uint8Array(multiBatchSizeBytes(elementSizeBytes, counts));
  let at = 0;
  for (const batch of batches) {
    for (const element of batch) {
      body.set(element, at);
      at += elementSizeBytes;
    }
  }
  writeMultiBatchTrailer(body, elementSizeBytes, counts);
  return body;
}

export function encodeIds(ids: bigint[]): Uint8Array[] {
  return ids.map((id) => {
    const bytes = new Uint8Array(16);
    writeU128(new DataView(bytes.buffer), 0, id);
    return bytes;
  });
}

export function encodeAccounts(accounts: Account[]): Uint8Array[] {
  return accounts.map((account) => {
    const bytes = new Uint8Array(128);
    encodeAccount(new DataView(bytes.buffer), 0, account);
    return bytes;
  });
}

export function newAccount(id: bigint): Account {
  return { id, debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, reserved: 0, ledger: 1, code: 1, flags: 0, timestamp: 0n };
}

export class RawSession {
  session = 0n;
  parent = 0n;
  requestNumber = 0;
  lastRequest: Buffer | undefined;

  constructor(
    readonly connection: RawConnection,
    readonly client: bigint,
    readonly options: { cluster?: bigint; release?: number } = {},
  ) {}

  /** Sends a message and returns the next message the server sends back (or undefined if it closed). */
  async exchange(message: Buffer): Promise<Buffer | undefined> {
    const count = this.connection.messages.length;
    this.connection.send(message);
    await this.connection.waitFor(count + 1);
    return this.connection.messages[count];
  }

  registerMessage(): Buffer {
    return buildRequest({ cluster: this.options.cluster ?? 0n, release: this.options.release ?? CLIENT_RELEASE, parent: 0n, client: this.client, session: 0n, request: 0, operation: OPERATION_REGISTER, body: new Uint8Array(256) });
  }

  async register(): Promise<Buffer> {
    const reply = await this.exchange(this.registerMessage());
    if (reply === undefined) throw new Error('connection closed on register');
    const fields = readReply(reply);
    this.session = fields.commit;
    this.parent = fields.context;
    return reply;
  }

  requestMessage(operation: number, body: Uint8Array, overrides: Partial<{ release: number; session: bigint; request: number }> = {}): Buffer {
    return buildRequest({ cluster: this.options.cluster ?? 0n, release: overrides.release ?? this.options.release ?? CLIENT_RELEASE, parent: this.parent, client: this.client, session: overrides.session ?? this.session, request: overrides.request ?? this.requestNumber + 1, operation, body });
  }

  /** Sends the next request and returns the reply (advancing the chain) or whatever else came back. */
  async request(operation: number, body: Uint8Array): Promise<Buffer | undefined> {
    const message = this.requestMessage(operation, body);
    this.lastRequest = message;
    const reply = await this.exchange(message);
    if (reply !== undefined && readFrame(reply).command === 8) {
      this.requestNumber += 1;
      this.parent = readReply(reply).context;
    }
    return reply;
  }
}
