/**
 * The store as a node part: opening it on the node's data directory, its Prometheus metrics and its
 * admin route. Kept here so that the node's own module only calls three functions.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Store } from '../store/interfaces.js';
import { openStore } from '../store/store.js';
import { checkpointStore, storeDurability } from '../store/durability/attach.js';
import type { StoreFailedError } from '../store/errors.js';
import type { FileSystem } from '../store/durability/fs.js';

/** Opens the node's store: persistent in `dataDir`, or memory-only when it is undefined. */
export function openNodeStore(dataDir: string | undefined, onFailure: (error: StoreFailedError) => void, fs?: FileSystem): Promise<Store> {
  return dataDir === undefined ? openStore() : openStore({ dir: dataDir, onFailure, fs });
}

type Reading = (store: Store) => number;

const COUNTERS: Array<[string, string, Reading]> = [
  ['purser_store_transactions_committed_total', 'store transactions committed', (s) => s.stats().transactionsCommitted],
  ['purser_store_transactions_aborted_total', 'store transactions aborted (including deadlock victims)', (s) => s.stats().transactionsAborted],
  ['purser_store_lock_waits_total', 'page-lock requests that had to wait', (s) => s.stats().lockWaits],
  ['purser_store_lock_timeouts_total', 'page-lock waits that timed out', (s) => s.stats().lockTimeouts],
  ['purser_store_deadlocks_total', 'deadlocks detected (victims)', (s) => s.stats().deadlocks],
  ['purser_store_retries_total', 'transaction functions re-run after a deadlock or lock timeout', (s) => s.stats().retries],
  ['purser_store_transaction_timeouts_total', 'transactions that failed at their deadline (timeoutMs)', (s) => s.stats().transactionTimeouts],
  ['purser_store_escrow_rejections_total', 'escrow increments refused because a bound could break', (s) => s.stats().escrowRejections],
  ['purser_store_log_batches_total', 'write-ahead log batches written (one write and one fsync each)', (s) => storeDurability(s)?.logBatches ?? 0],
  ['purser_store_log_records_total', 'write-ahead log records written', (s) => storeDurability(s)?.logRecords ?? 0],
  ['purser_store_checkpoints_total', 'checkpoints completed', (s) => storeDurability(s)?.checkpoints ?? 0],
];

const GAUGES: Array<[string, string, Reading]> = [
  ['purser_store_pages', 'B+tree leaf pages', (s) => s.stats().pages],
  ['purser_store_records', 'records in all tables', (s) => s.stats().records],
  ['purser_store_tables', 'tables', (s) => s.stats().tables],
  ['purser_store_log_bytes_since_checkpoint', 'log bytes written since the last checkpoint', (s) => storeDurability(s)?.logBytesSinceCheckpoint ?? 0],
  ['purser_store_checkpoint_stall_max_ms', 'longest synchronous step of a checkpoint (commits wait for it), in milliseconds', (s) => storeDurability(s)?.longestCheckpointSyncStepMs ?? 0],
  ['purser_store_failed', '1 once a write or fsync failed and the store stopped', (s) => (storeDurability(s)?.failed ? 1 : 0)],
];

/** Registers the store's statistics on the node's registry; values are read at scrape time. */
export function registerStoreMetrics(registry: Registry, store: Store): void {
  for (const [name, help, read] of COUNTERS) {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read(store));
      },
    });
  }
  for (const [name, help, read] of GAUGES) {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read(store));
      },
    });
  }
}

/** POST /v1/admin/checkpoint: what `purser checkpoint --url` calls. */
export function storeHttpRoutes(store: Store): Array<{ method: string; path: string; handler: () => Promise<{ status: number; body: unknown }> }> {
  return [
    {
      method: 'POST',
      path: '/v1/admin/checkpoint',
      handler: async () => {
        if (!storeDurability(store)) return { status: 409, body: { error: { code: 'STORE_MEMORY_ONLY', message: 'this node keeps its store in memory: there is nothing to checkpoint' } } };
        const result = await checkpointStore(store);
        return { status: 200, body: { checkpoint: result } };
      },
    },
  ];
}
