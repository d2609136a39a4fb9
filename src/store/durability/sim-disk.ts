/**
 * A simulated disk for tests: a `FileSystem` in memory that is honest about what fsync promises.
 *
 * Each file keeps two images: what a reader sees now (the page cache) and what is durable (synced). Every
 * write or truncate since the last `sync()` is pending. Names work the same way: creations, renames and
 * unlinks are pending until `syncDirectory()` (which, as a simplification, makes the whole namespace
 * durable — the store keeps all its files in one directory, so nothing depends on the difference).
 *
 * `powerLoss()` is the crash: a random prefix of the pending namespace operations survives, and each
 * file's pending writes are cut into 512-byte sectors of which a random subset is applied in random order
 * — so writes are dropped, reordered and torn at sector granularity, the way a real disk without
 * power-loss protection may leave them. Open handles die with the power.
 *
 * Faults: `injectFault()` makes the Nth read/write (EIO), write (ENOSPC) or sync (fsync failure) fail, once
 * or from then on. `crashAfter(n)` freezes the disk after n more mutating operations, so a test can stop a
 * checkpoint or a recovery at an exact point and then call `powerLoss()`. Everything random comes from one
 * seeded generator, so a failing seed reproduces exactly.
 */
import { dirname } from 'node:path';
import { assert } from '../../errors.js';
import type { FileHandle, FileLock, FileSystem, OpenMode } from './fs.js';

export const SECTOR_SIZE_BYTES = 512;

/** A small seeded pseudo-random generator (32-bit state, xorshift-multiply mixing). Not for cryptography. */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }

  /** A uniform integer in [0, 2^32). */
  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return (z ^ (z >>> 14)) >>> 0;
  }

  /** A uniform float in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** A uniform integer in [0, bound). */
  int(bound: number): number {
    return Math.floor(this.next() * bound);
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }
}

/** The error a simulated operation fails with; `code` is the errno name, as on node:fs errors. */
export class SimDiskError extends Error {
  constructor(readonly code: 'EIO' | 'ENOSPC' | 'ENOENT' | 'EEXIST' | 'EBADF' | 'ECRASHED', message: string) {
    super(`${code}: ${message}`);
    this.name = 'SimDiskError';
  }
}

export type FaultKind = 'EIO' | 'ENOSPC' | 'FSYNC';

interface Fault {
  kind: FaultKind;
  /** Calls of the affected kind still to pass before the fault fires (0: the next call fails). */
  callsBefore: number;
  permanent: boolean;
}

type PendingOp = { kind: 'write'; position: number; data: Uint8Array } | { kind: 'truncate'; sizeBytes: number };

class Inode {
  current: Uint8Array = new Uint8Array(0);
  durable: Uint8Array = new Uint8Array(0);
  pending: PendingOp[] = [];
}

type NameOp = (names: Map<string, Inode>) => void;

export interface SimDiskStats {
  writes: number;
  syncs: number;
  bytesWritten: number;
}

export class SimDisk implements FileSystem {
  readonly prng: Prng;
  private names = new Map<string, Inode>();
  private durableNames = new Map<string, Inode>();
  private pendingNameOps: NameOp[] = [];
  private directories = new Set<string>(['/']);
  private generation = 0;
  private faults: Fault[] = [];
  private mutationsBeforeCrash: number | undefined;
  private crashed = false;
  /** Paths locked by `lockExclusive`, with the incarnation that took the lock. */
  private locks = new Map<string, number>();
  readonly stats: SimDiskStats = { writes: 0, syncs: 0, bytesWritten: 0 };

  constructor(seed: number) {
    this.prng = new Prng(seed);
  }

