/**
 * Persistence of one store's data directory: recovery on open, the `Durability` hook the engine logs
 * through, checkpoints, and the directory lock. This is the one module `openStore` talks to.
 *
 * The directory holds `LOCK`, log files `log-<LSN>.wal` (wal.ts) and at most one live snapshot
 * `snapshot-<LSN>.snap` (image.ts) that covers every record before that LSN.
 *
 * Checkpoint, in order: (1) synchronously, take the engine's copy-on-write snapshot and rotate the log, in
 * the same step, so the snapshot holds exactly the records before the new file's first LSN; (2) wait until
 * the new log file exists, which — the flush loop being in order — also means every earlier record is
 * durable; (3) write the snapshot to a `.tmp` file and fsync it, rename it, fsync the directory; (4) delete
 * older snapshots and logs, fsync the directory. A crash at any point leaves either the old snapshot with
 * all its logs, or the new snapshot (with or without leftovers that recovery deletes): both recover the
 * same state. Commits continue during (2)–(4); they only wait for step (1), which is measured.
 *
 * Recovery: take the lock, load the newest snapshot, replay the log after it, make the torn tail of the
 * last log file durably cut (or remove a log file whose header never made it), delete leftovers, and start
 * a new log file. Every step either changes nothing visible or is safe to repeat, so a crash during
 * recovery recovers the same state the next time.
 */
import { performance } from 'node:perf_hooks';
import { assert } from '../../errors.js';
import type { CommitRecord, Durability, EngineHooks } from '../interfaces.js';
import { decodePayload, Decoder } from './codec.js';
import { DecodeError, ImageDamage, StoreCheckpointError, StoreDamagedError, StoreFailedError, StoreForeignDirectoryError, StoreIoError } from '../errors.js';
import { asStoreIoError } from './io-errors.js';
import { realFileSystem, type FileSystem } from './fs.js';
import { readImage, readImageInfo, writeImage } from './image.js';
import { acquireDirectoryLock, LOCK_FILE_NAME, type DirectoryLock } from './lock.js';
import { LogWriter, parseLogFileName, readLog, type LogBatchTiming, type RandomSource } from './wal.js';

/**
 * Log bytes written since the last checkpoint that trigger the next one. This bounds the log that recovery
 * replays: replay runs at about 100,000 records/s here (bound by random inserts into the trees), against
 * about 600,000 records/s for loading a snapshot, so 128 MiB of log (about 800,000 small commits) costs
 * recovery some 8 s on top of the snapshot.
 */
export const DEFAULT_CHECKPOINT_LOG_BYTES = 128 * 1024 * 1024; // 128 MiB
/** Recovery reports its progress this often (a node logs it; a supervisor sees it is not hung). */
export const RECOVERY_PROGRESS_INTERVAL_MS = 2_000;
/** A failed checkpoint is retried after this, doubling per failure up to the maximum. */
export const CHECKPOINT_RETRY_FIRST_MS = 1_000;
export const CHECKPOINT_RETRY_MAX_MS = 5 * 60 * 1_000;

/**
 * What the durability layer tells its owner (a node logs these). Without a listener, warnings go to
 * `process.emitWarning`, so a library user still sees them on stderr.
 */
export type DurabilityEvent =
  | { kind: 'checkpoint-failed'; error: Error; failures: number; retryInMs: number }
  | { kind: 'checkpoint-cleanup-failed'; error: Error }
  | { kind: 'torn-tail-cut'; file: string; atByte: number; droppedBytes: number; message: string }
  | { kind: 'recovery-progress'; step: 'snapshot' | 'log'; file: string; records: number; totalRecords: number | undefined }
  /** One group commit reached the disk (for metrics; the node turns these into histograms). */
  | ({ kind: 'log-batch' } & LogBatchTiming);

export interface PersistenceOptions {
  dir: string;
  /** The file system (tests pass a SimDisk). Default: the real one. */
  fs?: FileSystem;
  /** Automatic checkpoint after this many log bytes; 0 turns it off. Default 256 MiB. */
  checkpointLogBytes?: number;
  /** Called once when a write or fsync fails and the store stops (the node exits on it). */
  onFailure?: (error: StoreFailedError) => void;
  /** Warnings and progress (see `DurabilityEvent`). */
  onEvent?: (event: DurabilityEvent) => void;
  /** Source of log-file salts; tests pass a seeded one so that a run is reproducible. Default: crypto. */
  random?: RandomSource;
  /** Zeroed space kept ahead of the log's records (default 4 MiB); tests on the simulated disk use less. */
  logPreallocateBytes?: number;
}

