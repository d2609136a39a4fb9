/**
 * The life of a request on the bus, from call to answer:
 *
 *   call/acall ──► submit ──► idle server? ──► begin ──► handler ──► complete ──► deliver ──► caller
 *                     │            no                                   │ forward
 *                     ├──► queue (bounded, shared by the servers) ◄─────┘ (same request, same deadline)
 *                     └──► full: wait for a slot (TPNOBLOCK: TPEBLOCK at once)
 *
 * Every request with a finite deadline is in one DeadlineHeap; when it fires, a waiting or queued request
 * is removed and dropped unrun (counted), a running one is answered TPETIME and its eventual reply is late:
 * dropped and counted, because the request object is answered exactly once (`answered`) and is never
 * reused, so a late reply cannot reach a later call.
 *
 * getReply after TPETIME (XATMI leaves a choice; Tuxedo makes a descriptor stale after a transaction
 * timeout): here a request's deadline is final. The TPETIME is stored on the descriptor like a reply; the
 * next getReply(cd) (or TPGETANY) returns it and frees the cd, after which the cd is stale (TPEBADDESC).
 *
 * `bus.ts` adds the public surface on top (services, getReply/cancel, close, admin views).
 */
import { RemoteOutcome, XatmiError, ServiceFailure, ServiceReply } from './errors.js';
import { DeadlineHeap } from '../util/deadlines.js';
import type { LinkedQueue } from '../util/list.js';
import { BusRequest, ForwardToken, Kind, Phase, type RequestHost } from './request.js';
import type { Server, Service } from './service.js';
import type { WorkerHost } from './workers.js';
import { DescriptorTable, replyPromise } from './descriptors.js';
import { ServiceRegistry, type RegistryHost } from './registry.js';
import { checkServiceName, invalid, isCount, isTimeout } from './checks.js';
import { asError } from '../errors.js';
import {
  DEFAULT_TIMEOUT_MS, TIMEOUT_MS_MAX, TPNOBLOCK, TPNOREPLY, TPNOTIME, TPNOTRAN,
  type BusLogger, type BusObserver, type BusOptions, type BusStats, type CallOptions, type GetReplyOptions, type QueueView, type Reply,
  type XatmiErrorCode,
} from './interfaces.js';

export const DESCRIPTORS_MAX_DEFAULT = 65_536;

const CALL_FLAGS = TPNOBLOCK | TPNOTRAN | TPNOTIME;
const ACALL_FLAGS = CALL_FLAGS | TPNOREPLY;

export abstract class RequestLifeCycle implements RequestHost, RegistryHost {
  protected readonly registry = new ServiceRegistry(this);
  /** The registry's map, read on every call. */
  protected readonly services_ = this.registry.byName;
  /** Async descriptors (acall); a plain call holds none. */
  protected readonly descriptors = new DescriptorTable<BusRequest>({
    onFreed: (request) => {
      this.detachFromParent(request);
      this.outstanding -= 1;
    },
  });
  protected readonly heap = new DeadlineHeap<BusRequest>((request) => this.expire(request));
  protected readonly descriptorsMax: number;
  private readonly defaultTimeoutMs: number;
  readonly logger: BusLogger | undefined;
  private readonly accessLogLevel: 'debug' | 'info';
  protected readonly observer: BusObserver | undefined;
  /** Whether to read the clock when a request starts (a clock read is a measurable share of a call). */
  private readonly timed: boolean;
  /** Requests whose caller still expects an outcome: calls plus async descriptors not yet taken. */
  protected outstanding = 0;
  /** The id the newest request got (ids start at 1). */
  protected lastRequestId = 0;
  protected closed = false;
  protected readonly drainWaiters: Array<() => void> = [];
  protected readonly counters: BusStats = { calls: 0, cancelledByOperator: 0, expiredInQueue: 0, lateReplies: 0, cancelledReplies: 0, workerRestarts: 0 };

