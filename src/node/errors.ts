/**
 * The node's errors: starting and stopping a node and its listeners. Protocol violations by a client are
 * not errors here: they are answered on the wire (an ERROR frame, an eviction, or the connection closed).
 * These are for the program or operator that configures and starts the node.
 */
import { PurserError } from '../errors.js';

export type NodeErrorCode =
  | 'NODE_LISTEN_FAILED'
  | 'NODE_DATA_DIR'
  | 'NODE_CLOSED'
  /** The gateway's TLS handshake with NATS failed: the server's certificate did not verify against the CA, the server refused this node's certificate (or its lack of one), or the server offers no TLS. */
  | 'NODE_GATEWAY_TLS_FAILED';

/** The node could not start or stopped because a resource failed (port in use, data directory unusable). */
export class NodeError extends PurserError {
  static override readonly codes: readonly NodeErrorCode[] = ['NODE_LISTEN_FAILED', 'NODE_DATA_DIR', 'NODE_CLOSED', 'NODE_GATEWAY_TLS_FAILED'];
  declare readonly code: NodeErrorCode;

  constructor(code: NodeErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** Errors of the TigerBeetle listener's configuration and start. */
export type TigerBeetleErrorCode =
  /** `--tb-address` (or `tbAddress`) is not `off`, a port, or `host:port`. */
  | 'TB_ADDRESS_INVALID'
  /** The listener could not bind its address (in use, not permitted). */
  | 'TB_LISTEN_FAILED'
  /** A listener option other than the address is missing or malformed (ledger, cluster id). */
  | 'TB_OPTIONS_INVALID';

export class TigerBeetleError extends PurserError {
  static override readonly codes: readonly TigerBeetleErrorCode[] = ['TB_ADDRESS_INVALID', 'TB_LISTEN_FAILED', 'TB_OPTIONS_INVALID'];
  declare readonly code: TigerBeetleErrorCode;

  constructor(code: TigerBeetleErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** A request to the HTTP listener that it refuses before any route runs (answered 400, 401 or 403). */
export type HttpErrorCode =
  /** The path is not valid percent-encoding (`/v1/call/%ZZ`) or not a URL path at all. */
  | 'HTTP_BAD_PATH'
  /** The node requires a bearer token and none, or an unknown one, was given. */
  | 'HTTP_UNAUTHORIZED'
  /** The token's role does not allow this route or service. */
  | 'HTTP_FORBIDDEN';

export class HttpError extends PurserError {
  static override readonly codes: readonly HttpErrorCode[] = ['HTTP_BAD_PATH', 'HTTP_UNAUTHORIZED', 'HTTP_FORBIDDEN'];
  declare readonly code: HttpErrorCode;

  constructor(code: HttpErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
