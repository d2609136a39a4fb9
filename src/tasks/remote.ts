/**
 * Claims for workers in other processes (`remoteTasks(client)` over the bus; the node advertises the
 * TASKS.* services, see node/tasks.ts). Unlike an in-process handler, a remote worker can die without the
 * node noticing, so its claim is a lease: it lasts `leaseMs` from the claim or the last heartbeat, and when
 * it runs out the attempt has failed — the task is retried after its back-off (or becomes a dead letter),
 * and a completion the worker sends later names an attempt that no longer owns the task and is refused.
 *
 * Leases live in the node's memory: a node restart ends them all, and the open that follows puts their
 * tasks back in their queues (storage.recoverRunning), so nothing depends on a worker coming back.
 */
import { DeadlineHeap, type Deadlined } from '../util/deadlines.js';
import type { TaskRecord } from './codec.js';
import { TaskArgumentError } from './errors.js';

/** The longest lease a remote claim may ask for, and the shortest (a heartbeat must be able to arrive). */
export const REMOTE_LEASE_MS_MAX = 10 * 60 * 1000;
export const REMOTE_LEASE_MS_MIN = 200;
/** Most tasks one remote claim takes. */
export const REMOTE_CLAIM_MAX = 256;
/** Longest a claim waits for work to appear before answering empty (a long poll). */
export const REMOTE_WAIT_MS_MAX = 30_000;

/** One remote claim as the worker gets it. */
export interface RemoteClaim {
  id: bigint;
  attempt: number;
  name: string;
  queue: string;
  maxAttempts: number;
  enqueuedAtMs: number;
  /** v8-serialised payload (the worker deserialises it). */
  payload: Uint8Array;
}

export class Lease implements Deadlined {
  heapIndex = -1;
  deadlineMs: number;

  constructor(readonly id: bigint, readonly attempt: number, readonly record: TaskRecord, readonly leaseMs: number) {
    this.deadlineMs = performance.now() + leaseMs;
  }
}

/** The node's table of remote leases: one per claimed task, ended by completion, failure or expiry. */
export class RemoteLeases {
  private readonly leases = new Map<bigint, Lease>();
  private readonly heap: DeadlineHeap<Lease>;

  constructor(onExpire: (lease: Lease) => void) {
    this.heap = new DeadlineHeap((lease) => {
      if (this.leases.get(lease.id) !== lease) return;
      this.leases.delete(lease.id);
      onExpire(lease);
    });
  }

  get size(): number {
    return this.leases.size;
  }

  add(record: TaskRecord, leaseMs: number): Lease {
    const lease = new Lease(record.id, record.attempts, record, leaseMs);
    const stale = this.leases.get(lease.id); // an older attempt's lease, replaced
    if (stale !== undefined) this.heap.remove(stale);
    this.leases.set(lease.id, lease);
    this.heap.add(lease);
    return lease;
  }

  /** Extends the leases still owned; returns whether each one is. */
  heartbeat(claims: ReadonlyArray<{ id: bigint; attempt: number }>): boolean[] {
    return claims.map(({ id, attempt }) => {
      const lease = this.leases.get(id);
      if (lease === undefined || lease.attempt !== attempt) return false;
      this.heap.remove(lease);
      lease.deadlineMs = performance.now() + lease.leaseMs;
      this.heap.add(lease);
      return true;
    });
  }

  /** Ends the lease of `attempt` (completed or failed by its worker); false if it no longer owned the task. */
  end(id: bigint, attempt: number): Lease | undefined {
    const lease = this.leases.get(id);
    if (lease === undefined || lease.attempt !== attempt) return undefined;
    this.leases.delete(id);
    this.heap.remove(lease);
    return lease;
  }

  /** Forgets every lease (the outbox stops: their tasks stay running in the store, and the next open recovers them). */
  clear(): void {
    this.leases.clear();
    this.heap.stop();
  }
}

export function checkRemoteClaim(queue: unknown, max: unknown, leaseMs: unknown, waitMs: unknown): void {
  if (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 1 || max > REMOTE_CLAIM_MAX) throw new TaskArgumentError(`a remote claim takes max from 1 to ${REMOTE_CLAIM_MAX}`);
  if (typeof leaseMs !== 'number' || !Number.isSafeInteger(leaseMs) || leaseMs < REMOTE_LEASE_MS_MIN || leaseMs > REMOTE_LEASE_MS_MAX) {
    throw new TaskArgumentError(`a remote claim's leaseMs must be an integer from ${REMOTE_LEASE_MS_MIN} to ${REMOTE_LEASE_MS_MAX}`);
  }
  if (typeof waitMs !== 'number' || !Number.isSafeInteger(waitMs) || waitMs < 0 || waitMs > REMOTE_WAIT_MS_MAX) throw new TaskArgumentError(`a remote claim's waitMs must be an integer from 0 to ${REMOTE_WAIT_MS_MAX}`);
  if (typeof queue !== 'string') throw new TaskArgumentError('a remote claim names its queue');
}

export function claimOf(record: TaskRecord): RemoteClaim {
  return { id: record.id, attempt: record.attempts, name: record.name, queue: record.queue, maxAttempts: record.maxAttempts, enqueuedAtMs: record.enqueuedAtMs, payload: record.payload };
}
