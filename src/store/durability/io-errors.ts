/**
 * Turns the file-system errors an operator causes and fixes — permissions, a read-only mount, a full
 * disk, a path through a file — into `StoreIoError`: one line saying what failed, where, and what to do.
 * Anything else (EIO, a bug) passes through unchanged, so it is never dressed up as a setup problem.
 */
import { StoreIoError, type StoreIoErrorCode } from '../errors.js';

const KNOWN: Record<string, { code: StoreIoErrorCode; what: string; advice: string }> = {
  EACCES: { code: 'STORE_ACCESS_DENIED', what: 'permission denied', advice: 'run Purser as the user that owns it, or give that user read and write access (chown -R, chmod u+rwX)' },
  EPERM: { code: 'STORE_ACCESS_DENIED', what: 'operation not permitted', advice: 'run Purser as the user that owns it, or give that user read and write access (chown -R, chmod u+rwX)' },
  EROFS: { code: 'STORE_READ_ONLY', what: 'the file system is read-only', advice: 'use a directory on a writable file system, or remount it read-write' },
  ENOSPC: { code: 'STORE_DISK_FULL', what: 'no space left on the device', advice: 'free space on that file system or move the data to a larger one' },
  EDQUOT: { code: 'STORE_DISK_FULL', what: 'disk quota exceeded', advice: 'raise the quota or free space on that file system' },
  ENOTDIR: { code: 'STORE_NOT_A_DIRECTORY', what: 'a part of the path is a file, not a directory', advice: 'give a directory path' },
};

/** `action` completes "cannot …", e.g. "open the data directory /var/purser". */
export function asStoreIoError(error: unknown, action: string): unknown {
  if (error instanceof StoreIoError) return error;
  const errno = error as NodeJS.ErrnoException | undefined;
  const known = typeof errno?.code === 'string' ? KNOWN[errno.code] : undefined;
  if (!known) return error;
  const path = typeof errno?.path === 'string' ? ` on ${errno.path}` : '';
  return new StoreIoError(known.code, `cannot ${action}: ${known.what} (${errno!.code}${path}); ${known.advice}`, { cause: error });
}
