/**
 * `openLedger({ dir?, clock? })`: an embedded ledger behind the `tigerbeetle-node` `Client` interface.
 */
import { requireArgument } from '../errors.js';
import { Ledger, realtimeClock, type Clock } from './ledger.js';
import { MemoryBacking } from './memory-backing.js';

export interface OpenLedgerOptions {
  /** Data directory. Absent: the ledger lives in memory only. */
  dir?: string;
  /** Nanoseconds since the Unix epoch, used for timestamps and for expiring pending transfers. */
  clock?: () => bigint;
}

export async function openLedger(options: OpenLedgerOptions = {}): Promise<Ledger> {
  requireArgument(typeof options === 'object' && options !== null, 'openLedger: options must be an object');
  requireArgument(options.dir === undefined || (typeof options.dir === 'string' && options.dir.length > 0), 'openLedger: dir must be a non-empty string');
  requireArgument(options.clock === undefined || typeof options.clock === 'function', 'openLedger: clock must be a function returning bigint nanoseconds');
  const clock: Clock = options.clock ?? realtimeClock;
  requireArgument(options.dir === undefined, 'openLedger: dir is not supported until the store lands');
  const backing = new MemoryBacking();
  const ledger = new Ledger(backing, clock, () => backing.close());
  await ledger.load();
  return ledger;
}
