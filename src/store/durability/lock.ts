/**
 * The data-directory lock: a file `LOCK` created exclusively (O_EXCL), holding the owner's pid.
 *
 * A second open — from another process or from this one — finds the file and fails with
 * `StoreLockedError`. A lock left by a process that died (kill -9, power loss) names a pid that is no
 * longer alive; it is then taken over: removed and created again exclusively, so of two processes racing
 * for a stale lock only one wins the create. Within one process, the locks this process holds are kept in
 * memory too, because its own pid is alive by definition. A file system may report an `incarnation` (the
 * simulated disk counts its power losses): locks held in an earlier incarnation are stale.
 */
import { StoreLockedError } from '../errors.js';
import type { FileSystem } from './fs.js';

export const LOCK_FILE_NAME = 'LOCK';
const LOCK_ATTEMPTS_MAX = 3;

const heldLocks = new WeakMap<FileSystem, Map<string, number | undefined>>();

export interface DirectoryLock {
  release(): Promise<void>;
}

function incarnationOf(fs: FileSystem): number | undefined {
  return (fs as { incarnation?: number }).incarnation;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function acquireDirectoryLock(fs: FileSystem, dir: string): Promise<DirectoryLock> {
  let held = heldLocks.get(fs);
  if (!held) heldLocks.set(fs, (held = new Map<string, number | undefined>()));
  if (held.has(dir) && held.get(dir) === incarnationOf(fs)) throw new StoreLockedError(dir, process.pid);
  const path = `${dir}/${LOCK_FILE_NAME}`;
  for (let attempt = 0; attempt < LOCK_ATTEMPTS_MAX; attempt++) {
    try {
      const file = await fs.open(path, 'create');
      try {
        await file.write(Buffer.from(`${process.pid}\n`), 0);
      } finally {
        await file.close();
      }
      held.set(dir, incarnationOf(fs));
      return {
        async release() {
          held.delete(dir);
          await fs.unlink(path).catch(() => undefined);
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number.parseInt(Buffer.from(await fs.readFile(path).catch(() => new Uint8Array(0))).toString('utf8'), 10);
    const stale = !Number.isInteger(holder) || holder === process.pid || !isAlive(holder);
    if (!stale) throw new StoreLockedError(dir, holder);
    await fs.unlink(path).catch(() => undefined);
  }
  throw new StoreLockedError(dir, -1);
}
