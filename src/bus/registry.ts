/**
 * The bus's service registry: advertise, unadvertise and resize, the servers behind each service
 * (in-process functions here, worker threads in `workers.ts`) and their graceful retirement. The request
 * path (`lifecycle.ts`) reads `byName` and owns everything a request goes through once it is submitted.
 */
import { XatmiError } from './errors.js';
import { Phase, type BusRequest } from './request.js';
import { Service, type Server } from './service.js';
import { WorkerServer, type WorkerHost, type WorkerServerOptions } from './workers.js';
import { checkServiceName, invalid, isCount, isTimeout } from './checks.js';
import { TIMEOUT_MS_MAX, type AdvertiseOptions, type BusLogger, type ServiceHandler, type XatmiErrorCode } from './interfaces.js';

export const QUEUE_DEPTH_DEFAULT = 1000;
export const QUEUE_DEPTH_MAX = 1_000_000;
export const SERVERS_MAX = 1024;
export const THREADS_MAX = 256;
export const PIPELINE_DEPTH_DEFAULT = 32;
export const PIPELINE_DEPTH_MAX = 1024;

/** What the registry needs from the request path. */
export interface RegistryHost {
  readonly logger: BusLogger | undefined;
  readonly workerHost: WorkerHost;
  /** Throws TPEPROTO once the bus is closed. */
  checkOpen(): void;
  /** Answers every queued and waiting request of `service` with `code`. */
  failWaiting(service: Service, code: XatmiErrorCode, message: string): void;
  /** Moves queued requests of `service` to servers with room. */
  pump(service: Service): void;
  complete(server: Server, request: BusRequest, outcome: unknown, threw: boolean): void;
  /** Answers a running request TPESVCERR (its server was stopped); its eventual reply is late. */
  abandon(request: BusRequest, reason: string): void;
}

export class ServiceRegistry {
  readonly byName = new Map<string, Service>();

  constructor(private readonly host: RegistryHost) {}

