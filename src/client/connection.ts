/**
 * One TCP connection to a node's bus listener: the socket, the handshake, frames in and out, and failure.
 * What a reply means is its owner's business (`bus-client.ts` for bus calls, `ledger-client.ts` for ledger
 * requests); this module only routes frames to it and tells it when the connection is gone, after which
 * the owner fails what is in flight and new requests are refused.
 *
 * Frames produced in one turn of the event loop go out in one write (see `FrameWriter`), except a lone
 * caller's, which goes out at once (see `flushSoon`).
 */
import { Socket, isIP } from 'node:net';
import { connect as connectTls, type ConnectionOptions } from 'node:tls';
import { ClientError } from './errors.js';
import {
  ErrorReason, FRAME_BYTES_MAX, Op, PROTOCOL_VERSION, type Frame, type LedgerReplyFrame, type ReplyFrame,
} from '../wire/bus-protocol.js';
import { FrameDecoder, FrameReader } from '../wire/bus-reader.js';
import { FrameOutput, type FrameWriter } from '../wire/bus-writer.js';
import { ProtocolViolation } from '../wire/errors.js';

/** How long close() waits for the node to close its side before destroying the socket. */
const CLOSE_LINGER_MS = 1000;

/** A keep-alive is never sent more often than this, whatever the node's idle timeout. */
const PING_INTERVAL_MS_MIN = 10;

/** How a connection proves who it is: a token in HELLO, TLS (with a client certificate if given). */
export interface ConnectionSecurity {
  token?: string;
  tls?: ConnectionOptions;
}

/** The side that owns the requests a connection carries. */
export interface ConnectionOwner {
  onReply(frame: ReplyFrame): void;
  onLedgerReply(frame: LedgerReplyFrame): void;
  /** The connection became unusable: fail everything in flight because of `reason`. */
  onFailure(reason: ClientError): void;
  /** Requests in flight (bus calls and ledger requests), for the node's per-connection limit. */
  inFlight(): number;
}

