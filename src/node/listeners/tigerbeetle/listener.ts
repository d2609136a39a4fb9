/**
 * The TigerBeetle listener: a TCP server that speaks TigerBeetle's client protocol, so the official
 * `tigerbeetle-node` client (and any other TigerBeetle client of release 0.17) sees a Purser node as a
 * one-replica cluster and its ledger as the state machine.
 *
 * What a connection may do, and what happens if it does something else:
 * - Every message is a 256-byte header and a body. A header whose checksum is wrong, a frame that is
 *   malformed, a body whose checksum is wrong, a cluster id that is not ours, or a command a client does
 *   not send: the connection is closed (the client reconnects and resends; nothing was executed).
 * - `ping_client` gets a `pong_client`.
 * - `request`: register creates a session (the table in sessions.ts); later requests are numbered
 *   1, 2, 3…, one at a time. The latest request resent gets the cached reply; it is never executed
 *   twice. A request the cluster cannot take is answered with an eviction: unknown session, a release
 *   outside 0.17.0..0.17.9 or not the session's, an unknown operation, a malformed body.
 * - Every reply is checked the way the client checks it before it is sent, because the official client
 *   aborts its whole process on some malformed replies.
 */
import { BlockList, createServer, isIP, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { assert, PurserError } from '../../../errors.js';
import type { Client } from '../../../ledger/types.js';
import {
  allocateMessage,
  bodyChecksumValid,
  buildEviction,
  buildPongClient,
  Command,
  EvictionReason,
  HEADER_SIZE_BYTES,
  MESSAGE_BODY_SIZE_MAX_BYTES,
  MESSAGE_SIZE_MAX_BYTES,
  OPERATION_REGISTER,
  packRelease,
  pingClientInvalid,
  readFrame,
  readPingClient,
  readReply,
  readRequest,
  REGISTER_REQUEST_SIZE_BYTES,
  REGISTER_RESULT_SIZE_BYTES,
  replyInvalid,
  requestInvalid,
  sealReply,
  type RequestHeader,
} from '../../../wire/tigerbeetle/header.js';
import { decodeMultiBatch, multiBatchSizeBytes, trailerSizeBytes, writeMultiBatchTrailer, type MultiBatch } from '../../../wire/tigerbeetle/multi-batch.js';
import { BATCH_EVENTS_MAX, operationSpec, Operation, type OperationSpec } from '../../../wire/tigerbeetle/operations.js';
import { CLIENT_SESSIONS_MAX, SessionTable, type ReplySink, type Session } from './sessions.js';
import { Connection, type MessageHandler } from './connection.js';
import { ConnectionTable, MemoryBudget, normalizeAddress, type ListenerLimits } from '../limits.js';
import { FairQueue } from '../fair-queue.js';
import { TigerBeetleError } from '../../errors.js';
import { createTigerBeetleMetrics, type TigerBeetleMetrics } from './metrics.js';

export { parseTigerBeetleAddress } from './address.js';

/** The release Purser implements, sent in evictions and pongs: TigerBeetle 0.17.9. */
export const SERVER_RELEASE = packRelease(0, 17, 9);
/** Client releases served: the 0.17 line up to the one implemented. Older or newer clients are evicted. */
export const CLIENT_RELEASE_MIN = packRelease(0, 17, 0);
export const CLIENT_RELEASE_MAX = SERVER_RELEASE;
/** How often the official clients ping (`ping_timeout` in TigerBeetle's src/vsr/client.zig: 30,000 ms). */
export const CLIENT_PING_INTERVAL_MS = 30 * 1000;

/**
 * The TigerBeetle listener's limits unless configured (`limits.ts` says what each one does). The protocol
 * has no handshake: the first valid message is one, and until then the idle timeout applies too, because
 * a new official client may send nothing before its first ping.
 */
export function defaultTigerBeetleLimits(): ListenerLimits {
  return {
    connectionsMax: 256,
    connectionsPerAddressMax: 64,
    // Three missed pings: a client that pings is never closed for idling.
    handshakeTimeoutMs: 3 * CLIENT_PING_INTERVAL_MS,
    idleTimeoutMs: 3 * CLIENT_PING_INTERVAL_MS,
    frameTimeoutMs: 30 * 1000, // 30 seconds for at most 1 MiB
    frameBufferedBytesMax: MESSAGE_SIZE_MAX_BYTES,
    connectionHeldBytesMax: 4 * 1024 * 1024, // 4 MiB: a client has one request in flight per session
  };
}

export interface TigerBeetleListenerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  ledger: Client;
  logger: Logger;
  /** The cluster id clients must name (TigerBeetle's `cluster_id`); 0 unless configured. */
  cluster?: bigint;
  sessionsMax?: number;
  /** The node's Prometheus registry, for `purser_tigerbeetle_*` metrics. */
  metricsRegistry?: Registry;
  /** Overrides of `defaultTigerBeetleLimits()`. */
  limits?: Partial<ListenerLimits>;
  /** The node's memory budget, shared with its other listeners; a budget of its own by default. */
  budget?: MemoryBudget;
  /** The node's queue of ledger requests, shared with the bus listener; one of its own by default. */
  fair?: FairQueue;
  /**
   * Client addresses allowed to connect (IP addresses or CIDR subnets such as `10.0.0.0/8`); everyone if
   * absent. TigerBeetle's protocol has no authentication, so this (and a firewall, or a TLS-terminating
   * proxy in front) is what there is.
   */
  allowedAddresses?: readonly string[];
}

