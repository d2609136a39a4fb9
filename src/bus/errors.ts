/**
 * The bus's errors. `XatmiError` is what callers catch: its `code` is one of XATMI's `tperrno` names.
 * `ServiceFailure` is what a handler throws to fail on purpose (tpreturn TPFAIL); the caller then gets an
 * `XatmiError` with code TPESVCFAIL carrying the failure's `data` and `urcode`. `ServiceReply` is what a
 * handler returns to succeed with a user return code other than 0.
 */
import { PurserError } from '../errors.js';
import type { XatmiErrorCode } from './interfaces.js';

export class XatmiError extends PurserError {
  static override readonly codes: readonly XatmiErrorCode[] = ['TPENOENT', 'TPETIME', 'TPEBLOCK', 'TPESVCFAIL', 'TPESVCERR', 'TPELIMIT', 'TPEBADDESC', 'TPEINVAL', 'TPEPROTO', 'TPEPERM'];
  declare readonly code: XatmiErrorCode;
  /** TPESVCFAIL: the data the service failed with. */
  readonly data: unknown;
  /** TPESVCFAIL: the service's user return code. */
  readonly urcode: number;

  constructor(code: XatmiErrorCode, message: string, options?: { cause?: unknown; data?: unknown; urcode?: number }) {
    super(code, message, options);
    this.data = options?.data;
    this.urcode = options?.urcode ?? 0;
  }
}

/** Thrown by a handler to fail the request on purpose (TPFAIL). `urcode` must be an integer. */
export class ServiceFailure extends Error {
  readonly urcode: number;
  readonly data: unknown;

  constructor(urcode: number, data?: unknown) {
    super(`service failed with urcode ${urcode}`);
    if (!Number.isInteger(urcode)) throw new XatmiError('TPEINVAL', `ServiceFailure urcode must be an integer, got ${String(urcode)}`);
    this.name = 'ServiceFailure';
    this.urcode = urcode;
    this.data = data;
  }
}

/** Returned by a handler to succeed with a user return code (tpreturn TPSUCCESS with rcode). */
/**
 * Thrown by a gateway's proxy handler with the XATMI error a remote node answered (TPENOENT, TPEBLOCK,
 * TPETIME, …): the bus hands it to the caller as it is, where any other error a handler throws becomes
 * TPESVCERR. Internal to the node; not exported from the package root.
 */
export class RemoteOutcome extends Error {
  constructor(readonly error: XatmiError) {
    super(error.message);
    this.name = 'RemoteOutcome';
  }
}

export class ServiceReply {
  constructor(
    readonly data: unknown,
    readonly urcode: number,
  ) {
    if (!Number.isInteger(urcode)) throw new XatmiError('TPEINVAL', `ServiceReply urcode must be an integer, got ${String(urcode)}`);
  }
}