  /** Makes the Nth (1-based) future call of the kind fail: EIO on reads and writes, ENOSPC on writes, FSYNC on syncs. */
  injectFault(kind: FaultKind, atCall: number, permanent: boolean): void {
    assert(Number.isInteger(atCall) && atCall >= 1, 'atCall is 1-based');
    this.faults.push({ kind, callsBefore: atCall - 1, permanent });
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** After `mutations` more mutating operations the disk freezes: that one and every later call fail with ECRASHED. */
  crashAfter(mutations: number): void {
    this.mutationsBeforeCrash = mutations;
  }

  /**
   * The machine stops now: every later call fails with ECRASHED until `powerLoss()`. Tests crash first,
   * let the dying store's pending work fail, then cut the power — so nothing of the old process touches
   * the disk after the reboot.
   */
  crash(): void {
    this.crashed = true;
  }

  /** Counts power losses; a lock taken in an earlier incarnation is gone (its process died). */
  get incarnation(): number {
    return this.generation;
  }

  get isCrashed(): boolean {
    return this.crashed;
  }

  /** The crash: keeps a random part of what was not synced, tears writes at sector granularity, kills open handles. */
  powerLoss(): void {
    const survivingNameOps = this.prng.int(this.pendingNameOps.length + 1);
    for (const op of this.pendingNameOps.slice(0, survivingNameOps)) op(this.durableNames);
    this.pendingNameOps = [];
    const inodes = new Set([...this.names.values(), ...this.durableNames.values()]);
    for (const inode of inodes) this.settleAfterPowerLoss(inode);
    this.names = new Map(this.durableNames);
    this.generation++;
    this.crashed = false;
    this.mutationsBeforeCrash = undefined;
    this.faults = [];
  }

  /** Bytes a reader sees now (tests use it to damage files on purpose). */
  peek(path: string): Uint8Array {
    const inode = this.names.get(path);
    if (!inode) throw new SimDiskError('ENOENT', path);
    return inode.current;
  }

  /** Overwrites bytes of a file durably, bypassing faults: for tests that corrupt files on purpose. */
  corrupt(path: string, position: number, bytes: Uint8Array): void {
    const inode = this.names.get(path);
    if (!inode) throw new SimDiskError('ENOENT', path);
    inode.current = writeInto(inode.current, position, bytes);
    inode.durable = writeInto(inode.durable, position, bytes);
  }

  private settleAfterPowerLoss(inode: Inode): void {
    // Three regimes, so that the common cases (nothing reached the disk; everything did) are hit often,
    // and the torn, reordered middle ground is hit the rest of the time.
    const regime = this.prng.int(4);
    let image = inode.durable;
    if (regime === 1) {
      for (const op of inode.pending) image = applyOp(image, op);
    } else if (regime >= 2) {
      const pieces: PendingOp[] = [];
      for (const op of inode.pending) {
        if (op.kind === 'truncate') pieces.push(op);
        else pieces.push(...splitIntoSectors(op.position, op.data));
      }
      for (const piece of this.prng.shuffle(pieces)) if (this.prng.chance(0.5)) image = applyOp(image, piece);
    }
    inode.durable = image;
    inode.current = image;
    inode.pending = [];
  }

  private checkAlive(generation?: number): void {
    if (this.crashed) throw new SimDiskError('ECRASHED', 'the simulated machine has crashed; call powerLoss()');
    if (generation !== undefined && generation !== this.generation) throw new SimDiskError('EBADF', 'handle opened before a power loss');
  }

  private mutation(): void {
    this.checkAlive();
    if (this.mutationsBeforeCrash === undefined) return;
    if (this.mutationsBeforeCrash === 0) {
      this.crashed = true;
      this.checkAlive();
    }
    this.mutationsBeforeCrash--;
  }

  private fault(kinds: readonly FaultKind[], what: string): void {
    for (const fault of this.faults) {
      if (!kinds.includes(fault.kind)) continue;
      if (fault.callsBefore > 0) {
        fault.callsBefore--;
        continue;
      }
      if (!fault.permanent) this.faults = this.faults.filter((f) => f !== fault);
      if (fault.kind === 'ENOSPC') throw new SimDiskError('ENOSPC', `no space left on device (${what})`);
      throw new SimDiskError('EIO', `i/o error (${what})`);
    }
  }

  // ---- FileSystem ----

  open(path: string, mode: OpenMode): Promise<FileHandle> {
    return settle(() => {
      this.checkAlive();
      let inode = this.names.get(path);
      if (mode === 'create') {
        if (inode) throw new SimDiskError('EEXIST', path);
        if (!this.directories.has(dirname(path))) throw new SimDiskError('ENOENT', dirname(path));
        this.mutation();
        inode = new Inode();
        const created = inode;
        this.names.set(path, created);
        this.pendingNameOps.push((names) => names.set(path, created));
      }
      if (!inode) throw new SimDiskError('ENOENT', path);
      return new SimFileHandle(this, inode, this.generation, mode !== 'read', path);
    });
  }

  readFile(path: string): Promise<Uint8Array> {
    return settle(() => {
      this.checkAlive();
      const inode = this.names.get(path);
      if (!inode) throw new SimDiskError('ENOENT', path);
      this.fault(['EIO'], `read ${path}`);
      return inode.current.slice();
    });
  }

  rename(from: string, to: string): Promise<void> {
    return settle(() => {
      this.checkAlive();
      const inode = this.names.get(from);
      if (!inode) throw new SimDiskError('ENOENT', from);
      this.mutation();
      const apply: NameOp = (names) => {
        const moving = names.get(from);
        if (moving) {
          names.delete(from);
          names.set(to, moving);
        }
      };
      apply(this.names);
      this.pendingNameOps.push(apply);
    });
  }

  unlink(path: string): Promise<void> {
    return settle(() => {
      this.checkAlive();
      if (!this.names.has(path)) throw new SimDiskError('ENOENT', path);
      this.mutation();
      const apply: NameOp = (names) => names.delete(path);
      apply(this.names);
      this.pendingNameOps.push(apply);
    });
  }

  readdir(dir: string): Promise<string[]> {
    return settle(() => {
      this.checkAlive();
      if (!this.directories.has(dir)) throw new SimDiskError('ENOENT', dir);
      return [...this.names.keys()].filter((path) => dirname(path) === dir).map((path) => path.slice(dir.length + (dir.endsWith('/') ? 0 : 1)));
    });
  }

  async syncDirectory(dir: string): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.checkAlive();
    if (!this.directories.has(dir)) throw new SimDiskError('ENOENT', dir);
    this.mutation();
    this.stats.syncs++;
    this.fault(['FSYNC'], `fsync directory ${dir}`);
    for (const op of this.pendingNameOps) op(this.durableNames);
    this.pendingNameOps = [];
  }

