/**
 * `GET /health`: 200 only while the node can serve — its store open and not failed, its ledger up —
 * and 503 with a JSON reason otherwise: while the store recovers and the ledger loads on start, after a
 * store write or fsync failed (the node is stopping), once the ledger stopped, and while the node stops.
 * A load balancer or orchestrator can act on the status code alone; people read the reason.
 */
import type { Ledger } from '../ledger/ledger.js';
import { storeDurability } from '../store/durability/attach.js';
import type { Store } from '../store/interfaces.js';
import type { HttpResponse } from './listeners/http.js';

export type NodePhase = 'starting' | 'serving' | 'stopping';

export interface HealthInputs {
  phase: NodePhase;
  store: Store | undefined;
  ledger: Ledger | undefined;
  /** What every answer carries (version, pid, uptime, data directory). */
  details: () => Record<string, unknown>;
}

export function healthResponse(inputs: HealthInputs): HttpResponse {
  const reason = unavailableReason(inputs);
  const ledger = inputs.ledger?.stats();
  const body = {
    status: reason === undefined ? 'ok' : 'unavailable',
    ...(reason === undefined ? {} : { reason }),
    phase: inputs.phase,
    ...inputs.details(),
    ledger: ledger === undefined ? null : { up: ledger.up, internalErrors: ledger.internalErrors, clockSkewNs: String(ledger.clockSkewNs) },
  };
  return { status: reason === undefined ? 200 : 503, body };
}

function unavailableReason({ phase, store, ledger }: HealthInputs): string | undefined {
  if (phase === 'starting') return 'recovering: the store and the ledger are being opened';
  if (store !== undefined && storeDurability(store)?.failed === true) return 'store failed: a write or fsync failed; the node is stopping';
  if (phase === 'stopping') return 'stopping';
  const stats = ledger?.stats();
  if (stats !== undefined && !stats.up) return `ledger down: ${stats.downReason ?? 'unknown'}`;
  return undefined;
}