  constructor(options: BusOptions) {
    if (options === null || typeof options !== 'object') throw invalid('bus options must be an object');
    const { descriptorsMax = DESCRIPTORS_MAX_DEFAULT, defaultTimeoutMs = DEFAULT_TIMEOUT_MS, accessLogLevel = 'debug' } = options;
    if (!isCount(descriptorsMax, 1, 1 << 24)) throw invalid(`descriptorsMax must be an integer from 1 to ${1 << 24}, got ${String(descriptorsMax)}`);
    if (!isTimeout(defaultTimeoutMs)) throw invalid(`defaultTimeoutMs must be a number from 1 to ${TIMEOUT_MS_MAX}, got ${String(defaultTimeoutMs)}`);
    if (accessLogLevel !== 'debug' && accessLogLevel !== 'info') throw invalid(`accessLogLevel must be 'debug' or 'info', got ${String(accessLogLevel)}`);
    this.descriptorsMax = descriptorsMax;
    this.defaultTimeoutMs = defaultTimeoutMs;
    this.logger = options.logger;
    this.accessLogLevel = accessLogLevel;
    this.observer = options.observer;
    this.timed = this.observer !== undefined || this.logger !== undefined;
  }

  abstract getReply(cd: number, options?: GetReplyOptions): Promise<Reply>;
  abstract cancel(cd: number): void;
  abstract pq(): QueueView[];
  /** How worker servers reach the request path (`workers.ts`). */
  abstract readonly workerHost: WorkerHost;

  // ── calls ───────────────────────────────────────────────────────────────────────────────────────────

  nestedCall(parent: BusRequest, service: string, data: unknown, options: CallOptions | undefined): Promise<Reply> {
    return this.submitCall(service, data, options, parent.deadlineMs);
  }

  nestedAcall(parent: BusRequest, service: string, data: unknown, options: CallOptions | undefined): number {
    const cd = this.submitAsync(service, data, options, parent.deadlineMs);
    const child = this.descriptors.get(cd);
    if (child) {
      child.parent = parent;
      parent.openChildren += 1;
    }
    return cd;
  }

  /**
   * XATMI's rule for a service that returns with replies still outstanding: its descriptors are cancelled
   * (in a bus shared by every caller they would otherwise hold descriptors forever) and it has failed.
   */
  private abandonChildren(parent: BusRequest): number {
    let cancelled = 0;
    for (const request of [...this.descriptors.values()]) {
      if (request.parent !== parent) continue;
      this.cancel(request.cd);
      cancelled += 1;
    }
    return cancelled;
  }

  protected submitCall(name: string, data: unknown, options: CallOptions | undefined, inheritedDeadlineMs: number): Promise<Reply> {
    let request: BusRequest;
    try {
      request = this.newRequest(name, data, options, CALL_FLAGS, Kind.Call, inheritedDeadlineMs);
    } catch (error) {
      return Promise.reject(asError(error));
    }
    const promise = replyPromise(request);
    const blocked = this.submit(request);
    if (blocked) this.deliver(request, blocked, undefined);
    return promise;
  }

  protected submitAsync(name: string, data: unknown, options: CallOptions | undefined, inheritedDeadlineMs: number): number {
    const noReply = options !== undefined && options !== null && typeof options.flags === 'number' && (options.flags & TPNOREPLY) !== 0;
    const request = this.newRequest(name, data, options, ACALL_FLAGS, noReply ? Kind.NoReply : Kind.Async, inheritedDeadlineMs);
    // TPEBLOCK and friends are synchronous for acall, as tpacall returns -1 with tperrno set.
    const blocked = this.submit(request);
    if (blocked) {
      request.answered = true;
      if (request.kind === Kind.Async) {
        this.descriptors.discard(request);
        this.outstanding -= 1;
      }
      throw blocked;
    }
    return request.cd;
  }

