// Every CreateAccountStatus and CreateTransferStatus is produced by at least one case here, each on a fresh
// ledger: a case sets up what it needs, submits one event (or a small batch) and checks the status of the
// event under test. The last test of each group checks that the cases together cover the whole enum.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  AccountFlags as AF, amount_max, CreateAccountStatus as AS, CreateTransferStatus as TS, TransferFlags as TF,
  type CreateAccountResult, type CreateTransferResult,
} from 'purser';
import { account, FakeClock, makeClient, transfer, NS_PER_S, type TestClient } from './_client.js';

const open: TestClient[] = [];
after(async () => {
  for (const client of open) await client.close();
});

async function fresh(clock = new FakeClock()): Promise<TestClient> {
  const client = await makeClient({ clock });
  open.push(client);
  return client;
}

function allCreated(results: (CreateAccountResult | CreateTransferResult)[]): void {
  assert.deepEqual(results.map((r) => r.status), results.map(() => 0xffff_ffff));
}

/** A ledger with accounts 1, 2, 4 (ledger 1), 3 (ledger 2), 5 (debits ≤ credits), 6 (credits ≤ debits), 7 (closed). */
async function standard(clock = new FakeClock()): Promise<TestClient> {
  const client = await fresh(clock);
  allCreated(await client.createAccounts([
    account(1n), account(2n), account(3n, { ledger: 2 }), account(4n),
    account(5n, { flags: AF.debits_must_not_exceed_credits }), account(6n, { flags: AF.credits_must_not_exceed_debits }),
    account(7n, { flags: AF.closed }),
  ]));
  return client;
}

const U128_MAX = amount_max;

describe('createAccounts statuses', () => {
  const seen = new Set<number>();
  const cases: [string, AS, () => Promise<AS>][] = [
    ['created', AS.created, async () => (await (await fresh()).createAccounts([account(1n)]))[0].status],
    ['linked_event_failed and linked_event_chain_open', AS.linked_event_failed, async () => {
      const results = await (await fresh()).createAccounts([account(1n, { flags: AF.linked }), account(2n, { flags: AF.linked })]);
      assert.equal(results[1].status, AS.linked_event_chain_open);
      seen.add(AS.linked_event_chain_open);
      return results[0].status;
    }],
    ['imported_event_expected', AS.imported_event_expected, async () =>
      (await (await fresh()).createAccounts([account(1n, { flags: AF.imported, timestamp: 5n }), account(2n)]))[1].status],
    ['imported_event_not_expected', AS.imported_event_not_expected, async () =>
      (await (await fresh()).createAccounts([account(1n), account(2n, { flags: AF.imported, timestamp: 5n })]))[1].status],
    ['timestamp_must_be_zero', AS.timestamp_must_be_zero, async () => (await (await fresh()).createAccounts([account(1n, { timestamp: 1n })]))[0].status],
    ['imported_event_timestamp_out_of_range', AS.imported_event_timestamp_out_of_range, async () =>
      (await (await fresh()).createAccounts([account(1n, { flags: AF.imported, timestamp: 0n })]))[0].status],
    ['imported_event_timestamp_must_not_advance', AS.imported_event_timestamp_must_not_advance, async () =>
      (await (await fresh()).createAccounts([account(1n, { flags: AF.imported, timestamp: (1n << 62n) })]))[0].status],
    ['reserved_field', AS.reserved_field, async () => (await (await fresh()).createAccounts([account(1n, { reserved: 1 })]))[0].status],
    ['reserved_flag', AS.reserved_flag, async () => (await (await fresh()).createAccounts([account(1n, { flags: 1 << 6 })]))[0].status],
    ['id_must_not_be_zero', AS.id_must_not_be_zero, async () => (await (await fresh()).createAccounts([account(0n)]))[0].status],
    ['id_must_not_be_int_max', AS.id_must_not_be_int_max, async () => (await (await fresh()).createAccounts([account(U128_MAX)]))[0].status],
    ...([
      ['exists_with_different_flags', AS.exists_with_different_flags, { flags: AF.history }],
      ['exists_with_different_user_data_128', AS.exists_with_different_user_data_128, { user_data_128: 9n }],
      ['exists_with_different_user_data_64', AS.exists_with_different_user_data_64, { user_data_64: 9n }],
      ['exists_with_different_user_data_32', AS.exists_with_different_user_data_32, { user_data_32: 9 }],
      ['exists_with_different_ledger', AS.exists_with_different_ledger, { ledger: 9 }],
      ['exists_with_different_code', AS.exists_with_different_code, { code: 9 }],
      ['exists', AS.exists, {}],
    ] as const).map(([name, status, fields]): [string, AS, () => Promise<AS>] => [name, status, async () => {
      const client = await fresh();
      const [first] = await client.createAccounts([account(1n)]);
      const [again] = await client.createAccounts([account(1n, fields)]);
      if (status === AS.exists) assert.equal(again.timestamp, first.timestamp, 'exists reports the existing timestamp');
      return again.status;
    }]),
    ['flags_are_mutually_exclusive', AS.flags_are_mutually_exclusive, async () =>
      (await (await fresh()).createAccounts([account(1n, { flags: AF.debits_must_not_exceed_credits | AF.credits_must_not_exceed_debits })]))[0].status],
    ['debits_pending_must_be_zero', AS.debits_pending_must_be_zero, async () => (await (await fresh()).createAccounts([account(1n, { debits_pending: 1n })]))[0].status],
    ['debits_posted_must_be_zero', AS.debits_posted_must_be_zero, async () => (await (await fresh()).createAccounts([account(1n, { debits_posted: 1n })]))[0].status],
    ['credits_pending_must_be_zero', AS.credits_pending_must_be_zero, async () => (await (await fresh()).createAccounts([account(1n, { credits_pending: 1n })]))[0].status],
    ['credits_posted_must_be_zero', AS.credits_posted_must_be_zero, async () => (await (await fresh()).createAccounts([account(1n, { credits_posted: 1n })]))[0].status],
    ['ledger_must_not_be_zero', AS.ledger_must_not_be_zero, async () => (await (await fresh()).createAccounts([account(1n, { ledger: 0 })]))[0].status],
    ['code_must_not_be_zero', AS.code_must_not_be_zero, async () => (await (await fresh()).createAccounts([account(1n, { code: 0 })]))[0].status],
    ['imported_event_timestamp_must_not_regress', AS.imported_event_timestamp_must_not_regress, async () => {
      const client = await fresh();
      allCreated(await client.createAccounts([account(1n, { flags: AF.imported, timestamp: 100n })]));
      return (await client.createAccounts([account(2n, { flags: AF.imported, timestamp: 100n })]))[0].status;
    }],
  ];
  for (const [name, expected, run] of cases) {
    test(name, async () => {
      const status = await run();
      assert.equal(AS[status], AS[expected]);
      seen.add(status);
    });
  }
  test('every CreateAccountStatus was produced', () => {
    const all = Object.values(AS).filter((v): v is number => typeof v === 'number');
    assert.deepEqual(all.filter((s) => !seen.has(s)).map((s) => AS[s]), []);
  });
});