  exists(path: string): Promise<boolean> {
    return settle(() => {
      this.checkAlive();
      return this.names.has(path) || this.directories.has(path);
    });
  }

  mkdir(dir: string): Promise<void> {
    return settle(() => {
      this.checkAlive();
      // Directories are durable at once: tests start from a created data directory.
      for (let d = dir; d !== dirname(d); d = dirname(d)) this.directories.add(d);
    });
  }

  /**
   * The simulated lock lives outside the files (so it does not count as a mutation for `crashAfter`), and
   * a power loss drops it, as the kernel drops a dead process's lock.
   */
  lockExclusive(path: string, _note: Uint8Array): Promise<FileLock | undefined> {
    return settle(() => {
      this.checkAlive();
      if (this.locks.get(path) === this.generation) return undefined;
      const generation = this.generation;
      this.locks.set(path, generation);
      return {
        release: () =>
          settle(() => {
            if (this.locks.get(path) === generation) this.locks.delete(path);
          }),
      };
    });
  }

  // ---- used by SimFileHandle ----

  readAt(inode: Inode, generation: number, buffer: Uint8Array, offset: number, length: number, position: number, path: string): number {
    this.checkAlive(generation);
    this.fault(['EIO'], `read ${path}`);
    const available = Math.max(0, Math.min(length, inode.current.length - position));
    buffer.set(inode.current.subarray(position, position + available), offset);
    return available;
  }

  writeAt(inode: Inode, generation: number, data: Uint8Array, position: number, path: string): void {
    this.checkAlive(generation);
    this.mutation();
    this.fault(['EIO', 'ENOSPC'], `write ${path}`);
    const op: PendingOp = { kind: 'write', position, data: data.slice() };
    inode.current = applyOp(inode.current, op);
    inode.pending.push(op);
    this.stats.writes++;
    this.stats.bytesWritten += data.length;
  }