  /** Validates (a flat ladder, nothing changed on failure) and builds a request holding a descriptor. */
  private newRequest(name: string, data: unknown, options: CallOptions | undefined, allowedFlags: number, kind: Kind, inheritedDeadlineMs: number): BusRequest {
    this.checkOpen();
    // A name already in the map is valid, so the regex runs only for names that are not advertised.
    if (typeof data === 'function' || typeof data === 'symbol') throw invalid('call data must be bytes or a structured-cloneable value');
    let flags = 0;
    let timeoutMs = this.defaultTimeoutMs;
    if (options !== undefined) {
      if (options === null || typeof options !== 'object') throw invalid('call options must be an object');
      if (options.flags !== undefined) {
        flags = options.flags;
        if (!Number.isInteger(flags) || flags < 0 || (flags & ~allowedFlags) !== 0) throw invalid(`flags ${String(flags)} are not allowed here (allowed: 0x${allowedFlags.toString(16)})`);
      }
      if (options.timeoutMs !== undefined) {
        if (!isTimeout(options.timeoutMs)) throw invalid(`timeoutMs must be a number from 1 to ${TIMEOUT_MS_MAX}, got ${String(options.timeoutMs)}`);
        timeoutMs = options.timeoutMs;
      }
    }
    const service = typeof name === 'string' ? this.services_.get(name) : undefined;
    if (!service) {
      checkServiceName(name);
      throw new XatmiError('TPENOENT', `no service ${name} is advertised`);
    }
    if (service.suspended) throw new XatmiError('TPENOENT', `service ${name} is suspended by an operator`);
    if (kind !== Kind.NoReply && this.outstanding >= this.descriptorsMax) throw new XatmiError('TPELIMIT', `too many outstanding requests (${this.descriptorsMax}); take replies or cancel descriptors first`);
    const nowMs = performance.now();
    const ownDeadlineMs = (flags & TPNOTIME) !== 0 ? Infinity : nowMs + timeoutMs;
    const deadlineMs = Math.min(ownDeadlineMs, inheritedDeadlineMs);
    if (deadlineMs <= nowMs) throw new XatmiError('TPETIME', `no time left for ${name}: the calling request's deadline has passed`);
    const cd = kind === Kind.Async ? this.descriptors.allocate() : 0;
    const request = new BusRequest(this, name, data, flags, deadlineMs, cd, kind, nowMs);
    request.id = ++this.lastRequestId;
    if (kind === Kind.Async) this.descriptors.add(request);
    if (kind !== Kind.NoReply) this.outstanding += 1;
    else request.answered = true;
    this.counters.calls += 1;
    return request;
  }

  /**
   * Puts a new (or forwarded) request on its way. For a full queue under TPNOBLOCK it returns the TPEBLOCK
   * error unanswered: `call` and forward answer the request with it, `acall` throws it and frees the cd.
   */
  private submit(request: BusRequest): XatmiError | undefined {
    const service = this.services_.get(request.service);
    if (!service || service.suspended) {
      this.deliverError(request, 'TPENOENT', `no service ${request.service} is ${service ? 'available: it is suspended by an operator' : 'advertised'}`);
      return undefined;
    }
    if (Number.isFinite(request.deadlineMs)) this.heap.add(request);
    service.arrivals += 1;
    service.queuedSeenSum += service.queue.length;
    if (service.queue.length === 0) {
      const server = service.serverWithRoom();
      if (server) {
        this.begin(server, request);
        return undefined;
      }
      if (service.hasNoServers()) {
        this.deliverError(request, 'TPESVCERR', `service ${service.name} has no servers left`);
        return undefined;
      }
    }
    if (service.queue.length < service.queueDepth) {
      request.phase = Phase.Queued;
      service.queue.push(request);
      return undefined;
    }
    if ((request.flags & TPNOBLOCK) !== 0) {
      this.heap.remove(request);
      request.phase = Phase.Ended;
      return new XatmiError('TPEBLOCK', `queue of ${service.name} is full (${service.queueDepth}) and TPNOBLOCK was given`);
    }
    request.phase = Phase.Waiting;
    service.waiting.push(request);
    return undefined;
  }

