/**
 * Bus calls over a connection: `call`, `acall`, `getReply` and `cancel` with the in-process bus's flags,
 * `Reply` and `XatmiError` codes, and its descriptor rules (the same `DescriptorTable`).
 *
 * Each call gets a call id, which for an `acall` is also its cd; replies come back in any order. The
 * deadline is kept on both sides: the node runs the request against the remaining time it was sent, and
 * the client fires TPETIME itself at the deadline, so a slow or partitioned node cannot hold a caller past
 * it. A reply that arrives after that (or after cancel) is dropped and counted, never delivered to a later
 * call. When the connection is lost, every call in flight ends with TPESVCERR (it may or may not have run);
 * calls after that, or after `close()`, are TPEPROTO.
 */
import { XatmiError } from '../bus/errors.js';
import { DescriptorTable, replyPromise, type Descriptor } from '../bus/descriptors.js';
import {
  TIMEOUT_MS_MAX, TPGETANY, TPNOBLOCK, TPNOREPLY, TPNOTIME, TP_FLAGS_ALL, type CallOptions, type GetReplyOptions, type Reply,
} from '../bus/interfaces.js';
import { asError } from '../errors.js';
import { DeadlineHeap, type Deadlined } from '../util/deadlines.js';
import type { ClientError } from './errors.js';
import type { Connection } from './connection.js';
import { CALL_ID_MAX, FRAME_BYTES_MAX, SERVICE_NAME_BYTES_MAX, TOO_LARGE, type ReplyFrame } from '../wire/bus-protocol.js';
import { DataError } from '../wire/errors.js';

/** Encoded service names are cached up to this many, so the hot path does not re-encode them. */
const SERVICE_NAME_CACHE_MAX = 1024;

/** A bus call in flight. Its `cd` is its call id; an acall's is also the descriptor its caller holds. */
interface Pending extends Deadlined, Descriptor<Pending> {
  /** Made by `call` (never visible as a cd, never taken by TPGETANY) rather than `acall`. */
  readonly internal: boolean;
  readonly timeoutMs: number;
  /** Its outcome (reply, error or TPETIME) is in; a later reply is late. */
  answered: boolean;
}

export class BusCalls {
  /** Calls made by `call`: they hold a call id but no descriptor. */
  private readonly calls = new Map<number, Pending>();
  /** Calls made by `acall`, by descriptor (= call id). */
  private readonly descriptors: DescriptorTable<Pending>;
  /** The client's own deadlines, one timer for all (no setTimeout per call). */
  private readonly deadlines = new DeadlineHeap<Pending>((pending) => this.expire(pending));
  private readonly serviceNames = new Map<string, Buffer>();
  private lateReplies = 0;

  /** `idInUseElsewhere` says which call ids other requests on the connection (ledger requests) hold. */
  constructor(
    private readonly connection: Connection,
    private readonly defaultTimeoutMs: number,
    idInUseElsewhere: (callId: number) => boolean,
  ) {
    this.descriptors = new DescriptorTable<Pending>({
      onFreed: (pending) => this.deadlines.remove(pending),
      inUseElsewhere: (callId) => this.calls.has(callId) || idInUseElsewhere(callId),
      lastCd: CALL_ID_MAX,
    });
  }

  /** Calls in flight, with acall outcomes not yet taken. */
  get size(): number {
    return this.calls.size + this.descriptors.size;
  }

  get late(): number {
    return this.lateReplies;
  }

  /** A call id no request on the connection holds. */
  takeCallId(): number {
    return this.descriptors.allocate();
  }

  call(service: string, data: unknown, options?: CallOptions): Promise<Reply> {
    try {
      const flags = checkFlags(options, TP_FLAGS_ALL & ~TPNOREPLY & ~TPGETANY);
      return replyPromise(this.send(service, data, options, flags, true));
    } catch (error) {
      return Promise.reject(asError(error));
    }
  }

  acall(service: string, data: unknown, options?: CallOptions): number {
    const flags = checkFlags(options, TP_FLAGS_ALL & ~TPGETANY);
    return this.send(service, data, options, flags, false).cd;
  }

  getReply(cd: number, options?: GetReplyOptions): Promise<Reply> {
    try {
      requireXatmi(options === undefined || (typeof options === 'object' && options !== null), 'getReply options must be an object');
      const flags = options?.flags ?? 0;
      requireXatmi(Number.isInteger(flags) && flags >= 0 && (flags & ~(TPGETANY | TPNOBLOCK | TPNOTIME)) === 0, `getReply flags must be TPGETANY | TPNOBLOCK | TPNOTIME, got ${String(flags)}`);
      if (cd === TPGETANY || (flags & TPGETANY) !== 0) return this.descriptors.getAny((flags & TPNOBLOCK) !== 0);
      requireXatmi(Number.isInteger(cd), `call descriptor must be an integer, got ${String(cd)}`);
      return this.descriptors.getOne(cd, (flags & TPNOBLOCK) !== 0);
    } catch (error) {
      return Promise.reject(asError(error));
    }
  }

  cancel(cd: number): void {
    requireXatmi(Number.isInteger(cd), `call descriptor must be an integer, got ${String(cd)}`);
    this.descriptors.cancel(cd);
    if (this.connection.failure === undefined) {
      this.connection.writer.cancel(cd);
      this.connection.scheduleFlush();
    }
  }