describe('createTransfers statuses', () => {
  const seen = new Set<number>();
  type Case = [string, TS, () => Promise<TS>];
  const one = async (client: TestClient, t: Parameters<typeof transfer>[4] & { id?: bigint; dr?: bigint; cr?: bigint; amount?: bigint } = {}) => {
    const { id = 100n, dr = 1n, cr = 2n, amount = 1n, ...fields } = t;
    return (await client.createTransfers([transfer(id, dr, cr, amount, fields)]))[0].status;
  };
  const exists = (name: string, status: TS, fields: Parameters<typeof transfer>[4]): Case => [name, status, async () => {
    const client = await standard();
    assert.equal(await one(client, { pending_id: 0n }), TS.created);
    return one(client, fields);
  }];
  /** A pending transfer 50 (1 → 2, amount 10, timeout 0) and then the event under test. */
  const afterPending = (name: string, status: TS, fields: Parameters<typeof transfer>[4] & { amount?: bigint; dr?: bigint; cr?: bigint }, pendingFields: Parameters<typeof transfer>[4] = {}): Case => [name, status, async () => {
    const client = await standard();
    allCreated(await client.createTransfers([transfer(50n, 1n, 2n, 10n, { flags: TF.pending, ...pendingFields })]));
    return one(client, { dr: 0n, cr: 0n, amount: 0n, ledger: 0, code: 0, pending_id: 50n, ...fields });
  }];
  const cases: Case[] = [
    ['created', TS.created, async () => one(await standard())],
    ['linked_event_failed and linked_event_chain_open', TS.linked_event_failed, async () => {
      const results = await (await standard()).createTransfers([transfer(100n, 1n, 2n, 1n, { flags: TF.linked }), transfer(101n, 1n, 2n, 1n, { flags: TF.linked })]);
      assert.equal(results[1].status, TS.linked_event_chain_open);
      seen.add(TS.linked_event_chain_open);
      return results[0].status;
    }],
    ['imported_event_expected', TS.imported_event_expected, async () =>
      (await (await standard()).createTransfers([transfer(100n, 1n, 2n, 1n, { flags: TF.imported, timestamp: 1n }), transfer(101n, 1n, 2n, 1n)]))[1].status],
    ['imported_event_not_expected', TS.imported_event_not_expected, async () =>
      (await (await standard()).createTransfers([transfer(100n, 1n, 2n, 1n), transfer(101n, 1n, 2n, 1n, { flags: TF.imported, timestamp: 1n })]))[1].status],
    ['timestamp_must_be_zero', TS.timestamp_must_be_zero, async () => one(await standard(), { timestamp: 1n })],
    ['imported_event_timestamp_out_of_range', TS.imported_event_timestamp_out_of_range, async () => one(await standard(), { flags: TF.imported, timestamp: 1n << 63n })],
    ['imported_event_timestamp_must_not_advance', TS.imported_event_timestamp_must_not_advance, async () => one(await standard(), { flags: TF.imported, timestamp: (1n << 63n) - 1n })],
    ['reserved_flag', TS.reserved_flag, async () => one(await standard(), { flags: 1 << 9 })],
    ['id_must_not_be_zero', TS.id_must_not_be_zero, async () => one(await standard(), { id: 0n })],
    ['id_must_not_be_int_max', TS.id_must_not_be_int_max, async () => one(await standard(), { id: U128_MAX })],
    exists('exists_with_different_flags', TS.exists_with_different_flags, { flags: TF.pending }),
    exists('exists_with_different_pending_id', TS.exists_with_different_pending_id, { pending_id: 7n }),
    exists('exists_with_different_timeout', TS.exists_with_different_timeout, { timeout: 7 }),
    exists('exists_with_different_debit_account_id', TS.exists_with_different_debit_account_id, { debit_account_id: 4n }),
    exists('exists_with_different_credit_account_id', TS.exists_with_different_credit_account_id, { credit_account_id: 4n }),
    exists('exists_with_different_amount', TS.exists_with_different_amount, { amount: 2n }),
    exists('exists_with_different_user_data_128', TS.exists_with_different_user_data_128, { user_data_128: 7n }),
    exists('exists_with_different_user_data_64', TS.exists_with_different_user_data_64, { user_data_64: 7n }),
    exists('exists_with_different_user_data_32', TS.exists_with_different_user_data_32, { user_data_32: 7 }),
    exists('exists_with_different_ledger', TS.exists_with_different_ledger, { ledger: 2 }),
    exists('exists_with_different_code', TS.exists_with_different_code, { code: 2 }),
    exists('exists', TS.exists, {}),
    ['id_already_failed', TS.id_already_failed, async () => {
      const client = await standard();
      assert.equal(await one(client, { cr: 99n }), TS.credit_account_not_found);
      allCreated(await client.createAccounts([account(99n)]));
      return one(client, { cr: 99n });
    }],
    ['flags_are_mutually_exclusive', TS.flags_are_mutually_exclusive, async () => one(await standard(), { flags: TF.post_pending_transfer | TF.void_pending_transfer, pending_id: 5n })],
    ['debit_account_id_must_not_be_zero', TS.debit_account_id_must_not_be_zero, async () => one(await standard(), { dr: 0n })],
    ['debit_account_id_must_not_be_int_max', TS.debit_account_id_must_not_be_int_max, async () => one(await standard(), { dr: U128_MAX })],
    ['credit_account_id_must_not_be_zero', TS.credit_account_id_must_not_be_zero, async () => one(await standard(), { cr: 0n })],
    ['credit_account_id_must_not_be_int_max', TS.credit_account_id_must_not_be_int_max, async () => one(await standard(), { cr: U128_MAX })],
    ['accounts_must_be_different', TS.accounts_must_be_different, async () => one(await standard(), { cr: 1n })],
    ['pending_id_must_be_zero', TS.pending_id_must_be_zero, async () => one(await standard(), { pending_id: 5n })],
    ['pending_id_must_not_be_zero', TS.pending_id_must_not_be_zero, async () => one(await standard(), { flags: TF.post_pending_transfer })],
    ['pending_id_must_not_be_int_max', TS.pending_id_must_not_be_int_max, async () => one(await standard(), { flags: TF.post_pending_transfer, pending_id: U128_MAX })],
    ['pending_id_must_be_different', TS.pending_id_must_be_different, async () => one(await standard(), { flags: TF.post_pending_transfer, pending_id: 100n })],
    ['timeout_reserved_for_pending_transfer', TS.timeout_reserved_for_pending_transfer, async () => one(await standard(), { timeout: 1 })],
    ['closing_transfer_must_be_pending', TS.closing_transfer_must_be_pending, async () => one(await standard(), { flags: TF.closing_debit })],
    ['ledger_must_not_be_zero', TS.ledger_must_not_be_zero, async () => one(await standard(), { ledger: 0 })],
    ['code_must_not_be_zero', TS.code_must_not_be_zero, async () => one(await standard(), { code: 0 })],
    ['debit_account_not_found', TS.debit_account_not_found, async () => one(await standard(), { dr: 99n })],
    ['credit_account_not_found', TS.credit_account_not_found, async () => one(await standard(), { cr: 99n })],
    ['accounts_must_have_the_same_ledger', TS.accounts_must_have_the_same_ledger, async () => one(await standard(), { cr: 3n })],
    ['transfer_must_have_the_same_ledger_as_accounts', TS.transfer_must_have_the_same_ledger_as_accounts, async () => one(await standard(), { ledger: 2 })],
    ['pending_transfer_not_found', TS.pending_transfer_not_found, async () => one(await standard(), { flags: TF.post_pending_transfer, pending_id: 77n })],
    ['pending_transfer_not_pending', TS.pending_transfer_not_pending, async () => {
      const client = await standard();
      assert.equal(await one(client, { id: 50n }), TS.created);
      return one(client, { flags: TF.post_pending_transfer, pending_id: 50n });
    }],
    afterPending('pending_transfer_has_different_debit_account_id', TS.pending_transfer_has_different_debit_account_id, { flags: TF.post_pending_transfer, dr: 4n }),
    afterPending('pending_transfer_has_different_credit_account_id', TS.pending_transfer_has_different_credit_account_id, { flags: TF.post_pending_transfer, cr: 4n }),
    afterPending('pending_transfer_has_different_ledger', TS.pending_transfer_has_different_ledger, { flags: TF.post_pending_transfer, ledger: 2 }),
    afterPending('pending_transfer_has_different_code', TS.pending_transfer_has_different_code, { flags: TF.post_pending_transfer, code: 2 }),
    afterPending('exceeds_pending_transfer_amount', TS.exceeds_pending_transfer_amount, { flags: TF.post_pending_transfer, amount: 11n }),
    afterPending('pending_transfer_has_different_amount', TS.pending_transfer_has_different_amount, { flags: TF.void_pending_transfer, amount: 9n }),
    ['pending_transfer_already_posted', TS.pending_transfer_already_posted, async () => {
      const client = await standard();
      allCreated(await client.createTransfers([transfer(50n, 1n, 2n, 10n, { flags: TF.pending }), transfer(51n, 0n, 0n, amount_max, { flags: TF.post_pending_transfer, pending_id: 50n, ledger: 0, code: 0 })]));
      return one(client, { dr: 0n, cr: 0n, amount: 0n, flags: TF.void_pending_transfer, pending_id: 50n });
    }],
    ['pending_transfer_already_voided', TS.pending_transfer_already_voided, async () => {
      const client = await standard();
      allCreated(await client.createTransfers([transfer(50n, 1n, 2n, 10n, { flags: TF.pending }), transfer(51n, 0n, 0n, 0n, { flags: TF.void_pending_transfer, pending_id: 50n, ledger: 0, code: 0 })]));
      return one(client, { dr: 0n, cr: 0n, amount: amount_max, flags: TF.post_pending_transfer, pending_id: 50n });
    }],
    ['pending_transfer_expired', TS.pending_transfer_expired, async () => {
      const clock = new FakeClock();
      const client = await standard(clock);
      const [pending] = await client.createTransfers([transfer(50n, 1n, 2n, 10n, { flags: TF.pending, timeout: 1 })]);
      clock.nowNs = pending.timestamp + NS_PER_S;
      return one(client, { dr: 0n, cr: 0n, amount: amount_max, flags: TF.post_pending_transfer, pending_id: 50n });
    }],
    ['imported_event_timestamp_must_not_regress', TS.imported_event_timestamp_must_not_regress, async () => {
      const client = await fresh();
      allCreated(await client.createAccounts([account(1n, { flags: AF.imported, timestamp: 10n }), account(2n, { flags: AF.imported, timestamp: 20n })]));
      allCreated(await client.createTransfers([transfer(100n, 1n, 2n, 1n, { flags: TF.imported, timestamp: 30n })]));
      return one(client, { id: 101n, flags: TF.imported, timestamp: 30n });
    }],
    ['imported_event_timestamp_must_postdate_debit_account', TS.imported_event_timestamp_must_postdate_debit_account, async () => {
      const client = await fresh();
      allCreated(await client.createAccounts([account(2n, { flags: AF.imported, timestamp: 10n }), account(1n, { flags: AF.imported, timestamp: 20n })]));
      return one(client, { flags: TF.imported, timestamp: 15n });
    }],
    ['imported_event_timestamp_must_postdate_credit_account', TS.imported_event_timestamp_must_postdate_credit_account, async () => {
      const client = await fresh();
      allCreated(await client.createAccounts([account(1n, { flags: AF.imported, timestamp: 10n }), account(2n, { flags: AF.imported, timestamp: 20n })]));
      return one(client, { flags: TF.imported, timestamp: 15n });
    }],
    ['imported_event_timeout_must_be_zero', TS.imported_event_timeout_must_be_zero, async () => {
      const client = await fresh();
      allCreated(await client.createAccounts([account(1n, { flags: AF.imported, timestamp: 10n }), account(2n, { flags: AF.imported, timestamp: 20n })]));
      return one(client, { flags: TF.imported | TF.pending, timeout: 1, timestamp: 30n });
    }],
    ['debit_account_already_closed', TS.debit_account_already_closed, async () => one(await standard(), { dr: 7n })],
    ['credit_account_already_closed', TS.credit_account_already_closed, async () => one(await standard(), { cr: 7n })],
    ['overflows_debits_pending', TS.overflows_debits_pending, async () => {
      const client = await standard();
      assert.equal(await one(client, { id: 50n, flags: TF.pending }), TS.created);
      return one(client, { cr: 4n, amount: U128_MAX, flags: TF.pending });
    }],
    ['overflows_credits_pending', TS.overflows_credits_pending, async () => {
      const client = await standard();
      assert.equal(await one(client, { id: 50n, flags: TF.pending }), TS.created);
      return one(client, { dr: 4n, amount: U128_MAX, flags: TF.pending });
    }],
    ['overflows_debits_posted', TS.overflows_debits_posted, async () => {
      const client = await standard();
      assert.equal(await one(client, { id: 50n }), TS.created);
      return one(client, { cr: 4n, amount: U128_MAX });
    }],
    ['overflows_credits_posted', TS.overflows_credits_posted, async () => {
      const client = await standard();
      assert.equal(await one(client, { id: 50n }), TS.created);
      return one(client, { dr: 4n, amount: U128_MAX });
    }],
    ['overflows_debits', TS.overflows_debits, async () => {
      const client = await standard();
      assert.equal(await one(client, { id: 50n, flags: TF.pending }), TS.created);
      return one(client, { cr: 4n, amount: U128_MAX });
    }],
    ['overflows_credits', TS.overflows_credits, async () => {
      const client = await standard();
      assert.equal(await one(client, { id: 50n, flags: TF.pending }), TS.created);
      return one(client, { dr: 4n, amount: U128_MAX });
    }],
    ['overflows_timeout', TS.overflows_timeout, async () => {
      // Near the end of u63 nanoseconds, the longest timeout (2^32 - 1 seconds) runs past it.
      const client = await standard(new FakeClock((1n << 63n) - 1000n * NS_PER_S));
      return one(client, { flags: TF.pending, timeout: 0xffff_ffff });
    }],
    ['exceeds_credits', TS.exceeds_credits, async () => one(await standard(), { dr: 5n })],
    ['exceeds_debits', TS.exceeds_debits, async () => one(await standard(), { cr: 6n })],
  ];
  for (const [name, expected, run] of cases) {
    test(name, async () => {
      const status = await run();
      assert.equal(TS[status], TS[expected]);
      seen.add(status);
    });
  }
  test('every CreateTransferStatus was produced', () => {
    const all = Object.values(TS).filter((v): v is number => typeof v === 'number');
    assert.deepEqual(all.filter((s) => !seen.has(s)).map((s) => TS[s]), []);
  });
});
