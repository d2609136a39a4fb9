// Shared helpers for the store tests: a seeded random generator, key encoding, and engine access.
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

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
