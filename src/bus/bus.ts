/**
 * createBus() and the bus's public surface: services (kept by `registry.ts`), calls (whose life is in
 * `lifecycle.ts`), descriptors (`descriptors.ts`), a draining close, and the admin views (`admin.ts`).
 */
import { asError } from '../errors.js';
import { XatmiError } from './errors.js';
import { RequestLifeCycle } from './lifecycle.js';
import { ForwardToken, Phase, type BusRequest } from './request.js';
import type { Server, Service } from './service.js';
import type { WorkerHost } from './workers.js';
import type { LinkedQueue } from '../util/list.js';
import { busTotals, findRequest, queueViews, requestViews, serverViews, serviceViews } from './admin.js';
import { invalid, isCount } from './checks.js';
import {
  TIMEOUT_MS_MAX, TPGETANY, TPNOBLOCK, TPNOTIME,
  type AdvertiseOptions, type Bus, type BusOptions, type BusTotals, type CallOptions, type BusStats, type GetReplyOptions, type QueueView, type Reply,
  type RequestView, type ServerView, type ServiceHandler, type ServiceView,
} from './interfaces.js';

export const DRAIN_TIMEOUT_MS_DEFAULT = 10_000;
/** Rows `requests()` returns unless told otherwise, and at most. */
export const REQUESTS_LIST_DEFAULT = 1_000;
export const REQUESTS_LIST_MAX = 100_000;

const GETREPLY_FLAGS = TPGETANY | TPNOBLOCK | TPNOTIME;

export function createBus(options: BusOptions = {}): Bus {
  return new BusCore(options);
}

class BusCore extends RequestLifeCycle implements Bus {
  private closing: Promise<void> | undefined;

  // ── services (registry.ts) ─────────────────────────────────────────────────────────────────────────

  advertise(name: string, handler: ServiceHandler | URL, options?: AdvertiseOptions): void {
    this.registry.advertise(name, handler, options);
  }

  unadvertise(name: string): Promise<void> {
    return this.registry.unadvertise(name);
  }

  resize(name: string, servers: number): Promise<void> {
    return this.registry.resize(name, servers);
  }

  replace(name: string, handler: ServiceHandler | URL, options?: AdvertiseOptions): Promise<void> {
    return this.registry.replace(name, handler, options);
  }

  services(): string[] {
    return this.registry.services();
  }

  // ── calls (lifecycle.ts) ──────────────────────────────────────────────────────────────────────────────

  call(service: string, data: unknown, options?: CallOptions): Promise<Reply> {
    return this.submitCall(service, data, options, Infinity);
  }

  acall(service: string, data: unknown, options?: CallOptions): number {
    return this.submitAsync(service, data, options, Infinity);
  }

  // ── descriptors (descriptors.ts) ────────────────────────────────────────────────────────────────────

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
      const noBlock = (flags & TPNOBLOCK) !== 0;
      let promise: Promise<Reply>;
      if (cd === TPGETANY || (flags & TPGETANY) !== 0) promise = this.descriptors.getAny(noBlock);
      else {
        if (!Number.isInteger(cd)) throw invalid(`call descriptor must be an integer, got ${String(cd)}`);
        promise = this.descriptors.getOne(cd, noBlock);
      }
      // Taking an outcome may have been the last thing a draining close waited for.
      this.checkDrained();
      return promise;
    } catch (error) {
      return Promise.reject(asError(error));
    }
  }

  cancel(cd: number): void {
    if (!Number.isInteger(cd)) throw invalid(`call descriptor must be an integer, got ${String(cd)}`);
    const request = this.descriptors.cancel(cd);
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
    this.checkDrained();
  }

  // ── shutdown ──────────────────────────────────────────────────────────────────────────────────────────

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
    const services = this.registry.withdrawAll();
    for (const service of services) this.failWaiting(service, 'TPESVCERR', `bus closed before ${service.name} ran the request`);
    await Promise.all(services.flatMap((service) => service.servers.map((server) => server.stop())));
    this.heap.stop();
    this.logger?.info({ stats: this.counters }, 'bus closed');
  }

  private checkOpenForReplies(): void {
    // Replies to requests made before close may still be taken while the bus drains.
    if (this.closed && this.descriptors.size === 0) throw new XatmiError('TPEPROTO', 'the bus is closed');
  }

  // ── admin ───────────────────────────────────────────────────────────────────────────────────────────

  pq(): QueueView[] {
    return queueViews(this.services_.values());
  }

  psr(): ServerView[] {
    return serverViews(this.services_.values());
  }

  psc(): ServiceView[] {
    return serviceViews(this.services_.values());
  }

  stats(): BusStats {
    return { ...this.counters };
  }

  suspend(name: string): void {
    this.operatedService(name).suspended = true;
  }

  resume(name: string): void {
    this.operatedService(name).suspended = false;
  }

  requests(limit = REQUESTS_LIST_DEFAULT): RequestView[] {
    if (!isCount(limit, 1, REQUESTS_LIST_MAX)) throw invalid(`limit must be an integer from 1 to ${REQUESTS_LIST_MAX}, got ${String(limit)}`);
    return requestViews(this.services_.values(), limit, performance.now());
  }

  cancelRequest(id: number): boolean {
    if (!Number.isSafeInteger(id) || id < 1) throw invalid(`a request id is a positive integer, got ${String(id)}`);
    const request = findRequest(this.services_.values(), id);
    // A cancelled running request stays listed until its server finishes it, but is cancelled only once.
    if (!request || request.cancelled) return false;
    this.cancelByOperator(request);
    return true;
  }

  totals(): BusTotals {
    return busTotals([...this.services_.values()], this.counters);
  }

  private operatedService(name: string): Service {
    const service = typeof name === 'string' ? this.services_.get(name) : undefined;
    if (!service) throw new XatmiError('TPENOENT', `no service ${String(name)} is advertised`);
    return service;
  }

  /** Called by worker servers when one restarts. */
  countRestart(): void {
    this.counters.workerRestarts += 1;
    this.observer?.workerRestarted();
  }

  readonly workerHost: WorkerHost = {
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
}
