/**
 * Errors of the durability layer (write-ahead log, snapshots, recovery, directory lock, dump/load).
 * Codes are stable; messages name the file and byte offset where that helps an operator.
 */
import { PurserError } from '../../errors.js';

/** The log or a snapshot is damaged where a torn write cannot explain it. The store refuses to open. */
export class StoreDamagedError extends PurserError {
  constructor(
    readonly file: string,
    readonly offsetBytes: number,
    why: string,
  ) {
    super('STORE_DAMAGED', `${file} is damaged at byte ${offsetBytes}: ${why}; restore the data directory from a backup or a dump`);
  }
}

/** Another store (in this or another process) has the data directory open. */
export class StoreLockedError extends PurserError {
  constructor(dir: string, holderPid: number) {
    super('STORE_LOCKED', `data directory ${dir} is in use by process ${holderPid}; stop it first or use another --dir`);
  }
}

/**
 * A write or fsync failed. The store is stopped: no later commit is acknowledged and nothing is retried,
 * because after a failed fsync the kernel may have dropped the dirty pages, so the data is not known to be
 * on disk and a retry that succeeds would lie.
 */
export class StoreFailedError extends PurserError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STORE_FAILED', message, options);
  }
}

/** A dump file is truncated, altered, of another version, or not a dump at all. Nothing was written. */
export class DumpInvalidError extends PurserError {
  constructor(file: string, why: string) {
    super('DUMP_INVALID', `${file} is not a valid Purser dump: ${why}; nothing was loaded`);
  }
}

/** `load` into a data directory that already holds a store. */
export class StoreNotEmptyError extends PurserError {
  constructor(dir: string) {
    super('STORE_NOT_EMPTY', `data directory ${dir} already holds a store; load into an empty directory`);
  }
}
