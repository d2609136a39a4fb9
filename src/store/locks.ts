/**
 * Page locks for strict two-phase locking, with deadlock detection on every wait and an age-preserving
 * victim choice.
 *
 * Modes are bit sets: SHARED (get, range, counter reads), ESCROW (increments) and EXCLUSIVE = SHARED|ESCROW
 * (put, delete, reads for update). Two holders are compatible only if both hold SHARED, or both hold ESCROW:
 * escrow increments commute, so they do not wait for each other, but a reader must wait for them (it would
 * see a value that pending increments may still change) and they for it. A transaction asking for a mode it
 * partly holds asks for the union (an upgrade); SHARED plus ESCROW is EXCLUSIVE.
 *
 * Each page's state (`LockEntry`) hangs off the leaf itself, so the common case — the transaction already
 * holds the page — is one Map lookup. Waiters queue FIFO per page in a doubly linked list (a thousand
 * waiters on one hot page must not cost a thousand-element array splice per grant). A new request waits if
 * anyone is queued, even if it is compatible with the holders, so a queued writer is not starved by a stream
 * of readers. Upgrades go first, ahead of every waiter that holds nothing on the page: they already hold it,
 * so anyone queued ahead of them would wait for them anyway, and a new SHARED request queued behind an
 * upgrade cannot join the holders the upgrade waits for.
 *
 * Deadlock detection: before a request waits, a depth-first search of the waits-for graph runs from the
 * requester. A transaction waits for every holder of an incompatible mode and every incompatible waiter
 * ahead of it in the queue. Every edge this wait adds starts at the requester (or, for an upgrade that jumps
 * the queue, ends at it), so any new cycle passes through the requester and the search finds it. To keep the
 * search linear in a long queue, a waiter's edges stop at the nearest EXCLUSIVE waiter ahead of it: that
 * waiter waits for everything ahead of it and every other holder, so reachability is unchanged.
 *
 * Victim choice: the youngest transaction in the cycle, by age — the start of the transaction function's
 * first try, kept across retries (Berkeley DB's `db_deadlock -a y`, with age preserved). A retried
 * transaction therefore grows older, and the oldest transaction in the store is never a victim: it waits
 * only for transactions that finish or are themselves victims, so it commits. Then the next oldest does.
 * The victim is wounded at once (`LockOwner.wound`): its waits are rejected with `DeadlockError` and it gives
 * up every lock and pending increment, which is safe because a transaction's writes reach pages only at
 * commit — a doomed transaction has nothing on any page to undo. The search repeats until the requester
 * is in no cycle (or is itself the victim).
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
  /** Order of the first try's start (smaller is older), kept across retries: decides deadlock victims. */
  readonly age: number;
  /** Every leaf this owner holds a lock on (released together at the end). */
  readonly held: Leaf[];
  /** Requests this owner is waiting on (usually none or one; more if it runs operations in parallel). */
  readonly waits: Waiter[];
  /**
   * The owner was chosen as a deadlock victim: it must reject its waits with `error` (`cancelWaits`), and
   * give up every lock (`releaseAll`) and anything else it holds, synchronously.
   */
  wound(error: Error): void;
  /** How long this owner's next wait may last, in milliseconds, before `LockTimeoutError`. */
  waitLimitMs(): number;
}

export interface Waiter {
  owner: LockOwner;
  leaf: Leaf;
  mode: LockMode;
  resolve: () => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
  /** Neighbours in the page's queue (null at the ends, and once out of it). */
  previous: Waiter | null;
  next: Waiter | null;
}

export interface LockEntry {
  holders: Map<LockOwner, LockMode>;
  head: Waiter | null;
  tail: Waiter | null;
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
   * that resolves when granted and rejects with `DeadlockError` (this owner was chosen as a victim) or
   * `LockTimeoutError` (not granted within `owner.waitLimitMs()`).
   */
  acquire(owner: LockOwner, leaf: Leaf, mode: LockMode): true | Promise<void> {
    let entry = leaf.lock;
    if (entry === null) {
      entry = this.entryPool.pop() ?? { holders: new Map(), head: null, tail: null };
      leaf.lock = entry;
    }
    const current = entry.holders.get(owner) ?? 0;
    const wanted = (current | mode) as LockMode;
    if (wanted === current) return true;
    if ((current !== 0 || entry.head === null) && grantable(entry, owner, wanted)) {
      grant(entry, owner, wanted, current, leaf);
      return true;
    }
    return this.wait(owner, leaf, entry, wanted, current !== 0);
  }

  /** Releases every lock `owner` holds and wakes whoever can now proceed. */
  releaseAll(owner: LockOwner): void {
    // A grant made while draining one page never adds to `owner.held`, so iterating it in place is safe.
    for (const leaf of owner.held) {
      const entry = leaf.lock;
      assert(entry !== null && entry.holders.delete(owner), 'a held lock is in its page entry');
      this.drain(leaf, entry);
    }
    owner.held.length = 0;
  }

  /** Withdraws every pending request of `owner`, rejecting each with `error`. */
  cancelWaits(owner: LockOwner, error: Error): void {
    while (owner.waits.length > 0) this.withdraw(owner.waits[owner.waits.length - 1], error);
  }

  /** A split moved part of `old`'s key interval to `fresh`: `fresh` gets every lock `old` has, so no holder loses coverage. */
  inherit(old: Leaf, fresh: Leaf): void {
    const entry = old.lock;
    if (entry === null || entry.holders.size === 0) return;
    assert(fresh.lock === null, 'a fresh page has no locks');
    fresh.lock = { holders: new Map(entry.holders), head: null, tail: null };
    for (const owner of entry.holders.keys()) owner.held.push(fresh);
  }