  private begin(server: Server, request: BusRequest): void {
    const service = server.service;
    request.phase = Phase.Running;
    request.forwarded = false;
    server.inflight += 1;
    if (server.inflight === 1) service.busy += 1;
    if (this.timed) request.startedAtMs = performance.now();
    request.busyAtStart = service.busy;
    server.begin(request);
  }

  /** Moves queued requests to servers with room, and waiting requests into freed queue slots. */
  pump(service: Service): void {
    if (service.pumping) return;
    service.pumping = true;
    try {
      for (;;) {
        if (service.queue.length > 0) {
          const server = service.serverWithRoom();
          if (!server) break;
          const request = service.queue.shift() as BusRequest;
          this.refill(service);
          this.begin(server, request);
        } else if (service.waiting.length > 0) {
          this.refill(service);
        } else break;
      }
    } finally {
      service.pumping = false;
    }
  }

  /** A queue slot is free: the longest-waiting request takes it (woken by the slot, no polling). */
  protected refill(service: Service): void {
    if (service.waiting.length === 0 || service.queue.length >= service.queueDepth) return;
    const request = service.waiting.shift() as BusRequest;
    request.phase = Phase.Queued;
    service.queue.push(request);
  }

  /**
   * A server finished a request: `outcome` is what the handler returned, or what it threw (`threw`).
   * Frees the server, then answers, forwards or drops the request, then feeds the server more work.
   */
  complete(server: Server, request: BusRequest, outcome: unknown, threw: boolean): void {
    const service = server.service;
    server.inflight -= 1;
    server.done += 1;
    if (server.inflight === 0) {
      service.busy -= 1;
      server.onIdle?.();
    }
    request.phase = Phase.Ended;
    if (this.observer) this.observer.served(service.name, request.startedAtMs - request.submittedAtMs, performance.now() - request.startedAtMs);
    if (request.openChildren > 0) {
      const count = this.abandonChildren(request);
      outcome = new Error(`service ${service.name} returned with ${count} call descriptors outstanding; they were cancelled`);
      threw = true;
    }
    if (request.timedOut) {
      // The caller was answered TPETIME while this ran: for the operator that is a failed call (psc), not a
      // done one, whatever the handler returned; `deliver` drops the late outcome and counts it.
      service.failed += 1;
      service.timedOut += 1;
    }
    if (!threw && outcome instanceof ForwardToken && outcome.request === request) {
      if (!request.timedOut) service.done += 1;
      this.forward(request, outcome);
    } else if (threw) {
      if (!request.timedOut) service.failed += 1;
      if (outcome instanceof ServiceFailure) this.deliver(request, new XatmiError('TPESVCFAIL', `service ${service.name} failed with urcode ${outcome.urcode}`, { data: outcome.data, urcode: outcome.urcode }), undefined);
      else if (outcome instanceof RemoteOutcome) this.deliver(request, outcome.error, undefined);
      else this.deliver(request, new XatmiError('TPESVCERR', `service ${service.name} raised an error: ${describe(outcome)}`, { cause: outcome }), undefined);
    } else if (outcome instanceof ForwardToken) {
      if (!request.timedOut) service.failed += 1;
      this.deliverError(request, 'TPESVCERR', `service ${service.name} returned a forward made for another request`);
    } else {
      if (!request.timedOut) service.done += 1;
      if (outcome instanceof ServiceReply) this.deliver(request, undefined, { cd: request.cd, data: outcome.data, urcode: outcome.urcode });
      else this.deliver(request, undefined, { cd: request.cd, data: outcome, urcode: 0 });
    }
    if (service.queue.length > 0 || service.waiting.length > 0) this.pump(service);
    if (this.drainWaiters.length > 0) this.checkDrained();
  }

