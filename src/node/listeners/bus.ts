/**
 * The bus listener: the node's side of the TCP protocol in `../../wire/bus-protocol.ts` (default 127.0.0.1:7700).
 *
 * Each CALL frame becomes `bus.acall` with the deadline the client sent (remaining milliseconds, restarted
 * here), and its outcome goes back as a REPLY with the same call id. CANCEL becomes `bus.cancel`. When a
 * connection closes, its calls still in flight are cancelled: nobody is left to take their replies.
 *
 * Whatever a client sends, the node survives it: every byte goes through `FrameReader`/`FrameDecoder`, which
 * throw only `ProtocolViolation`; a violation gets an ERROR frame and closes that one connection. Limits:
 * `inFlightMax` calls per connection (past it, TPELIMIT without queueing: back-pressure a client can see),
 * `FRAME_BYTES_MAX` per frame, and the `ListenerLimits` of `limits.ts` (connections per listener and per
 * address, handshake, idle and frame deadlines, bytes held against the node's memory budget). When a
 * client stops reading its replies, the listener stops reading its requests until the socket drains.
 *
 * With an `Authenticator`, the client's HELLO must carry a token it accepts, and each call is checked
 * against the token's role (TPEPERM otherwise); with `tls`, the listener speaks TLS only.
 *
 * LEDGER frames run the ledger `Client` method their operation names against `ledger`, when the node has
 * one (see `../../wire/tigerbeetle/operations.ts`, shared with the TigerBeetle listener); they count against
 * the same in-flight limit, cannot be cancelled, and wait their connection's turn in the `FairQueue`.
 *
 * Replies are written once per event-loop turn (one `socket.write` per connection per turn, see
 * `FrameWriter`), which under load coalesces many replies into one syscall; the reply that leaves the
 * connection with nothing in flight goes out at once, so a lone caller does not wait for the turn to end.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import { Counter, Gauge, type Registry } from 'prom-client';
import { NodeError } from '../errors.js';
import { FRAME_BYTES_MAX } from '../../wire/bus-protocol.js';
import type { Bus } from '../../bus/interfaces.js';
import type { Logger } from '../logger.js';
import type { Client } from '../../ledger/types.js';
import type { Authenticator } from '../auth.js';
import { ConnectionTable, MemoryBudget, normalizeAddress, type ListenerLimits } from './limits.js';
import { FairQueue } from './fair-queue.js';
import { ServerConnection, type ConnectionContext } from './bus-connection.js';

/** Calls one connection may have in flight; the 1,025th gets TPELIMIT until one finishes. */
export const DEFAULT_IN_FLIGHT_MAX = 1024;

/** The bus listener's limits unless configured (`limits.ts` says what each one does). */
export function defaultBusLimits(): ListenerLimits {
  return {
    connectionsMax: 4096,
    connectionsPerAddressMax: 1024,
    handshakeTimeoutMs: 10 * 1000, // 10 seconds
    // connect() clients ping every third of this (the node's HELLO tells them), so an idle client stays.
    idleTimeoutMs: 60 * 1000, // 1 minute
    frameTimeoutMs: 30 * 1000, // 30 seconds: a 2 MiB frame at 1 Mbit/s takes 17
    frameBufferedBytesMax: FRAME_BYTES_MAX,
    connectionHeldBytesMax: 8 * 1024 * 1024, // 8 MiB: four full ledger batches
  };
}

export interface BusListenerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  bus: Bus;
  logger: Logger;
  inFlightMax?: number;
  /** The ledger that LEDGER frames run against; without one they are answered "no ledger". */
  ledger?: Client;
  /** A prom-client Registry for the listener's metrics (connections, protocol violations). None if absent. */
  metricsRegistry?: Registry;
  /** Overrides of `defaultBusLimits()`. */
  limits?: Partial<ListenerLimits>;
  /** The node's memory budget, shared with its other listeners; a budget of its own by default. */
  budget?: MemoryBudget;
  /** The node's queue of ledger requests, shared with the TigerBeetle listener; one of its own by default. */
  fair?: FairQueue;
  /** Require a token in HELLO, and check calls against its role. */
  auth?: Authenticator;
  /** Speak TLS with this certificate and key (node:tls options). */
  tls?: TlsOptions;
}

export interface BusListenerStats {
  /** Connections open now. */
  connections: number;
  /** Connections accepted since the listener started. */
  connectionsOpened: number;
  /** Connections closed because the peer broke the protocol (each got an ERROR frame). */
  protocolViolations: number;
  /** Connections turned away: too many from one address, too many in all, or displaced before HELLO. */
  connectionsRefused: { address_full: number; listener_full: number; displaced: number };
  /** Bytes the node's memory budget holds now, the most it ever held, and its size. */
  budget: { usedBytes: number; peakBytes: number; maxBytes: number; refusals: number };
}