  private wait(owner: LockOwner, leaf: Leaf, entry: LockEntry, mode: LockMode, upgrade: boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { owner, leaf, mode, resolve, reject, timer: undefined, previous: null, next: null };
      if (upgrade) {
        let before = entry.head;
        while (before !== null && entry.holders.has(before.owner)) before = before.next;
        insertBefore(entry, waiter, before);
      } else {
        insertBefore(entry, waiter, null);
      }
      owner.waits.push(waiter);
      this.breakCycles(owner, leaf);
      // Settled already if the owner was the victim, or if a victim's release let the queue drain to it.
      if (!owner.waits.includes(waiter)) return;
      this.counters.lockWaits++;
      const timeoutMs = owner.waitLimitMs();
      waiter.timer = setTimeout(() => {
        this.counters.lockTimeouts++;
        this.withdraw(waiter, new LockTimeoutError(`transaction ${String(owner.id)} waited more than ${String(timeoutMs)} ms for a lock on page ${String(leaf.id)}`));
      }, timeoutMs);
    });
  }

  /** While `requester` is in a waits-for cycle, wounds the cycle's youngest member. */
  private breakCycles(requester: LockOwner, leaf: Leaf): void {
    for (let cycle = findCycle(requester); cycle !== null; cycle = findCycle(requester)) {
      let victim = cycle[0];
      for (const member of cycle) if (member.age > victim.age) victim = member;
      this.counters.deadlocks++;
      const message = `transaction ${String(victim.id)} was chosen as a deadlock victim: the youngest of ${String(cycle.length)} in a cycle of lock waits closed by transaction ${String(requester.id)} on page ${String(leaf.id)}`;
      victim.wound(new DeadlockError(message));
      assert(victim.waits.length === 0 && victim.held.length === 0, 'a wounded transaction holds and waits for nothing');
      if (victim === requester) return;
    }
  }

  private withdraw(waiter: Waiter, error: Error): void {
    const entry = waiter.leaf.lock;
    assert(entry !== null, 'a waiter has a page entry');
    unlink(entry, waiter);
    removeItem(waiter.owner.waits, waiter);
    if (waiter.timer !== undefined) clearTimeout(waiter.timer);
    waiter.reject(error);
    this.drain(waiter.leaf, entry);
  }

  /** Grants queued requests from the front while they are compatible; drops the entry when unused. */
  private drain(leaf: Leaf, entry: LockEntry): void {
    for (let waiter = entry.head; waiter !== null; waiter = entry.head) {
      if (!grantable(entry, waiter.owner, waiter.mode)) break;
      unlink(entry, waiter);
      removeItem(waiter.owner.waits, waiter);
      if (waiter.timer !== undefined) clearTimeout(waiter.timer);
      grant(entry, waiter.owner, waiter.mode, entry.holders.get(waiter.owner) ?? 0, leaf);
      waiter.resolve();
    }
    if (entry.holders.size === 0 && entry.head === null) {
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

/** Puts `waiter` into the queue before `before` (null: at the tail). */
function insertBefore(entry: LockEntry, waiter: Waiter, before: Waiter | null): void {
  const previous = before === null ? entry.tail : before.previous;
  waiter.previous = previous;
  waiter.next = before;
  if (previous === null) entry.head = waiter;
  else previous.next = waiter;
  if (before === null) entry.tail = waiter;
  else before.previous = waiter;
}

function unlink(entry: LockEntry, waiter: Waiter): void {
  if (waiter.previous === null) entry.head = waiter.next;
  else waiter.previous.next = waiter.next;
  if (waiter.next === null) entry.tail = waiter.previous;
  else waiter.next.previous = waiter.previous;
  waiter.previous = null;
  waiter.next = null;
}

/**
 * Appends to `out` the owners `waiter` waits for: incompatible waiters ahead of it up to and including the
 * nearest EXCLUSIVE one (which stands for everything beyond it), and, if there is none, incompatible holders.
 */
function blockersOf(waiter: Waiter, out: LockOwner[]): void {
  const entry = waiter.leaf.lock;
  assert(entry !== null, 'a waiter has a page entry');
  for (let ahead = waiter.previous; ahead !== null; ahead = ahead.previous) {
    if (ahead.owner === waiter.owner || compatible(ahead.mode, waiter.mode)) continue;
    out.push(ahead.owner);
    if (ahead.mode === EXCLUSIVE) return;
  }
  for (const [holder, held] of entry.holders) {
    if (holder !== waiter.owner && !compatible(held, waiter.mode)) out.push(holder);
  }
}

/**
 * Depth-first search of the waits-for graph from `start`: the owners on a path that leads back to `start`
 * (start first), or null if there is none.
 */
function findCycle(start: LockOwner): LockOwner[] | null {
  const parent = new Map<LockOwner, LockOwner | null>([[start, null]]);
  const stack: LockOwner[] = [start];
  const blockers: LockOwner[] = [];
  while (stack.length > 0) {
    const owner = stack.pop() as LockOwner;
    for (const waiter of owner.waits) {
      blockers.length = 0;
      blockersOf(waiter, blockers);
      for (const blocker of blockers) {
        if (blocker === start) return pathTo(parent, owner);
        if (!parent.has(blocker)) {
          parent.set(blocker, owner);
          stack.push(blocker);
        }
      }
    }
  }
  return null;
}

/** The search path from its start to `last`, start first. */
function pathTo(parent: Map<LockOwner, LockOwner | null>, last: LockOwner): LockOwner[] {
  const path: LockOwner[] = [];
  for (let at: LockOwner | null = last; at !== null; at = parent.get(at) ?? null) path.push(at);
  return path.reverse();
}

function removeItem<T>(items: T[], item: T): void {
  const index = items.lastIndexOf(item);
  if (index >= 0) items.splice(index, 1);
}
