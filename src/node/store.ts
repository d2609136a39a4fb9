/**
 * The store as a node part: opening it on the node's data directory, its Prometheus metrics and its
 * admin route. Kept here so that the node's own module only calls three functions.
 */
import { Histogram, type Registry } from 'prom-client';
import { LATENCY_BUCKETS_SECONDS, registerReadings, type Reading } from './metrics.js';
import type { Store } from '../store/interfaces.js';
import { openStore } from '../store/store.js';
import { checkpointStore, storeDurability } from '../store/durability/attach.js';
import { StoreCheckpointError, StoreIoError, type StoreFailedError } from '../store/errors.js';
import type { FileSystem } from '../store/durability/fs.js';
import type { DurabilityEvent } from '../store/durability/persistence.js';
import type { LogBatchTiming } from '../store/durability/wal.js';
import type { Logger } from './logger.js';

/** How far recovery is, for /health while the node starts. */
export interface RecoveryProgress {
  step: 'snapshot' | 'log';
  records: number;
  totalRecords: number | null;
}

export interface NodeStoreOptions {
  /** Persistent in this directory; memory-only when undefined. */
  dataDir: string | undefined;
  onFailure: (error: StoreFailedError) => void;
  fs?: FileSystem;
  logger?: Logger;
  /** Recovery progress while opening (also logged). */
  onProgress?: (progress: RecoveryProgress) => void;
  /** Each group commit written (see `storeLogMetrics`). */
  onLogBatch?: (batch: LogBatchTiming) => void;
}

/** Opens the node's store. Warnings and recovery progress are logged; progress also goes to `onProgress`. */
export function openNodeStore(options: NodeStoreOptions): Promise<Store> {
  const { dataDir, onFailure, fs, logger, onProgress, onLogBatch } = options;
  if (dataDir === undefined) return openStore();
  const onEvent = (event: DurabilityEvent) => {
    if (event.kind === 'log-batch') onLogBatch?.(event);
    else if (logger) logDurabilityEvent(logger, event);
    if (event.kind === 'recovery-progress') onProgress?.({ step: event.step, records: event.records, totalRecords: event.totalRecords ?? null });
  };
  return openStore({ dir: dataDir, onFailure, fs, onEvent });
}

/**
 * Histograms of the write-ahead log's group commits, observed once per batch (one write and one fsync):
 * how many commits share a batch, how long the write and the fsync took, and how long the oldest commit of
 * the batch waited — the commit latency the log adds, at its worst within each batch.
 */
export function storeLogMetrics(registry: Registry): (batch: LogBatchTiming) => void {
  const registers = [registry];
  const groupSize = new Histogram({
    name: 'purser_store_log_batch_records',
    help: 'commit records per write-ahead log batch (group commit size)',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096],
    registers,
  });
  const write = new Histogram({ name: 'purser_store_log_write_duration_seconds', help: 'time to write one log batch (before its fsync)', buckets: LATENCY_BUCKETS_SECONDS, registers });
  const sync = new Histogram({ name: 'purser_store_log_fsync_duration_seconds', help: 'time of one log fsync (fdatasync)', buckets: LATENCY_BUCKETS_SECONDS, registers });
  const wait = new Histogram({
    name: 'purser_store_log_batch_oldest_wait_seconds',
    help: 'per log batch, how long its oldest commit waited from appending to durable (the longest commit wait in the batch)',
    buckets: LATENCY_BUCKETS_SECONDS,
    registers,
  });
  return (batch) => {
    groupSize.observe(batch.records);
    write.observe(batch.writeSeconds);
    sync.observe(batch.syncSeconds);
    wait.observe(batch.oldestWaitSeconds);
  };
}

/** The store's warnings and recovery progress, as log lines (a supervisor tells recovering from hung). */
function logDurabilityEvent(logger: Logger, event: DurabilityEvent): void {
  switch (event.kind) {
    case 'checkpoint-failed':
      logger.error({ err: event.error, failures: event.failures, retryInMs: event.retryInMs }, 'checkpoint failed; the store keeps running on its log and retries');
      break;
    case 'checkpoint-cleanup-failed':
      logger.warn({ err: event.error }, 'old log files or snapshots could not be deleted after a checkpoint; the next checkpoint or start deletes them');
      break;
    case 'torn-tail-cut':
      logger.warn({ file: event.file, atByte: event.atByte, droppedBytes: event.droppedBytes }, event.message);
      break;
    case 'recovery-progress':
      logger.info({ step: event.step, file: event.file, records: event.records, totalRecords: event.totalRecords ?? null }, `recovering: ${event.records}${event.totalRecords === undefined ? '' : ` of ${event.totalRecords}`} records from the ${event.step}`);
      break;
  }
}


