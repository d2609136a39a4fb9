/**
 * One connection of the bus listener (`bus.ts` has the protocol's rules): frames in, calls and ledger
 * requests out to the bus and the ledger, replies back.
 *
 * What keeps it from hurting anyone else: its `ConnectionGuard` (handshake, idle and frame deadlines; its
 * bytes in the node's memory budget — every byte read is reserved before it is parsed and given back when
 * its request is answered), its in-flight limit, its token's rights, and the `FairQueue` its ledger
 * requests wait in, which serves connections in turn.
 */
import type { Socket } from 'node:net';
import { PurserError, asError, assert } from '../../errors.js';
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
import { ConnectionGuard, type ListenerLimits, type MemoryBudget, type TrackedConnection } from './limits.js';
import type { FairQueue } from './fair-queue.js';
import { mayCall, type Authenticator, type Principal } from '../auth.js';

/** In-flight entry of a ledger request (bus descriptors start at 0x100, so 0 is never one). */
const LEDGER_REQUEST = 0;
/** After an ERROR frame, how long a peer gets to read it before the socket is destroyed. */
const CLOSE_LINGER_MS = 1000;

/** What every connection of one listener shares. */
export interface ConnectionContext {
  bus: Bus;
  ledger: Client | undefined;
  logger: Logger;
  inFlightMax: number;
  limits: ListenerLimits;
  budget: MemoryBudget;
  fair: FairQueue;
  /** Undefined: no token is asked for (loopback without auth). */
  auth: Authenticator | undefined;
  closed(connection: ServerConnection): void;
  violation(): void;
}

export class ServerConnection implements TrackedConnection {
  private readonly reader = new FrameReader(FRAME_BYTES_MAX);
  private readonly decoder = new FrameDecoder();
  private readonly output = new FrameOutput((bytes) => {
    if (this.socket.destroyed) return;
    // The client is not reading its replies: stop reading its requests until it catches up.
    if (!this.socket.write(bytes)) this.socket.pause();
  });
  private readonly writer = this.output.writer;
  private readonly guard: ConnectionGuard;
  private principal: Principal | undefined;
  /** Calls in flight: call id → bus descriptor, or LEDGER_REQUEST. */
  private readonly inFlight = new Map<number, number>();
  /** Bytes of the frame of each request in flight, held in the memory budget until it is answered. */
  private readonly inFlightBytes = new Map<number, number>();
  /** Bus descriptors of TPNOREPLY calls still running (see `onNoReplyCall`), and their frames' bytes. */
  private readonly noReplyInFlight = new Map<number, number>();
  private requestBytes = 0;
  /** Bytes of the frame being handled (set before `onFrame`). */
  private frameBytes = 0;
  private noReplyDropped = 0;
  private state: 'open' | 'draining' | 'closed' = 'open';
  private drained: (() => void) | undefined;
  readonly peer: string;