  /**
   * An operator's cancel (Bus.cancelRequest): the caller is answered TPESVCERR now. A waiting or queued
   * request leaves its list and is never run; a running one finishes and its reply is dropped as late.
   */
  protected cancelByOperator(request: BusRequest): void {
    this.counters.cancelledByOperator += 1;
    request.cancelled = true;
    if (request.phase === Phase.Queued || request.phase === Phase.Waiting) {
      (request.list as LinkedQueue<BusRequest>).remove(request);
      request.phase = Phase.Ended;
      this.heap.remove(request);
      const service = this.services_.get(request.service);
      if (service) this.refill(service);
    }
    if (!request.answered) this.deliverError(request, 'TPESVCERR', `request ${request.id} to ${request.service} was cancelled by an operator`);
    this.checkDrained();
  }

  /** Answers a still-running request TPESVCERR (its server is being stopped); its eventual reply is late. */
  abandon(request: BusRequest, reason: string): void {
    this.deliverError(request, 'TPESVCERR', reason);
  }

  /** A worker gave a request back unrun (expired before it got to it, or data that cannot cross threads). */
  completeUnrun(server: Server, request: BusRequest, code: 'TPETIME' | 'TPEINVAL', message: string): void {
    const service = server.service;
    server.inflight -= 1;
    if (server.inflight === 0) {
      service.busy -= 1;
      server.onIdle?.();
    }
    request.phase = Phase.Ended;
    if (code === 'TPETIME') {
      service.expiredInQueue += 1;
      this.counters.expiredInQueue += 1;
      this.observer?.expiredInQueue();
    }
    // Usually the caller already had its TPETIME from the deadline heap; the request never ran, so there is
    // no late reply to count — only the expiry.
    if (code !== 'TPETIME' || !request.answered) this.deliverError(request, code, message);
    this.pump(service);
    this.checkDrained();
  }

  /** A worker died holding these requests: answer them TPESVCERR at once, then feed the others. */
  failInflight(server: Server, requests: BusRequest[], reason: string): void {
    const service = server.service;
    for (const request of requests) {
      server.inflight -= 1;
      service.failed += 1;
      request.phase = Phase.Ended;
      this.deliverError(request, 'TPESVCERR', reason);
    }
    if (requests.length > 0) {
      service.busy -= 1;
      server.onIdle?.();
    }
    if (service.hasNoServers()) this.failWaiting(service, 'TPESVCERR', `service ${service.name} has no servers left (restart budget spent)`);
    else this.pump(service);
  }

  private forward(request: BusRequest, token: ForwardToken): void {
    if (request.answered && request.kind !== Kind.NoReply) {
      this.countDropped(request);
      return;
    }
    this.heap.remove(request);
    request.service = token.forwardTo;
    request.data = token.data;
    request.phase = Phase.Waiting;
    if (request.deadlineMs <= performance.now()) {
      // The deadline passed while the first service ran and the timer has not fired yet: do not start it.
      request.phase = Phase.Ended;
      this.counters.expiredInQueue += 1;
      this.observer?.expiredInQueue();
      if (request.kind !== Kind.NoReply) this.deliverError(request, 'TPETIME', `${request.service} was forwarded to after the request's deadline`);
      return;
    }
    const blocked = this.submit(request);
    if (blocked) this.deliver(request, blocked, undefined);
  }

  checkForward(parent: BusRequest, service: string, data: unknown): void {
    if (parent.phase !== Phase.Running) throw new XatmiError('TPEPROTO', 'forward is only possible while the handler runs');
    if (parent.forwarded) throw new XatmiError('TPEPROTO', 'this request has already been forwarded');
    checkServiceName(service);
    if (typeof data === 'function' || typeof data === 'symbol') throw invalid('forward data must be bytes or a structured-cloneable value');
    if (!this.services_.has(service)) throw new XatmiError('TPENOENT', `cannot forward to ${service}: no such service is advertised`);
  }

  // ── outcomes ────────────────────────────────────────────────────────────────────────────────────────