export interface TigerBeetleListenerStats {
  connectionsAccepted: number;
  /** Connections closed for a protocol violation (bad checksum, malformed frame, wrong cluster). */
  connectionsRefused: number;
  requestsExecuted: number;
  /** Resent requests answered from a session's cached reply. */
  repliesResent: number;
  evictions: number;
  /** Connections turned away: not on the allow-list, too many from one address or in all, displaced. */
  connectionsTurnedAway: { not_allowed: number; address_full: number; listener_full: number; displaced: number };
}

export interface TigerBeetleListener {
  readonly address: { host: string; port: number };
  readonly stats: Readonly<TigerBeetleListenerStats>;
  /** Stops accepting, closes connections and waits for requests being executed. Idempotent. */
  close(): Promise<void>;
}

export async function startTigerBeetleListener(options: TigerBeetleListenerOptions): Promise<TigerBeetleListener> {
  const cluster = options.cluster ?? 0n;
  if (typeof cluster !== 'bigint' || cluster < 0n || cluster >= 1n << 128n) throw new TigerBeetleError('TB_OPTIONS_INVALID', 'cluster must be a u128 bigint');
  if (typeof options.ledger !== 'object' || options.ledger === null || typeof options.ledger.createTransfers !== 'function') {
    throw new TigerBeetleError('TB_OPTIONS_INVALID', 'ledger must implement the ledger Client interface');
  }
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) throw new TigerBeetleError('TB_OPTIONS_INVALID', `port must be 0..65535, got ${String(options.port)}`);
  const allowed = options.allowedAddresses === undefined ? undefined : allowList(options.allowedAddresses);
  const metrics = options.metricsRegistry === undefined ? undefined : createTigerBeetleMetrics(options.metricsRegistry);
  const limits = { ...defaultTigerBeetleLimits(), ...options.limits };
  const replica = new Replica(options.ledger, cluster, options.logger.child({ part: 'tigerbeetle' }), options.sessionsMax ?? CLIENT_SESSIONS_MAX, metrics, {
    limits, budget: options.budget ?? new MemoryBudget(), fair: options.fair ?? new FairQueue(), allowed,
  });
  const server = createServer({ noDelay: true }, (socket) => replica.accept(socket));
  // A backstop under the replica's own caps, which close the sockets they turn away.
  server.maxConnections = limits.connectionsMax * 2;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new TigerBeetleError('TB_LISTEN_FAILED', `cannot listen on ${options.host}:${String(options.port)}: ${error.message}`, { cause: error })));
    server.listen(options.port, options.host, () => resolve());
  });
  const bound = server.address();
  assert(bound !== null && typeof bound === 'object', 'a TCP server has an address');
  const address = { host: options.host, port: bound.port };
  replica.logger.info({ tigerbeetle: `${address.host}:${String(address.port)}`, cluster: String(cluster) }, 'TigerBeetle listener started');
  let closing: Promise<void> | undefined;
  return {
    address,
    stats: replica.stats,
    close() {
      closing ??= closeServer(server, replica);
      return closing;
    },
  };
}

