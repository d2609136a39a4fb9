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
 * `FRAME_BYTES_MAX` per frame, `CONNECTIONS_MAX` connections, `HANDSHAKE_TIMEOUT_MS` to say HELLO. When a
 * client stops reading its replies, the listener stops reading its requests until the socket drains.
 *
 * LEDGER frames run the ledger `Client` method their operation names against `ledger`, when the node has
 * one (see `../../wire/tigerbeetle/operations.ts`, shared with the TigerBeetle listener); they count against
 * the same in-flight limit and cannot be cancelled.
 *
 * Replies are written once per event-loop turn (one `socket.write` per connection per turn, see
 * `FrameWriter`), which under load coalesces many replies into one syscall; the reply that leaves the
 * connection with nothing in flight goes out at once, so a lone caller does not wait for the turn to end.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { Counter, Gauge, type Registry } from 'prom-client';
import { PurserError, asError, assert } from '../../errors.js';
import { NodeError } from '../errors.js';
import { XatmiError } from '../../bus/errors.js';
import { TPNOREPLY, TPNOTIME, type Bus, type CallOptions, type Reply } from '../../bus/interfaces.js';
import {
  ErrorReason, FRAME_BYTES_MAX, TOO_LARGE, LedgerStatus, Op, PROTOCOL_VERSION, ledgerFrameBytes, type CallFrame, type Frame, type LedgerFrame, type LedgerStatusValue, type XatmiCodeName,
} from '../../wire/bus-protocol.js';
import { FrameDecoder, FrameReader } from '../../wire/bus-reader.js';
import { FrameOutput } from '../../wire/bus-writer.js';
import { DataError, ProtocolViolation } from '../../wire/errors.js';
import type { Logger } from '../logger.js';
import type { Client } from '../../ledger/types.js';
import { LedgerBatchTooLargeError, LedgerClosedError, LedgerInvalidRequestError } from '../../ledger/errors.js';
import { BATCH_EVENTS_MAX, operationSpec, type OperationSpec } from '../../wire/tigerbeetle/operations.js';

/** Calls one connection may have in flight; the 1,025th gets TPELIMIT until one finishes. */
export const DEFAULT_IN_FLIGHT_MAX = 1024;
/** Connections the listener holds at once; more are refused by the kernel's accept path (Node closes them). */
export const CONNECTIONS_MAX = 4096;
/** A client that has not said HELLO within this time is disconnected. */
export const HANDSHAKE_TIMEOUT_MS = 10 * 1000; // 10 seconds
/** In-flight entry of a ledger request (bus descriptors start at 0x100, so 0 is never one). */
const LEDGER_REQUEST = 0;
/** After an ERROR frame, how long a peer gets to read it before the socket is destroyed. */
const CLOSE_LINGER_MS = 1000;

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
}

export interface BusListenerStats {
  /** Connections open now. */
  connections: number;
  /** Connections accepted since the listener started. */
  connectionsOpened: number;
  /** Connections closed because the peer broke the protocol (each got an ERROR frame). */
  protocolViolations: number;
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
  const inFlightMax = options.inFlightMax ?? DEFAULT_IN_FLIGHT_MAX;
  const connections = new Set<ServerConnection>();
  const counts = { connectionsOpened: 0, protocolViolations: 0 };
  const metrics = options.metricsRegistry === undefined ? undefined : listenerMetrics(options.metricsRegistry, () => connections.size);
  const events: ConnectionEvents = {
    closed: (connection) => connections.delete(connection),
    violation: () => {
      counts.protocolViolations += 1;
      metrics?.violations.inc();
    },
  };
  const server: Server = createServer((socket) => {
    counts.connectionsOpened += 1;
    metrics?.opened.inc();
    connections.add(new ServerConnection(socket, options.bus, options.ledger, options.logger, inFlightMax, events));
  });
  server.maxConnections = CONNECTIONS_MAX;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new NodeError('NODE_LISTEN_FAILED', `bus listener cannot listen on ${options.host}:${options.port}: ${error.message}; choose another with --bus-port`, { cause: error })));
    server.listen(options.port, options.host, () => resolve());
  });
  server.on('error', (error) => options.logger.error({ err: error }, 'bus listener error'));
  const bound = server.address();
  const address = { host: options.host, port: typeof bound === 'object' && bound !== null ? bound.port : options.port };
  let closing: Promise<void> | undefined;
  return {
    address,
    connectionCount: () => connections.size,
    stats: () => ({ connections: connections.size, ...counts }),
    close({ drainTimeoutMs = 5000 } = {}) {
      closing ??= (async () => {
        const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        await Promise.all([...connections].map((connection) => connection.shutdown(drainTimeoutMs)));
        await serverClosed;
      })();
      return closing;
    },
  };
}

