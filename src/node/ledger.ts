/**
 * The ledger as a node part: its Prometheus metrics and its say in `/health`. Values are read from
 * `ledger.stats()` at scrape time, so the ledger itself knows nothing of prom-client or HTTP.
 */
import type { Registry } from 'prom-client';
import { registerReadings, type Reading } from './metrics.js';
import type { Ledger, LedgerStats } from '../ledger/ledger.js';

const COUNTERS: Array<Reading<LedgerStats>> = [
  ['purser_ledger_internal_errors_total', 'ledger requests that failed unexpectedly and were undone (each is logged at error level)', (s) => s.internalErrors],
  ['purser_ledger_clock_refusals_total', 'ledger requests refused because the clock gave no usable time', (s) => s.clockRefusals],
  ['purser_ledger_clock_steps_refused_total', 'wall-clock readings not believed (beyond the tolerance of monotonic time)', (s) => s.clockStepsRefused],
  ['purser_ledger_transfers_expired_total', 'pending transfers expired', (s) => s.transfersExpired],
  ['purser_ledger_expiry_steps_total', 'bounded expiry steps run (one store transaction each)', (s) => s.expirySteps],
];

const GAUGES: Array<Reading<LedgerStats>> = [
  ['purser_ledger_up', '1 while the ledger serves requests, 0 once it stopped (store failure) or closed', (s) => (s.up ? 1 : 0)],
  ['purser_ledger_clock_skew_seconds', 'wall clock minus the time the ledger used at its last reading (0 when the wall clock was believed)', (s) => Number(s.clockSkewNs) / 1e9],
];

export function registerLedgerMetrics(registry: Registry, ledger: Ledger): void {
  registerReadings(registry, () => ledger.stats(), COUNTERS, GAUGES);
}
