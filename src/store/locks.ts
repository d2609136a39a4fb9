/**
 * Page locks for strict two-phase locking, with deadlock detection on every wait.
 *
 * Modes are bit sets: SHARED (get, range, counter reads), ESCROW (increments) and EXCLUSIVE = SHARED|ESCROW
 * (put, delete). Two holders are compatible only if both hold SHARED, or both hold ESCROW: escrow increments
 * commute, so they do not wait for each other, but a reader must wait for them (it would see a value that
 * pending increments may still change) and they for it. A transaction asking for a mode it partly holds asks
 * for the union (an upgrade); SHARED plus ESCROW is EXCLUSIVE.
 *
 * Each page's state (`LockEntry`) hangs off the leaf itself, so the common case — the transaction already
 * holds the page — is one Map lookup. Waiters queue FIFO per page (upgrades go first, since they already
 * hold the page and would otherwise block everyone behind them forever), and the queue drains from the front
 * as far as modes allow.
 *
 * Deadlock detection: before a request waits, a depth-first search of the waits-for graph runs from the
 * requester. A transaction waits for every holder of an incompatible mode and every incompatible waiter
 * ahead of it in the queue. Every edge added by this wait starts at the requester (or, for an upgrade that
 * jumps the queue, ends at it), so any new cycle passes through the requester and the search finds it.
 * Victim policy: the requester that closes the cycle. It is the one transaction we know is in the cycle
 * without further search, it has not started waiting yet (nothing to unwind in the queue), and it is the
 * youngest wait in the cycle, so older waits keep their place. The victim's request fails with a
 * `DeadlockError`; `store.transaction` undoes it and retries after a jittered back-off.
 */
import { assert } from '../errors.js';
import { DeadlockError, LockTimeoutError } from './errors.js';
import type { Leaf } from './leaf.js';

export const SHARED = 1;
export const ESCROW = 2;
export const EXCLUSIVE = 3;
export type LockMode = typeof SHARED | typeof ESCROW | typeof EXCLUSIVE;

/** The transaction side of locking: what it holds and what it waits for. */
export interface LockOwner {
  readonly id: number;
  /** Every leaf this owner holds a lock on (released together at the end). */
  readonly held: Leaf[];
  /** Requests this owner is waiting on (usually none or one; more if it runs operations in parallel). */
  readonly waits: Waiter[];
}

export interface Waiter {
  owner: LockOwner;
  leaf: Leaf;
  mode: LockMode;
  resolve: () => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

export interface LockEntry {
  holders: Map<LockOwner, LockMode>;
  queue: Waiter[];
}

export interface LockCounters {
  lockWaits: number;
  lockTimeouts: number;
  deadlocks: number;
}

/** Unused page entries kept for reuse: a transaction touching a thousand pages would otherwise allocate a thousand Maps. */
const ENTRY_POOL_MAX = 4096;

function compatible(held: number, requested: number): boolean {
  return held === requested && held !== EXCLUSIVE;
}

export class LockManager {
  readonly counters: LockCounters = { lockWaits: 0, lockTimeouts: 0, deadlocks: 0 };
  private readonly entryPool: LockEntry[] = [];

  modeOf(owner: LockOwner, leaf: Leaf): number {
    return leaf.lock?.holders.get(owner) ?? 0;
  }

  /**
   * Grants `mode` (joined with what `owner` holds) on `leaf`: returns true if granted at once, or a promise
   * that resolves when granted and rejects with `DeadlockError` (this request closed a cycle) or
   * `LockTimeoutError` (not granted within `timeoutMs`).
   */
  acquire(owner: LockOwner, leaf: Leaf, mode: LockMode, timeoutMs: number): true | Promise<void> {
    let entry = leaf.lock;
    if (entry === null) {
      entry = this.entryPool.pop() ?? { holders: new Map(), queue: [] };
      leaf.lock = entry;
    }
    const current = entry.holders.get(owner) ?? 0;
    const wanted = (current | mode) as LockMode;
    if (wanted === current) return true;
    if ((current !== 0 || entry.queue.length === 0) && grantable(entry, owner, wanted)) {
      grant(entry, owner, wanted, current, leaf);
      return true;
    }
    return this.wait(owner, leaf, entry, wanted, current !== 0, timeoutMs);
  }

  /** Releases every lock `owner` holds and wakes whoever can now proceed. */
  releaseAll(owner: LockOwner): void {
    for (const leaf of owner.held) {
      const entry = leaf.lock;
      assert(entry !== null && entry.holders.delete(owner), 'a held lock is in its page entry');
      this.drain(leaf, entry);
    }
    owner.held.length = 0;
  }

  /** Withdraws every pending request of `owner`, rejecting each with `error`. */
  cancelWaits(owner: LockOwner, error: Error): void {
    for (const waiter of owner.waits.slice()) this.withdraw(waiter, error);
  }