async function closeServer(server: Server, replica: Replica): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  replica.closeAll();
  await closed;
  await replica.drain();
}

/** Parses an allow-list of addresses and subnets. Throws `TB_OPTIONS_INVALID` for anything else. */
function allowList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address, prefix, extra] = String(entry).split('/');
    const family = isIP(address);
    const bits = prefix === undefined ? undefined : Number(prefix);
    const bitsMax = family === 6 ? 128 : 32;
    if (family === 0 || extra !== undefined || (bits !== undefined && (!Number.isInteger(bits) || bits < 0 || bits > bitsMax || !/^\d+$/.test(prefix)))) {
      throw new TigerBeetleError('TB_OPTIONS_INVALID', `allowed address ${JSON.stringify(entry)} is not an IP address or a CIDR subnet (10.0.0.0/8)`);
    }
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, bits, type);
  }
  return list;
}

interface ReplicaLimits {
  limits: ListenerLimits;
  budget: MemoryBudget;
  fair: FairQueue;
  allowed: BlockList | undefined;
}

/** The replica side of the protocol: sessions, duplicate detection, execution, replies. */
class Replica implements MessageHandler {
  readonly stats: TigerBeetleListenerStats = {
    connectionsAccepted: 0, connectionsRefused: 0, requestsExecuted: 0, repliesResent: 0, evictions: 0,
    connectionsTurnedAway: { not_allowed: 0, address_full: 0, listener_full: 0, displaced: 0 },
  };
  private readonly sessions: SessionTable;
  private readonly connections: ConnectionTable<Connection>;
  private readonly executing = new Set<Promise<void>>();
  /** The commit number: one per register and per executed request; session numbers are taken from it. */
  private commit = 0n;
  private lastTimestampNs = 0n;

  constructor(
    private readonly ledger: Client,
    private readonly cluster: bigint,
    readonly logger: Logger,
    sessionsMax: number,
    readonly metrics: TigerBeetleMetrics | undefined,
    private readonly guards: ReplicaLimits,
  ) {
    this.sessions = new SessionTable(sessionsMax);
    this.connections = new ConnectionTable(guards.limits);
  }

  accept(socket: Socket): void {
    const address = normalizeAddress(socket.remoteAddress);
    if (this.guards.allowed !== undefined && !this.guards.allowed.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4')) {
      return this.turnAway(socket, 'not_allowed', address);
    }
    const displacedBefore = this.connections.refused.displaced;
    const outcome = this.connections.admit(address);
    this.stats.connectionsTurnedAway.displaced += this.connections.refused.displaced - displacedBefore;
    if (outcome !== 'admitted') return this.turnAway(socket, outcome, address);
    this.stats.connectionsAccepted += 1;
    this.metrics?.connectionsOpen.inc();
    this.connections.add(new Connection(socket, this, this.guards.limits, this.guards.budget), address);
  }

  /** TigerBeetle's protocol cannot say why: the socket is closed at once; the log says why, at debug. */
  private turnAway(socket: Socket, reason: 'not_allowed' | 'address_full' | 'listener_full', address: string): void {
    this.stats.connectionsTurnedAway[reason] += 1;
    this.metrics?.connectionsTurnedAway.inc({ reason });
    this.logger.debug({ remote: address, reason }, 'TigerBeetle connection turned away');
    socket.on('error', () => undefined);
    socket.destroy();
  }