export interface BusListener {
  readonly address: { host: string; port: number };
  /** Connections open now. */
  connectionCount(): number;
  stats(): BusListenerStats;
  /**
   * Stops accepting connections and calls, waits up to `drainTimeoutMs` for calls in flight to be answered,
   * then says goodbye (ERROR "shutting down") and closes every connection. Safe to call more than once.
   */
  close(options?: { drainTimeoutMs?: number }): Promise<void>;
}

export async function startBusListener(options: BusListenerOptions): Promise<BusListener> {
  const limits = { ...defaultBusLimits(), ...options.limits };
  const budget = options.budget ?? new MemoryBudget();
  const table = new ConnectionTable<ServerConnection>(limits);
  const counts = { connectionsOpened: 0, protocolViolations: 0 };
  const metrics = options.metricsRegistry === undefined ? undefined : listenerMetrics(options.metricsRegistry, () => table.size);
  const context: ConnectionContext = {
    bus: options.bus,
    ledger: options.ledger,
    logger: options.logger,
    inFlightMax: options.inFlightMax ?? DEFAULT_IN_FLIGHT_MAX,
    limits,
    budget,
    fair: options.fair ?? new FairQueue(),
    auth: options.auth,
    closed: (connection) => table.remove(connection),
    violation: () => {
      counts.protocolViolations += 1;
      metrics?.violations.inc();
    },
  };
  const accept = (socket: Socket) => {
    const address = normalizeAddress(socket.remoteAddress);
    const outcome = table.admit(address);
    if (outcome !== 'admitted') {
      metrics?.refused.inc({ reason: outcome });
      const why = outcome === 'address_full' ? `${limits.connectionsPerAddressMax} connections from ${address}` : `${limits.connectionsMax} connections`;
      ServerConnection.turnAway(socket, `the node holds ${why}, its limit; try again later`);
      return;
    }
    counts.connectionsOpened += 1;
    metrics?.opened.inc();
    table.add(new ServerConnection(socket, context), address);
  };
  const server: Server = options.tls === undefined
    ? createServer(accept)
    : createTlsServer({ ...options.tls, handshakeTimeout: limits.handshakeTimeoutMs }, accept);
  // A backstop under the table's own caps (which answer with a reason): raw sockets still in the TLS
  // handshake, or turned away and lingering, count here too.
  server.maxConnections = limits.connectionsMax * 2;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new NodeError('NODE_LISTEN_FAILED', `bus listener cannot listen on ${options.host}:${options.port}: ${error.message}; choose another with --bus-port`, { cause: error })));
    server.listen(options.port, options.host, () => resolve());
  });
  server.on('error', (error) => options.logger.error({ err: error }, 'bus listener error'));
  // A failed TLS handshake is the client's problem, not the node's: debug, not error.
  server.on('tlsClientError', (error) => options.logger.debug({ err: error }, 'bus listener: TLS handshake failed'));
  const bound = server.address();
  const address = { host: options.host, port: typeof bound === 'object' && bound !== null ? bound.port : options.port };
  let closing: Promise<void> | undefined;
  return {
    address,
    connectionCount: () => table.size,
    stats: () => ({
      connections: table.size,
      ...counts,
      connectionsRefused: { ...table.refused },
      budget: { usedBytes: budget.usedBytes, peakBytes: budget.peakBytes, maxBytes: budget.maxBytes, refusals: budget.refusals },
    }),
    close({ drainTimeoutMs = 5000 } = {}) {
      closing ??= (async () => {
        const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        await Promise.all([...table.values()].map((connection) => connection.shutdown(drainTimeoutMs)));
        await serverClosed;
      })();
      return closing;
    },
  };
}

function listenerMetrics(registry: Registry, connectionCount: () => number) {
  new Gauge({
    name: 'purser_bus_client_connections',
    help: 'connect() clients connected to the bus listener now',
    registers: [registry],
    collect() {
      this.set(connectionCount());
    },
  });
  return {
    opened: new Counter({ name: 'purser_bus_client_connections_opened_total', help: 'connections the bus listener accepted', registers: [registry] }),
    refused: new Counter({ name: 'purser_bus_client_connections_refused_total', help: 'bus connections turned away at a connection cap, by reason', labelNames: ['reason'] as const, registers: [registry] }),
    violations: new Counter({ name: 'purser_bus_client_protocol_violations_total', help: 'bus connections closed because the client broke the protocol', registers: [registry] }),
  };
}