  /** Validates, encodes and queues one CALL frame; registers the call unless TPNOREPLY. */
  private send(service: string, data: unknown, options: CallOptions | undefined, flags: number, internal: boolean): Pending {
    const connection = this.connection;
    if (connection.failure !== undefined) throw new XatmiError('TPEPROTO', `client cannot call: ${connection.failure.message}`, { cause: connection.failure });
    const serviceBytes = this.serviceBytes(service);
    const givenMs = (flags & TPNOTIME) !== 0 ? 0 : (options?.timeoutMs ?? this.defaultTimeoutMs);
    requireXatmi((flags & TPNOTIME) !== 0 || (typeof givenMs === 'number' && givenMs > 0 && givenMs <= TIMEOUT_MS_MAX), `timeoutMs must be a number from 1 to ${TIMEOUT_MS_MAX}, got ${String(givenMs)}`);
    // Whole milliseconds travel; a fraction rounds up, so a deadline is never earlier than asked.
    const timeoutMs = Math.ceil(givenMs);
    const noReply = (flags & TPNOREPLY) !== 0;
    if (!noReply && connection.inFlight() >= connection.inFlightMax) throw new XatmiError('TPELIMIT', `${connection.inFlight()} requests in flight on this connection, the node's limit`);
    const callId = noReply ? 0 : this.takeCallId();
    try {
      connection.writer.call(callId, flags, timeoutMs, serviceBytes, data);
    } catch (error) {
      if (error instanceof DataError) throw new XatmiError('TPEINVAL', `data cannot be sent: ${error.message}`, { cause: error });
      throw error;
    }
    connection.flushSoon();
    const pending: Pending = {
      cd: callId, internal, timeoutMs, answered: false, deadlineMs: Infinity, heapIndex: -1,
      previous: undefined, next: undefined, list: undefined, resolve: undefined, reject: undefined, reply: undefined, error: undefined,
    };
    if (noReply) return pending;
    if (internal) this.calls.set(callId, pending);
    else this.descriptors.add(pending);
    if ((flags & TPNOTIME) === 0) {
      pending.deadlineMs = performance.now() + timeoutMs;
      this.deadlines.add(pending);
    }
    return pending;
  }

  private serviceBytes(service: string): Buffer {
    let bytes = this.serviceNames.get(service);
    if (bytes !== undefined) return bytes;
    requireXatmi(typeof service === 'string' && service.length > 0, 'service must be a non-empty string');
    bytes = Buffer.from(service, 'utf8');
    requireXatmi(bytes.length <= SERVICE_NAME_BYTES_MAX, `service name is ${bytes.length} bytes; at most ${SERVICE_NAME_BYTES_MAX}`);
    if (this.serviceNames.size < SERVICE_NAME_CACHE_MAX) this.serviceNames.set(service, bytes);
    return bytes;
  }

  onReply(frame: ReplyFrame): void {
    const pending = this.calls.get(frame.callId) ?? this.descriptors.get(frame.callId);
    if (pending === undefined || pending.answered) {
      this.lateReplies += 1;
      return;
    }
    this.deadlines.remove(pending);
    const cd = pending.internal ? 0 : pending.cd;
    if (frame.data === TOO_LARGE) this.settle(pending, new XatmiError('TPESVCERR', `the reply data does not fit in a frame of at most ${FRAME_BYTES_MAX} bytes`), undefined);
    else if (frame.code === undefined) this.settle(pending, undefined, { cd, data: frame.data, urcode: frame.urcode });
    else this.settle(pending, new XatmiError(frame.code, frame.message ?? `the service failed with urcode ${frame.urcode} (${frame.code})`, { data: frame.data, urcode: frame.urcode }), undefined);
  }

  /** The client's own deadline (the heap has let go of `pending`): TPETIME now, whatever the node does later. */
  private expire(pending: Pending): void {
    const held = pending.internal ? this.calls.get(pending.cd) : this.descriptors.get(pending.cd);
    if (held !== pending || pending.answered) return;
    this.settle(pending, new XatmiError('TPETIME', `no reply within ${pending.timeoutMs} ms`), undefined);
    // The node's deadline fires about now too, but a cancel frees the call's slot in the node's in-flight
    // limit at once, so a caller who sends the next call right away does not meet TPELIMIT.
    if (this.connection.failure === undefined) {
      this.connection.writer.cancel(pending.cd);
      this.connection.scheduleFlush();
    }
  }

  /** Hands an outcome to the caller of `call`, or to the descriptor table for an acall. */
  private settle(pending: Pending, error: XatmiError | undefined, reply: Reply | undefined): void {
    pending.answered = true;
    if (!pending.internal) return this.descriptors.settle(pending, error, reply);
    this.calls.delete(pending.cd);
    this.deadlines.remove(pending);
    const { resolve, reject } = pending;
    pending.resolve = undefined;
    pending.reject = undefined;
    if (error !== undefined) reject?.(error);
    else resolve?.(reply as Reply);
  }

  /** The connection is gone: every call still waiting ends with TPESVCERR. */
  fail(reason: ClientError): void {
    const lost = () => new XatmiError('TPESVCERR', `${reason.message}; the call may or may not have run`, { cause: reason });
    for (const pending of [...this.calls.values(), ...this.descriptors.values()]) {
      if (pending.answered) continue;
      this.deadlines.remove(pending);
      this.settle(pending, lost(), undefined);
    }
    this.deadlines.stop();
    this.descriptors.rejectAnyWaiters(lost);
  }
}

function checkFlags(options: CallOptions | undefined, allowed: number): number {
  requireXatmi(options === undefined || (typeof options === 'object' && options !== null), 'call options must be an object');
  const flags = options?.flags ?? 0;
  requireXatmi(Number.isInteger(flags) && flags >= 0 && (flags & ~allowed) === 0, `flags ${String(flags)} include a flag not allowed here`);
  return flags;
}

function requireXatmi(condition: boolean, message: string): asserts condition {
  if (!condition) throw new XatmiError('TPEINVAL', message);
}
