/**
 * Errors of the TigerBeetle wire-protocol listener. Protocol violations by a client are not errors
 * here: they are answered on the wire (an eviction, or the connection closed), as TigerBeetle does.
 * These are for the program or operator that configures and starts the listener.
 */
import { PurserError } from '../../../errors.js';

export type TigerBeetleErrorCode =
  /** `--tb-address` (or `tbAddress`) is not `off`, a port, or `host:port`. */
  | 'TB_ADDRESS_INVALID'
  /** The listener could not bind its address (in use, not permitted). */
  | 'TB_LISTEN_FAILED'
  /** A listener option other than the address is missing or malformed (ledger, cluster id). */
  | 'TB_OPTIONS_INVALID';

export class TigerBeetleError extends PurserError {
  declare readonly code: TigerBeetleErrorCode;

  constructor(code: TigerBeetleErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
