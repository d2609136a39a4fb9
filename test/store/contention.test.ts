// Liveness under contention: every transaction commits with default options. The bank workload —
// read two balances, yield to the event loop, write both — at 200 and 1,000 concurrent transactions, on one
// page and on many; a long transaction against a stream of short ones on its page; reads for update; and the
// deadline. Each transfer's outcome is checked: it resolves with its own index, and the final balance of every
// account equals its start plus exactly the transfers in and out of it (a lost update or a double commit
// would show), so money is conserved. No assertion here depends on timing: interleavings come from yields,
// and waits are for states.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EscrowBoundError, openStore, StoreArgumentError, TransactionTimeoutError, type Store } from 'purser';
import { engineOf, gate, random, text, u32Key, until } from './_helpers.js';

const START_BALANCE = 1_000_000n;

function balanceBytes(value: bigint): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigInt64(0, value);
  return bytes;
}

function balanceOf(bytes: Uint8Array | undefined): bigint {
  assert.ok(bytes !== undefined && bytes.length === 8, 'an account has an 8-byte balance');
  return new DataView(bytes.buffer, bytes.byteOffset).getBigInt64(0);
}

/** A macrotask turn: every other transaction gets to run between a transfer's steps. */
function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

async function openBank(accounts: number): Promise<Store> {
  const store = await openStore();
  await store.transaction(async (tx) => {
    for (let i = 0; i < accounts; i++) await tx.put('accounts', u32Key(i), balanceBytes(START_BALANCE));
  });
  return store;
}

interface Transfer {
  from: number;
  to: number;
  amount: bigint;
}

function plansFor(accounts: number, transfers: number, seed: number): Transfer[] {
  const next = random(seed);
  return Array.from({ length: transfers }, () => {
    const from = Math.floor(next() * accounts);
    const to = (from + 1 + Math.floor(next() * (accounts - 1))) % accounts;
    return { from, to, amount: BigInt(1 + Math.floor(next() * 1_000)) };
  });
}

/** Runs every transfer concurrently with default options; returns how many tries each took. */
async function runTransfers(store: Store, plans: Transfer[], forUpdate: boolean): Promise<number[]> {
  const tries = plans.map(() => 0);
  const outcomes = await Promise.allSettled(plans.map((plan, index) => store.transaction(async (tx) => {
    tries[index]++;
    const from = balanceOf(await tx.get('accounts', u32Key(plan.from), { forUpdate }));
    await yieldTurn();
    const to = balanceOf(await tx.get('accounts', u32Key(plan.to), { forUpdate }));
    await yieldTurn();
    await tx.put('accounts', u32Key(plan.from), balanceBytes(from - plan.amount));
    await tx.put('accounts', u32Key(plan.to), balanceBytes(to + plan.amount));
    return index;
  })));
  const failed = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [String(outcome.reason)] : []));
  assert.deepEqual(failed, [], 'every transfer commits');
  outcomes.forEach((outcome, index) => assert.ok(outcome.status === 'fulfilled' && outcome.value === index));
  return tries;
}

async function checkBalances(store: Store, accounts: number, plans: Transfer[]): Promise<void> {
  const expected = Array.from({ length: accounts }, () => START_BALANCE);
  for (const plan of plans) {
    expected[plan.from] -= plan.amount;
    expected[plan.to] += plan.amount;
  }
  const actual = await store.transaction(async (tx) => {
    const balances: bigint[] = [];
    for await (const [, value] of tx.range('accounts')) balances.push(balanceOf(value));
    return balances;
  });
  assert.deepEqual(actual, expected);
  assert.equal(actual.reduce((sum, balance) => sum + balance, 0n), START_BALANCE * BigInt(accounts), 'money is conserved');
  engineOf(store).checkInvariants();
}

for (const { accounts, pages } of [{ accounts: 50, pages: 'one page' }, { accounts: 5_000, pages: 'many pages' }]) {
  for (const concurrent of [200, 1_000]) {
    test(`bank workload, ${String(concurrent)} concurrent transfers on ${pages}, plain reads: every transfer commits`, async () => {
      const store = await openBank(accounts);
      if (pages === 'one page') assert.equal(store.stats().pages, 1);
      else assert.ok(store.stats().pages >= 10);
      const plans = plansFor(accounts, concurrent, concurrent + accounts);
      await runTransfers(store, plans, false);
      await checkBalances(store, accounts, plans);
      const { deadlocks } = store.stats();
      assert.ok(deadlocks > 0, 'the transfers did collide on upgrades');
      if (pages === 'one page') {
        // A victim's retry takes the page EXCLUSIVE before its function runs (the lock plan), and a try that
        // holds nothing but waits in the page's queue is in no cycle: so no transfer is a victim twice.
        assert.ok(deadlocks <= plans.length, `at most one deadlock per transfer (saw ${String(deadlocks)} for ${String(plans.length)})`);
      }
      await store.close();
    });
  }
}