interface ConnectionEvents {
  closed(connection: ServerConnection): void;
  violation(): void;
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
    violations: new Counter({ name: 'purser_bus_client_protocol_violations_total', help: 'bus connections closed because the client broke the protocol', registers: [registry] }),
  };
}

class ServerConnection {
  private readonly reader = new FrameReader(FRAME_BYTES_MAX);
  private readonly decoder = new FrameDecoder();
  private readonly output = new FrameOutput((bytes) => {
    if (this.socket.destroyed) return;
    // The client is not reading its replies: stop reading its requests until it catches up.
    if (!this.socket.write(bytes)) this.socket.pause();
  });
  private readonly writer = this.output.writer;
  private greeted = false;
  /** Calls in flight: call id → bus descriptor, or LEDGER_REQUEST. */
  private readonly inFlight = new Map<number, number>();
  /** Bus descriptors of TPNOREPLY calls still running (see `onNoReplyCall`). */
  private readonly noReplyInFlight = new Set<number>();
  private noReplyDropped = 0;
  private state: 'open' | 'draining' | 'closed' = 'open';
  private drained: (() => void) | undefined;
  private readonly handshakeTimer: NodeJS.Timeout;
  private readonly peer: string;

  constructor(
    private readonly socket: Socket,
    private readonly bus: Bus,
    private readonly ledger: Client | undefined,
    private readonly logger: Logger,
    private readonly inFlightMax: number,
    private readonly events: ConnectionEvents,
  ) {
    this.peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => socket.resume());
    // Errors (ECONNRESET and the like) end the connection; 'close' follows and does the cleanup.
    socket.on('error', (error) => this.logger.debug({ peer: this.peer, err: error }, 'bus connection error'));
    socket.on('close', () => this.onClose());
    this.handshakeTimer = setTimeout(() => this.refuse(new ProtocolViolation(ErrorReason.badFrame, `no HELLO within ${HANDSHAKE_TIMEOUT_MS} ms`)), HANDSHAKE_TIMEOUT_MS);
  }

  private onData(chunk: Buffer): void {
    if (this.state !== 'open') return;
    try {
      this.reader.push(chunk, (body) => {
        // After an ERROR from the client or a shutdown, the rest of the batch is ignored.
        // Every body is decoded, even ignored ones, so that VALUES streams stay in step.
        const frame = this.decoder.decode(body);
        if (frame !== undefined && this.state === 'open') this.onFrame(frame);
      });
    } catch (error) {
      if (!(error instanceof ProtocolViolation)) throw error;
      this.refuse(error);
    }
  }

  private onFrame(frame: Frame): void {
    if (!this.greeted) return this.onHello(frame);
    switch (frame.op) {
      case Op.call:
        return this.onCall(frame);
      case Op.ledger:
        return this.onLedger(frame);
      case Op.cancel: {
        const cd = this.inFlight.get(frame.callId);
        // Already answered (the reply crossed the cancel on the wire), or a ledger request (not cancellable).
        if (cd === undefined || cd === LEDGER_REQUEST) return;
        this.inFlight.delete(frame.callId);
        cancelQuietly(this.bus, cd);
        return this.checkDrained();
      }
      case Op.error:
        this.logger.info({ peer: this.peer, reason: frame.reason, message: frame.message }, 'bus client reported an error and is closing');
        return this.close();
      default:
        throw new ProtocolViolation(ErrorReason.badFrame, `op 0x${frame.op.toString(16)} is not a request`);
    }
  }

  private onHello(frame: Frame): void {
    if (frame.op !== Op.hello) throw new ProtocolViolation(ErrorReason.badFrame, 'the first frame must be HELLO');
    if (frame.version !== PROTOCOL_VERSION) throw new ProtocolViolation(ErrorReason.versionMismatch, `protocol version ${frame.version} is not supported; this node speaks ${PROTOCOL_VERSION}`);
    clearTimeout(this.handshakeTimer);
    this.greeted = true;
    this.writer.hello(this.inFlightMax);
    this.scheduleFlush();
  }

  private onCall(frame: CallFrame): void {
    if ((frame.flags & TPNOREPLY) !== 0) return this.onNoReplyCall(frame);
    if (this.inFlight.has(frame.callId)) throw new ProtocolViolation(ErrorReason.badFrame, `call id ${frame.callId} is already in flight`);
    if (this.inFlight.size + this.noReplyInFlight.size >= this.inFlightMax) {
      return this.writeError(frame.callId, new XatmiError('TPELIMIT', `${this.inFlightMax} calls in flight on this connection`));
    }
    if (frame.data === TOO_LARGE) {
      return this.writeError(frame.callId, new XatmiError('TPEINVAL', `the call data does not fit in a frame of at most ${FRAME_BYTES_MAX} bytes`));
    }
    let cd: number;
    try {
      cd = this.bus.acall(frame.service, frame.data, callOptions(frame.flags, frame.timeoutMs));
    } catch (error) {
      return this.writeError(frame.callId, error);
    }
    this.inFlight.set(frame.callId, cd);
    void this.bus.getReply(cd).then(
      (reply) => this.onOutcome(frame.callId, cd, reply),
      (error: unknown) => this.onOutcome(frame.callId, cd, error),
    );
  }

  /**
   * A fire-and-forget call runs as an ordinary acall whose reply is dropped here, so that it holds a slot
   * of the connection's in-flight limit while it runs: with the bus's own TPNOREPLY a client could pile up
   * any number of requests waiting for queue slots. Past the limit it is dropped and counted (there is
   * nobody to tell). Closing the connection does not cancel it: it was sent to run.
   */
  private onNoReplyCall(frame: CallFrame): void {
    if (this.inFlight.size + this.noReplyInFlight.size >= this.inFlightMax || frame.data === TOO_LARGE) {
      this.noReplyDropped += 1;
      this.logger.warn({ peer: this.peer, service: frame.service, dropped: this.noReplyDropped }, 'bus connection: TPNOREPLY call dropped (in-flight limit or data too large)');
      return;
    }
    let cd: number;
    try {
      cd = this.bus.acall(frame.service, frame.data, callOptions(frame.flags & ~TPNOREPLY, frame.timeoutMs));
    } catch {
      return; // refused at once (TPENOENT, TPEINVAL, …): nobody to tell, as in the bus
    }
    this.noReplyInFlight.add(cd);
    const done = () => {
      this.noReplyInFlight.delete(cd);
    };
    void this.bus.getReply(cd).then(done, done);
  }

  private onLedger(frame: LedgerFrame): void {
    const spec = operationSpec(frame.operation);
    if (spec === undefined) throw new ProtocolViolation(ErrorReason.badFrame, `unknown ledger operation ${frame.operation}`);
    if (frame.events.length !== frame.count * spec.eventSizeBytes) throw new ProtocolViolation(ErrorReason.badFrame, `LEDGER frame of ${frame.count} events has ${frame.events.length} bytes of them`);
    if (this.inFlight.has(frame.callId)) throw new ProtocolViolation(ErrorReason.badFrame, `call id ${frame.callId} is already in flight`);
    const refuse = (status: LedgerStatusValue, message: string) => {
      this.writer.ledgerFailure(frame.callId, status, message);
      this.scheduleFlush();
    };
    if (this.inFlight.size + this.noReplyInFlight.size >= this.inFlightMax) return refuse(LedgerStatus.failed, `${this.inFlightMax} calls in flight on this connection`);
    if (this.ledger === undefined) return refuse(LedgerStatus.noLedger, 'this node hosts no ledger');
    if (frame.count > BATCH_EVENTS_MAX) return refuse(LedgerStatus.batchTooLarge, `a ledger request may carry at most ${BATCH_EVENTS_MAX} events; this one has ${frame.count}`);
    if (spec.isQuery && frame.count !== 1) return refuse(LedgerStatus.invalidRequest, 'a query carries exactly one filter');
    this.inFlight.set(frame.callId, LEDGER_REQUEST);
    const batch = { body: frame.events, view: new DataView(frame.events.buffer, frame.events.byteOffset, frame.events.length), offset: 0, count: frame.count };
    let running: Promise<readonly unknown[]>;
    try {
      running = spec.execute(this.ledger, batch, BATCH_EVENTS_MAX);
    } catch (error) {
      running = Promise.reject(asError(error));
    }
    void running.then(
      (results) => this.onLedgerOutcome(frame.callId, spec, results),
      (error: unknown) => this.onLedgerOutcome(frame.callId, spec, error),
    );
  }

  private onLedgerOutcome(callId: number, spec: OperationSpec, outcome: unknown): void {
    if (this.inFlight.get(callId) !== LEDGER_REQUEST) return; // the connection is gone
    this.inFlight.delete(callId);
    if (this.state !== 'closed') {
      if (Array.isArray(outcome)) {
        const results = outcome as readonly unknown[];
        assert(ledgerFrameBytes(results.length, spec.resultSizeBytes) <= FRAME_BYTES_MAX, 'ledger results fit in one frame');
        this.writer.ledger(Op.ledgerReply, callId, LedgerStatus.ok, results.length, spec.resultSizeBytes, (view, at, i) => spec.encodeResult(view, at, results[i]));
      } else {
        const { status, message } = ledgerFailure(outcome, this.logger);
        this.writer.ledgerFailure(callId, status, message);
      }
      this.scheduleFlush();
      this.flushIfIdle();
    }
    this.checkDrained();
  }

  private onOutcome(callId: number, cd: number, outcome: unknown): void {
    // Cancelled, or the connection is gone: nobody waits for this reply.
    if (this.inFlight.get(callId) !== cd) return;
    this.inFlight.delete(callId);
    if (this.state !== 'closed') {
      if (isReply(outcome)) this.writeReply(callId, outcome);
      else this.writeError(callId, outcome);
      this.flushIfIdle();
    }
    this.checkDrained();
  }

  private writeReply(callId: number, reply: Reply): void {
    try {
      this.writer.reply(callId, undefined, reply.urcode, reply.data);
    } catch (error) {
      if (!(error instanceof DataError)) throw error;
      this.writer.replyMessage(callId, 'TPESVCERR', 0, `the reply data cannot be sent over the network: ${error.message}`);
    }
    this.scheduleFlush();
  }

  /** Any failure becomes a REPLY with a XATMI code. TPESVCFAIL carries its data; the rest their message. */
  private writeError(callId: number, error: unknown): void {
    const { code, message } = toXatmi(error, this.logger);
    const urcode = error instanceof XatmiError ? error.urcode : 0;
    this.scheduleFlush();
    if (error instanceof XatmiError && code === 'TPESVCFAIL' && error.data !== undefined) {
      try {
        return this.writer.reply(callId, code, urcode, error.data);
      } catch (dataError) {
        if (!(dataError instanceof DataError)) throw dataError;
        return this.writer.replyMessage(callId, code, urcode, `${message} (its data cannot be sent: ${dataError.message})`);
      }
    }
    this.writer.replyMessage(callId, code, urcode, message);
  }

  /** The last reply of a burst goes out at once; a lone caller does not wait for the end of the tick. */
  private flushIfIdle(): void {
    if (this.inFlight.size === 0) this.flush();
  }

  private scheduleFlush(): void {
    this.output.later();
  }

  private flush(): void {
    this.output.now();
  }

  /** Tells the peer what it did wrong and closes; its calls in flight are cancelled. */
  private refuse(violation: ProtocolViolation): void {
    if (this.state === 'closed') return;
    if (violation.reason === ErrorReason.shuttingDown) {
      this.logger.debug({ peer: this.peer }, 'bus connection closed: the node is shutting down');
    } else {
      this.events.violation();
      this.logger.info({ peer: this.peer, reason: violation.reason, message: violation.message }, 'bus connection closed: protocol violation');
    }
    this.writer.error(violation.reason, violation.message);
    this.flush();
    this.close();
  }

  private close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.cancelAll();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), CLOSE_LINGER_MS).unref();
  }

  /** Graceful: no new calls; answer those in flight (up to the timeout), say goodbye, close. */
  async shutdown(drainTimeoutMs: number): Promise<void> {
    if (this.state === 'open') {
      this.state = 'draining';
      this.socket.pause();
      if (this.inFlight.size > 0) {
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          this.drained = resolve;
          timer = setTimeout(resolve, drainTimeoutMs);
        });
        clearTimeout(timer);
      }
    }
    if (this.state !== 'closed') {
      this.flush();
      this.refuse(new ProtocolViolation(ErrorReason.shuttingDown, 'the node is shutting down'));
    }
    if (!this.socket.destroyed) await new Promise<void>((resolve) => this.socket.once('close', () => resolve()));
  }

  private checkDrained(): void {
    if (this.inFlight.size === 0 && this.drained !== undefined) {
      const drained = this.drained;
      this.drained = undefined;
      drained();
    }
  }

  private cancelAll(): void {
    for (const cd of this.inFlight.values()) if (cd !== LEDGER_REQUEST) cancelQuietly(this.bus, cd);
    this.inFlight.clear();
    this.checkDrained();
  }

  private onClose(): void {
    clearTimeout(this.handshakeTimer);
    this.state = 'closed';
    this.cancelAll();
    this.events.closed(this);
  }
}