  /** A split moved part of `old`'s key interval to `fresh`: `fresh` gets every lock `old` has, so no holder loses coverage. */
  inherit(old: Leaf, fresh: Leaf): void {
    const entry = old.lock;
    if (entry === null || entry.holders.size === 0) return;
    assert(fresh.lock === null, 'a fresh page has no locks');
    fresh.lock = { holders: new Map(entry.holders), queue: [] };
    for (const owner of entry.holders.keys()) owner.held.push(fresh);
  }

  private wait(owner: LockOwner, leaf: Leaf, entry: LockEntry, mode: LockMode, upgrade: boolean, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { owner, leaf, mode, resolve, reject, timer: undefined };
      if (upgrade) {
        let at = 0;
        while (at < entry.queue.length && entry.holders.has(entry.queue[at].owner)) at++;
        entry.queue.splice(at, 0, waiter);
      } else {
        entry.queue.push(waiter);
      }
      owner.waits.push(waiter);
      if (closesCycle(owner)) {
        this.counters.deadlocks++;
        this.withdraw(waiter, new DeadlockError(`transaction ${String(owner.id)} closed a cycle of lock waits on page ${String(leaf.id)} and was chosen as the victim`));
        return;
      }
      this.counters.lockWaits++;
      waiter.timer = setTimeout(() => {
        this.counters.lockTimeouts++;
        this.withdraw(waiter, new LockTimeoutError(`transaction ${String(owner.id)} waited more than ${String(timeoutMs)} ms for a lock on page ${String(leaf.id)}`));
      }, timeoutMs);
    });
  }

  private withdraw(waiter: Waiter, error: Error): void {
    const entry = waiter.leaf.lock;
    assert(entry !== null, 'a waiter has a page entry');
    removeItem(entry.queue, waiter);
    removeItem(waiter.owner.waits, waiter);
    if (waiter.timer !== undefined) clearTimeout(waiter.timer);
    waiter.reject(error);
    this.drain(waiter.leaf, entry);
  }

  /** Grants queued requests from the front while they are compatible; drops the entry when unused. */
  private drain(leaf: Leaf, entry: LockEntry): void {
    while (entry.queue.length > 0) {
      const waiter = entry.queue[0];
      if (!grantable(entry, waiter.owner, waiter.mode)) break;
      entry.queue.shift();
      removeItem(waiter.owner.waits, waiter);
      if (waiter.timer !== undefined) clearTimeout(waiter.timer);
      grant(entry, waiter.owner, waiter.mode, entry.holders.get(waiter.owner) ?? 0, leaf);
      waiter.resolve();
    }
    if (entry.holders.size === 0 && entry.queue.length === 0) {
      leaf.lock = null;
      if (this.entryPool.length < ENTRY_POOL_MAX) this.entryPool.push(entry);
    }
  }
}

function grantable(entry: LockEntry, owner: LockOwner, mode: number): boolean {
  for (const [holder, held] of entry.holders) {
    if (holder !== owner && !compatible(held, mode)) return false;
  }
  return true;
}

function grant(entry: LockEntry, owner: LockOwner, mode: LockMode, current: number, leaf: Leaf): void {
  entry.holders.set(owner, mode);
  if (current === 0) owner.held.push(leaf);
}

/** The owners `waiter` waits for: incompatible holders, and incompatible waiters ahead of it. */
function blockersOf(waiter: Waiter): LockOwner[] {
  const entry = waiter.leaf.lock;
  assert(entry !== null, 'a waiter has a page entry');
  const blockers: LockOwner[] = [];
  for (const [holder, held] of entry.holders) {
    if (holder !== waiter.owner && !compatible(held, waiter.mode)) blockers.push(holder);
  }
  for (const ahead of entry.queue) {
    if (ahead === waiter) break;
    if (ahead.owner !== waiter.owner && !compatible(ahead.mode, waiter.mode)) blockers.push(ahead.owner);
  }
  return blockers;
}

/** Depth-first search of the waits-for graph from `start`: true if a path leads back to it. */
function closesCycle(start: LockOwner): boolean {
  const visited = new Set<LockOwner>([start]);
  const stack: LockOwner[] = [start];
  while (stack.length > 0) {
    const owner = stack.pop() as LockOwner;
    for (const waiter of owner.waits) {
      for (const blocker of blockersOf(waiter)) {
        if (blocker === start) return true;
        if (!visited.has(blocker)) {
          visited.add(blocker);
          stack.push(blocker);
        }
      }
    }
  }
  return false;
}

function removeItem<T>(items: T[], item: T): void {
  const index = items.indexOf(item);
  if (index >= 0) items.splice(index, 1);
}
