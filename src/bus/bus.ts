/**
 * The bus core: createBus() and the life of a request.
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
 */
import { XatmiError, ServiceFailure, ServiceReply } from './errors.js';
import { DeadlineHeap } from './deadlines.js';
import { LinkedQueue } from './list.js';
import { BusRequest, ForwardToken, Kind, Phase, type RequestHost } from './request.js';
import { Service, type Server } from './service.js';
import { createBusMetrics, type BusMetrics } from './metrics.js';
import { WorkerServer, type WorkerHost, type WorkerServerOptions } from './workers.js';
import {
  TPGETANY, TPNOBLOCK, TPNOREPLY, TPNOTIME, TPNOTRAN,
  type AdvertiseOptions, type Bus, type BusLogger, type BusOptions, type BusStats, type CallOptions,
  type GetReplyOptions, type QueueView, type Reply, type ServerView, type ServiceHandler, type ServiceView,
  type XatmiErrorCode,
} from './interfaces.js';

export const DESCRIPTORS_MAX_DEFAULT = 65_536;
export const DEFAULT_TIMEOUT_MS = 30_000; // 30 seconds, like a typical Tuxedo BLOCKTIME
export const TIMEOUT_MS_MAX = 24 * 60 * 60 * 1000; // 1 day; longer waits use TPNOTIME
export const QUEUE_DEPTH_DEFAULT = 1000;
export const QUEUE_DEPTH_MAX = 1_000_000;
export const SERVERS_MAX = 1024;
export const THREADS_MAX = 256;
export const PIPELINE_DEPTH_DEFAULT = 32;
export const PIPELINE_DEPTH_MAX = 1024;
export const SERVICE_NAME_LENGTH_MAX = 127;
export const DRAIN_TIMEOUT_MS_DEFAULT = 10_000;
/** Descriptors start above every flag value, so `getReply(TPGETANY)` can never be mistaken for a cd. */
const CD_FIRST = 0x100;
const CD_LAST = 0x7fff_ffff;

const CALL_FLAGS = TPNOBLOCK | TPNOTRAN | TPNOTIME;
const ACALL_FLAGS = CALL_FLAGS | TPNOREPLY;
const GETREPLY_FLAGS = TPGETANY | TPNOBLOCK | TPNOTIME;
const SERVICE_NAME = /^[A-Za-z0-9_.:@/-]+$/;

export function createBus(options: BusOptions = {}): Bus {
  return new BusCore(options);
}

interface AnyWaiter {
  resolve: (reply: Reply) => void;
  reject: (error: XatmiError) => void;
}

