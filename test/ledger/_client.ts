// The client factory the ledger's semantic tests run against, plus builders for events and filters.
// Swapping makeClient() for one that returns a tigerbeetle-node client connected to a Purser node runs the
// same tests over the wire. The clock is a fake one the tests move by hand (nanoseconds).
import { openLedger, type Account, type AccountFilter, type Client, type QueryFilter, type Transfer } from 'purser';

export const NS_PER_S = 1_000_000_000n;
/** 2026-01-01T00:00:00Z in nanoseconds: any fixed, realistic start works. */
export const CLOCK_START_NS = 1_767_225_600n * NS_PER_S;

export class FakeClock {
  constructor(public nowNs: bigint = CLOCK_START_NS) {}
  readonly read = (): bigint => this.nowNs;
  advanceSeconds(seconds: number): void {
    this.nowNs += BigInt(seconds) * NS_PER_S;
  }
}

export interface TestClient extends Client {
  close(): Promise<void>;
}

export async function makeClient(options: { clock?: FakeClock } = {}): Promise<TestClient> {
  const clock = options.clock ?? new FakeClock();
  return openLedger({ clock: clock.read });
}

export function account(id: bigint, fields: Partial<Account> = {}): Account {
  return {
    id, debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n, user_data_128: 0n,
    user_data_64: 0n, user_data_32: 0, reserved: 0, ledger: 1, code: 1, flags: 0, timestamp: 0n, ...fields,
  };
}

export function transfer(id: bigint, debit: bigint, credit: bigint, amount: bigint, fields: Partial<Transfer> = {}): Transfer {
  return {
    id, debit_account_id: debit, credit_account_id: credit, amount, pending_id: 0n, user_data_128: 0n,
    user_data_64: 0n, user_data_32: 0, timeout: 0, ledger: 1, code: 1, flags: 0, timestamp: 0n, ...fields,
  };
}

export function accountFilter(accountId: bigint, fields: Partial<AccountFilter> = {}): AccountFilter {
  return {
    account_id: accountId, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, code: 0, timestamp_min: 0n,
    timestamp_max: 0n, limit: 8189, flags: 3, ...fields,
  };
}

export function queryFilter(fields: Partial<QueryFilter> = {}): QueryFilter {
  return {
    user_data_128: 0n, user_data_64: 0n, user_data_32: 0, ledger: 0, code: 0, timestamp_min: 0n, timestamp_max: 0n,
    limit: 8189, flags: 0, ...fields,
  };
}