export class Connection {
  readonly address: string;
  /** The node's limit on requests in flight on one connection, from its HELLO. */
  inFlightMax = 0;
  private socket: Socket;
  private readonly reader = new FrameReader(FRAME_BYTES_MAX);
  private readonly decoder = new FrameDecoder();
  private readonly output = new FrameOutput((bytes) => {
    this.sentSincePing = true;
    if (!this.socket.destroyed) this.socket.write(bytes);
  });
  /** Keeps the connection inside the node's idle timeout while the caller sends nothing. */
  private pingTimer: NodeJS.Timeout | undefined;
  private sentSincePing = false;
  /** Replies in the last chunk of data from the node: more than one means callers are in a burst. */
  private repliesInLastData = 0;
  private failure_: ClientError | undefined;
  private handshake: { resolve(): void; reject(error: Error): void } | undefined;
  private closed: Promise<void> | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly owner: ConnectionOwner,
    private readonly security: ConnectionSecurity = {},
  ) {
    this.address = isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
    // A TLS socket is made by tls.connect in open(); until then a plain one stands in (never connected).
    this.socket = new Socket();
  }

  /** Where requests write their frames; they go out on `flushSoon` or `scheduleFlush`. */
  get writer(): FrameWriter {
    return this.output.writer;
  }

  /** Requests in flight on this connection (the node limits them to `inFlightMax`). */
  inFlight(): number {
    return this.owner.inFlight();
  }

  /** Set once the connection is unusable: why new requests fail. */
  get failure(): ClientError | undefined {
    return this.failure_;
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
      const tls = this.security.tls;
      const sayHello = () => {
        this.writer.hello(0, { token: this.security.token });
        this.output.now();
      };
      if (tls === undefined) {
        this.socket.connect(this.port, this.host, sayHello);
      } else {
        const servername = tls.servername ?? (isIP(this.host) === 0 ? this.host : undefined);
        this.socket = connectTls({ ...tls, host: this.host, port: this.port, servername }, sayHello);
      }
      this.socket.setNoDelay(true);
      this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
      this.socket.on('error', (error) => this.fail(new ClientError('CLIENT_CONNECTION_LOST', `connection to ${this.address} failed: ${error.message}`, { cause: error })));
      this.socket.on('close', () => this.fail(new ClientError('CLIENT_CONNECTION_LOST', `connection to ${this.address} closed`)));
    });
  }

  /** Pings when nothing was sent for a third of the node's idle timeout, so an idle client stays connected. */
  private startPinging(idleTimeoutMs: number): void {
    if (idleTimeoutMs === 0) return;
    const intervalMs = Math.max(PING_INTERVAL_MS_MIN, Math.floor(idleTimeoutMs / 3));
    this.pingTimer = setInterval(() => {
      if (!this.sentSincePing && this.failure_ === undefined) {
        this.writer.ping(Op.ping);
        this.output.now();
      }
      this.sentSincePing = false;
    }, intervalMs);
    this.pingTimer.unref(); // a client with nothing in flight does not keep its process alive
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

  /**
   * A lone caller's request goes out at once: nothing else is in flight and the last data from the node
   * answered at most one request. Otherwise requests wait for the tick's one write (see `FrameWriter`):
   * after a burst of replies, the callers' next requests all go out together (one syscall, not two).
   * Called after a request's frame is written and before the request is counted in flight.
   */
  flushSoon(): void {
    const lone = this.owner.inFlight() === 0 && this.repliesInLastData <= 1;
    if (lone && !this.output.scheduled) this.output.now();
    else this.output.later();
  }

  scheduleFlush(): void {
    this.output.later();
  }

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
      this.output.now();
      this.fail(new ClientError('CLIENT_PROTOCOL', `node at ${this.address} broke the protocol: ${error.message}`));
    }
  }

  private onFrame(frame: Frame): void {
    if (this.handshake !== undefined) return this.onHandshake(frame);
    switch (frame.op) {
      case Op.reply:
        this.repliesInLastData += 1;
        return this.owner.onReply(frame);
      case Op.ledgerReply:
        this.repliesInLastData += 1;
        return this.owner.onLedgerReply(frame);
      case Op.pong:
        return;
      case Op.error: {
        const code = frame.reason === ErrorReason.versionMismatch ? 'CLIENT_VERSION_MISMATCH' : frame.reason === ErrorReason.badFrame || frame.reason === ErrorReason.frameTooLarge ? 'CLIENT_PROTOCOL' : 'CLIENT_CONNECTION_LOST';
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
      this.startPinging(frame.idleTimeoutMs);
      handshake?.resolve();
      return;
    }
    const why = frame.op === Op.error ? frame.message : frame.op === Op.hello ? `it speaks protocol version ${frame.version}, this client ${PROTOCOL_VERSION}` : 'it did not answer with HELLO';
    const code = frame.op !== Op.error || frame.reason === ErrorReason.versionMismatch ? 'CLIENT_VERSION_MISMATCH' : frame.reason === ErrorReason.unauthorized ? 'CLIENT_UNAUTHORIZED' : 'CLIENT_CONNECT_FAILED';
    const error = new ClientError(code, `node at ${this.address} refused the handshake: ${why}`);
    if (frame.op !== Op.error) {
      // The handshake fails both ways: the node learns why this client hangs up.
      this.writer.error(ErrorReason.versionMismatch, `this client speaks protocol version ${PROTOCOL_VERSION}; ${why}`);
      this.output.now();
    }
    handshake?.reject(error);
    this.fail(error);
  }

  /** The connection is unusable: fail the handshake or every request in flight, and refuse new ones. */
  private fail(reason: ClientError): void {
    if (this.failure_ !== undefined) return;
    this.failure_ = reason;
    clearInterval(this.pingTimer);
    this.handshake?.reject(new ClientError(reason.code === 'CLIENT_CONNECTION_LOST' ? 'CLIENT_CONNECT_FAILED' : reason.code, `cannot connect to ${this.address}: ${reason.message}`, { cause: reason.cause ?? reason }));
    this.handshake = undefined;
    this.owner.onFailure(reason);
    if (!this.socket.destroyed && reason.code !== 'CLIENT_CLOSED') this.socket.destroy();
  }
}
