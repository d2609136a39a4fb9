/**
 * Escrow counters (O'Neil's escrow method): increments on one counter from different transactions commute,
 * so they need not wait for each other — they hold the page in ESCROW mode, which only ESCROW is compatible
 * with. What they must not do is let the counter leave its bounds in any outcome. So per counter key the
 * store keeps the committed value and the sums of every open transaction's pending net delta, split by
 * sign. The worst cases are:
 *
 *   lowest  = committed + (sum of the negative pending deltas)   every decrement commits, no increment does
 *   highest = committed + (sum of the positive pending deltas)   every increment commits, no decrement does
 *
 * An increment is admitted iff, counting it, `min <= lowest` and `highest <= max`; otherwise it fails at once
 * with `EscrowBoundError` and nothing changes. Bounds belong to the call that passes them: every caller of a
 * counter should pass the same bounds (a later unbounded increment is not held to an earlier caller's min).
 *
 * At commit a transaction's delta moves from pending into `committed` and is logged as the counter's new
 * value (an after-image). Reading a counter (`tx.counter`, `tx.get`, ranges) takes SHARED, which waits for
 * every other ESCROW holder of the page: a serializable read sees no half-known value.
 */
import { bytesToMapKey } from './bytes.js';
import { EscrowBoundError } from './errors.js';
import { COUNTER_MAX, COUNTER_MIN } from './counter.js';
import type { Tree } from './tree.js';

export interface EscrowEntry {
  committed: bigint;
  /** Sum of the negative pending net deltas (<= 0). */
  pendingDown: bigint;
  /** Sum of the positive pending net deltas (>= 0). */
  pendingUp: bigint;
  /** Transactions with a pending delta on this counter. */
  participants: number;
}

/** One transaction's pending delta on one counter. */
export interface EscrowPending {
  table: string;
  tree: Tree;
  key: Uint8Array;
  entry: EscrowEntry;
  delta: bigint;
}

function down(delta: bigint): bigint {
  return delta < 0n ? delta : 0n;
}
function up(delta: bigint): bigint {
  return delta > 0n ? delta : 0n;
}

/**
 * Changes `pending.delta` by `delta` if the bounds hold in the worst case; throws `EscrowBoundError` (and
 * changes nothing) if not.
 */
export function admitIncrement(pending: EscrowPending, delta: bigint, min: bigint | undefined, max: bigint | undefined): void {
  const entry = pending.entry;
  const next = pending.delta + delta;
  const lowest = entry.committed + entry.pendingDown - down(pending.delta) + down(next);
  const highest = entry.committed + entry.pendingUp - up(pending.delta) + up(next);
  const lowBound = min === undefined || min < COUNTER_MIN ? COUNTER_MIN : min;
  const highBound = max === undefined || max > COUNTER_MAX ? COUNTER_MAX : max;
  if (lowest < lowBound) {
    throw new EscrowBoundError(`increment by ${String(delta)} could take the counter to ${String(lowest)}, below its minimum ${String(lowBound)} (committed ${String(entry.committed)}, pending decrements ${String(entry.pendingDown)})`);
  }
  if (highest > highBound) {
    throw new EscrowBoundError(`increment by ${String(delta)} could take the counter to ${String(highest)}, above its maximum ${String(highBound)} (committed ${String(entry.committed)}, pending increments ${String(entry.pendingUp)})`);
  }
  entry.pendingDown += down(next) - down(pending.delta);
  entry.pendingUp += up(next) - up(pending.delta);
  pending.delta = next;
}

/** Takes `pending`'s delta out of the pending sums (commit or abort). Returns true if the entry is now unused. */
export function withdrawPending(pending: EscrowPending): boolean {
  const entry = pending.entry;
  entry.pendingDown -= down(pending.delta);
  entry.pendingUp -= up(pending.delta);
  entry.participants--;
  return entry.participants === 0;
}

/** Escrow entries are keyed by table and key; table names contain no NUL, so the join is unambiguous. */
export function escrowKey(table: string, key: Uint8Array): string {
  return table + '\u0000' + bytesToMapKey(key);
}