export interface CheckpointResult {
  /** True when nothing was logged since the last snapshot: no file was written. */
  unchanged: boolean;
  coveredLsn: number;
  records: number;
  sizeBytes: number;
  /** The synchronous part (snapshot + log rotation): the only time commits wait for the checkpoint. */
  syncStepMs: number;
  totalMs: number;
}

export interface DurabilityStats {
  logBatches: number;
  logRecords: number;
  nextLsn: number;
  logBytesSinceCheckpoint: number;
  checkpoints: number;
  /** Checkpoints that failed (the store kept running on its log) and will be retried. */
  checkpointFailures: number;
  lastCheckpointSyncStepMs: number;
  longestCheckpointSyncStepMs: number;
  recoveredRecords: number;
  recoveryMs: number;
  failed: boolean;
}

export function snapshotFileName(coveredLsn: number): string {
  return `snapshot-${String(coveredLsn).padStart(20, '0')}.snap`;
}

function parseSnapshotFileName(name: string): number | undefined {
  const match = /^snapshot-(\d{20})\.snap$/.exec(name);
  return match ? Number(match[1]) : undefined;
}

export class Persistence implements Durability {
  private writer!: LogWriter;
  private checkpointing: Promise<CheckpointResult> | undefined;
  private checkpointScheduled = false;
  private failure: StoreFailedError | undefined;
  private closed = false;
  private checkpoints = 0;
  private checkpointFailures = 0;
  private checkpointRetryMs = 0;
  private checkpointRetryTimer: NodeJS.Timeout | undefined;
  /** LSN the newest durable snapshot covers; undefined while there is none. */
  private snapshotLsn: number | undefined;
  private lastCheckpointSyncStepMs = 0;
  private longestCheckpointSyncStepMs = 0;
  private recoveredRecords = 0;
  private recoveryMs = 0;
  private readonly fs: FileSystem;
  private readonly dir: string;
  private readonly checkpointLogBytes: number;

  private constructor(
    private readonly engine: EngineHooks,
    private readonly lock: DirectoryLock,
    options: PersistenceOptions,
  ) {
    this.fs = options.fs ?? realFileSystem;
    this.dir = options.dir;
    this.checkpointLogBytes = options.checkpointLogBytes ?? DEFAULT_CHECKPOINT_LOG_BYTES;
    this.onFailure = options.onFailure;
    this.onEvent = options.onEvent;
    this.random = options.random;
    this.logPreallocateBytes = options.logPreallocateBytes;
  }

  private readonly onFailure: ((error: StoreFailedError) => void) | undefined;
  private readonly onEvent: ((event: DurabilityEvent) => void) | undefined;
  private readonly random: RandomSource | undefined;
  private readonly logPreallocateBytes: number | undefined;

  /** Locks the directory, recovers the engine's state from it and installs itself as the engine's durability. */
  static async open(engine: EngineHooks, options: PersistenceOptions): Promise<Persistence> {
    const fs = options.fs ?? realFileSystem;
    const action = `open the data directory ${options.dir}`;
    let lock: DirectoryLock;
    try {
      await fs.mkdir(options.dir);
      await refuseForeignDirectory(fs, options.dir);
      lock = await acquireDirectoryLock(fs, options.dir);
    } catch (error) {
      throw asStoreIoError(error, action);
    }
    const persistence = new Persistence(engine, lock, options);
    try {
      await persistence.recover();
    } catch (error) {
      await lock.release();
      throw asStoreIoError(error, action);
    }
    engine.setDurability(persistence);
    return persistence;
  }

  // ---- Durability ----

  logCommit(record: CommitRecord): Promise<void> | undefined {
    const durable = this.writer.appendCommit(record);
    if (this.checkpointLogBytes > 0 && this.writer.bytesSinceRotation >= this.checkpointLogBytes && !this.checkpointScheduled && !this.checkpointing && !this.checkpointRetryTimer && !this.failure) {
      // Not now: this runs inside the engine's commit step, and a snapshot belongs between steps.
      this.checkpointScheduled = true;
      setImmediate(() => {
        this.checkpointScheduled = false;
        // A failed checkpoint is reported (onEvent) and retried; a failed log stops the store (onFailure).
        if (!this.closed && !this.failure) this.checkpoint().catch(() => undefined);
      });
    }
    return durable;
  }

