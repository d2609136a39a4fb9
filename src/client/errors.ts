/**
 * Errors of the network client that are about the connection rather than a call. A call's outcome is
 * always an `XatmiError` (the same codes as the in-process bus); these are what `connect()` throws and
 * what a call's error carries as its `cause` when the connection went away under it.
 */
import { PurserError } from '../errors.js';

export type ClientErrorCode =
  /** No TCP connection could be made, or the node did not answer the handshake in time. */
  | 'CLIENT_CONNECT_FAILED'
  /** The node speaks another protocol version (or is not a Purser node); it refused the handshake. */
  | 'CLIENT_VERSION_MISMATCH'
  /** The connection closed or broke; calls in flight may or may not have run. */
  | 'CLIENT_CONNECTION_LOST'
  /** The node reported that this client broke the protocol (a bug in the client) and closed. */
  | 'CLIENT_PROTOCOL'
  /** `close()` was called on this client. */
  | 'CLIENT_CLOSED'
  /** More requests in flight than the node allows per connection (bus calls get TPELIMIT instead). */
  | 'CLIENT_TOO_MANY_REQUESTS'
  /** A ledger request went to a node that hosts no ledger. */
  | 'CLIENT_NO_LEDGER'
  /** The node's ledger failed a request for a reason other than bad input (see the node's log). */
  | 'CLIENT_LEDGER_FAILED'
  /** The node asks for a token and this client gave none, or one it does not accept. */
  | 'CLIENT_UNAUTHORIZED'
  /** The client's token does not allow this request (ledger requests; bus calls get TPEPERM instead). */
  | 'CLIENT_FORBIDDEN';

export class ClientError extends PurserError {
  static override readonly codes: readonly ClientErrorCode[] = [
    'CLIENT_CONNECT_FAILED', 'CLIENT_VERSION_MISMATCH', 'CLIENT_CONNECTION_LOST', 'CLIENT_PROTOCOL', 'CLIENT_CLOSED',
    'CLIENT_TOO_MANY_REQUESTS', 'CLIENT_NO_LEDGER', 'CLIENT_LEDGER_FAILED', 'CLIENT_UNAUTHORIZED', 'CLIENT_FORBIDDEN',
  ];
  declare readonly code: ClientErrorCode;

  constructor(code: ClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
