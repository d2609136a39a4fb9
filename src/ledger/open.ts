/**
 * `openLedger({ dir?, clock? })`: an embedded ledger behind the `tigerbeetle-node` `Client` interface.
 */
import { requireArgument } from '../errors.js';
import type { Store } from '../store/interfaces.js';
import { openStore } from '../store/store.js';
import { Ledger, realtimeClock, type Clock } from './ledger.js';
import { BATCH_EVENTS_MAX } from './types.js';

/**
 * Writes one ledger transaction may buffer: a full batch of 8,189 transfers writes each transfer, up to two
 * accounts, a pending status and two history records per transfer, plus the failed ids.
 */
const LEDGER_TRANSACTION_WRITES_MAX = BATCH_EVENTS_MAX * 6 + 16;

export interface OpenLedgerOptions {
  /** Data directory. Absent: the ledger lives in memory only. */
  dir?: string;
  /** Nanoseconds since the Unix epoch, used for timestamps and for expiring pending transfers. */
  clock?: () => bigint;
  /**
   * A store to keep the ledger's tables in (`ledger.*`), shared with the caller's own tables, instead of
   * one the ledger opens (in `dir`, or in memory). The caller closes it.
   */
  store?: Store;
}

export async function openLedger(options: OpenLedgerOptions = {}): Promise<Ledger> {
  requireArgument(typeof options === 'object' && options !== null, 'openLedger: options must be an object');
  requireArgument(options.dir === undefined || (typeof options.dir === 'string' && options.dir.length > 0), 'openLedger: dir must be a non-empty string');
  requireArgument(options.clock === undefined || typeof options.clock === 'function', 'openLedger: clock must be a function returning bigint nanoseconds');
  const clock: Clock = options.clock ?? realtimeClock;
  requireArgument(options.store === undefined || options.dir === undefined, 'openLedger: give dir or store, not both');
  requireArgument(options.store === undefined || typeof options.store.transaction === 'function', 'openLedger: store must be a Store from openStore()');
  const owned = options.store === undefined;
  const store = options.store ?? (await openStore({ dir: options.dir, transactionWritesMax: LEDGER_TRANSACTION_WRITES_MAX }));
  const ledger = new Ledger(store, clock, () => (owned ? store.close() : Promise.resolve()));
  await ledger.load();
  return ledger;
}
