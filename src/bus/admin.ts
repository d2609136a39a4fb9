/**
 * The bus's admin views (`purser admin pq|psr|psc|requests|bbstats`, the node's /v1/admin routes), after
 * Tuxedo's tmadmin commands: read-only snapshots built from the services on demand, never on a call's path.
 */
import type { BusStats, BusTotals, QueueView, RequestView, ServerView, ServiceView } from './interfaces.js';
import type { BusRequest } from './request.js';
import type { Service } from './service.js';

export function queueViews(services: Iterable<Service>): QueueView[] {
  return [...services].map((service) => ({
    service: service.name,
    queueDepth: service.queueDepth,
    servers: service.servers.filter((server) => server.state !== 'dead' && !server.retiring).length,
    busy: service.busy,
    queued: service.queue.length,
    waitingForSlot: service.waiting.length,
    averageQueued: service.arrivals === 0 ? 0 : service.queuedSeenSum / service.arrivals,
    kind: service.remoteNodes ? 'remote' : service.kind,
    ...(service.remoteNodes ? { nodes: service.remoteNodes() } : {}),
  }));
}

export function serverViews(services: Iterable<Service>): ServerView[] {
  return [...services].flatMap((service) =>
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

export function serviceViews(services: Iterable<Service>): ServiceView[] {
  return [...services].map((service) => ({
    service: service.name,
    done: service.done,
    failed: service.failed,
    timedOut: service.timedOut,
    expiredInQueue: service.expiredInQueue,
    status: service.suspended ? 'SUSPENDED' : service.hasNoServers() ? 'UNAVAILABLE' : 'AVAILABLE',
  }));
}

const KIND_NAMES = ['call', 'acall', 'noreply'] as const;

/** The requests in the bus, oldest first, at most `limit`: running, queued and waiting, per service. */
export function requestViews(services: Iterable<Service>, limit: number, nowMs: number): RequestView[] {
  const rows: RequestView[] = [];
  for (const service of services) {
    for (const [request, phase] of requestsOf(service)) {
      rows.push({
        id: request.id,
        service: service.name,
        phase,
        kind: KIND_NAMES[request.kind],
        ageMs: Math.round(nowMs - request.submittedAtMs),
        remainingMs: Number.isFinite(request.deadlineMs) ? Math.max(0, Math.round(request.deadlineMs - nowMs)) : null,
      });
    }
  }
  return rows.sort((a, b) => a.id - b.id).slice(0, limit);
}

/** A service's requests: those its servers run, then its queue, then those waiting for a slot. */
function* requestsOf(service: Service): Generator<[BusRequest, RequestView['phase']]> {
  for (const server of service.servers) for (const request of server.running()) yield [request, 'running'];
  for (let request = service.queue.peek(); request !== undefined; request = request.next) yield [request, 'queued'];
  for (let request = service.waiting.peek(); request !== undefined; request = request.next) yield [request, 'waiting'];
}

/** Finds a request still in the bus by its id (an operator action: a walk over every list is fine). */
export function findRequest(services: Iterable<Service>, id: number): BusRequest | undefined {
  for (const service of services) {
    for (const [request] of requestsOf(service)) if (request.id === id) return request;
  }
  return undefined;
}

/** tmadmin's bbstats: sums over services and servers, and the bus's own counters. */
export function busTotals(services: Service[], stats: BusStats): BusTotals {
  const sum = (read: (service: Service) => number) => services.reduce((total, service) => total + read(service), 0);
  return {
    services: services.length,
    suspended: sum((service) => (service.suspended ? 1 : 0)),
    servers: sum((service) => service.servers.length),
    busyServers: sum((service) => service.busy),
    waiting: sum((service) => service.waiting.length),
    queued: sum((service) => service.queue.length),
    running: sum((service) => service.servers.reduce((total, server) => total + server.inflight, 0)),
    calls: stats.calls,
    done: sum((service) => service.done),
    failed: sum((service) => service.failed),
    timedOut: sum((service) => service.timedOut),
    expiredInQueue: stats.expiredInQueue,
    lateReplies: stats.lateReplies,
    cancelledReplies: stats.cancelledReplies,
    cancelledByOperator: stats.cancelledByOperator,
    workerRestarts: stats.workerRestarts,
  };
}