  constructor(
    private readonly socket: Socket,
    private readonly context: ConnectionContext,
  ) {
    this.peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.guard = new ConnectionGuard(socket, context.limits, context.budget, (why, message) => {
      this.context.logger.debug({ peer: this.peer, why }, 'bus connection timed out');
      this.refuse(new ProtocolViolation(ErrorReason.timeout, message), false);
    });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => {
      if (!this.guard.pausedByGuard && this.state === 'open') socket.resume();
    });
    // Errors (ECONNRESET and the like) end the connection; 'close' follows and does the cleanup.
    socket.on('error', (error) => this.context.logger.debug({ peer: this.peer, err: error }, 'bus connection error'));
    socket.on('close', () => this.onClose());
  }

  get greeted(): boolean {
    return this.guard.greeted;
  }

  /** Bytes this connection holds in the node's memory budget. */
  get heldBytes(): number {
    return this.guard.held;
  }

  displace(): void {
    this.refuse(new ProtocolViolation(ErrorReason.overloaded, 'the node is at its connection limit and this connection had not said HELLO'), false);
  }

  /** Tells a connection the listener would not take why, and closes it. */
  static turnAway(socket: Socket, message: string): void {
    const output = new FrameOutput((bytes) => socket.end(bytes));
    output.writer.error(ErrorReason.overloaded, message);
    output.now();
    socket.on('error', () => undefined);
    setTimeout(() => socket.destroy(), CLOSE_LINGER_MS).unref();
  }

  private onData(chunk: Buffer): void {
    if (this.state !== 'open') return;
    if (!this.guard.admit(chunk)) return; // no room in the budget: the socket waits
    let frames = 0;
    try {
      this.reader.push(chunk, (body) => {
        frames += 1;
        // After an ERROR from the client or a shutdown, the rest of the batch is ignored.
        // Every body is decoded, even ignored ones, so that VALUES streams stay in step.
        const frame = this.decoder.decode(body);
        this.frameBytes = body.length + 4;
        if (frame !== undefined && this.state === 'open') this.onFrame(frame);
      });
    } catch (error) {
      if (!(error instanceof ProtocolViolation)) throw error;
      return this.refuse(error);
    }
    if (!this.guard.afterChunk(frames, this.reader.unfinishedBytes)) {
      return this.refuse(new ProtocolViolation(ErrorReason.frameTooLarge, `an unfinished frame holds more than ${this.context.limits.frameBufferedBytesMax} bytes`));
    }
    this.settle();
  }

  /** Gives back to the budget every byte not in an unfinished frame or a request in flight. */
  private settle(): void {
    if (this.state === 'closed') return;
    this.guard.hold(this.reader.unfinishedBytes + this.requestBytes);
  }

  private onFrame(frame: Frame): void {
    if (!this.guard.greeted) return this.onHello(frame);
    switch (frame.op) {
      case Op.call:
        return this.onCall(frame);
      case Op.ledger:
        return this.onLedger(frame);
      case Op.ping:
        this.writer.ping(Op.pong);
        return this.output.later();
      case Op.cancel: {
        const cd = this.inFlight.get(frame.callId);
        // Already answered (the reply crossed the cancel on the wire), or a ledger request (not cancellable).
        if (cd === undefined || cd === LEDGER_REQUEST) return;
        this.finish(frame.callId);
        cancelQuietly(this.context.bus, cd);
        return this.checkDrained();
      }
      case Op.error:
        this.context.logger.debug({ peer: this.peer, reason: frame.reason, message: frame.message }, 'bus client reported an error and is closing');
        return this.close();
      default:
        throw new ProtocolViolation(ErrorReason.badFrame, `op 0x${frame.op.toString(16)} is not a request`);
    }
  }

  private onHello(frame: Frame): void {
    if (frame.op !== Op.hello) throw new ProtocolViolation(ErrorReason.badFrame, 'the first frame must be HELLO');
    if (frame.version !== PROTOCOL_VERSION) throw new ProtocolViolation(ErrorReason.versionMismatch, `protocol version ${frame.version} is not supported; this node speaks ${PROTOCOL_VERSION}`);
    if (this.context.auth !== undefined) {
      this.principal = this.context.auth.authenticate(frame.token);
      if (this.principal === undefined) throw new ProtocolViolation(ErrorReason.unauthorized, frame.token === '' ? 'this node requires a token (connect(address, { token }))' : 'the token is not accepted');
    }
    this.guard.greet();
    this.writer.hello(this.context.inFlightMax, { idleTimeoutMs: this.context.limits.idleTimeoutMs });
    this.output.later();
  }

  private full(): boolean {
    return this.inFlight.size + this.noReplyInFlight.size >= this.context.inFlightMax;
  }

  /** Takes a request in flight: its frame's bytes stay held until it is answered. */
  private start(callId: number, cd: number): void {
    this.inFlight.set(callId, cd);
    this.inFlightBytes.set(callId, this.frameBytes);
    this.requestBytes += this.frameBytes;
  }

  private finish(callId: number): void {
    this.inFlight.delete(callId);
    this.requestBytes -= this.inFlightBytes.get(callId) ?? 0;
    this.inFlightBytes.delete(callId);
    assert(this.requestBytes >= 0, 'request bytes never go negative');
  }

  private onCall(frame: CallFrame): void {
    if ((frame.flags & TPNOREPLY) !== 0) return this.onNoReplyCall(frame);
    if (this.inFlight.has(frame.callId)) throw new ProtocolViolation(ErrorReason.badFrame, `call id ${frame.callId} is already in flight`);
    if (this.full()) return this.writeError(frame.callId, new XatmiError('TPELIMIT', `${this.context.inFlightMax} calls in flight on this connection`));
    if (this.principal !== undefined && !mayCall(this.principal, frame.service)) {
      return this.writeError(frame.callId, new XatmiError('TPEPERM', `token ${this.principal.name} may not call ${frame.service}`));
    }
    if (frame.data === TOO_LARGE) {
      return this.writeError(frame.callId, new XatmiError('TPEINVAL', `the call data does not fit in a frame of at most ${FRAME_BYTES_MAX} bytes`));
    }
    let cd: number;
    try {
      cd = this.context.bus.acall(frame.service, frame.data, callOptions(frame.flags, frame.timeoutMs));
    } catch (error) {
      return this.writeError(frame.callId, error);
    }
    this.start(frame.callId, cd);
    void this.context.bus.getReply(cd).then(
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
    const allowed = this.principal === undefined || mayCall(this.principal, frame.service);
    if (this.full() || frame.data === TOO_LARGE || !allowed) {
      this.noReplyDropped += 1;
      this.context.logger.debug({ peer: this.peer, service: frame.service, dropped: this.noReplyDropped }, 'bus connection: TPNOREPLY call dropped (in-flight limit, data too large, or not allowed)');
      return;
    }
    let cd: number;
    try {
      cd = this.context.bus.acall(frame.service, frame.data, callOptions(frame.flags & ~TPNOREPLY, frame.timeoutMs));
    } catch {
      return; // refused at once (TPENOENT, TPEINVAL, …): nobody to tell, as in the bus
    }
    const bytes = this.frameBytes;
    this.noReplyInFlight.set(cd, bytes);
    this.requestBytes += bytes;
    const done = () => {
      if (!this.noReplyInFlight.delete(cd)) return;
      this.requestBytes -= bytes;
      this.settle();
    };
    void this.context.bus.getReply(cd).then(done, done);
  }

  private onLedger(frame: LedgerFrame): void {
    const spec = operationSpec(frame.operation);
    if (spec === undefined) throw new ProtocolViolation(ErrorReason.badFrame, `unknown ledger operation ${frame.operation}`);
    if (frame.events.length !== frame.count * spec.eventSizeBytes) throw new ProtocolViolation(ErrorReason.badFrame, `LEDGER frame of ${frame.count} events has ${frame.events.length} bytes of them`);
    if (this.inFlight.has(frame.callId)) throw new ProtocolViolation(ErrorReason.badFrame, `call id ${frame.callId} is already in flight`);
    const refuse = (status: LedgerStatusValue, message: string) => {
      this.writer.ledgerFailure(frame.callId, status, message);
      this.output.later();
    };
    const ledger = this.context.ledger;
    if (this.full()) return refuse(LedgerStatus.failed, `${this.context.inFlightMax} calls in flight on this connection`);
    if (ledger === undefined) return refuse(LedgerStatus.noLedger, 'this node hosts no ledger');
    if (this.principal !== undefined && !this.principal.ledger) return refuse(LedgerStatus.forbidden, `token ${this.principal.name} may not make ledger requests`);
    if (frame.count > BATCH_EVENTS_MAX) return refuse(LedgerStatus.batchTooLarge, `a ledger request may carry at most ${BATCH_EVENTS_MAX} events; this one has ${frame.count}`);
    if (spec.isQuery && frame.count !== 1) return refuse(LedgerStatus.invalidRequest, 'a query carries exactly one filter');
    this.start(frame.callId, LEDGER_REQUEST);
    const batch = { body: frame.events, view: new DataView(frame.events.buffer, frame.events.byteOffset, frame.events.length), offset: 0, count: frame.count };
    // Round-robin with the other connections' ledger requests (see fair-queue.ts).
    const running = this.context.fair.submit(this, () => spec.execute(ledger, batch, BATCH_EVENTS_MAX));
    void running.then(
      (results) => this.onLedgerOutcome(frame.callId, spec, results),
      (error: unknown) => this.onLedgerOutcome(frame.callId, spec, asError(error)),
    );
  }

  private onLedgerOutcome(callId: number, spec: OperationSpec, outcome: unknown): void {
    if (this.inFlight.get(callId) !== LEDGER_REQUEST) return; // the connection is gone
    this.finish(callId);
    if (this.state !== 'closed') {
      if (Array.isArray(outcome)) {
        const results = outcome as readonly unknown[];
        assert(ledgerFrameBytes(results.length, spec.resultSizeBytes) <= FRAME_BYTES_MAX, 'ledger results fit in one frame');
        this.writer.ledger(Op.ledgerReply, callId, LedgerStatus.ok, results.length, spec.resultSizeBytes, (view, at, i) => spec.encodeResult(view, at, results[i]));
      } else {
        const { status, message } = ledgerFailure(outcome, this.context.logger);
        this.writer.ledgerFailure(callId, status, message);
      }
      this.output.later();
      this.flushIfIdle();
      this.settle();
    }
    this.checkDrained();
  }

  private onOutcome(callId: number, cd: number, outcome: unknown): void {
    // Cancelled, or the connection is gone: nobody waits for this reply.
    if (this.inFlight.get(callId) !== cd) return;
    this.finish(callId);
    if (this.state !== 'closed') {
      if (isReply(outcome)) this.writeReply(callId, outcome);
      else this.writeError(callId, outcome);
      this.flushIfIdle();
      this.settle();
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
    this.output.later();
  }

  /** Any failure becomes a REPLY with a XATMI code. TPESVCFAIL carries its data; the rest their message. */
  private writeError(callId: number, error: unknown): void {
    const { code, message } = toXatmi(error, this.context.logger);
    const urcode = error instanceof XatmiError ? error.urcode : 0;
    this.output.later();
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
    if (this.inFlight.size === 0) this.output.now();
  }

  /**
   * Tells the peer what it did wrong and closes; its calls in flight are cancelled. Client-caused closes
   * log at debug (a client must not be able to flood the node's log) and are counted in the metrics.
   */
  private refuse(violation: ProtocolViolation, counted = true): void {
    if (this.state === 'closed') return;
    if (violation.reason !== ErrorReason.shuttingDown) {
      if (counted) this.context.violation();
      this.context.logger.debug({ peer: this.peer, reason: violation.reason, message: violation.message }, 'bus connection closed: protocol violation or limit');
    }
    this.writer.error(violation.reason, violation.message);
    this.output.now();
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
      this.output.now();
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
    for (const cd of this.inFlight.values()) if (cd !== LEDGER_REQUEST) cancelQuietly(this.context.bus, cd);
    this.inFlight.clear();
    this.inFlightBytes.clear();
    this.context.fair.forget(this);
    this.checkDrained();
  }

  private onClose(): void {
    this.state = 'closed';
    this.cancelAll();
    // Every byte goes back to the budget: requests still running (TPNOREPLY calls, a ledger request
    // already with the ledger) hold memory a little longer than counted, bounded by the in-flight limit.
    this.noReplyInFlight.clear();
    this.requestBytes = 0;
    this.guard.close();
    this.context.closed(this);
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