  logSequence(name: string, highWater: bigint): Promise<void> | undefined {
    return this.writer.appendSequence(name, highWater);
  }

  durableNow(): Promise<void> | undefined {
    return this.writer.durableNow();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.checkpointRetryTimer);
    this.checkpointRetryTimer = undefined;
    await this.checkpointing?.catch(() => undefined);
    await this.writer.close();
    await this.lock.release();
  }

  // ---- checkpoints ----

  /**
   * Writes a snapshot and drops the log before it. Concurrent calls share one checkpoint. Nothing logged
   * since the last snapshot makes it a no-op (`unchanged`) unless `force` (a load fills the engine
   * without logging). A failure to write the snapshot rejects with `StoreIoError` or `StoreCheckpointError`
   * but does not stop the store: the log still holds everything, and the checkpoint is retried later.
   */
  checkpoint(force = false): Promise<CheckpointResult> {
    if (this.failure) return Promise.reject(this.failure);
    assert(!this.closed, 'checkpoint after close');
    this.checkpointing ??= this.runCheckpoint(force).finally(() => {
      this.checkpointing = undefined;
    });
    return this.checkpointing;
  }

  private async runCheckpoint(force: boolean): Promise<CheckpointResult> {
    const startedAt = performance.now();
    if (!force && this.snapshotLsn === this.writer.nextLsn) {
      return { unchanged: true, coveredLsn: this.snapshotLsn, records: 0, sizeBytes: 0, syncStepMs: 0, totalMs: performance.now() - startedAt };
    }
    const image = this.engine.snapshot();
    const { firstLsn: coveredLsn, created } = this.writer.rotate();
    const syncStepMs = performance.now() - startedAt;
    this.lastCheckpointSyncStepMs = syncStepMs;
    this.longestCheckpointSyncStepMs = Math.max(this.longestCheckpointSyncStepMs, syncStepMs);
    const finalName = snapshotFileName(coveredLsn);
    const temporary = `${this.dir}/${finalName}.tmp`;
    let written;
    try {
      await created;
      written = await writeImage(this.fs, temporary, 'snapshot', coveredLsn, image);
      await this.fs.rename(temporary, `${this.dir}/${finalName}`);
      await this.fs.syncDirectory(this.dir);
    } catch (error) {
      // The log failed (creating the new log file): the store is stopped, as for any log failure.
      if (this.writer.failed) throw this.writer.failed;
      throw await this.checkpointFailed(error, temporary);
    } finally {
      image.release();
    }
    // The new snapshot is durable: from here on a failure leaves only leftovers, which the next checkpoint
    // or recovery deletes.
    this.snapshotLsn = coveredLsn;
    this.checkpoints++;
    this.checkpointRetryMs = 0;
    clearTimeout(this.checkpointRetryTimer);
    this.checkpointRetryTimer = undefined;
    try {
      await this.removeBefore(coveredLsn);
    } catch (error) {
      this.emit({ kind: 'checkpoint-cleanup-failed', error: error as Error });
    }
    return { unchanged: false, coveredLsn, records: written.records, sizeBytes: written.sizeBytes, syncStepMs, totalMs: performance.now() - startedAt };
  }

  /**
   * A snapshot that could not be written costs nothing but disk: the log still holds every record since
   * the previous snapshot, and the rotation only began a new log file. So the temporary file goes, the
   * store keeps committing, and the checkpoint is tried again after a back-off that doubles per failure.
   */
  private async checkpointFailed(error: unknown, temporary: string): Promise<Error> {
    await this.fs.unlink(temporary).catch(() => undefined);
    this.checkpointFailures++;
    this.checkpointRetryMs = Math.min(CHECKPOINT_RETRY_MAX_MS, Math.max(CHECKPOINT_RETRY_FIRST_MS, this.checkpointRetryMs * 2));
    const retryInMs = this.checkpointRetryMs;
    const consequence = `the store keeps running on its log and tries again in ${Math.round(retryInMs / 1000)} s`;
    const typed = asStoreIoError(error, `write a checkpoint in ${this.dir}`);
    const failure =
      typed instanceof StoreIoError
        ? new StoreIoError(typed.code, `${typed.message}; ${consequence}`, { cause: error })
        : new StoreCheckpointError(`a checkpoint in ${this.dir} failed (${(error as Error)?.message ?? String(error)}); ${consequence}`, { cause: error });
    clearTimeout(this.checkpointRetryTimer);
    if (!this.closed) {
      this.checkpointRetryTimer = setTimeout(() => {
        this.checkpointRetryTimer = undefined;
        // A failure is reported through onEvent and schedules the next try.
        if (!this.closed && !this.failure) this.checkpoint().catch(() => undefined);
      }, retryInMs);
      this.checkpointRetryTimer.unref();
    }
    this.emit({ kind: 'checkpoint-failed', error: failure, failures: this.checkpointFailures, retryInMs });
    return failure;
  }

  private emit(event: DurabilityEvent): void {
    if (this.onEvent) {
      this.onEvent(event);
      return;
    }
    if (event.kind === 'checkpoint-failed' || event.kind === 'checkpoint-cleanup-failed') process.emitWarning(event.error.message, { code: 'PURSER_CHECKPOINT_FAILED' });
    else if (event.kind === 'torn-tail-cut') process.emitWarning(event.message, { code: 'PURSER_TORN_TAIL' });
  }

  /** Deletes snapshots and log files wholly before `lsn`, and leftover temporary files. */
  private async removeBefore(lsn: number): Promise<void> {
    let removed = 0;
    for (const name of await this.fs.readdir(this.dir)) {
      const snapshotLsn = parseSnapshotFileName(name);
      const logLsn = parseLogFileName(name);
      const obsolete = (snapshotLsn !== undefined && snapshotLsn < lsn) || (logLsn !== undefined && logLsn < lsn) || name.endsWith('.snap.tmp');
      if (!obsolete) continue;
      await this.fs.unlink(`${this.dir}/${name}`);
      removed++;
    }
    if (removed > 0) await this.fs.syncDirectory(this.dir);
  }

  private reportFailure(error: StoreFailedError): void {
    this.failure = error;
    this.onFailure?.(error);
  }

  // ---- recovery ----

  private async recover(): Promise<void> {
    const startedAt = performance.now();
    const names = await this.fs.readdir(this.dir);
    const snapshots = names.filter((name) => parseSnapshotFileName(name) !== undefined).sort();
    const newest = snapshots.at(-1);
    const coveredLsn = newest === undefined ? 0 : await this.loadSnapshot(newest);
    if (newest !== undefined) this.snapshotLsn = coveredLsn;
    let replayed = 0;
    const progress = this.progressReporter('log', 'log');
    const log = await readLog(this.fs, this.dir, coveredLsn, (lsn, buffer, start, end) => {
      this.replay(lsn, buffer, start, end);
      replayed++;
      if ((replayed & 0xffff) === 0) progress(replayed, undefined);
    });
    if (replayed > 0) progress(replayed, undefined, true);
    const last = log.files.at(-1);
    if (last?.tornTail) {
      const droppedBytes = last.sizeBytes - last.validBytes;
      this.emit({
        kind: 'torn-tail-cut',
        file: last.name,
        atByte: last.validBytes,
        droppedBytes,
        message: `${this.dir}/${last.name}: cut a torn tail of ${droppedBytes} bytes after byte ${last.validBytes} (records from LSN ${last.endLsn} on, of a batch whose write never finished, so none of them was acknowledged); ${last.endLsn - last.firstLsn} records before it kept`,
      });
    }
    if (last && (last.headerTorn || last.endLsn === last.firstLsn)) {
      // A log file without records (or whose header never made it to disk) is removed; the new log file
      // starts at the same LSN and takes its name.
      await this.fs.unlink(`${this.dir}/${last.name}`);
    } else if (last && last.validBytes < last.sizeBytes) {
      // The torn tail is cut durably before a newer log file exists, because a log file that is not the
      // last must be whole: otherwise the next recovery would take the tail for damage.
      const file = await this.fs.open(`${this.dir}/${last.name}`, 'write');
      try {
        await file.truncate(last.validBytes);
        await file.sync();
      } finally {
        await file.close();
      }
    }
    for (const name of [...snapshots.slice(0, -1), ...log.obsolete, ...names.filter((n) => n.endsWith('.snap.tmp'))]) {
      await this.fs.unlink(`${this.dir}/${name}`);
    }
    await this.fs.syncDirectory(this.dir);
    this.writer = new LogWriter(this.fs, this.dir, log.nextLsn, (error) => this.reportFailure(error), this.random, this.logPreallocateBytes, this.onEvent && ((timing) => this.onEvent?.({ kind: 'log-batch', ...timing })));
    await this.writer.start();
    this.recoveredRecords = replayed;
    this.recoveryMs = performance.now() - startedAt;
  }

  private async loadSnapshot(name: string): Promise<number> {
    const file = await this.fs.open(`${this.dir}/${name}`, 'read');
    try {
      const info = await readImageInfo(file, 'snapshot');
      const progress = this.progressReporter('snapshot', name);
      readImage(
        file,
        info,
        'snapshot',
        {
          sequence: (state) => this.engine.setSequenceState(state),
          table: (table, records) => this.engine.bulkLoad(table, records),
        },
        (records) => progress(records, info.records, records === info.records),
      );
      return info.coveredLsn;
    } catch (error) {
      if (error instanceof ImageDamage) throw new StoreDamagedError(name, error.offsetBytes, error.message);
      throw error;
    } finally {
      await file.close();
    }
  }

  /** Recovery progress, at most once per `RECOVERY_PROGRESS_INTERVAL_MS` (and once at the end of a step). */
  private progressReporter(step: 'snapshot' | 'log', file: string): (records: number, totalRecords: number | undefined, last?: boolean) => void {
    let reportedAt = performance.now();
    return (records, totalRecords, last = false) => {
      const now = performance.now();
      if (!last && now - reportedAt < RECOVERY_PROGRESS_INTERVAL_MS) return;
      reportedAt = now;
      this.onEvent?.({ kind: 'recovery-progress', step, file, records, totalRecords });
    };
  }

  private replay(lsn: number, buffer: Buffer, start: number, end: number): void {
    let payload;
    try {
      payload = decodePayload(new Decoder(buffer, start, end));
    } catch (error) {
      // The checksum matched, so these are the bytes that were written: a format this build cannot read.
      if (error instanceof DecodeError) throw new StoreDamagedError(`log record ${lsn}`, start, `undecodable record: ${error.message}`);
      throw error;
    }
    if (payload.kind === 'commit') this.engine.applyRecord(payload.record);
    else this.engine.setSequenceState({ name: payload.name, highWater: payload.highWater });
  }

  // ---- observation ----

  stats(): DurabilityStats {
    return {
      logBatches: this.writer.batchesWritten,
      logRecords: this.writer.recordsWritten,
      nextLsn: this.writer.nextLsn,
      logBytesSinceCheckpoint: this.writer.bytesSinceRotation,
      checkpoints: this.checkpoints,
      checkpointFailures: this.checkpointFailures,
      lastCheckpointSyncStepMs: this.lastCheckpointSyncStepMs,
      longestCheckpointSyncStepMs: this.longestCheckpointSyncStepMs,
      recoveredRecords: this.recoveredRecords,
      recoveryMs: this.recoveryMs,
      failed: this.failure !== undefined,
    };
  }
}

/** Names a Purser data directory may hold besides its own files: mount-point and desktop leftovers. */
function isPurserName(name: string): boolean {
  return name === LOCK_FILE_NAME || name === 'lost+found' || name.startsWith('.') || parseLogFileName(name) !== undefined || parseSnapshotFileName(name) !== undefined || /^snapshot-\d{20}\.snap\.tmp$/.test(name);
}

/** `start` on someone's non-empty directory must not write a log into it. */
async function refuseForeignDirectory(fs: FileSystem, dir: string): Promise<void> {
  const names = await fs.readdir(dir);
  const foreign = names.filter((name) => !isPurserName(name));
  if (foreign.length === 0) return;
  const purser = names.some((name) => parseLogFileName(name) !== undefined || parseSnapshotFileName(name) !== undefined);
  if (!purser) throw new StoreForeignDirectoryError(dir, foreign.length === 1 ? `'${foreign[0]}'` : `'${foreign[0]}' and ${foreign.length - 1} more`);
}