  forget(connection: Connection): void {
    this.connections.remove(connection);
    this.metrics?.connectionsOpen.dec();
  }

  refused(_connection: Connection, _reason: string): void {
    this.stats.connectionsRefused += 1;
    this.metrics?.connectionsRefused.inc();
  }

  closeAll(): void {
    for (const connection of [...this.connections.values()]) connection.close('listener closing');
  }

  async drain(): Promise<void> {
    await Promise.allSettled([...this.executing]);
  }

  onMessage(connection: Connection, message: Buffer): void {
    const header = message.subarray(0, HEADER_SIZE_BYTES);
    const body = message.subarray(HEADER_SIZE_BYTES);
    if (!bodyChecksumValid(header, body)) return connection.refuse('body checksum');
    const frame = readFrame(header);
    if (frame.cluster !== this.cluster) return connection.refuse(`cluster ${String(frame.cluster)} is not ${String(this.cluster)}`);
    connection.greet(); // a valid message of our cluster: the idle timeout applies from now on
    if (frame.command === Command.ping_client) return this.onPingClient(connection, header);
    if (frame.command === Command.request) return this.onRequest(connection, header, body);
    connection.refuse(`command ${String(frame.command)} is not one a client sends`);
  }

  private onPingClient(connection: Connection, header: Buffer): void {
    const problem = pingClientInvalid(header);
    if (problem !== undefined) return connection.refuse(`ping_client: ${problem}`);
    connection.send(buildPongClient(this.cluster, SERVER_RELEASE, readPingClient(header).pingTimestampMonotonic));
  }

  private evict(connection: ReplySink, client: bigint, reason: EvictionReason): void {
    this.stats.evictions += 1;
    this.metrics?.evictions.inc({ reason: EvictionReason[reason] });
    this.logger.info({ client: String(client), reason: EvictionReason[reason] }, 'evicting TigerBeetle client');
    connection.send(buildEviction(this.cluster, SERVER_RELEASE, client, reason));
  }

  private onRequest(connection: Connection, header: Buffer, body: Buffer): void {
    const problem = requestInvalid(header);
    if (problem !== undefined) return connection.refuse(`request: ${problem}`);
    const request = readRequest(header);
    if (request.release < CLIENT_RELEASE_MIN) return this.evict(connection, request.client, EvictionReason.client_release_too_low);
    if (request.release > CLIENT_RELEASE_MAX) return this.evict(connection, request.client, EvictionReason.client_release_too_high);
    if (request.operation === OPERATION_REGISTER) return this.onRegister(connection, request, body);

    const session = this.sessions.get(request.client);
    if (session === undefined || request.session > session.session) return this.evict(connection, request.client, EvictionReason.no_session);
    if (request.session < session.session) return this.evict(connection, request.client, EvictionReason.session_too_low);
    if (request.release !== session.release) return this.evictSession(connection, session, EvictionReason.session_release_mismatch);
    session.sink = connection;
    if (request.request <= session.lastRequest) return this.onOldRequest(session, request);
    // A client has one request in flight and numbers them without gaps; anything else is not ours to run.
    if (request.request !== session.lastRequest + 1 || session.lastReply === undefined) return;
    // The client chains each request to the previous reply's context; a break means it is not our client.
    if (request.parent !== readReply(session.lastReply).context) return this.logger.debug({ client: String(request.client) }, 'request parent is not the last reply; ignored');

    const spec = operationSpec(request.operation);
    if (spec === undefined) return this.evictSession(connection, session, EvictionReason.invalid_request_operation);
    if (body.length % spec.eventSizeBytes !== 0) return this.evictSession(connection, session, EvictionReason.invalid_request_body_size);
    const batches = decodeMultiBatch(body, spec.eventSizeBytes);
    if (batches === undefined || !batchesFit(spec, batches)) return this.evictSession(connection, session, EvictionReason.invalid_request_body);

    session.lastRequest = request.request;
    session.lastRequestChecksum = request.checksum;
    session.lastReply = undefined;
    // Its bytes stay held in the budget until it is answered; it waits its connection's turn (fair-queue.ts).
    const release = connection.holdRequest(HEADER_SIZE_BYTES + body.length);
    const execution = this.guards.fair.submit(connection, () => this.execute(session, request, spec, body, batches))
      .catch((error: unknown) => this.onExecutionFailed(session, error))
      .finally(release);
    this.executing.add(execution);
    void execution.finally(() => this.executing.delete(execution));
  }

