/**
 * One request's life, in one object: created by call/acall, queued, run by a server, possibly forwarded,
 * answered. The same object is the `ServiceRequest` a handler gets, the deadline-heap entry and the queue
 * link, so a call allocates it, its promise and the reply — nothing else on the in-process path.
 */
import type { CallOptions, Forward, GetReplyOptions, Reply, ServiceRequest } from './interfaces.js';
import type { Deadlined } from '../util/deadlines.js';
import type { Linked } from '../util/list.js';
import type { XatmiError } from './errors.js';

/** Where a request is. Only Queued and Waiting requests are in a list; Ended ones may sit in the ready list. */
export const enum Phase {
  /** The service's queue was full: waiting for a slot (until the deadline). */
  Waiting = 0,
  Queued = 1,
  Running = 2,
  /** Ran, expired, was dropped or forwarded-and-answered: no server will touch it again. */
  Ended = 3,
}

/** How the caller waits: a `call` promise, an `acall` descriptor, or not at all (TPNOREPLY). */
export const enum Kind {
  Call = 0,
  Async = 1,
  NoReply = 2,
}

/** The narrow view of the bus a request needs to make nested calls and forward. */
export interface RequestHost {
  nestedCall(parent: BusRequest, service: string, data: unknown, options: CallOptions | undefined): Promise<Reply>;
  nestedAcall(parent: BusRequest, service: string, data: unknown, options: CallOptions | undefined): number;
  getReply(cd: number, options?: GetReplyOptions): Promise<Reply>;
  cancel(cd: number): void;
  checkForward(parent: BusRequest, service: string, data: unknown): void;
}

export class ForwardToken implements Forward {
  constructor(
    readonly request: BusRequest,
    readonly forwardTo: string,
    readonly data: unknown,
  ) {}
}

export class BusRequest implements ServiceRequest, Deadlined, Linked<BusRequest> {
  /** Unique in its bus (from 1): how an operator names it (`purser admin cancel <id>`). */
  id = 0;
  service: string;
  data: unknown;
  readonly flags: number;
  readonly deadlineMs: number;
  readonly cd: number;
  readonly kind: Kind;
  readonly host: RequestHost;

  heapIndex = -1;
  previous: BusRequest | undefined = undefined;
  next: BusRequest | undefined = undefined;
  list: object | undefined = undefined;

  phase: Phase = Phase.Waiting;
  /** The caller has had its outcome (or gave up on it: cancel, TPNOREPLY). Later outcomes are dropped. */
  answered = false;
  cancelled = false;
  /** The deadline passed while a server ran it: the caller got TPETIME, and the run counts as failed. */
  timedOut = false;
  /** A forward token has been issued for this run; a second forward is TPEPROTO. */
  forwarded = false;

  /** Call: the promise's settle functions. Async: a getReply waiting on this cd. */
  resolve: ((reply: Reply) => void) | undefined = undefined;
  reject: ((error: XatmiError) => void) | undefined = undefined;
  /** Async: the stored outcome until getReply takes it. */
  reply: Reply | undefined = undefined;
  error: XatmiError | undefined = undefined;

  /** performance.now() when submitted, when a server started it; busy servers when it started. */
  submittedAtMs: number;
  startedAtMs = 0;
  busyAtStart = 0;
  /** A nested acall's descriptor: the request whose handler made it, until its reply is taken or cancelled. */
  parent: BusRequest | undefined = undefined;
  /** Descriptors this request's handler opened with acall and has not yet taken or cancelled. */
  openChildren = 0;
  /** Worker threads: the id the worker knows it by. */
  wireId = 0;

  constructor(host: RequestHost, service: string, data: unknown, flags: number, deadlineMs: number, cd: number, kind: Kind, nowMs: number) {
    this.host = host;
    this.service = service;
    this.data = data;
    this.flags = flags;
    this.deadlineMs = deadlineMs;
    this.cd = cd;
    this.kind = kind;
    this.submittedAtMs = nowMs;
  }

  remainingMs(): number {
    return Math.max(0, this.deadlineMs - performance.now());
  }

  call(service: string, data: unknown, options?: CallOptions): Promise<Reply> {
    return this.host.nestedCall(this, service, data, options);
  }

  acall(service: string, data: unknown, options?: CallOptions): number {
    return this.host.nestedAcall(this, service, data, options);
  }

  getReply(cd: number, options?: GetReplyOptions): Promise<Reply> {
    return this.host.getReply(cd, options);
  }

  cancel(cd: number): void {
    this.host.cancel(cd);
  }

  forward(service: string, data: unknown): Forward {
    this.host.checkForward(this, service, data);
    this.forwarded = true;
    return new ForwardToken(this, service, data);
  }
}
