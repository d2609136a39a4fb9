/**
 * Sequences: counters outside transactions. A value is handed out once and never again — not after an
 * abort (it is not given back) and not after a crash: values come from blocks, and before the first value
 * of a new block is handed out the new high-water mark is logged through `Durability.logSequence` and
 * awaited. After a crash the sequence resumes at the logged mark; the rest of the last block is skipped.
 *
 * Spread (the Informix note): consecutive values of a plain sequence are adjacent keys, so concurrent
 * inserters all land on the right-most leaf and queue for its lock. With `spread`, the raw counter n is
 * mapped to (n with its low 16 bits bit-reversed): 1, 2, 3, 4 … become 0x8000, 0x4000, 0xC000, 0x2000 …,
 * so 65,536 consecutive values are scattered over the whole interval [n & ~0xFFFF, n | 0xFFFF], each next
 * value halving the gaps the previous ones left. The mapping is a bijection on each 65,536-value block
 * (reversal is its own inverse) and blocks do not overlap, so spread values are unique too.
 */
import { assert } from '../errors.js';
import { StoreArgumentError } from './errors.js';
import type { Durability, Sequence } from './interfaces.js';

/** How many values one logged high-water mark covers. */
export const SEQUENCE_BLOCK_SIZE = 1024n;
export const SPREAD_BITS = 16;
const SPREAD_MASK = (1n << BigInt(SPREAD_BITS)) - 1n;
/** Sequences are unsigned 64-bit: keys encode them in 8 big-endian bytes. */
export const SEQUENCE_MAX = (1n << 64n) - 1n;

export function spreadValue(raw: bigint): bigint {
  let low = Number(raw & SPREAD_MASK);
  let reversed = 0;
  for (let bit = 0; bit < SPREAD_BITS; bit++) {
    reversed = (reversed << 1) | (low & 1);
    low >>>= 1;
  }
  return (raw & ~SPREAD_MASK) | BigInt(reversed);
}

/** The state of one named sequence; `Sequence` objects for the same name share it. */
export class SequenceCounter {
  /** The next raw value to hand out (the first value is 1). */
  nextRaw = 1n;
  /** Exclusive: values below it may have been handed out and are covered by a logged mark. */
  highWater = 1n;
  private pendingBlock: Promise<void> | null = null;

  constructor(
    readonly name: string,
    private readonly durability: () => Durability,
  ) {}

  /** The next raw value; waits for a block to be logged when the current one is used up. */
  async nextRawValue(): Promise<bigint> {
    while (this.nextRaw >= this.highWater) {
      if (this.pendingBlock === null && this.startNextBlock()) continue;
      await this.pendingBlock;
    }
    const value = this.nextRaw;
    if (value > SEQUENCE_MAX) throw new StoreArgumentError(`sequence ${this.name} is exhausted (more than 2^64 - 1 values)`);
    this.nextRaw = value + 1n;
    return value;
  }

  /**
   * Logs the next high-water mark. Returns true if that finished at once (memory-only: no promise, no
   * await); otherwise `pendingBlock` is the wait every concurrent caller shares. It is cleared only after
   * it settled (`.finally` runs after this assignment), so a later block starts a fresh log call.
   */
  private startNextBlock(): boolean {
    const mark = this.highWater + SEQUENCE_BLOCK_SIZE;
    const logged = this.durability().logSequence(this.name, mark);
    if (logged === undefined) {
      this.highWater = mark;
      return true;
    }
    this.pendingBlock = logged
      .then(() => {
        assert(mark > this.highWater, 'high-water marks only grow');
        this.highWater = mark;
      })
      .finally(() => {
        this.pendingBlock = null;
      });
    return false;
  }
}

export function createSequence(counter: SequenceCounter, spread: boolean): Sequence {
  return {
    async next(): Promise<bigint> {
      const raw = await counter.nextRawValue();
      return spread ? spreadValue(raw) : raw;
    },
  };
}