  /** A resent request: the cached reply if it is the latest and ready; otherwise nothing (the client waits). */
  private onOldRequest(session: Session, request: RequestHeader): void {
    if (request.request !== session.lastRequest || request.checksum !== session.lastRequestChecksum) return;
    if (session.lastReply === undefined) return;
    this.stats.repliesResent += 1;
    this.metrics?.repliesResent.inc();
    session.sink.send(session.lastReply);
  }

  private evictSession(connection: Connection, session: Session, reason: EvictionReason): void {
    this.sessions.remove(session.client);
    this.evict(connection, session.client, reason);
  }

  private onRegister(connection: Connection, request: RequestHeader, body: Buffer): void {
    const existing = this.sessions.get(request.client);
    if (existing !== undefined && existing.lastRequest === 0 && existing.lastRequestChecksum === request.checksum && existing.lastReply !== undefined) {
      existing.sink = connection;
      this.stats.repliesResent += 1;
      this.metrics?.repliesResent.inc();
      return connection.send(existing.lastReply);
    }
    // Clients before 0.16 register with an empty body.
    if (body.length !== REGISTER_REQUEST_SIZE_BYTES) return this.evict(connection, request.client, EvictionReason.client_release_too_low);
    const requestedLimit = body.readUInt32LE(0);
    const batchSizeLimit = requestedLimit === 0 ? MESSAGE_BODY_SIZE_MAX_BYTES : Math.min(requestedLimit, MESSAGE_BODY_SIZE_MAX_BYTES);
    this.commit += 1n;
    const session: Session = { client: request.client, session: this.commit, address: normalizeAddress(connection.remoteAddress), release: request.release, lastRequest: 0, lastRequestChecksum: request.checksum, lastReply: undefined, sink: connection };
    const dropped = this.sessions.add(session);
    if (dropped !== undefined) this.logger.debug({ client: String(dropped.client), address: dropped.address }, 'session table or address quota full: dropped the least recently used session');
    const reply = allocateMessage(REGISTER_RESULT_SIZE_BYTES);
    reply.writeUInt32LE(batchSizeLimit, HEADER_SIZE_BYTES);
    sealReply(reply, { cluster: this.cluster, release: request.release, requestChecksum: request.checksum, client: request.client, commit: this.commit, timestamp: this.nextTimestampNs(), request: 0, operation: OPERATION_REGISTER });
    assertReplyValid(reply, undefined);
    session.lastReply = reply;
    connection.send(reply);
  }