/** Maps what the ledger threw to a status. Its typed errors are the caller's fault; anything else is logged. */
function ledgerFailure(error: unknown, logger: Logger): { status: LedgerStatusValue; message: string } {
  if (error instanceof LedgerInvalidRequestError) return { status: LedgerStatus.invalidRequest, message: error.message };
  if (error instanceof LedgerBatchTooLargeError) return { status: LedgerStatus.batchTooLarge, message: error.message };
  if (error instanceof LedgerClosedError) return { status: LedgerStatus.closed, message: error.message };
  logger.error({ err: error }, 'ledger request failed with an unexpected error');
  return { status: LedgerStatus.failed, message: 'the ledger request failed inside the node (see its log)' };
}

function callOptions(flags: number, timeoutMs: number): CallOptions {
  return (flags & TPNOTIME) !== 0 ? { flags } : { flags, timeoutMs };
}

function isReply(outcome: unknown): outcome is Reply {
  return typeof outcome === 'object' && outcome !== null && !(outcome instanceof Error) && 'urcode' in outcome;
}

/** A cd whose reply is already on its way may be gone from the bus by now; that is fine. */
function cancelQuietly(bus: Bus, cd: number): void {
  try {
    bus.cancel(cd);
  } catch (error) {
    if (!(error instanceof XatmiError)) throw error;
  }
}

/** Maps what the bus threw to a XATMI code. Anything that is not an XatmiError is a bug: TPESVCERR, logged. */
function toXatmi(error: unknown, logger: Logger): { code: XatmiCodeName; message: string } {
  if (error instanceof XatmiError) return { code: error.code, message: error.message };
  if (error instanceof PurserError && error.code === 'INVALID_ARGUMENT') return { code: 'TPEINVAL', message: error.message };
  logger.error({ err: error }, 'bus call failed with an unexpected error');
  return { code: 'TPESVCERR', message: 'the call failed inside the node (see its log)' };
}