class BusCore implements Bus, RequestHost {
  private readonly services_ = new Map<string, Service>();
  private readonly descriptors = new Map<number, BusRequest>();
  private readonly ready = new LinkedQueue<BusRequest>();
  private readonly anyWaiters: AnyWaiter[] = [];
  private readonly heap = new DeadlineHeap<BusRequest>((request) => this.expire(request));
  private readonly descriptorsMax: number;
  private readonly defaultTimeoutMs: number;
  private readonly logger: BusLogger | undefined;
  private readonly accessLogLevel: 'debug' | 'info';
  private readonly metrics: BusMetrics | undefined;
  /** Whether to read the clock when a request starts (a clock read is a measurable share of a call). */
  private readonly timed: boolean;
  private nextCd = CD_FIRST;
  /** Requests whose caller still expects an outcome: calls plus async descriptors not yet taken. */
  private outstanding = 0;
  private asyncOutstanding = 0;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly drainWaiters: Array<() => void> = [];
  private readonly counters: BusStats = { calls: 0, expiredInQueue: 0, lateReplies: 0, cancelledReplies: 0, workerRestarts: 0 };

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
    this.metrics = options.metricsRegistry ? createBusMetrics(options.metricsRegistry, this) : undefined;
    this.timed = this.metrics !== undefined || this.logger !== undefined;
  }

  // ── services ────────────────────────────────────────────────────────────────────────────────────────

  advertise(name: string, handler: ServiceHandler | URL, options: AdvertiseOptions = {}): void {
    this.checkOpen();
    checkServiceName(name);
    if (typeof handler !== 'function' && !(handler instanceof URL)) throw invalid(`advertise ${name}: handler must be a function or a module URL`);
    if (options === null || typeof options !== 'object') throw invalid(`advertise ${name}: options must be an object`);
    if (this.services_.has(name)) throw invalid(`service ${name} is already advertised; unadvertise it first`);
    const { queueDepth = QUEUE_DEPTH_DEFAULT } = options;
    if (!isCount(queueDepth, 1, QUEUE_DEPTH_MAX)) throw invalid(`advertise ${name}: queueDepth must be an integer from 1 to ${QUEUE_DEPTH_MAX}, got ${String(queueDepth)}`);
    let service: Service;
    let count: number;
    if (typeof handler === 'function') {
      for (const workerOnly of ['threads', 'pipelineDepth', 'restartsMax', 'restartWindowMs'] as const) {
        if (options[workerOnly] !== undefined) throw invalid(`advertise ${name}: ${workerOnly} needs a module URL (worker threads), not a function`);
      }
      const { servers = 1 } = options;
      if (!isCount(servers, 1, SERVERS_MAX)) throw invalid(`advertise ${name}: servers must be an integer from 1 to ${SERVERS_MAX}, got ${String(servers)}`);
      service = new Service(name, queueDepth, 'in-process');
      service.createServer = (ordinal) => new InProcessServer(this, service, handler, `${name}/${ordinal}`);
      count = servers;
    } else {
      const workerOptions = this.workerOptions(name, handler, options);
      service = new Service(name, queueDepth, 'threads');
      service.createServer = (ordinal) => new WorkerServer(this.workerHost, service, `${name}/${ordinal}`, workerOptions);
      count = workerOptions.threads;
    }
    for (let index = 0; index < count; index++) service.addServer();
    this.services_.set(name, service);
    this.logger?.info({ service: name, kind: typeof handler === 'function' ? 'in-process' : 'threads' }, 'service advertised');
  }

  private workerOptions(name: string, moduleUrl: URL, options: AdvertiseOptions): WorkerServerOptions & { threads: number } {
    if (options.servers !== undefined) throw invalid(`advertise ${name}: a module URL takes threads, not servers`);
    if (moduleUrl.protocol !== 'file:' && moduleUrl.protocol !== 'data:') throw invalid(`advertise ${name}: module URL must be file: or data:, got ${moduleUrl.protocol}`);
    const { threads = 1, pipelineDepth = PIPELINE_DEPTH_DEFAULT, restartsMax = 5, restartWindowMs = 60_000 } = options;
    if (!isCount(threads, 1, THREADS_MAX)) throw invalid(`advertise ${name}: threads must be an integer from 1 to ${THREADS_MAX}, got ${String(threads)}`);
    if (!isCount(pipelineDepth, 1, PIPELINE_DEPTH_MAX)) throw invalid(`advertise ${name}: pipelineDepth must be an integer from 1 to ${PIPELINE_DEPTH_MAX}, got ${String(pipelineDepth)}`);
    if (!isCount(restartsMax, 0, 1_000_000)) throw invalid(`advertise ${name}: restartsMax must be a non-negative integer, got ${String(restartsMax)}`);
    if (!isTimeout(restartWindowMs)) throw invalid(`advertise ${name}: restartWindowMs must be a number from 1 to ${TIMEOUT_MS_MAX}, got ${String(restartWindowMs)}`);
    return { moduleUrl, threads, pipelineDepth, restartsMax, restartWindowMs };
  }

  async unadvertise(name: string): Promise<void> {
    checkServiceName(name);
    const service = this.services_.get(name);
    if (!service) throw new XatmiError('TPENOENT', `service ${name} is not advertised`);
    this.services_.delete(name);
    service.withdrawn = true;
    this.failWaiting(service, 'TPESVCERR', `service ${name} was unadvertised before the request ran`);
    this.logger?.info({ service: name }, 'service unadvertised');
    await Promise.all(service.servers.map((server) => this.retire(server)));
  }

  async resize(name: string, servers: number): Promise<void> {
    this.checkOpen();
    checkServiceName(name);
    const service = this.services_.get(name);
    if (!service) throw new XatmiError('TPENOENT', `service ${name} is not advertised`);
    const max = service.kind === 'threads' ? THREADS_MAX : SERVERS_MAX;
    if (!isCount(servers, 1, max)) throw invalid(`resize ${name}: servers must be an integer from 1 to ${max}, got ${String(servers)}`);
    const active = service.servers.filter((server) => !server.retiring && server.state !== 'dead');
    for (let count = active.length; count < servers; count++) service.addServer();
    this.pump(service);
    // Shrink from the newest; idle ones leave at once, busy ones after the request they hold.
    const leaving = active.slice(servers).reverse();
    this.logger?.info({ service: name, servers }, 'service resized');
    await Promise.all(leaving.map((server) => this.retire(server)));
  }

  /** Graceful stop of one server: it finishes what it holds and leaves the queue to the others. */
  private async retire(server: Server): Promise<void> {
    server.retiring = true;
    if (server.inflight > 0) await new Promise<void>((resolve) => (server.onIdle = resolve));
    await server.stop();
    const service = server.service;
    if (!service.withdrawn) service.removeServer(server);
    if (!service.withdrawn && service.hasNoServers()) this.failWaiting(service, 'TPESVCERR', `service ${service.name} has no servers left`);
  }

  services(): string[] {
    return [...this.services_.keys()];
  }

  // ── calls ───────────────────────────────────────────────────────────────────────────────────────────

  call(service: string, data: unknown, options?: CallOptions): Promise<Reply> {
    return this.submitCall(service, data, options, Infinity);
  }

  acall(service: string, data: unknown, options?: CallOptions): number {
    return this.submitAsync(service, data, options, Infinity);
  }

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
    for (const [cd, request] of this.descriptors) {
      if (request.parent !== parent) continue;
      this.cancel(cd);
      cancelled += 1;
    }
    return cancelled;
  }

  private submitCall(name: string, data: unknown, options: CallOptions | undefined, inheritedDeadlineMs: number): Promise<Reply> {
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

  private submitAsync(name: string, data: unknown, options: CallOptions | undefined, inheritedDeadlineMs: number): number {
    const noReply = options !== undefined && options !== null && typeof options.flags === 'number' && (options.flags & TPNOREPLY) !== 0;
    const request = this.newRequest(name, data, options, ACALL_FLAGS, noReply ? Kind.NoReply : Kind.Async, inheritedDeadlineMs);
    // TPEBLOCK and friends are synchronous for acall, as tpacall returns -1 with tperrno set.
    const blocked = this.submit(request);
    if (blocked) {
      request.answered = true;
      if (request.kind === Kind.Async) {
        this.descriptors.delete(request.cd);
        this.outstanding -= 1;
        this.asyncOutstanding -= 1;
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
    if (kind !== Kind.NoReply && this.outstanding >= this.descriptorsMax) throw new XatmiError('TPELIMIT', `too many outstanding requests (${this.descriptorsMax}); take replies or cancel descriptors first`);
    const nowMs = performance.now();
    const ownDeadlineMs = (flags & TPNOTIME) !== 0 ? Infinity : nowMs + timeoutMs;
    const deadlineMs = Math.min(ownDeadlineMs, inheritedDeadlineMs);
    if (deadlineMs <= nowMs) throw new XatmiError('TPETIME', `no time left for ${name}: the calling request's deadline has passed`);
    const cd = kind === Kind.Async ? this.allocateCd() : 0;
    const request = new BusRequest(this, name, data, flags, deadlineMs, cd, kind, nowMs);
    if (kind === Kind.Async) {
      this.descriptors.set(cd, request);
      this.asyncOutstanding += 1;
    }
    if (kind !== Kind.NoReply) this.outstanding += 1;
    else request.answered = true;
    this.counters.calls += 1;
    return request;
  }

  private allocateCd(): number {
    for (;;) {
      const cd = this.nextCd;
      this.nextCd = cd === CD_LAST ? CD_FIRST : cd + 1;
      if (!this.descriptors.has(cd)) return cd;
    }
  }

  /**
   * Puts a new (or forwarded) request on its way. For a full queue under TPNOBLOCK it returns the TPEBLOCK
   * error unanswered: `call` and forward answer the request with it, `acall` throws it and frees the cd.
   */
  private submit(request: BusRequest): XatmiError | undefined {
    const service = this.services_.get(request.service);
    if (!service) {
      this.deliverError(request, 'TPENOENT', `no service ${request.service} is advertised`);
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
  private refill(service: Service): void {
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
    if (this.metrics) this.metrics.observeService(service.name, request.startedAtMs - request.submittedAtMs, performance.now() - request.startedAtMs);
    if (request.openChildren > 0) {
      const count = this.abandonChildren(request);
      outcome = new Error(`service ${service.name} returned with ${count} call descriptors outstanding; they were cancelled`);
      threw = true;
    }
    if (!threw && outcome instanceof ForwardToken && outcome.request === request) {
      service.done += 1;
      this.forward(request, outcome);
    } else if (threw) {
      service.failed += 1;
      if (outcome instanceof ServiceFailure) this.deliver(request, new XatmiError('TPESVCFAIL', `service ${service.name} failed with urcode ${outcome.urcode}`, { data: outcome.data, urcode: outcome.urcode }), undefined);
      else this.deliver(request, new XatmiError('TPESVCERR', `service ${service.name} raised an error: ${describe(outcome)}`, { cause: outcome }), undefined);
    } else if (outcome instanceof ForwardToken) {
      service.failed += 1;
      this.deliverError(request, 'TPESVCERR', `service ${service.name} returned a forward made for another request`);
    } else {
      service.done += 1;
      if (outcome instanceof ServiceReply) this.deliver(request, undefined, { cd: request.cd, data: outcome.data, urcode: outcome.urcode });
      else this.deliver(request, undefined, { cd: request.cd, data: outcome, urcode: 0 });
    }
    if (service.queue.length > 0 || service.waiting.length > 0) this.pump(service);
    if (this.drainWaiters.length > 0) this.checkDrained();
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
      this.metrics?.expired.inc();
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
      this.metrics?.expired.inc();
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
      this.metrics?.expired.inc();
      if (service) {
        service.expiredInQueue += 1;
        if (queued) this.refill(service);
      }
    }
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
    request.error = error;
    request.reply = reply;
    if (request.resolve) this.take(request);
    else if (this.anyWaiters.length > 0) {
      const waiter = this.anyWaiters.shift() as AnyWaiter;
      request.resolve = waiter.resolve;
      request.reject = waiter.reject;
      this.take(request);
    } else this.ready.push(request);
  }

  private countDropped(request: BusRequest): void {
    if (request.cancelled) this.counters.cancelledReplies += 1;
    else {
      this.counters.lateReplies += 1;
      this.metrics?.late.inc();
    }
  }

  // ── descriptors ─────────────────────────────────────────────────────────────────────────────────────

  getReply(cd: number, options?: GetReplyOptions): Promise<Reply> {
    try {
      this.checkOpenForReplies();
      let flags = 0;
      if (options !== undefined) {
        if (options === null || typeof options !== 'object') throw invalid('getReply options must be an object');
        if (options.flags !== undefined) {
          flags = options.flags;
          if (!Number.isInteger(flags) || flags < 0 || (flags & ~GETREPLY_FLAGS) !== 0) throw invalid(`getReply flags ${String(flags)} are not allowed (allowed: TPGETANY, TPNOBLOCK, TPNOTIME)`);
        }
      }
      if (cd === TPGETANY || (flags & TPGETANY) !== 0) return this.getAnyReply(flags);
      if (!Number.isInteger(cd)) throw invalid(`call descriptor must be an integer, got ${String(cd)}`);
      const request = this.descriptors.get(cd);
      if (!request) throw new XatmiError('TPEBADDESC', `call descriptor ${cd} is not outstanding (never issued, cancelled, or its reply was taken)`);
      if (request.resolve) throw new XatmiError('TPEPROTO', `another getReply is already waiting on descriptor ${cd}`);
      if (!request.answered && (flags & TPNOBLOCK) !== 0) throw new XatmiError('TPEBLOCK', `no reply for descriptor ${cd} yet and TPNOBLOCK was given`);
      const promise = replyPromise(request);
      if (request.answered) {
        this.ready.remove(request);
        this.take(request);
      }
      return promise;
    } catch (error) {
      return Promise.reject(asError(error));
    }
  }

  private getAnyReply(flags: number): Promise<Reply> {
    const request = this.ready.shift();
    if (request) {
      const promise = replyPromise(request);
      this.take(request);
      return promise;
    }
    if (this.asyncOutstanding - this.anyWaiters.length <= 0) return Promise.reject(new XatmiError('TPEBADDESC', 'TPGETANY with no outstanding descriptors'));
    if ((flags & TPNOBLOCK) !== 0) return Promise.reject(new XatmiError('TPEBLOCK', 'no reply is ready and TPNOBLOCK was given'));
    return new Promise<Reply>((resolve, reject) => this.anyWaiters.push({ resolve, reject }));
  }

  /** Hands a stored outcome to the waiter set on the request and frees its descriptor. */
  private take(request: BusRequest): void {
    this.descriptors.delete(request.cd);
    this.detachFromParent(request);
    this.outstanding -= 1;
    this.asyncOutstanding -= 1;
    const { resolve, reject, error, reply } = request;
    request.resolve = undefined;
    request.reject = undefined;
    request.reply = undefined;
    request.error = undefined;
    if (error) (reject as (error: XatmiError) => void)(error);
    else (resolve as (reply: Reply) => void)(reply as Reply);
    this.failOrphanedAnyWaiters();
    this.checkDrained();
  }

  cancel(cd: number): void {
    if (!Number.isInteger(cd)) throw invalid(`call descriptor must be an integer, got ${String(cd)}`);
    const request = this.descriptors.get(cd);
    if (!request) throw new XatmiError('TPEBADDESC', `call descriptor ${cd} is not outstanding (never issued, cancelled, or its reply was taken)`);
    this.descriptors.delete(cd);
    this.detachFromParent(request);
    this.outstanding -= 1;
    this.asyncOutstanding -= 1;
    if (request.list === this.ready) this.ready.remove(request);
    if (request.reject) request.reject(new XatmiError('TPEBADDESC', `call descriptor ${cd} was cancelled while waiting for its reply`));
    request.resolve = undefined;
    request.reject = undefined;
    if (!request.answered) {
      request.answered = true;
      request.cancelled = true;
      // Nobody will read the reply and there are no transactions, so a request that has not started is
      // dropped rather than run; one already running finishes and its reply is discarded (tpcancel).
      if (request.phase === Phase.Queued || request.phase === Phase.Waiting) {
        const service = this.services_.get(request.service);
        (request.list as LinkedQueue<BusRequest> | undefined)?.remove(request);
        request.phase = Phase.Ended;
        this.heap.remove(request);
        if (service) this.refill(service);
      }
    }
    this.failOrphanedAnyWaiters();
    this.checkDrained();
  }

  private detachFromParent(request: BusRequest): void {
    const parent = request.parent;
    if (!parent) return;
    parent.openChildren -= 1;
    request.parent = undefined;
  }

  /** TPGETANY waiters beyond the descriptors left would wait forever: answer them TPEBADDESC. */
  private failOrphanedAnyWaiters(): void {
    while (this.anyWaiters.length > this.asyncOutstanding - this.ready.length) {
      const waiter = this.anyWaiters.pop() as AnyWaiter;
      waiter.reject(new XatmiError('TPEBADDESC', 'TPGETANY: no outstanding descriptors are left'));
    }
  }

  // ── shutdown ────────────────────────────────────────────────────────────────────────────────────────

  private failWaiting(service: Service, code: XatmiErrorCode, message: string): void {
    for (let request = service.waiting.shift(); request; request = service.waiting.shift()) {
      request.phase = Phase.Ended;
      this.deliverError(request, code, message);
    }
    for (let request = service.queue.shift(); request; request = service.queue.shift()) {
      request.phase = Phase.Ended;
      this.deliverError(request, code, message);
    }
  }

  close(options: { drainTimeoutMs?: number } = {}): Promise<void> {
    if (options === null || typeof options !== 'object') return Promise.reject(invalid('close options must be an object'));
    const { drainTimeoutMs = DRAIN_TIMEOUT_MS_DEFAULT } = options;
    if (!isCount(drainTimeoutMs, 0, TIMEOUT_MS_MAX)) return Promise.reject(invalid(`drainTimeoutMs must be an integer from 0 to ${TIMEOUT_MS_MAX}, got ${String(drainTimeoutMs)}`));
    this.closing ??= this.drainAndStop(drainTimeoutMs);
    return this.closing;
  }

  private async drainAndStop(drainTimeoutMs: number): Promise<void> {
    this.closed = true;
    if (!this.isDrained()) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.drainWaiters.push(resolve);
        timer = setTimeout(resolve, drainTimeoutMs);
      });
      clearTimeout(timer);
    }
    for (const service of this.services_.values()) {
      service.withdrawn = true;
      this.failWaiting(service, 'TPESVCERR', `bus closed before ${service.name} ran the request`);
    }
    const services = [...this.services_.values()];
    this.services_.clear();
    await Promise.all(services.flatMap((service) => service.servers.map((server) => server.stop())));
    this.heap.stop();
    this.logger?.info({ stats: this.counters }, 'bus closed');
  }

  /** Drained: every call answered and every running request finished (async replies may still wait to be taken). */
  private isDrained(): boolean {
    if (this.outstanding - this.ready.length > 0) return false;
    for (const service of this.services_.values()) if (service.busy > 0 || service.queue.length > 0 || service.waiting.length > 0) return false;
    return true;
  }

  private checkDrained(): void {
    if (this.drainWaiters.length === 0 || !this.isDrained()) return;
    for (const resolve of this.drainWaiters.splice(0)) resolve();
  }

  private checkOpen(): void {
    if (this.closed) throw new XatmiError('TPEPROTO', 'the bus is closed');
  }

  private checkOpenForReplies(): void {
    // Replies to requests made before close may still be taken while the bus drains.
    if (this.closed && this.asyncOutstanding === 0) throw new XatmiError('TPEPROTO', 'the bus is closed');
  }

  // ── admin ───────────────────────────────────────────────────────────────────────────────────────────

  pq(): QueueView[] {
    return [...this.services_.values()].map((service) => ({
      service: service.name,
      queueDepth: service.queueDepth,
      servers: service.servers.filter((server) => server.state !== 'dead' && !server.retiring).length,
      busy: service.busy,
      queued: service.queue.length,
      waitingForSlot: service.waiting.length,
      averageQueued: service.arrivals === 0 ? 0 : service.queuedSeenSum / service.arrivals,
      kind: service.kind,
    }));
  }

  psr(): ServerView[] {
    return [...this.services_.values()].flatMap((service) =>
      service.servers.map((server) => ({
        serverId: server.id,
        service: service.name,
        done: server.done,
        current: server.inflight > 0 ? service.name : 'IDLE',
        state: server.state,
        restarts: server.restarts,
      })),
    );
  }

  psc(): ServiceView[] {
    return [...this.services_.values()].map((service) => ({
      service: service.name,
      done: service.done,
      failed: service.failed,
      expiredInQueue: service.expiredInQueue,
      status: service.hasNoServers() ? 'UNAVAILABLE' : 'AVAILABLE',
    }));
  }

  stats(): BusStats {
    return { ...this.counters };
  }

  /** Called by worker servers when one restarts. */
  countRestart(): void {
    this.counters.workerRestarts += 1;
    this.metrics?.restarts.inc();
  }

  private readonly workerHost: WorkerHost = {
    complete: (server: Server, request: BusRequest, outcome: unknown, threw: boolean) => this.complete(server, request, outcome, threw),
    completeUnrun: (server: Server, request: BusRequest, code: 'TPETIME' | 'TPEINVAL', message: string) => this.completeUnrun(server, request, code, message),
    failInflight: (server: Server, requests: BusRequest[], reason: string) => this.failInflight(server, requests, reason),
    countRestart: () => this.countRestart(),
    pump: (service: Service) => this.pump(service),
    nestedCall: (parent: BusRequest, service: string, data: unknown, options: CallOptions | undefined) => this.nestedCall(parent, service, data, options),
    logger: () => this.logger,
    forwardToken: (request: BusRequest, service: string, data: unknown) => {
      this.checkForward(request, service, data);
      return new ForwardToken(request, service, data);
    },
  };

  private accessLog(request: BusRequest, error: XatmiError | undefined): void {
    const logger = this.logger;
    const outcome = error ? error.code : 'TPSUCCESS';
    this.metrics?.outcome(request.service, outcome);
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

class InProcessServer implements Server {
  inflight = 0;
  readonly capacity = 1;
  done = 0;
  restarts = 0;
  state: 'running' | 'restarting' | 'dead' = 'running';
  retiring = false;

  constructor(
    private readonly bus: BusCore,
    readonly service: Service,
    private readonly handler: ServiceHandler,
    readonly id: string,
  ) {}

  /** The request being run, so a stop after a drain timeout can answer its caller. */
  private current: BusRequest | undefined;

  begin(request: BusRequest): void {
    this.current = request;
    let result: unknown;
    try {
      result = this.handler(request);
    } catch (error) {
      this.finish(request, error, true);
      return;
    }
    if (isThenable(result)) {
      result.then(
        (value) => this.finish(request, value, false),
        (error: unknown) => this.finish(request, error, true),
      );
    } else this.finish(request, result, false);
  }

  private finish(request: BusRequest, outcome: unknown, threw: boolean): void {
    if (this.current === request) this.current = undefined;
    this.bus.complete(this, request, outcome, threw);
  }

  stop(): Promise<void> {
    this.state = 'dead';
    const current = this.current;
    // Only reached with a request still running when a drain ran out of time: its caller stops waiting.
    if (current && current.phase === Phase.Running) this.bus.abandon(current, `server ${this.id} was stopped while running the request`);
    return Promise.resolve();
  }
}

/**
 * A promise whose settle functions are stored on the request. One shared executor reads the request from a
 * module variable, so a call allocates no closure for it (the executor runs synchronously, so this is safe).
 */
let requestAwaitingPromise: BusRequest | undefined;
function captureSettlers(resolve: (reply: Reply) => void, reject: (error: XatmiError) => void): void {
  const request = requestAwaitingPromise as BusRequest;
  request.resolve = resolve;
  request.reject = reject;
}
function replyPromise(request: BusRequest): Promise<Reply> {
  requestAwaitingPromise = request;
  const promise = new Promise<Reply>(captureSettlers);
  requestAwaitingPromise = undefined;
  return promise;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function';
}

function checkServiceName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0 || name.length > SERVICE_NAME_LENGTH_MAX || !SERVICE_NAME.test(name)) {
    throw invalid(`service name must be 1 to ${SERVICE_NAME_LENGTH_MAX} characters of letters, digits and _.:@/-, got ${typeof name === 'string' ? JSON.stringify(name) : typeof name}`);
  }
}

function isCount(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

function isTimeout(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 && value <= TIMEOUT_MS_MAX;
}

function invalid(message: string): XatmiError {
  return new XatmiError('TPEINVAL', message);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