test('bank workload with forUpdate reads, 1,000 concurrent on one page: no deadlock at all', async () => {
  const store = await openBank(50);
  const plans = plansFor(50, 1_000, 7);
  const tries = await runTransfers(store, plans, true);
  await checkBalances(store, 50, plans);
  assert.equal(store.stats().deadlocks, 0);
  // A retry here could only come from a lock wait past lockTimeoutMs on a very slow machine, never a deadlock.
  assert.equal(tries.reduce((sum, count) => sum + count - 1, 0), store.stats().lockTimeouts);
  assert.ok(store.stats().lockWaits > 0, 'the transfers did queue for the page');
  await store.close();
});

test('starvation: a long transaction commits while a stream of short ones competes for its page', async () => {
  // The long one reads twenty accounts with a yield after each, then writes them all: under "the requester
  // that closes the cycle is the victim" it lost every upgrade to a short one waiting on its page, for ever.
  const accounts = 50;
  const store = await openBank(accounts);
  const next = random(12);
  let longFinished = false;
  let shortCommits = 0;
  let shortCommitsBeforeLong = -1;
  const short = () => store.transaction(async (tx) => {
    const account = Math.floor(next() * accounts);
    const balance = balanceOf(await tx.get('accounts', u32Key(account)));
    await yieldTurn();
    await tx.put('accounts', u32Key(account), balanceBytes(balance + 1n));
  }).then(() => void shortCommits++);
  const stream = (async () => {
    const inFlight = new Set<Promise<void>>();
    while (!longFinished) {
      while (inFlight.size < 8) {
        const running: Promise<void> = short().finally(() => inFlight.delete(running));
        inFlight.add(running);
      }
      await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  })();
  while (shortCommits < 20) await yieldTurn();
  await store.transaction(async (tx) => {
    const seen: bigint[] = [];
    for (let account = 0; account < 20; account++) {
      seen.push(balanceOf(await tx.get('accounts', u32Key(account))));
      await yieldTurn();
    }
    shortCommitsBeforeLong = shortCommits;
    for (let account = 0; account < 20; account++) await tx.put('accounts', u32Key(account), balanceBytes(seen[account] + 1_000n));
  });
  longFinished = true;
  await stream;
  assert.ok(shortCommitsBeforeLong > 20, 'short transactions committed while the long one ran');
  const total = await store.transaction(async (tx) => {
    let sum = 0n;
    for await (const [, value] of tx.range('accounts')) sum += balanceOf(value);
    return sum;
  });
  assert.equal(total, START_BALANCE * BigInt(accounts) + 20_000n + BigInt(shortCommits));
  await store.close();
});

test('a try still running at its deadline loses its locks at once; it fails with TransactionTimeoutError on return', async () => {
  const store = await openStore();
  let resume = () => {};
  const hang = new Promise<void>((resolve) => (resume = resolve));
  const stuck = store.transaction(async (tx) => {
    await tx.put('t', text('k'), text('stuck'));
    await hang;
    return 'late';
  }, { timeoutMs: 50 });
  // Waits behind the stuck transaction's EXCLUSIVE lock until the deadline sweep takes it away.
  await store.transaction(async (tx) => tx.put('t', text('k'), text('other')));
  resume();
  await assert.rejects(stuck, (error) => error instanceof TransactionTimeoutError && error.code === 'STORE_TRANSACTION_TIMEOUT');
  assert.deepEqual(await store.transaction(async (tx) => tx.get('t', text('k'))), text('other'));
  assert.equal(store.stats().transactionTimeouts, 1);
  await store.close();
});

test('a swept try fails at its next store call, and its pending increments are withdrawn', async () => {
  const store = await openStore();
  await store.transaction(async (tx) => tx.increment('c', text('n'), 10n));
  const pending = gate();
  const hang = gate();
  const stuck = store.transaction(async (tx) => {
    await tx.increment('c', text('n'), -5n, { min: 0n });
    pending.open();
    await hang.wait;
    await tx.get('c', text('other'));
  }, { timeoutMs: 50 });
  const takeAll = () => store.transaction(async (tx) => tx.increment('c', text('n'), -10n, { min: 0n }));
  // Taking all 10 with the same bound is refused while the stuck -5 is pending, admitted once the deadline
  // sweep has wounded the stuck try (the state waited for: the store counts the timeout when it wounds).
  // The refusal cannot race the 50 ms deadline: from the stuck try's increment to this one's admission check
  // only promise callbacks run, and the sweep is a timer, which runs only after them.
  await pending.wait;
  await assert.rejects(takeAll(), EscrowBoundError);
  await until(() => store.stats().transactionTimeouts >= 1);
  await takeAll();
  hang.open();
  await assert.rejects(stuck, TransactionTimeoutError);
  assert.equal(await store.transaction(async (tx) => tx.counter('c', text('n'))), 0n);
  await store.close();
});

test('getMany and range forUpdate take EXCLUSIVE: a plain reader of those pages waits for the commit', async () => {
  const store = await openStore();
  await store.transaction(async (tx) => {
    for (let i = 0; i < 2_000; i++) await tx.put('t', u32Key(i), new Uint8Array(40));
  });
  assert.ok(store.stats().pages > 5);
  for (const read of ['getMany', 'range'] as const) {
    const order: string[] = [];
    const locked = gate();
    const waitsBefore = store.stats().lockWaits;
    let readerFinished = false;
    const writer = store.transaction(async (tx) => {
      if (read === 'getMany') await tx.getMany('t', [u32Key(10), u32Key(1_990)], { forUpdate: true });
      else for await (const entry of tx.range('t', { gte: u32Key(0), lt: u32Key(2_000), forUpdate: true })) assert.ok(entry);
      locked.open();
      // The reader is now queued on the page (or finished, if a shared lock let it through).
      await until(() => store.stats().lockWaits > waitsBefore || readerFinished);
      order.push(`${read} commits`);
    });
    await locked.wait;
    const reader = store.transaction(async (tx) => {
      await tx.get('t', u32Key(1_990));
      order.push('reader reads');
    }).finally(() => (readerFinished = true));
    await Promise.all([writer, reader]);
    assert.deepEqual(order, [`${read} commits`, 'reader reads']);
    assert.equal(store.stats().lockWaits, waitsBefore + 1, 'the reader waited once, for the forUpdate lock');
  }
  assert.equal(store.stats().deadlocks, 0);
  await store.close();
});

test('forUpdate reads then writes by 200 transactions on one key: no upgrade deadlock', async () => {
  const store = await openStore();
  await store.transaction(async (tx) => tx.put('t', text('hot'), balanceBytes(0n)));
  await Promise.all(Array.from({ length: 200 }, () => store.transaction(async (tx) => {
    const [value] = await tx.getMany('t', [text('hot')], { forUpdate: true });
    await yieldTurn();
    await tx.put('t', text('hot'), balanceBytes(balanceOf(value) + 1n));
  }, { retries: 1, lockTimeoutMs: 3_600_000 })));
  assert.equal(balanceOf(await store.transaction(async (tx) => tx.get('t', text('hot')))), 200n);
  assert.equal(store.stats().deadlocks, 0);
  await store.close();
});

test('bad read options and transaction timeouts are typed errors and change nothing', async () => {
  const store = await openStore();
  await store.transaction(async (tx) => tx.put('t', text('k'), text('v')));
  const hostile = [null, 5, 'forUpdate', { forUpdate: 'yes' }, { forUpdate: 1 }, { forUpdate: null }];
  await store.transaction(async (tx) => {
    for (const options of hostile) {
      await assert.rejects(tx.get('t', text('k'), options as never), StoreArgumentError);
      await assert.rejects(tx.getMany('t', [text('k')], options as never), StoreArgumentError);
    }
    for (const forUpdate of ['yes', 1, null]) assert.throws(() => tx.range('t', { forUpdate } as never), StoreArgumentError);
    assert.deepEqual(await tx.get('t', text('k'), { forUpdate: false }), text('v'));
    assert.deepEqual(await tx.get('t', text('k'), {}), text('v'));
  });
  for (const timeoutMs of [0, -1, 1.5, 3_600_001, '100', Number.NaN, Number.POSITIVE_INFINITY]) {
    await assert.rejects(store.transaction(() => Promise.resolve(), { timeoutMs } as never), StoreArgumentError);
    await assert.rejects(openStore({ timeoutMs } as never), StoreArgumentError);
  }
  for (const retries of [0, 1.5, 1_001, '3']) await assert.rejects(store.transaction(() => Promise.resolve(), { retries } as never), StoreArgumentError);
  assert.equal(store.stats().transactionsCommitted, 2);
  assert.equal(store.stats().records, 1);
  await store.close();
});
