/**
 * Prometheus metrics through prom-client. Each node owns its own `Registry` (never prom-client's global
 * one), so several nodes in one process — as in tests — do not collide. Parts register their metrics on
 * `node.metrics`; every metric name starts with `purser_`.
 */
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';

export interface NodeMetrics {
  registry: Registry;
  httpRequests: Counter<'route' | 'status'>;
}

export function createNodeMetrics(): NodeMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'purser_' });
  const httpRequests = new Counter({
    name: 'purser_http_requests_total',
    help: 'HTTP requests answered by the node, by route and status code',
    labelNames: ['route', 'status'] as const,
    registers: [registry],
  });
  return { registry, httpRequests };
}
