/**
 * Prometheus metrics through prom-client. Each node owns its own `Registry` (never prom-client's global
 * one), so several nodes in one process — as in tests — do not collide. Parts register their metrics on
 * `node.metrics`; every metric name starts with `purser_`.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';

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

/** A metric whose value is read from a part at scrape time: name, help, and how to read it from `S`. */
export type Reading<S> = [name: string, help: string, read: (source: S) => number];

/**
 * Registers counters and gauges read from `source()` at scrape time, so a part keeps plain statistics and
 * knows nothing of prom-client. A counter is reset and set to the part's own running total at each scrape.
 */
export function registerReadings<S>(registry: Registry, source: () => S, counters: Array<Reading<S>>, gauges: Array<Reading<S>>): void {
  for (const [name, help, read] of counters) {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read(source()));
      },
    });
  }
  for (const [name, help, read] of gauges) {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read(source()));
      },
    });
  }
}
