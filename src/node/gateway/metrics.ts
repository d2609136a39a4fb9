/** The gateway's metrics (docs/gateway.md lists them). */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { LATENCY_BUCKETS_SECONDS } from '../metrics.js';
import type { GatewayStats, RemoteNode } from './gateway.js';

export function gatewayMetrics(registry: Registry, state: () => GatewayStats['state'], remote: () => Map<string, RemoteNode>) {
  const registers = [registry];
  new Gauge({ name: 'purser_gateway_up', help: '1 while the node is connected to NATS', registers, collect() { this.set(state() === 'up' ? 1 : 0); } });
  const links = new Gauge({
    name: 'purser_gateway_link_up',
    help: '1 for each remote node heard from within its heartbeat bound (a node gone is removed)',
    labelNames: ['node'] as const,
    registers,
    collect() {
      this.reset();
      for (const node of remote().keys()) this.set({ node }, 1);
    },
  });
  return {
    calls: new Counter({ name: 'purser_gateway_calls_total', help: 'calls sent to other nodes and answered, by serving node and outcome (ok or the XATMI code)', labelNames: ['node', 'outcome'] as const, registers }),
    roundTrip: new Histogram({ name: 'purser_gateway_round_trip_seconds', help: 'time from sending a call to another node to its reply, by serving node', labelNames: ['node'] as const, buckets: LATENCY_BUCKETS_SECONDS, registers }),
    badMessages: new Counter({ name: 'purser_gateway_bad_messages_total', help: 'messages on purser subjects that did not decode (dropped)', registers }),
    expiredOnArrival: new Counter({ name: 'purser_gateway_expired_on_arrival_total', help: 'calls from other nodes dropped because no time was left when they arrived', registers }),
    forget: (node: string) => links.remove({ node }),
  };
}
