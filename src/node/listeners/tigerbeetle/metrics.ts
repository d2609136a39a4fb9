/**
 * Prometheus metrics of the TigerBeetle listener, registered on the node's registry when it has one.
 * The same counts are kept in `listener.stats` for tests and embedding programs.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export interface TigerBeetleMetrics {
  requests: Counter<'operation'>;
  evictions: Counter<'reason'>;
  connectionsRefused: Counter;
  connectionsTurnedAway: Counter<'reason'>;
  repliesResent: Counter;
  connectionsOpen: Gauge;
}

export function createTigerBeetleMetrics(registry: Registry): TigerBeetleMetrics {
  const registers = [registry];
  return {
    requests: new Counter({ name: 'purser_tigerbeetle_requests_total', help: 'TigerBeetle protocol requests executed, by operation', labelNames: ['operation'] as const, registers }),
    evictions: new Counter({ name: 'purser_tigerbeetle_evictions_total', help: 'TigerBeetle clients evicted, by reason', labelNames: ['reason'] as const, registers }),
    connectionsRefused: new Counter({ name: 'purser_tigerbeetle_connections_refused_total', help: 'TigerBeetle connections closed for a protocol violation (bad checksum, malformed frame, wrong cluster)', registers }),
    connectionsTurnedAway: new Counter({ name: 'purser_tigerbeetle_connections_turned_away_total', help: 'TigerBeetle connections closed at accept, by reason (not_allowed, address_full, listener_full)', labelNames: ['reason'] as const, registers }),
    repliesResent: new Counter({ name: 'purser_tigerbeetle_replies_resent_total', help: 'Resent TigerBeetle requests answered from the cached reply, not executed again', registers }),
    connectionsOpen: new Gauge({ name: 'purser_tigerbeetle_connections', help: 'Open TigerBeetle client connections', registers }),
  };
}
