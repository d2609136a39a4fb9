/**
 * Prometheus metrics through prom-client. Each node owns its own `Registry` (never prom-client's global
 * one), so several nodes in one process — as in tests — do not collide. Parts register their metrics on
 * `node.metrics`. Purser's own metrics start with `purser_`; the process and Node.js metrics keep their
 * standard names (`process_*`, `nodejs_*`) so stock dashboards work. Names follow Prometheus conventions:
 * base units (seconds, bytes) last, `_total` only on counters; `test/node/metrics.test.ts` lints them.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { VERSION } from '../version.js';

export interface NodeMetrics {
  registry: Registry;
  httpRequests: Counter<'route' | 'status'>;
  httpRequestDuration: Histogram<'route'>;
}

/** Latency buckets from 100 µs to 10 s: a commit on a fast disk is well under a millisecond, a stuck one is not. */
export const LATENCY_BUCKETS_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

export function createNodeMetrics(): NodeMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'purser_build_info',
    help: 'Always 1; the labels say which Purser and which Node.js this node runs',
    labelNames: ['version', 'nodejs'] as const,
    registers: [registry],
  }).set({ version: VERSION, nodejs: process.versions.node }, 1);
  const httpRequests = new Counter({
    name: 'purser_http_requests_total',
    help: 'HTTP requests answered by the node, by route and status code',
    labelNames: ['route', 'status'] as const,
    registers: [registry],
  });
  const httpRequestDuration = new Histogram({
    name: 'purser_http_request_duration_seconds',
    help: 'Time from an HTTP request arriving to its answer being handed to the socket, by route',
    labelNames: ['route'] as const,
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [registry],
  });
  return { registry, httpRequests, httpRequestDuration };
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
