/**
 * The bus's admin views (`purser admin pq|psr|psc`, the node's /v1/admin routes), after Tuxedo's tmadmin
 * commands of the same names: read-only snapshots built from the services on demand, never on a call's path.
 */
import type { QueueView, ServerView, ServiceView } from './interfaces.js';
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
    kind: service.kind,
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
    status: service.hasNoServers() ? 'UNAVAILABLE' : 'AVAILABLE',
  }));
}
