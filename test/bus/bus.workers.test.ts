// Checks worker-thread servers (advertise with a module URL): replies, TPESVCFAIL/TPESVCERR from a worker,
// forward and nested calls from a worker (which inherit the deadline), data that cannot cross threads; and
// the crash rules: a worker dying mid-request fails its in-flight callers with TPESVCERR at once (well
// before their deadline), its busy count is undone, it restarts after a back-off, queued requests go to
// the surviving workers, and once the restart budget is spent queued requests are answered TPESVCERR.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBus, XatmiError, type Bus } from 'purser';

const MODULE = new URL('./fixtures/worker-service.ts', import.meta.url);

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'replied';
  } catch (error) {
    assert.ok(error instanceof XatmiError, String(error));
    return error.code;
  }
}

/** Waits for a state. The limit only turns a hang into a failure; it is no claim about speed. */
async function until(condition: () => boolean, timeoutMs = 60_000): Promise<void> {
  const started = performance.now();
  while (!condition()) {
    if (performance.now() - started > timeoutMs) assert.fail('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function withMain(bus: Bus): void {
  bus.advertise('MAIN_ECHO', (request) => request.data);
}

test('worker servers reply, fail, forward and call back into the bus with the inherited deadline', async () => {
  const bus = createBus();
  withMain(bus);
  bus.advertise('W', MODULE, { threads: 2 });
  assert.deepEqual((await bus.call('W', { op: 'echo', value: { a: [1, 2] } })).data, { a: [1, 2] });
  const bytes = new Uint8Array([9, 8, 7]);
  assert.deepEqual((await bus.call('W', { op: 'echo', value: bytes })).data, bytes);
  const failure = await bus.call('W', { op: 'fail', value: 'no' }).catch((error: XatmiError) => error);
  assert.equal((failure as XatmiError).code, 'TPESVCFAIL');
  assert.equal((failure as XatmiError).urcode, 42);
  assert.deepEqual((failure as XatmiError).data, { why: 'no' });
  assert.equal(await codeOf(bus.call('W', { op: 'throw' })), 'TPESVCERR');
  assert.deepEqual((await bus.call('W', { op: 'forward', value: 5 })).data, { forwarded: 5 });
  const nested = await bus.call('W', { op: 'nested', value: 'hi' }, { timeoutMs: 2000 });
  assert.equal(nested.urcode, 9);
  const { nested: inner, remainingMs } = nested.data as { nested: unknown; remainingMs: number };
  assert.equal(inner, 'hi');
  assert.ok(remainingMs > 0 && remainingMs <= 2000, `worker saw ${remainingMs} ms left`);
  assert.equal(await codeOf(bus.call('W', { op: 'echo', value: () => 1 })), 'TPEINVAL');
  assert.equal(await codeOf(bus.call('W', { op: 'uncloneable' })), 'TPESVCERR');
  // Both threads take work.
  const threads = new Set((await Promise.all(Array.from({ length: 64 }, () => bus.call('W', { op: 'thread' })))).map((reply) => reply.data));
  assert.equal(threads.size, 2);
  assert.equal(await codeOf(bus.call('W', { op: 'sleep', ms: 200 }, { timeoutMs: 20 })), 'TPETIME');
  await bus.close();
});

test('a worker dying mid-request fails its callers at once, undoes its busy count and restarts', { timeout: 120_000 }, async () => {
  const bus = createBus();
  bus.advertise('W', MODULE, { threads: 2, pipelineDepth: 1, restartsMax: 3 });
  await bus.call('W', { op: 'echo', value: 'warm' });
  // The deadline is far beyond the test's own timeout: TPESVCERR (not TPETIME, not a hang) means the
  // crash itself answered the caller, with no clock involved.
  assert.equal(await codeOf(bus.call('W', { op: 'crash' }, { timeoutMs: 600_000 })), 'TPESVCERR');
  assert.equal(bus.pq()[0].busy, 0, 'busy count undone');
  // The surviving worker serves while the dead one restarts.
  assert.equal((await bus.call('W', { op: 'echo', value: 1 })).data, 1);
  await until(() => bus.stats().workerRestarts === 1 && bus.psr().every((server) => server.state === 'running'));
  assert.equal(bus.psr().reduce((sum, server) => sum + server.restarts, 0), 1);
  // An uncaught exception in a worker kills it too.
  assert.equal(await codeOf(bus.call('W', { op: 'crash-later', ms: 5 }, { timeoutMs: 10_000 })), 'TPESVCERR');
  await until(() => bus.stats().workerRestarts === 2);
  assert.equal((await bus.call('W', { op: 'echo', value: 2 })).data, 2);
  await bus.close();
});

test('queued requests go to the surviving worker; with the budget spent they are answered TPESVCERR', async () => {
  const bus = createBus();
  bus.advertise('W', MODULE, { threads: 2, pipelineDepth: 1, restartsMax: 0 });
  await Promise.all([bus.call('W', { op: 'echo', value: 0 }), bus.call('W', { op: 'echo', value: 0 })]);
  // Occupy both workers, queue three more, then crash one of the two.
  const slow = bus.call('W', { op: 'sleep', ms: 100, value: 'slow' });
  const crash = bus.call('W', { op: 'crash' });
  const queued = [1, 2, 3].map((value) => bus.call('W', { op: 'echo', value }));
  assert.equal(bus.pq()[0].queued, 3);
  assert.equal(await codeOf(crash), 'TPESVCERR');
  assert.deepEqual((await Promise.all(queued)).map((reply) => reply.data), [1, 2, 3]);
  assert.equal((await slow).data, 'slow');
  await until(() => bus.psr().some((server) => server.state === 'dead'));
  assert.equal(bus.pq()[0].servers, 1);
  // Now the last worker dies with requests queued behind it: no servers remain, they are answered.
  const lastCrash = bus.call('W', { op: 'crash' });
  const stranded = [bus.call('W', { op: 'echo', value: 'a' }), bus.call('W', { op: 'echo', value: 'b' })];
  assert.equal(await codeOf(lastCrash), 'TPESVCERR');
  for (const call of stranded) assert.equal(await codeOf(call), 'TPESVCERR');
  assert.equal(bus.psc()[0].status, 'UNAVAILABLE');
  assert.equal(await codeOf(bus.call('W', { op: 'echo' })), 'TPESVCERR');
  await bus.close();
});

test('under random worker latencies every reply matches its request; late ones are dropped and counted', async () => {
  const bus = createBus();
  bus.advertise('W', MODULE, { threads: 2, pipelineDepth: 4 });
  let replies = 0;
  let timeouts = 0;
  const calls = Array.from({ length: 400 }, (_, token) =>
    bus.call('W', { op: 'sleep', ms: Math.floor(Math.random() * 6), value: token }, { timeoutMs: 5 + Math.floor(Math.random() * 30) }).then(
      (reply) => {
        assert.equal(reply.data, token, 'a worker reply reached the wrong request');
        replies += 1;
      },
      (error: unknown) => {
        assert.equal((error as XatmiError).code, 'TPETIME');
        timeouts += 1;
      },
    ),
  );
  await Promise.all(calls);
  await bus.close();
  assert.equal(replies + timeouts, 400);
  assert.equal(bus.stats().expiredInQueue + bus.stats().lateReplies, timeouts);
});

test('a service module that cannot load spends its restart budget and then answers TPESVCERR', { timeout: 120_000 }, async () => {
  const bus = createBus();
  bus.advertise('MISSING', new URL('./fixtures/does-not-exist.ts', import.meta.url), { threads: 1, restartsMax: 1 });
  // The worker dies at start-up; a request it held is answered at once; the restart dies too: budget spent.
  assert.equal(await codeOf(bus.call('MISSING', 1, { timeoutMs: 600_000 })), 'TPESVCERR');
  await until(() => bus.psr()[0].state === 'dead');
  // Answered, not left to its (far) deadline: a dead service fails a call at once.
  assert.equal(await codeOf(bus.call('MISSING', 2, { timeoutMs: 600_000 })), 'TPESVCERR');
  assert.equal(bus.psc()[0].status, 'UNAVAILABLE');
  await bus.close();
});