  truncateAt(inode: Inode, generation: number, sizeBytes: number): void {
    this.checkAlive(generation);
    this.mutation();
    const op: PendingOp = { kind: 'truncate', sizeBytes };
    inode.current = applyOp(inode.current, op);
    inode.pending.push(op);
  }

  syncInode(inode: Inode, generation: number, path: string): void {
    this.checkAlive(generation);
    this.mutation();
    this.stats.syncs++;
    // A failed fsync leaves the pending writes pending: whether they reach the disk is then up to chance,
    // which is exactly why a caller must never retry an fsync and treat the data as safe.
    this.fault(['FSYNC'], `fsync ${path}`);
    inode.durable = inode.current;
    inode.pending = [];
  }

  isGeneration(generation: number): boolean {
    return generation === this.generation;
  }
}

class SimFileHandle implements FileHandle {
  private closed = false;

  constructor(
    private readonly disk: SimDisk,
    private readonly inode: Inode,
    private readonly generation: number,
    private readonly writable: boolean,
    private readonly path: string,
  ) {}

  private check(write: boolean): void {
    if (this.closed) throw new SimDiskError('EBADF', `${this.path} is closed`);
    if (write && !this.writable) throw new SimDiskError('EBADF', `${this.path} is open read-only`);
  }

  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return settle(() => {
      this.check(false);
      return this.disk.readAt(this.inode, this.generation, buffer, offset, length, position, this.path);
    });
  }

  readSync(buffer: Uint8Array, offset: number, length: number, position: number): number {
    this.check(false);
    return this.disk.readAt(this.inode, this.generation, buffer, offset, length, position, this.path);
  }

  write(data: Uint8Array, position: number): Promise<void> {
    return settle(() => {
      this.check(true);
      this.disk.writeAt(this.inode, this.generation, data, position, this.path);
    });
  }

  async sync(): Promise<void> {
    // An fsync takes time on a real disk; yielding a macrotask lets other commits queue up behind it,
    // which is what group commit must handle.
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.check(false);
    this.disk.syncInode(this.inode, this.generation, this.path);
  }

  /** The same as `sync()` here: the simulated disk has no metadata that could lag behind the data. */
  datasync(): Promise<void> {
    return this.sync();
  }

  truncate(sizeBytes: number): Promise<void> {
    return settle(() => {
      this.check(true);
      this.disk.truncateAt(this.inode, this.generation, sizeBytes);
    });
  }

  size(): Promise<number> {
    return settle(() => {
      this.check(false);
      if (!this.disk.isGeneration(this.generation)) throw new SimDiskError('EBADF', 'handle opened before a power loss');
      return this.inode.current.length;
    });
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

/** Runs `action` and turns its result or exception into a promise, like an asynchronous system call. */
function settle<T>(action: () => T): Promise<T> {
  try {
    return Promise.resolve(action());
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

function applyOp(image: Uint8Array, op: PendingOp): Uint8Array {
  if (op.kind === 'truncate') {
    if (op.sizeBytes <= image.length) return image.slice(0, op.sizeBytes);
    const grown = new Uint8Array(op.sizeBytes);
    grown.set(image);
    return grown;
  }
  return writeInto(image, op.position, op.data);
}

/** Copy-on-write update: images are shared between `current` and `durable`, so never modify one in place. */
function writeInto(image: Uint8Array, position: number, data: Uint8Array): Uint8Array {
  const result = new Uint8Array(Math.max(image.length, position + data.length));
  result.set(image);
  result.set(data, position);
  return result;
}

function splitIntoSectors(position: number, data: Uint8Array): PendingOp[] {
  const pieces: PendingOp[] = [];
  let start = 0;
  while (start < data.length) {
    const absolute = position + start;
    const sectorEnd = (Math.floor(absolute / SECTOR_SIZE_BYTES) + 1) * SECTOR_SIZE_BYTES;
    const end = Math.min(data.length, start + (sectorEnd - absolute));
    pieces.push({ kind: 'write', position: absolute, data: data.subarray(start, end) });
    start = end;
  }
  return pieces;
}
