/**
 * The data-directory lock: an exclusive lock on the file `LOCK`, held by an open file description for as
 * long as the store is open (fs.ts `lockExclusive`: fcntl F_OFD_SETLK on Linux).
 *
 * The kernel enforces it: a second opener — another process, another PID namespace (two containers on
 * one volume), or this very process — is refused at once with `StoreLockedError`, and the lock vanishes
 * when its holder closes it or dies (kill -9 included), so there is no stale lock to judge and no race
 * between openers: of any number opening at once, exactly one is granted. The pid written into `LOCK` is
 * information for the refusal message only; a `LOCK` naming any pid, live or dead, stops nobody.
 *
 * Not covered: file systems whose locks are not enforced across machines (NFS without a working lock
 * manager, some FUSE and container-volume drivers). There two machines could both be granted the lock.
 */
import { StoreLockedError } from '../errors.js';
import type { FileLock, FileSystem } from './fs.js';

export const LOCK_FILE_NAME = 'LOCK';

export interface DirectoryLock {
  release(): Promise<void>;
}

export async function acquireDirectoryLock(fs: FileSystem, dir: string): Promise<DirectoryLock> {
  const path = `${dir}/${LOCK_FILE_NAME}`;
  const lock: FileLock | undefined = await fs.lockExclusive(path, Buffer.from(`${process.pid}\n`));
  if (lock) return lock;
  // The holder writes its pid just after it is granted the lock; a reader racing it may find nothing yet.
  const note = Buffer.from(await fs.readFile(path).catch(() => new Uint8Array(0))).toString('utf8');
  const holder = Number.parseInt(note, 10);
  throw new StoreLockedError(dir, Number.isSafeInteger(holder) && holder > 0 ? holder : undefined);
}
