// Checks worker-thread servers (advertise with a module URL): replies, TPESVCFAIL/TPESVCERR from a worker,
// forward and nested calls from a worker (which inherit the deadline), data that cannot cross threads; and
// the crash rules: a worker dying mid-request fails its in-flight callers with TPESVCERR at once (well
// before their deadline), its busy count is undone, it restarts after a back-off, queued requests go to
// the surviving workers, and once the restart budget is spent queued requests are answered TPESVCERR.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBus, XatmiError, type Bus } from 'purser';
import { until } from './_gates.js';
import { codeOf } from '../_xatmi.js';

const MODULE = new URL('./fixtures/worker-service.ts', import.meta.url);

/** A gate a worker can wait on: a flag in shared memory, passed in the request's data (op 'gate'). */
function sharedGate(): { flag: Int32Array; open: () => void } {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  return {
    flag,
    open: () => {
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
    },
  };
}

/** MAIN_ECHO runs on the main thread, for workers to forward and call to; it notes the time it was given. */
function withMain(bus: Bus): { remainingMs: number[] } {
  const seen = { remainingMs: [] as number[] };
  bus.advertise('MAIN_ECHO', (request) => {
    seen.remainingMs.push(request.remainingMs());
    return request.data;
  });
  return seen;
}

test('worker servers reply, fail, forward and call back into the bus with the inherited deadline', async () => {
  // A default deadline longer than the call's: a deadline that did not travel would show as more time left.
  const bus = createBus({ defaultTimeoutMs: 600_000 });
  const main = withMain(bus);
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
  main.remainingMs.length = 0;
  const nested = await bus.call('W', { op: 'nested', value: 'hi' }, { timeoutMs: 300_000 });
  assert.equal(nested.urcode, 9);
  const { nested: inner, remainingMs } = nested.data as { nested: unknown; remainingMs: number };
  assert.equal(inner, 'hi');
  assert.ok(remainingMs > 0 && remainingMs <= 300_000, `worker saw ${remainingMs} ms left`);
  assert.equal(main.remainingMs.length, 1);
  assert.ok(main.remainingMs[0] >= remainingMs && main.remainingMs[0] <= 300_000, `the nested call had ${main.remainingMs[0]} ms left`);
  assert.equal(await codeOf(bus.call('W', { op: 'echo', value: () => 1 })), 'TPEINVAL');
  assert.equal(await codeOf(bus.call('W', { op: 'uncloneable' })), 'TPESVCERR');
  // Both threads take work.
  const threads = new Set((await Promise.all(Array.from({ length: 64 }, () => bus.call('W', { op: 'thread' })))).map((reply) => reply.data));
  assert.equal(threads.size, 2);
  // Held in the worker until its caller has had TPETIME: it either ran and its reply is dropped as late, or
  // it reached the worker after its deadline and was given back unrun.
  const door = sharedGate();
  assert.equal(await codeOf(bus.call('W', { op: 'gate', gate: door.flag }, { timeoutMs: 20 })), 'TPETIME');
  door.open();
  await until(() => bus.pq().find((row) => row.service === 'W')!.busy === 0, 'the held request to end');
  assert.equal(bus.stats().lateReplies + bus.stats().expiredInQueue, 1);
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
  await until(() => bus.stats().workerRestarts === 1 && bus.psr().every((server) => server.state === 'running'), 'the crashed worker restarted');
  assert.equal(bus.psr().reduce((sum, server) => sum + server.restarts, 0), 1);
  // An uncaught exception in a worker kills it too.
  assert.equal(await codeOf(bus.call('W', { op: 'crash-later', ms: 5 }, { timeoutMs: 10_000 })), 'TPESVCERR');
  await until(() => bus.stats().workerRestarts === 2, 'the second restart');
  assert.equal((await bus.call('W', { op: 'echo', value: 2 })).data, 2);
  await bus.close();
});

test('queued requests go to the surviving worker; with the budget spent they are answered TPESVCERR', async () => {
  const bus = createBus();
  bus.advertise('W', MODULE, { threads: 2, pipelineDepth: 1, restartsMax: 0 });
  await Promise.all([bus.call('W', { op: 'echo', value: 0 }), bus.call('W', { op: 'echo', value: 0 })]);
  // Occupy both workers (one held by a gate), queue three more, then crash the other one.
  const door = sharedGate();
  const slow = bus.call('W', { op: 'gate', gate: door.flag, value: 'slow' });
  const crash = bus.call('W', { op: 'crash' });
  const queued = [1, 2, 3].map((value) => bus.call('W', { op: 'echo', value }));
  assert.equal(bus.pq()[0].queued, 3);
  assert.equal(await codeOf(crash), 'TPESVCERR');
  // The crash answered only its own caller: the queued requests wait for the survivor, still held.
  assert.deepEqual([bus.pq()[0].queued, bus.pq()[0].busy], [3, 1]);
  door.open();
  assert.deepEqual((await Promise.all(queued)).map((reply) => reply.data), [1, 2, 3]);
  assert.equal((await slow).data, 'slow');
  await until(() => bus.psr().some((server) => server.state === 'dead'), 'the crashed worker marked dead');
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
  // A quarter of the calls are held in a worker until all of them have had TPETIME, so they can only time
  // out, and their late replies come back through pipelines that hold other requests; the rest have far
  // deadlines and random latencies, so they must all be answered, each with its own token.
  const door = sharedGate();
  let replies = 0;
  let timeouts = 0;
  const held: Array<Promise<void>> = [];
  const answered: Array<Promise<void>> = [];
  for (let token = 0; token < 400; token++) {
    const isHeld = token % 4 === 0;
    const data = isHeld ? { op: 'gate', gate: door.flag, value: token } : { op: 'sleep', ms: Math.floor(Math.random() * 6), value: token };
    const call = bus.call('W', data, { timeoutMs: isHeld ? 5 + Math.floor(Math.random() * 30) : 600_000 }).then(
      (reply) => {
        assert.equal(isHeld, false, `held request ${token} was answered`);
        assert.equal(reply.data, token, 'a worker reply reached the wrong request');
        replies += 1;
      },
      (error: unknown) => {
        assert.equal((error as XatmiError).code, 'TPETIME');
        assert.equal(isHeld, true, `request ${token} with a far deadline timed out`);
        timeouts += 1;
      },
    );
    (isHeld ? held : answered).push(call);
  }
  await Promise.all(held);
  door.open();
  await Promise.all(answered);
  await bus.close();
  assert.deepEqual([replies, timeouts], [answered.length, held.length]);
  // Every held request either reached a worker after its deadline (given back unrun) or ran and was late.
  assert.equal(bus.stats().expiredInQueue + bus.stats().lateReplies, held.length);
});

test('a service module that cannot load spends its restart budget and then answers TPESVCERR', { timeout: 120_000 }, async () => {
  const bus = createBus();
  bus.advertise('MISSING', new URL('./fixtures/does-not-exist.ts', import.meta.url), { threads: 1, restartsMax: 1 });
  // The worker dies at start-up; a request it held is answered at once; the restart dies too: budget spent.
  assert.equal(await codeOf(bus.call('MISSING', 1, { timeoutMs: 600_000 })), 'TPESVCERR');
  await until(() => bus.psr()[0].state === 'dead', 'the restart budget spent');
  // Answered, not left to its (far) deadline: a dead service fails a call at once.
  assert.equal(await codeOf(bus.call('MISSING', 2, { timeoutMs: 600_000 })), 'TPESVCERR');
  assert.equal(bus.psc()[0].status, 'UNAVAILABLE');
  await bus.close();
});