  advertise(name: string, handler: ServiceHandler | URL, options: AdvertiseOptions = {}): void {
    this.host.checkOpen();
    checkServiceName(name);
    if (typeof handler !== 'function' && !(handler instanceof URL)) throw invalid(`advertise ${name}: handler must be a function or a module URL`);
    if (options === null || typeof options !== 'object') throw invalid(`advertise ${name}: options must be an object`);
    if (this.byName.has(name)) throw invalid(`service ${name} is already advertised; unadvertise it first`);
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
      service.createServer = (ordinal) => new InProcessServer(this.host, service, handler, `${name}/${ordinal}`);
      count = servers;
    } else {
      const workerOptions = this.workerOptions(name, handler, options);
      service = new Service(name, queueDepth, 'threads');
      service.createServer = (ordinal) => new WorkerServer(this.host.workerHost, service, `${name}/${ordinal}`, workerOptions);
      count = workerOptions.threads;
    }
    if (options.remoteNodes !== undefined) {
      if (typeof options.remoteNodes !== 'function' || typeof handler !== 'function') throw invalid(`advertise ${name}: remoteNodes is a function, for an in-process proxy`);
      service.remoteNodes = options.remoteNodes;
    }
    for (let index = 0; index < count; index++) service.addServer();
    this.byName.set(name, service);
    this.host.logger?.info({ service: name, kind: typeof handler === 'function' ? 'in-process' : 'threads' }, 'service advertised');
  }

  /**
   * Swaps a service's code without a gap: servers running `handler` join at once and take the queue; the old
   * servers finish the request they hold and leave. Queued requests stay queued. The kind (in-process or
   * threads) and the queue depth cannot change here (that is unadvertise and advertise). Resolves when the
   * old servers are gone.
   */
  async replace(name: string, handler: ServiceHandler | URL, options: AdvertiseOptions = {}): Promise<void> {
    this.host.checkOpen();
    checkServiceName(name);
    const service = this.byName.get(name);
    if (!service) throw new XatmiError('TPENOENT', `service ${name} is not advertised`);
    if (options === null || typeof options !== 'object') throw invalid(`replace ${name}: options must be an object`);
    const kind = typeof handler === 'function' ? 'in-process' : handler instanceof URL ? 'threads' : undefined;
    if (kind === undefined) throw invalid(`replace ${name}: handler must be a function or a module URL`);
    if (kind !== service.kind) throw invalid(`replace ${name}: it runs ${service.kind}; a ${kind} handler needs unadvertise and advertise`);
    const { queueDepth = QUEUE_DEPTH_DEFAULT } = options;
    if (queueDepth !== service.queueDepth) throw invalid(`replace ${name}: the queue depth is ${service.queueDepth}; changing it needs unadvertise and advertise`);
    let count: number;
    if (typeof handler === 'function') {
      if (options.threads !== undefined) throw invalid(`replace ${name}: threads needs a module URL (worker threads), not a function`);
      const { servers = 1 } = options;
      if (!isCount(servers, 1, SERVERS_MAX)) throw invalid(`replace ${name}: servers must be an integer from 1 to ${SERVERS_MAX}, got ${String(servers)}`);
      service.createServer = (ordinal) => new InProcessServer(this.host, service, handler, `${name}/${ordinal}`);
      count = servers;
    } else {
      const workerOptions = this.workerOptions(name, handler, options);
      service.createServer = (ordinal) => new WorkerServer(this.host.workerHost, service, `${name}/${ordinal}`, workerOptions);
      count = workerOptions.threads;
    }
    const old = service.servers.filter((server) => !server.retiring && server.state !== 'dead');
    // New servers first, so the queue never has nobody to serve it; then the old ones retire gracefully.
    for (let index = 0; index < count; index++) service.addServer();
    this.host.pump(service);
    this.host.logger?.info({ service: name, servers: count }, 'service replaced');
    await Promise.all(old.map((server) => this.retire(server)));
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
    const service = this.byName.get(name);
    if (!service) throw new XatmiError('TPENOENT', `service ${name} is not advertised`);
    this.byName.delete(name);
    service.withdrawn = true;
    this.host.failWaiting(service, 'TPESVCERR', `service ${name} was unadvertised before the request ran`);
    this.host.logger?.info({ service: name }, 'service unadvertised');
    await Promise.all(service.servers.map((server) => this.retire(server)));
  }

  async resize(name: string, servers: number): Promise<void> {
    this.host.checkOpen();
    checkServiceName(name);
    const service = this.byName.get(name);
    if (!service) throw new XatmiError('TPENOENT', `service ${name} is not advertised`);
    const max = service.kind === 'threads' ? THREADS_MAX : SERVERS_MAX;
    if (!isCount(servers, 1, max)) throw invalid(`resize ${name}: servers must be an integer from 1 to ${max}, got ${String(servers)}`);
    const active = service.servers.filter((server) => !server.retiring && server.state !== 'dead');
    for (let count = active.length; count < servers; count++) service.addServer();
    this.host.pump(service);
    // Shrink from the newest; idle ones leave at once, busy ones after the request they hold.
    const leaving = active.slice(servers).reverse();
    this.host.logger?.info({ service: name, servers }, 'service resized');
    await Promise.all(leaving.map((server) => this.retire(server)));
  }

  /** Graceful stop of one server: it finishes what it holds and leaves the queue to the others. */
  private async retire(server: Server): Promise<void> {
    server.retiring = true;
    if (server.inflight > 0) await new Promise<void>((resolve) => (server.onIdle = resolve));
    await server.stop();
    const service = server.service;
    if (!service.withdrawn) service.removeServer(server);
    if (!service.withdrawn && service.hasNoServers()) this.host.failWaiting(service, 'TPESVCERR', `service ${service.name} has no servers left`);
  }

  services(): string[] {
    return [...this.byName.keys()];
  }

  /** Withdraws every service (the bus closes) and returns them, for their servers to be stopped. */
  withdrawAll(): Service[] {
    const services = [...this.byName.values()];
    this.byName.clear();
    for (const service of services) service.withdrawn = true;
    return services;
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
    private readonly bus: RegistryHost,
    readonly service: Service,
    private readonly handler: ServiceHandler,
    readonly id: string,
  ) {}

  /** The request being run, so a stop after a drain timeout can answer its caller. */
  private current: BusRequest | undefined;

  running(): Iterable<BusRequest> {
    return this.current ? [this.current] : [];
  }

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

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function';
}
