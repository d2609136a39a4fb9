/**
 * The file-system interface under the store's durability layer.
 *
 * The write-ahead log, snapshots, the directory lock and dump/load touch the disk only through this
 * interface, so tests can run them on `SimDisk` (sim-disk.ts), which loses unsynced writes, tears them at
 * sector granularity and injects I/O errors, and production runs them on `realFileSystem` (node:fs).
 *
 * The interface is deliberately small and positional: every write names its offset, so the caller (not a
 * hidden file cursor) decides where bytes land, and `sync()` is the only promise of durability. Renames and
 * unlinks are durable only after `syncDirectory()` of the directory that holds them — as on Linux.
 */
import { constants, promises as fsp, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';

/**
 * fs-native-extensions (holepunch: prebuilt binaries inside the package) gives the one call Node lacks,
 * a non-blocking exclusive lock on a file descriptor. Loaded on first use, so that a memory-only store
 * never needs it, and through `require`, so that a bundler leaves it (and its binary) to be resolved at
 * run time.
 */
let nativeLock: ((fd: number) => boolean) | undefined;
function tryLockFd(fd: number): boolean {
  if (!nativeLock) {
    try {
      nativeLock = (createRequire(import.meta.url)('fs-native-extensions') as typeof import('fs-native-extensions')).tryLock;
    } catch (error) {
      throw new Error(`cannot load fs-native-extensions, which Purser needs to lock its data directory (run npm install): ${(error as Error).message}`, { cause: error });
    }
  }
  return nativeLock(fd);
}

/** Data files are readable by their owner only: they hold balances. */
export const FILE_MODE = 0o600;
/** Data directories likewise. */
export const DIRECTORY_MODE = 0o700;

/** An open file. Positions and sizes are in bytes. */
export interface FileHandle {
  /** Reads up to `length` bytes at `position` into `buffer` from `offset`; returns how many were read. */
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /**
   * The same, blocking. Only recovery and `load` use it, while no transaction runs: the engine's bulk load
   * takes a synchronous iterator, and reading a snapshot through one keeps its memory to one read window.
   */
  readSync(buffer: Uint8Array, offset: number, length: number, position: number): number;
  /** Writes all of `data` at `position`. Not durable until `sync()` resolves. */
  write(data: Uint8Array, position: number): Promise<void>;
  /** Makes every write so far durable (fsync). A rejection means the writes may be lost: never retry. */
  sync(): Promise<void>;
  /**
   * fdatasync: makes the data durable, and the metadata needed to read it back (the size), but not the
   * times. Cheaper than `sync()` when the file does not grow, which is why the log preallocates.
   */
  datasync(): Promise<void>;
  truncate(sizeBytes: number): Promise<void>;
  size(): Promise<number>;
  close(): Promise<void>;
}

/** How to open a file: read only, read-write (must exist), or create a new file (fails if it exists). */
export type OpenMode = 'read' | 'write' | 'create';

export interface FileSystem {
  open(path: string, mode: OpenMode): Promise<FileHandle>;
  /** Whole file contents; for small files (lock files, headers). */
  readFile(path: string): Promise<Uint8Array>;
  /** Atomically replaces `to` with `from`. Durable after `syncDirectory()`. */
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Names (not paths) of the entries of a directory. */
  readdir(dir: string): Promise<string[]>;
  /** Makes creations, renames and unlinks in `dir` durable (fsync of the directory). */
  syncDirectory(dir: string): Promise<void>;
  exists(path: string): Promise<boolean>;
  mkdir(dir: string): Promise<void>;
  /**
   * Takes an exclusive lock on `path` (created if missing) and writes `note` into it, or returns undefined
   * at once if another holder has the lock. The lock belongs to an open file description: a second
   * opener — in this process or any other — is refused, and the kernel drops the lock when the holder
   * closes it or dies, so a lock is never judged stale by a pid.
   */
  lockExclusive(path: string, note: Uint8Array): Promise<FileLock | undefined>;
}

/** A held lock; `release()` drops it (the file stays: unlinking it would let a later opener lock a ghost). */
export interface FileLock {
  release(): Promise<void>;
}

/** Reads exactly `length` bytes at `position`, or fewer only at end of file. */
export async function readFully(file: FileHandle, position: number, length: number): Promise<Uint8Array> {
  const buffer = new Uint8Array(length);
  let filled = 0;
  while (filled < length) {
    const count = await file.read(buffer, filled, length - filled, position + filled);
    if (count === 0) break;
    filled += count;
  }
  return filled === length ? buffer : buffer.subarray(0, filled);
}

/** Writes `data` to a new file at `path` durably: create, write, fsync, close. The caller syncs the directory. */
export async function writeNewFile(fs: FileSystem, path: string, data: Uint8Array): Promise<void> {
  const file = await fs.open(path, 'create');
  try {
    await file.write(data, 0);
    await file.sync();
  } finally {
    await file.close();
  }
}

/** Writes up to this size go to the page cache synchronously (see `RealFileHandle.write`). */
const SYNCHRONOUS_WRITE_MAX_BYTES = 64 * 1024; // 64 KiB

class RealFileHandle implements FileHandle {
  constructor(private readonly handle: fsp.FileHandle) {}

  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const { bytesRead } = await this.handle.read(buffer, offset, length, position);
    return bytesRead;
  }

  readSync(buffer: Uint8Array, offset: number, length: number, position: number): number {
    return readSync(this.handle.fd, buffer, offset, length, position);
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    // A small write only copies into the page cache: doing it on this thread saves a round trip through
    // libuv's thread pool per commit (the fsync that follows stays asynchronous, so group commit still
    // gathers commits while it runs). Large writes (snapshot chunks) stay asynchronous.
    if (data.length <= SYNCHRONOUS_WRITE_MAX_BYTES) {
      for (let written = 0; written < data.length; ) written += writeSync(this.handle.fd, data, written, data.length - written, position + written);
      return;
    }
    let written = 0;
    // A short write is legal for write(2); loop until all bytes are out or an error is thrown.
    while (written < data.length) {
      const { bytesWritten } = await this.handle.write(data, written, data.length - written, position + written);
      written += bytesWritten;
    }
  }

  sync(): Promise<void> {
    return this.handle.sync();
  }

  datasync(): Promise<void> {
    return this.handle.datasync();
  }

  truncate(sizeBytes: number): Promise<void> {
    return this.handle.truncate(sizeBytes);
  }

  async size(): Promise<number> {
    return (await this.handle.stat()).size;
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

const OPEN_FLAGS: Record<OpenMode, number> = {
  read: constants.O_RDONLY,
  write: constants.O_RDWR,
  create: constants.O_RDWR | constants.O_CREAT | constants.O_EXCL,
};

/** The real file system, on node:fs/promises. */
export const realFileSystem: FileSystem = {
  async open(path, mode) {
    return new RealFileHandle(await fsp.open(path, OPEN_FLAGS[mode], FILE_MODE));
  },
  async readFile(path) {
    return new Uint8Array(await fsp.readFile(path));
  },
  rename: (from, to) => fsp.rename(from, to),
  unlink: (path) => fsp.unlink(path),
  readdir: (dir) => fsp.readdir(dir),
  async syncDirectory(dir) {
    const handle = await fsp.open(dir, constants.O_RDONLY);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
  async exists(path) {
    try {
      await fsp.stat(path);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
  },
  async mkdir(dir) {
    await fsp.mkdir(dir, { recursive: true, mode: DIRECTORY_MODE });
  },
  async lockExclusive(path, note) {
    const handle = await fsp.open(path, constants.O_RDWR | constants.O_CREAT, FILE_MODE);
    let granted = false;
    try {
      // An open-file-description lock (fcntl F_OFD_SETLK on Linux, flock on macOS): unlike a classic POSIX
      // lock it is not shared by other descriptors of this process, and closing another descriptor of the
      // same file does not drop it.
      granted = tryLockFd(handle.fd);
      if (!granted) return undefined;
      await handle.truncate(0);
      await handle.write(note, 0, note.length, 0);
      return {
        async release() {
          // Emptied while still held, so that a later reader never takes this note for a live holder's.
          await handle.truncate(0).catch(() => undefined);
          await handle.close();
        },
      };
    } finally {
      if (!granted) await handle.close();
    }
  },
};

export { join as joinPath };