const COUNTERS: Array<Reading<Store>> = [
  ['purser_store_transactions_committed_total', 'store transactions committed', (s) => s.stats().transactionsCommitted],
  ['purser_store_transactions_aborted_total', 'store transactions aborted (including deadlock victims)', (s) => s.stats().transactionsAborted],
  ['purser_store_lock_waits_total', 'page-lock requests that had to wait', (s) => s.stats().lockWaits],
  ['purser_store_lock_timeouts_total', 'page-lock waits that timed out', (s) => s.stats().lockTimeouts],
  ['purser_store_deadlocks_total', 'deadlocks detected (victims)', (s) => s.stats().deadlocks],
  ['purser_store_retries_total', 'transaction functions re-run after a deadlock or lock timeout', (s) => s.stats().retries],
  ['purser_store_transaction_timeouts_total', 'transactions that failed at their deadline (timeoutMs)', (s) => s.stats().transactionTimeouts],
  ['purser_store_escrow_rejections_total', 'escrow increments refused because a bound could break', (s) => s.stats().escrowRejections],
  ['purser_store_after_commit_errors_total', 'afterCommit callbacks that threw or rejected (their commits stood)', (s) => s.stats().afterCommitErrors],
  ['purser_store_log_batches_total', 'write-ahead log batches written (one write and one fsync each)', (s) => storeDurability(s)?.logBatches ?? 0],
  ['purser_store_log_records_total', 'write-ahead log records written', (s) => storeDurability(s)?.logRecords ?? 0],
  ['purser_store_checkpoints_total', 'checkpoints completed', (s) => storeDurability(s)?.checkpoints ?? 0],
  ['purser_store_checkpoint_failures_total', 'checkpoints that failed (the store kept running on its log; each is retried)', (s) => storeDurability(s)?.checkpointFailures ?? 0],
];

const GAUGES: Array<Reading<Store>> = [
  ['purser_store_pages', 'B+tree leaf pages', (s) => s.stats().pages],
  ['purser_store_records', 'records in all tables', (s) => s.stats().records],
  ['purser_store_tables', 'tables', (s) => s.stats().tables],
  ['purser_store_log_since_checkpoint_bytes', 'log bytes written since the last checkpoint', (s) => storeDurability(s)?.logBytesSinceCheckpoint ?? 0],
  ['purser_store_checkpoint_stall_max_seconds', 'longest synchronous step of a checkpoint so far (commits wait for it)', (s) => (storeDurability(s)?.longestCheckpointSyncStepMs ?? 0) / 1000],
  ['purser_store_failed', '1 once a write or fsync failed and the store stopped', (s) => (storeDurability(s)?.failed ? 1 : 0)],
];

/** Registers the store's statistics on the node's registry; values are read at scrape time. */
export function registerStoreMetrics(registry: Registry, store: Store): void {
  registerReadings(registry, () => store, COUNTERS, GAUGES);
}

/** POST /v1/admin/checkpoint: what `purser checkpoint --url` calls. */
export function storeHttpRoutes(store: Store): Array<{ method: string; path: string; handler: () => Promise<{ status: number; body: unknown }> }> {
  return [
    {
      method: 'POST',
      path: '/v1/admin/checkpoint',
      handler: async () => {
        if (!storeDurability(store)) return { status: 409, body: { error: { code: 'STORE_MEMORY_ONLY', message: 'this node keeps its store in memory: there is nothing to checkpoint' } } };
        try {
          const result = await checkpointStore(store);
          return { status: 200, body: { checkpoint: result } };
        } catch (error) {
          // Not the client's fault, and not fatal: the node keeps serving and retries on its own.
          if (error instanceof StoreIoError || error instanceof StoreCheckpointError) return { status: 503, body: { error: { code: error.code, message: error.message } } };
          throw error;
        }
      },
    },
  ];
}
