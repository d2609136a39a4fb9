// Shared helpers for the store tests: a seeded random generator, key encoding, engine access, and waits for a
// state (a gate the test opens, a condition on observable store state) instead of waits for a time.
import type { Store } from 'purser';
import type { StoreEngine } from '../../src/store/store.js';

/** xorshift32: deterministic, so a failing seed can be replayed. */
export function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x100000000;
  };
}

export function u32Key(n: number): Uint8Array {
  const key = new Uint8Array(4);
  new DataView(key.buffer).setUint32(0, n);
  return key;
}

export function text(value: string): Uint8Array {
  return new TextEncoder().encode(value);
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

export function engineOf(store: Store): StoreEngine {
  return store as unknown as StoreEngine;
}

/**
 * A pause of `ms` milliseconds. Only for adding interleaving variety where no verdict depends on its length:
 * on a busy machine any timer may fire late, so ordering between transactions is forced with `gate` and
 * `until`, never with a sleep.
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A promise the test opens by hand: one transaction goes on only once another has reached a step. */
export { gate } from '../bus/_gates.js';

/**
 * Resolves at the first turn of the event loop at which `condition()` holds. There is no time cap: a cap
 * short enough to matter could expire on a busy machine, so a wait that never ends is left to the test
 * runner. Callers wait for a state that a broken store reaches too (e.g. "the other transaction is queued on
 * a lock, or has finished"), so a bug shows as a failed assertion rather than a hang.
 */
export async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise<void>((resolve) => setImmediate(resolve));
}
