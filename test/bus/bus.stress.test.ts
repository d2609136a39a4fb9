// Stress: thousands of calls with random service latencies and random timeouts, some synchronous, some
// asynchronous (acall + getReply by cd, and TPGETANY), through a small queue. Every reply must be the
// reply to its own request (the handler echoes a unique token), every request gets exactly one outcome,
// and every reply that arrived after its caller's TPETIME is counted as late and delivered to no one. Which
// random request times out depends on the machine's speed, so the test also plants requests whose outcome
// does not: some held until they have all timed out, some with far deadlines that must be answered. It also
// checks that no more handlers run at once than the service has servers, and (first, behind a gate, so that
// it does not depend on the scheduler) that all of them are used.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBus, XatmiError, TPGETANY, TPNOBLOCK } from 'purser';
import { gate, turn } from './_gates.js';

const CALLS = 3000;
/** Every HELD_EVERY-th request (a getReply-by-cd one) is held until all of them have had TPETIME. */
const HELD_EVERY = 375;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// A lost outcome or one delivered twice leaves some waiter unsettled: the timeout turns that hang into a failure.
test('under random latencies every reply matches its request; late replies are counted, never delivered', { timeout: 300_000 }, async () => {
  const bus = createBus();
  let handled = 0;
  let running = 0;
  let mostRunning = 0;
  let openGate!: () => void;
  const openedGate = new Promise<void>((resolve) => (openGate = resolve));
  let sixteenRunning!: () => void;
  const allServersBusy = new Promise<void>((resolve) => (sixteenRunning = resolve));
  const holdDoor = gate();
  bus.advertise('RANDOM', async (request) => {
    const { token, delayMs, gated, held } = request.data as { token: number; delayMs: number; gated?: boolean; held?: boolean };
    running += 1;
    mostRunning = Math.max(mostRunning, running);
    if (running === 16) sixteenRunning();
    if (gated === true) await openedGate;
    else if (held === true) await holdDoor.wait;
    else if (delayMs > 0) await sleep(delayMs); // the random service latency under test, not a wait of the test's
    running -= 1;
    if (gated !== true) handled += 1;
    return { token };
  }, { servers: 16, queueDepth: 64 });

  // 32 requests against a closed gate: all 16 servers take one, the other 16 queue, none runs beyond 16.
  const gated = Array.from({ length: 32 }, (_, token) => bus.call('RANDOM', { token, delayMs: 0, gated: true }, { timeoutMs: 600_000 }));
  await allServersBusy;
  assert.equal(bus.pq()[0].busy, 16, 'all 16 servers run a gated request');
  assert.equal(bus.pq()[0].queued, 16, 'the rest wait in the queue');
  openGate();
  for (const [token, reply] of (await Promise.all(gated)).entries()) assert.equal((reply.data as { token: number }).token, token);
  assert.equal(bus.stats().expiredInQueue, 0, 'no gated request expired');

  let timeouts = 0;
  let replies = 0;
  const outcomes = new Map<number, string>();
  const record = (token: number, outcome: string) => {
    assert.equal(outcomes.has(token), false, `token ${token} got two outcomes`);
    outcomes.set(token, outcome);
  };
  const check = (token: number, promise: Promise<{ data: unknown }>) =>
    promise.then(
      (reply) => {
        assert.equal((reply.data as { token: number }).token, token, 'a reply reached the wrong request');
        replies += 1;
        record(token, 'reply');
      },
      (error: unknown) => {
        assert.ok(error instanceof XatmiError);
        assert.equal(error.code, 'TPETIME');
        timeouts += 1;
        record(token, 'TPETIME');
      },
    );

  const anyTokens = new Map<number, number>();
  const work: Array<Promise<unknown>> = [];
  const heldWork: Array<Promise<unknown>> = [];
  const heldTokens: number[] = [];
  const sureTokens: number[] = [];
  for (let token = 0; token < CALLS; token++) {
    const held = token % HELD_EVERY === 1;
    const sure = token % HELD_EVERY === 2;
    const data = { token, held, delayMs: sure || Math.random() < 0.3 ? 0 : Math.floor(Math.random() * 12) };
    const timeoutMs = sure ? 600_000 : 3 + Math.floor(Math.random() * 20);
    if (held) heldTokens.push(token);
    if (sure) sureTokens.push(token);
    const mode = held ? 1 : token % 3;
    if (mode === 0) work.push(check(token, bus.call('RANDOM', data, { timeoutMs })));
    else if (mode === 1) (held ? heldWork : work).push(check(token, bus.getReply(bus.acall('RANDOM', data, { timeoutMs }))));
    else anyTokens.set(bus.acall('RANDOM', data, { timeoutMs }), token);
    // Let due deadlines and replies run between batches, so they interleave with new calls.
    if (token % 50 === 0) await turn();
  }
  await Promise.all(heldWork);
  assert.deepEqual(heldTokens.map((token) => outcomes.get(token)), heldTokens.map(() => 'TPETIME'), 'a held request can only time out');
  holdDoor.open();
  for (let remaining = anyTokens.size; remaining > 0; remaining--) {
    work.push(
      bus.getReply(TPGETANY).then(
        (reply) => {
          const token = anyTokens.get(reply.cd);
          assert.notEqual(token, undefined, `TPGETANY returned unknown cd ${reply.cd}`);
          assert.equal((reply.data as { token: number }).token, token, 'a TPGETANY reply reached the wrong descriptor');
          anyTokens.delete(reply.cd);
          replies += 1;
          record(token!, 'reply');
        },
        (error: unknown) => {
          assert.equal((error as XatmiError).code, 'TPETIME');
          timeouts += 1;
        },
      ),
    );
  }
  await Promise.all(work);
  // Every descriptor was settled and taken exactly once: none is left for another TPGETANY.
  assert.equal(await bus.getReply(TPGETANY, { flags: TPNOBLOCK }).then(() => 'replied', (error: XatmiError) => error.code), 'TPEBADDESC');
  await bus.close();
  const stats = bus.stats();
  assert.deepEqual(sureTokens.filter((token) => outcomes.get(token) !== 'reply'), [], 'a request with a far deadline was not answered');
  assert.ok(timeouts >= heldTokens.length && replies >= sureTokens.length, `replies ${replies}, timeouts ${timeouts}`);
  // Every timed-out request either never ran (expired in the queue) or ran and its reply was late.
  assert.equal(stats.expiredInQueue + stats.lateReplies, timeouts);
  assert.equal(handled, CALLS - stats.expiredInQueue);
  assert.equal(mostRunning, 16, 'never more handlers at once than the 16 servers (and the gate filled them all)');
});
