/**
 * The ledger's clock: where request timestamps and expiry times come from.
 *
 * TigerBeetle does not trust one machine's wall clock: a replica's reading is checked against the others
 * (Marzullo's algorithm) and against its own monotonic clock, and the cluster time handed to the state
 * machine is made strictly monotonic. Purser is one process, so there is no quorum to ask; what is left is
 * the second check. A reading of the wall clock is believed only if it agrees, within a tolerance, with
 * the last believed reading advanced by the monotonic time elapsed since:
 *
 *   expected = believed_wall + (monotonic_now − believed_monotonic)
 *   |wall_now − expected| ≤ tolerance  →  believe wall_now (and re-anchor: slow NTP slewing is followed)
 *   otherwise                          →  use `expected`, keep the anchor, warn, expose the skew
 *
 * So a wall clock stepped by ten years and back changes nothing, and a bad reading cannot poison later
 * timestamps or move expiry times. The cost: a legitimate step (NTP correcting a badly wrong clock, a
 * resumed VM whose monotonic clock stood still) is not followed either; the ledger keeps its own time,
 * reports the difference as `skewNs`, and follows the wall clock again once it comes back within the
 * tolerance or the process restarts (the reading taken when the ledger opens is the anchor).
 *
 * A reading outside the ledger's timestamp range (≤ 0, ≥ 2^63) that cannot be replaced by monotonic time
 * (there is no anchor yet, or the clock is a caller's own unguarded one) refuses that one request with
 * `LedgerClockError`; it changes nothing and the next request reads the clock again.
 */
import { LedgerClockError } from './errors.js';

/** Nanoseconds since the Unix epoch. */
export type Clock = () => bigint;

/** Timestamps are u63: TigerBeetle keeps the top bit of the u64 for tombstones. */
export const TIMESTAMP_MAX = (1n << 63n) - 1n;

/** How far the wall clock may disagree with monotonic time before it is not believed: 1 second. */
export const CLOCK_TOLERANCE_MS_DEFAULT = 1000;

export const realtimeClock: Clock = () => BigInt(Date.now()) * 1_000_000n;
export const monotonicClock: Clock = () => process.hrtime.bigint();

/** What a reading was: believed, replaced by monotonic time (a step), or the first (the anchor). */
export type ClockReading = { nowNs: bigint; skewNs: bigint; believed: boolean };

export class LedgerClock {
  private anchorWallNs: bigint | undefined;
  private anchorMonotonicNs = 0n;
  /** The last reading's wall-clock minus the time used (0n when the reading was believed). */
  skewNs = 0n;
  /** Readings not believed since the ledger opened. */
  stepsRefused = 0;

  /**
   * `monotonic` undefined: the wall clock is trusted as it is (a caller's simulated clock in tests or a
   * replay); only the range check applies.
   */
  constructor(
    private readonly wall: Clock,
    private readonly monotonic: Clock | undefined,
    private readonly toleranceNs: bigint,
  ) {}

  get guarded(): boolean {
    return this.monotonic !== undefined;
  }

  read(): ClockReading {
    const wallNs = this.readWall();
    if (this.monotonic === undefined) {
      if (wallNs === undefined) throw new LedgerClockError('the clock returned a reading outside 1 … 2^63 − 1 ns; this request was refused');
      return { nowNs: wallNs, skewNs: 0n, believed: true };
    }
    const monotonicNs = this.monotonic();
    if (this.anchorWallNs === undefined) {
      if (wallNs === undefined) throw new LedgerClockError('the first clock reading is outside 1 … 2^63 − 1 ns; this request was refused');
      this.anchor(wallNs, monotonicNs);
      return { nowNs: wallNs, skewNs: 0n, believed: true };
    }
    const expectedNs = this.anchorWallNs + (monotonicNs - this.anchorMonotonicNs);
    if (wallNs !== undefined) {
      const skewNs = wallNs - expectedNs;
      if (skewNs <= this.toleranceNs && skewNs >= -this.toleranceNs) {
        this.anchor(wallNs, monotonicNs);
        this.skewNs = 0n;
        return { nowNs: wallNs, skewNs: 0n, believed: true };
      }
      this.skewNs = skewNs;
    } else {
      this.skewNs = 0n; // no meaningful difference to a reading that is not a time at all
    }
    this.stepsRefused++;
    if (expectedNs < 1n || expectedNs > TIMESTAMP_MAX) throw new LedgerClockError('monotonic time ran outside 1 … 2^63 − 1 ns; this request was refused');
    return { nowNs: expectedNs, skewNs: this.skewNs, believed: false };
  }

  private anchor(wallNs: bigint, monotonicNs: bigint): void {
    this.anchorWallNs = wallNs;
    this.anchorMonotonicNs = monotonicNs;
  }

  /** The wall reading if it is a valid timestamp, else undefined (a clock is caller code: check its type). */
  private readWall(): bigint | undefined {
    const value: unknown = this.wall();
    if (typeof value !== 'bigint' || value < 1n || value > TIMESTAMP_MAX) return undefined;
    return value;
  }
}