  private expire(request: BusRequest): void {
    const service = this.services_.get(request.service);
    if (request.phase === Phase.Queued || request.phase === Phase.Waiting) {
      const queued = request.phase === Phase.Queued;
      (request.list as LinkedQueue<BusRequest> | undefined)?.remove(request);
      request.phase = Phase.Ended;
      this.counters.expiredInQueue += 1;
      this.observer?.expiredInQueue();
      if (service) {
        service.expiredInQueue += 1;
        if (queued) this.refill(service);
      }
    }
    if (request.phase === Phase.Running) request.timedOut = true;
    if (request.kind === Kind.NoReply) return;
    this.deliverError(request, 'TPETIME', `${request.service} did not answer within its deadline`);
  }

  private deliverError(request: BusRequest, code: XatmiErrorCode, message: string): void {
    this.deliver(request, new XatmiError(code, message), undefined);
  }

  /** Answers a request exactly once; a second outcome (late reply, after cancel) is dropped and counted. */
  private deliver(request: BusRequest, error: XatmiError | undefined, reply: Reply | undefined): void {
    this.heap.remove(request);
    if (request.answered) {
      if (request.kind !== Kind.NoReply) this.countDropped(request);
      return;
    }
    request.answered = true;
    if (this.timed) this.accessLog(request, error);
    if (request.kind === Kind.Call) {
      this.outstanding -= 1;
      if (error) (request.reject as (error: XatmiError) => void)(error);
      else (request.resolve as (reply: Reply) => void)(reply as Reply);
      request.resolve = undefined;
      request.reject = undefined;
      this.checkDrained();
      return;
    }
    this.descriptors.settle(request, error, reply);
    this.checkDrained();
  }

  private countDropped(request: BusRequest): void {
    if (request.cancelled) this.counters.cancelledReplies += 1;
    else {
      this.counters.lateReplies += 1;
      this.observer?.lateReply();
    }
  }

  private detachFromParent(request: BusRequest): void {
    const parent = request.parent;
    if (!parent) return;
    parent.openChildren -= 1;
    request.parent = undefined;
  }

  // ── draining ────────────────────────────────────────────────────────────────────────────────────────

  failWaiting(service: Service, code: XatmiErrorCode, message: string): void {
    for (let request = service.waiting.shift(); request; request = service.waiting.shift()) {
      request.phase = Phase.Ended;
      this.deliverError(request, code, message);
    }
    for (let request = service.queue.shift(); request; request = service.queue.shift()) {
      request.phase = Phase.Ended;
      this.deliverError(request, code, message);
    }
  }

  /** Drained: every call answered and every running request finished (async replies may still wait to be taken). */
  protected isDrained(): boolean {
    if (this.outstanding - this.descriptors.readyCount > 0) return false;
    for (const service of this.services_.values()) if (service.busy > 0 || service.queue.length > 0 || service.waiting.length > 0) return false;
    return true;
  }

  protected checkDrained(): void {
    if (this.drainWaiters.length === 0 || !this.isDrained()) return;
    for (const resolve of this.drainWaiters.splice(0)) resolve();
  }

  checkOpen(): void {
    if (this.closed) throw new XatmiError('TPEPROTO', 'the bus is closed');
  }
  private accessLog(request: BusRequest, error: XatmiError | undefined): void {
    const logger = this.logger;
    const outcome = error ? error.code : 'TPSUCCESS';
    this.observer?.answered(request.service, outcome);
    if (!logger || (logger.isLevelEnabled && !logger.isLevelEnabled(this.accessLogLevel))) return;
    const nowMs = performance.now();
    const started = request.startedAtMs > 0;
    logger[this.accessLogLevel](
      {
        service: request.service,
        outcome,
        queueWaitMs: round((started ? request.startedAtMs : nowMs) - request.submittedAtMs),
        serviceMs: started ? round(nowMs - request.startedAtMs) : 0,
        busyAtStart: request.busyAtStart,
      },
      'call',
    );
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
