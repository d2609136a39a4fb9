/**
 * Where a store meets its persistence: `openStore` calls `attachPersistence` when given a `dir`, and the
 * package's durability functions (`checkpointStore`, `storeDurability`) find the persistence of a store
 * here. The `Store` interface stays as the engine defines it; persistence is reached through these
 * functions, so a memory-only store carries nothing of it.
 */
import { InvalidArgumentError, requireArgument } from '../../errors.js';
import type { EngineHooks, Store } from '../interfaces.js';
import type { FileSystem } from './fs.js';
import { Persistence, type CheckpointResult, type DurabilityEvent, type DurabilityStats } from './persistence.js';
import type { StoreFailedError } from '../errors.js';

/** Options of `openStore` that only a store with a `dir` uses. */
export interface StorePersistenceOptions {
  /** Automatic checkpoint after this many bytes of log (default 128 MiB); 0 turns it off. */
  checkpointLogBytes?: number;
  /** Called once if a write or fsync fails; the store then fails every later transaction. */
  onFailure?: (error: StoreFailedError) => void;
  /**
   * Warnings and progress: a torn log tail cut on open, a checkpoint that failed (and when it is retried),
   * recovery progress. Default: warnings through `process.emitWarning`, progress nowhere.
   */
  onEvent?: (event: DurabilityEvent) => void;
  /** The file system under the store; tests pass a simulated disk. Default: the real one. */
  fs?: FileSystem;
}

const attached = new WeakMap<object, Persistence>();

export async function attachPersistence(engine: Store & EngineHooks, dir: string, options: StorePersistenceOptions): Promise<void> {
  const { checkpointLogBytes, onFailure, onEvent, fs } = options;
  requireArgument(checkpointLogBytes === undefined || (Number.isSafeInteger(checkpointLogBytes) && checkpointLogBytes >= 0), 'checkpointLogBytes must be a non-negative integer');
  requireArgument(onFailure === undefined || typeof onFailure === 'function', 'onFailure must be a function');
  requireArgument(onEvent === undefined || typeof onEvent === 'function', 'onEvent must be a function');
  requireArgument(fs === undefined || (typeof fs === 'object' && fs !== null && typeof fs.open === 'function'), 'fs must be a FileSystem');
  const persistence = await Persistence.open(engine, { dir, fs, checkpointLogBytes, onFailure, onEvent });
  attached.set(engine, persistence);
}

function persistenceOf(store: Store): Persistence {
  const persistence = typeof store === 'object' && store !== null ? attached.get(store) : undefined;
  if (!persistence) throw new InvalidArgumentError('the store has no data directory (memory-only stores have no log or checkpoints)');
  return persistence;
}

/**
 * Writes a snapshot of a store opened with a `dir` and drops the log before it. Commits keep flowing.
 * With nothing committed since the last snapshot it writes nothing and answers `unchanged: true`. A
 * failure (`StoreIoError`, `StoreCheckpointError`) leaves the store running on its log; it is retried.
 */
export function checkpointStore(store: Store): Promise<CheckpointResult> {
  return persistenceOf(store).checkpoint();
}

/** A checkpoint even when nothing was logged: after a load, which fills the engine without logging. */
export function checkpointStoreAfterLoad(store: Store): Promise<CheckpointResult> {
  return persistenceOf(store).checkpoint(true);
}

/** The durability counters of a store opened with a `dir` (log batches, checkpoints, recovery), or undefined. */
export function storeDurability(store: Store): DurabilityStats | undefined {
  const persistence = typeof store === 'object' && store !== null ? attached.get(store) : undefined;
  return persistence?.stats();
}
