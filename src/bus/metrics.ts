/**
 * The bus's Prometheus metrics. Queue depth and busy servers are gauges read when scraped (collect), so
 * the hot path pays nothing for them; queue wait and service time are separate histograms — the Gunicorn
 * lesson: a slow response is usually a long wait for a free server, not a slow service, and one
 * "latency" histogram cannot tell the two apart.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { QueueView } from './interfaces.js';

export interface BusMetrics {
  observeService(service: string, queueWaitMs: number, serviceMs: number): void;
  outcome(service: string, outcome: string): void;
  expired: Counter;
  late: Counter;
  restarts: Counter;
}

const SECONDS_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createBusMetrics(registry: Registry, source: { pq(): QueueView[] }): BusMetrics {
  new Gauge({
    name: 'purser_bus_queue_depth',
    help: 'Requests waiting in each service queue (not counting those being served)',
    labelNames: ['service'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const row of source.pq()) this.set({ service: row.service }, row.queued + row.waitingForSlot);
    },
  });
  new Gauge({
    name: 'purser_bus_busy_servers',
    help: 'Servers of each service holding a request',
    labelNames: ['service'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const row of source.pq()) this.set({ service: row.service }, row.busy);
    },
  });
  const queueWait = new Histogram({
    name: 'purser_bus_queue_wait_seconds',
    help: 'Time a request waited for a free server (queue and full-queue wait)',
    labelNames: ['service'] as const,
    buckets: SECONDS_BUCKETS,
    registers: [registry],
  });
  const serviceTime = new Histogram({
    name: 'purser_bus_service_seconds',
    help: 'Time a server spent on a request',
    labelNames: ['service'] as const,
    buckets: SECONDS_BUCKETS,
    registers: [registry],
  });
  const calls = new Counter({
    name: 'purser_bus_calls_total',
    help: 'Calls answered, by service and outcome (TPSUCCESS or the XATMI error code)',
    labelNames: ['service', 'outcome'] as const,
    registers: [registry],
  });
  const expired = new Counter({ name: 'purser_bus_expired_in_queue_total', help: 'Requests dropped unrun because their deadline passed while queued', registers: [registry] });
  const late = new Counter({ name: 'purser_bus_late_replies_total', help: 'Replies dropped because their caller had already been answered TPETIME', registers: [registry] });
  const restarts = new Counter({ name: 'purser_bus_worker_restarts_total', help: 'Worker-thread servers restarted after dying', registers: [registry] });

  // Label lookups cost a hash of the label set; cache the children per service.
  const waitChildren = new Map<string, Histogram.Internal<'service'>>();
  const serviceChildren = new Map<string, Histogram.Internal<'service'>>();
  const outcomeChildren = new Map<string, Counter.Internal>();
  return {
    observeService(service, queueWaitMs, serviceMs) {
      let wait = waitChildren.get(service);
      if (!wait) waitChildren.set(service, (wait = queueWait.labels(service)));
      let time = serviceChildren.get(service);
      if (!time) serviceChildren.set(service, (time = serviceTime.labels(service)));
      wait.observe(queueWaitMs / 1000);
      time.observe(serviceMs / 1000);
    },
    outcome(service, outcome) {
      const key = `${service}\n${outcome}`;
      let child = outcomeChildren.get(key);
      if (!child) outcomeChildren.set(key, (child = calls.labels(service, outcome)));
      child.inc();
    },
    expired,
    late,
    restarts,
  };
}
