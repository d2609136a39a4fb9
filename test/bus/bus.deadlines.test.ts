// Checks deadlines: TPETIME never arrives before the deadline (its lateness is printed, not asserted: how
// late a timer fires measures the machine, and belongs to the benchmarks); a request that expires while
// queued or while waiting for a slot in a full queue is dropped unrun and counted; a full queue wakes a
// waiter when a slot frees (its own deadline is far away, so only the slot can answer it); TPNOTIME waits
// past any default; nested calls and forward inherit the remaining time; a late reply is dropped and
// counted and never reaches a later call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBus, XatmiError, TPNOTIME, type ServiceRequest } from 'purser';

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function timeoutLatenessMs(promise: Promise<unknown>, deadlineMs: number): Promise<number> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof XatmiError);
    assert.equal(error.code, 'TPETIME');
    return performance.now() - deadlineMs;
  }
  assert.fail('expected TPETIME');
}

test('TPETIME arrives after the deadline, never before it', async () => {
  const bus = createBus();
  bus.advertise('HANG', () => new Promise(() => {}), { servers: 100 });
  const latenesses: number[] = [];
  const runs = [];
  for (let index = 0; index < 40; index++) {
    const timeoutMs = 5 + (index % 8) * 7;
    const deadlineMs = performance.now() + timeoutMs;
    runs.push(timeoutLatenessMs(bus.call('HANG', index, { timeoutMs }), deadlineMs).then((ms) => latenesses.push(ms)));
  }
  await Promise.all(runs);
  latenesses.sort((a, b) => a - b);
  for (const ms of latenesses) {
    assert.ok(ms >= -0.001, `TPETIME came ${-ms} ms early`);
  }
  console.log(`TPETIME lateness: median ${latenesses[20].toFixed(2)} ms, max ${latenesses[39].toFixed(2)} ms`);
  assert.equal(bus.pq()[0].busy, 40); // answering TPETIME does not free the server: the handler still runs
  await bus.close({ drainTimeoutMs: 0 });
});

test('a request that expires while queued is dropped unrun and counted; so is one waiting for a slot', async () => {
  const bus = createBus();
  const ran: number[] = [];
  bus.advertise('ONE', async (request) => {
    ran.push(request.data as number);
    await sleep(60);
    return request.data;
  }, { servers: 1, queueDepth: 1 });
  const first = bus.call('ONE', 1, { timeoutMs: 600_000 });
  const queued = bus.call('ONE', 2, { timeoutMs: 15 }).catch((error: XatmiError) => error.code);
  const waiting = bus.call('ONE', 3, { timeoutMs: 20 }).catch((error: XatmiError) => error.code);
  assert.deepEqual(bus.pq()[0], { ...bus.pq()[0], queued: 1, waitingForSlot: 1 });
  assert.equal(await queued, 'TPETIME');
  assert.equal(await waiting, 'TPETIME');
  assert.equal((await first).data, 1);
  await sleep(5);
  assert.deepEqual(ran, [1]);
  assert.equal(bus.stats().expiredInQueue, 2);
  assert.equal(bus.psc()[0].expiredInQueue, 2);
  await bus.close();
});

test('a full queue wakes the waiter when a slot frees, not at its deadline; TPNOTIME waits without limit', async () => {
  const bus = createBus({ defaultTimeoutMs: 30 });
  bus.advertise('SLOWISH', async (request) => {
    await sleep(20);
    return request.data;
  }, { servers: 1, queueDepth: 1 });
  // Deadlines beyond the test's own timeout: a waiter that answers at all was woken by the slot.
  const calls = [bus.call('SLOWISH', 1, { timeoutMs: 600_000 }), bus.call('SLOWISH', 2, { timeoutMs: 600_000 })];
  const waiter = bus.call('SLOWISH', 3, { timeoutMs: 600_000 });
  assert.equal(bus.pq()[0].waitingForSlot, 1);
  assert.equal((await waiter).data, 3);
  await Promise.all(calls);
  // The default timeout is 30 ms; three 20 ms requests in a row need 60 ms: only TPNOTIME gets through.
  const noTime = [1, 2, 3].map((n) => bus.call('SLOWISH', n, { flags: TPNOTIME }));
  for (const [index, reply] of (await Promise.all(noTime)).entries()) assert.equal(reply.data, index + 1);
  await bus.close();
});