  private async execute(session: Session, request: RequestHeader, spec: OperationSpec, body: Buffer, batches: MultiBatch): Promise<void> {
    const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
    const batchCount = batches.counts.length;
    let resultsRoom = Math.floor((MESSAGE_BODY_SIZE_MAX_BYTES - trailerSizeBytes(spec.resultSizeBytes, batchCount)) / spec.resultSizeBytes);
    const results: (readonly unknown[])[] = [];
    for (let batch = 0; batch < batchCount; batch += 1) {
      const count = batches.counts[batch];
      const batchResults = await spec.execute(this.ledger, { body, view, offset: batches.offsets[batch], count }, resultsRoom);
      assert(batchResults.length <= resultsRoom, 'results overflow the reply');
      assert(spec.isQuery || batchResults.length <= count, 'more results than events');
      results.push(batchResults);
      resultsRoom -= batchResults.length;
    }
    this.stats.requestsExecuted += 1;
    this.metrics?.requests.inc({ operation: Operation[spec.operation] });
    this.commit += 1n;
    const reply = encodeReply(spec, results);
    sealReply(reply, { cluster: this.cluster, release: request.release, requestChecksum: request.checksum, client: request.client, commit: this.commit, timestamp: this.nextTimestampNs(), request: request.request, operation: request.operation });
    assertReplyValid(reply, { resultSizeBytes: spec.resultSizeBytes, batchCount });
    session.lastReply = reply;
    session.sink.send(reply);
  }

  /**
   * The ledger refused a batch (a typed error: input it does not take) or failed. There is no error
   * reply in TigerBeetle's protocol: a refusal evicts the session, a failure closes the connection
   * and drops the session so the client is evicted on its next try rather than waiting for ever.
   */
  private onExecutionFailed(session: Session, error: unknown): void {
    this.sessions.remove(session.client);
    if (error instanceof PurserError) {
      this.logger.warn({ err: error, client: String(session.client) }, 'ledger refused a TigerBeetle request');
      this.evict(session.sink, session.client, EvictionReason.invalid_request_body);
      return;
    }
    this.logger.error({ err: error, client: String(session.client) }, 'TigerBeetle request failed');
    session.sink.close('request failed');
  }

  /** Reply timestamps: wall-clock nanoseconds, strictly increasing, never 0 (the client checks). */
  private nextTimestampNs(): bigint {
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    this.lastTimestampNs = nowNs > this.lastTimestampNs ? nowNs : this.lastTimestampNs + 1n;
    return this.lastTimestampNs;
  }
}

/** Whether every batch has a count the operation takes and the worst-case reply fits in a message. */
function batchesFit(spec: OperationSpec, batches: MultiBatch): boolean {
  let resultsWorstCase = 0;
  for (const count of batches.counts) {
    if (spec.isQuery ? count !== 1 : count > BATCH_EVENTS_MAX) return false;
    resultsWorstCase += spec.isQuery ? 0 : count;
  }
  return multiBatchSizeBytes(spec.resultSizeBytes, batches.counts.map(() => 0)) + resultsWorstCase * spec.resultSizeBytes <= MESSAGE_BODY_SIZE_MAX_BYTES;
}

function encodeReply(spec: OperationSpec, results: readonly (readonly unknown[])[]): Buffer {
  const counts = results.map((batch) => batch.length);
  const bodyBytes = multiBatchSizeBytes(spec.resultSizeBytes, counts);
  const reply = allocateMessage(bodyBytes);
  const body = reply.subarray(HEADER_SIZE_BYTES);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let at = 0;
  for (const batch of results) {
    for (const result of batch) {
      spec.encodeResult(view, at, result);
      at += spec.resultSizeBytes;
    }
  }
  writeMultiBatchTrailer(body, spec.resultSizeBytes, counts);
  return reply;
}

/**
 * Checks a reply as the official client will (header rules, both checksums, the multi-batch body with
 * one batch per request batch). A failure is a bug in this module: it throws rather than sending.
 */
function assertReplyValid(reply: Buffer, multiBatch: { resultSizeBytes: number; batchCount: number } | undefined): void {
  const problem = replyInvalid(reply);
  assert(problem === undefined, `reply invalid: ${String(problem)}`);
  if (multiBatch === undefined) return;
  const decoded = decodeMultiBatch(reply.subarray(HEADER_SIZE_BYTES), multiBatch.resultSizeBytes);
  assert(decoded !== undefined && decoded.counts.length === multiBatch.batchCount, 'reply multi-batch does not mirror the request');
}
