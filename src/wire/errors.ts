/**
 * The wire layer's errors. They never reach a program: a `ProtocolViolation` is answered with an ERROR
 * frame (bus protocol) or an eviction or a closed connection (TigerBeetle protocol), and a `DataError`
 * becomes the caller's TPEINVAL (or TPESVCERR for a reply). They are signals between the decoder or encoder
 * and the side that owns the connection, so they are plain `Error`s, not `PurserError`s with codes.
 */
import type { ErrorReasonValue } from './bus-protocol.js';

/** A peer broke the protocol. The receiver sends an ERROR frame with `reason` and closes the connection. */
export class ProtocolViolation extends Error {
  constructor(
    readonly reason: ErrorReasonValue,
    message: string,
  ) {
    super(message);
    this.name = 'ProtocolViolation';
  }
}

/** Call or reply data that cannot go on the wire: not cloneable, or too big for a frame. Nothing was written. */
export class DataError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DataError';
  }
}