test('nested calls inherit the remaining time; an own longer timeout does not extend it', async () => {
  const bus = createBus();
  let innerRemainingMs = 0;
  bus.advertise('INNER', async (request) => {
    innerRemainingMs = request.remainingMs();
    await sleep(1000);
    return 'never';
  });
  bus.advertise('OUTER', async (request: ServiceRequest) => {
    try {
      await request.call('INNER', null, { timeoutMs: 10_000 });
      return 'inner answered';
    } catch (error) {
      return `inner ${(error as XatmiError).code} after ${Math.round(performance.now() - started)} ms`;
    }
  });
  const started = performance.now();
  const outer = bus.call('OUTER', null, { timeoutMs: 40 }).catch((error: XatmiError) => error.code);
  assert.equal(await outer, 'TPETIME');
  assert.ok(innerRemainingMs > 0 && innerRemainingMs <= 40, `inner saw ${innerRemainingMs} ms left`);
  await bus.close({ drainTimeoutMs: 0 });
});

test('forward keeps the original deadline and the reply goes straight to the original caller', async () => {
  const bus = createBus();
  const seen: Array<{ service: string; data: unknown; remainingMs: number }> = [];
  bus.advertise('FRONT', (request) => {
    seen.push({ service: request.service, data: request.data, remainingMs: request.remainingMs() });
    return request.forward('BACK', { wrapped: request.data });
  });
  bus.advertise('BACK', async (request) => {
    seen.push({ service: request.service, data: request.data, remainingMs: request.remainingMs() });
    await sleep(1);
    return { answer: request.data };
  });
  const reply = await bus.call('FRONT', 7, { timeoutMs: 500 });
  assert.deepEqual(reply.data, { answer: { wrapped: 7 } });
  assert.equal(seen.length, 2);
  assert.ok(seen[1].remainingMs <= seen[0].remainingMs && seen[1].remainingMs <= 500);
  // A forward that outlives the deadline is answered TPETIME; the slow back end's reply is then late.
  bus.advertise('LATEBACK', async () => {
    await sleep(40);
    return 'late';
  });
  bus.advertise('FRONT2', (request) => request.forward('LATEBACK', null));
  const code = await bus.call('FRONT2', null, { timeoutMs: 15 }).catch((error: XatmiError) => error.code);
  assert.equal(code, 'TPETIME');
  await sleep(50);
  assert.equal(bus.stats().lateReplies, 1);
  // A handler that overruns the deadline before forwarding (the timer cannot fire while it spins): the
  // next service is not started, the caller gets TPETIME and the request counts as expired.
  let backRan = false;
  bus.advertise('NEVER', () => {
    backRan = true;
    return 'ran';
  });
  bus.advertise('OVERRUN', (request) => {
    const untilMs = performance.now() + 15;
    while (performance.now() < untilMs);
    return request.forward('NEVER', null);
  });
  const expiredBefore = bus.stats().expiredInQueue;
  assert.equal(await bus.call('OVERRUN', null, { timeoutMs: 5 }).catch((error: XatmiError) => error.code), 'TPETIME');
  assert.equal(backRan, false);
  assert.equal(bus.stats().expiredInQueue, expiredBefore + 1);
  // Forward to an unknown service fails in the handler (TPENOENT thrown there), so the caller gets TPESVCERR.
  bus.advertise('BADFWD', (request) => request.forward('NOWHERE', null));
  assert.equal(await bus.call('BADFWD', null).catch((error: XatmiError) => error.code), 'TPESVCERR');
  await bus.close();
});

test('a late reply is dropped and counted; the next call on the same server gets its own reply', async () => {
  const bus = createBus();
  bus.advertise('VARIABLE', async (request) => {
    const { delayMs, tag } = request.data as { delayMs: number; tag: string };
    await sleep(delayMs);
    return tag;
  }, { servers: 1 });
  const slow = bus.call('VARIABLE', { delayMs: 40, tag: 'slow' }, { timeoutMs: 10 }).catch((error: XatmiError) => error.code);
  const next = bus.call('VARIABLE', { delayMs: 0, tag: 'next' }, { timeoutMs: 600_000 });
  assert.equal(await slow, 'TPETIME');
  assert.equal((await next).data, 'next');
  assert.equal(bus.stats().lateReplies, 1);
  await bus.close();
});
