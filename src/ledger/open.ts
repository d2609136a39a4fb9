/**
 * `openLedger({ dir?, clock?, … })`: an embedded ledger behind the `tigerbeetle-node` `Client` interface.
 */
import { requireArgument } from '../errors.js';
import type { Store } from '../store/interfaces.js';
import { openStore } from '../store/store.js';
import { CLOCK_TOLERANCE_MS_DEFAULT, LedgerClock, monotonicClock, realtimeClock, type Clock } from './clock.js';
import { Ledger, type LedgerLogger } from './ledger.js';
import { BATCH_EVENTS_MAX } from './types.js';

/**
 * Writes one ledger transaction may buffer: a full batch of 8,189 transfers writes each transfer, up to two
 * accounts, a pending status and two history records per transfer, plus the failed ids.
 */
const LEDGER_TRANSACTION_WRITES_MAX = BATCH_EVENTS_MAX * 6 + 16;

/** The largest clock tolerance accepted: one day. */
const CLOCK_TOLERANCE_MS_MAX = 86_400_000;

export interface OpenLedgerOptions {
  /** Data directory. Absent: the ledger lives in memory only. */
  dir?: string;
  /**
   * The wall clock: nanoseconds since the Unix epoch, for timestamps and for expiring pending transfers.
   * Default: the system clock, guarded by the monotonic clock (see `clock.ts` and the README). A clock
   * given here is trusted as it is (a simulated clock in tests), unless `monotonicClock` is given too.
   */
  clock?: () => bigint;
  /** Monotonic nanoseconds that guard `clock` against steps. Default: `process.hrtime.bigint` with the system clock. */
  monotonicClock?: () => bigint;
  /** How far (ms) the wall clock may disagree with monotonic time and still be believed. Default 1,000. */
  clockToleranceMs?: number;
  /** Where internal errors and clock warnings go. Default: standard error. */
  logger?: LedgerLogger;
  /**
   * A store to keep the ledger's tables in (`ledger.*`), shared with the caller's own tables, instead of
   * one the ledger opens (in `dir`, or in memory). The caller closes it.
   */
  store?: Store;
}

const stderrLogger: LedgerLogger = {
  error: (fields, message) => console.error(`purser ledger: ${message}`, fields),
  warn: (fields, message) => console.error(`purser ledger: ${message}`, fields),
};

export async function openLedger(options: OpenLedgerOptions = {}): Promise<Ledger> {
  requireArgument(typeof options === 'object' && options !== null, 'openLedger: options must be an object');
  requireArgument(options.dir === undefined || (typeof options.dir === 'string' && options.dir.length > 0), 'openLedger: dir must be a non-empty string');
  requireArgument(options.clock === undefined || typeof options.clock === 'function', 'openLedger: clock must be a function returning bigint nanoseconds');
  requireArgument(options.monotonicClock === undefined || typeof options.monotonicClock === 'function', 'openLedger: monotonicClock must be a function returning bigint nanoseconds');
  const toleranceMs = options.clockToleranceMs ?? CLOCK_TOLERANCE_MS_DEFAULT;
  requireArgument(Number.isSafeInteger(toleranceMs) && toleranceMs >= 0 && toleranceMs <= CLOCK_TOLERANCE_MS_MAX, `openLedger: clockToleranceMs must be an integer from 0 to ${CLOCK_TOLERANCE_MS_MAX}`);
  requireArgument(options.logger === undefined || (typeof options.logger?.error === 'function' && typeof options.logger?.warn === 'function'), 'openLedger: logger must have error() and warn()');
  requireArgument(options.store === undefined || options.dir === undefined, 'openLedger: give dir or store, not both');
  requireArgument(options.store === undefined || typeof options.store.transaction === 'function', 'openLedger: store must be a Store from openStore()');
  const wall: Clock = options.clock ?? realtimeClock;
  const monotonic = options.monotonicClock ?? (options.clock === undefined ? monotonicClock : undefined);
  const clock = new LedgerClock(wall, monotonic, BigInt(toleranceMs) * 1_000_000n);
  const owned = options.store === undefined;
  const store = options.store ?? (await openStore({ dir: options.dir, transactionWritesMax: LEDGER_TRANSACTION_WRITES_MAX }));
  const ledger = new Ledger(store, clock, options.logger ?? stderrLogger, () => (owned ? store.close() : Promise.resolve()));
  try {
    await ledger.load();
  } catch (error) {
    if (owned) await store.close();
    throw error;
  }
  return ledger;
}
