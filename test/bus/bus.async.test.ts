// Checks asynchronous calls: acall/getReply by descriptor, TPGETANY (replies in arrival order, each
// descriptor once), cancel (reply discarded and counted, descriptor stale, a not-yet-started request
// dropped), TPEBADDESC for unknown/cancelled/consumed descriptors, getReply with TPNOBLOCK, TPNOREPLY, and
// the documented choice for getReply after TPETIME: the TPETIME is delivered once, then the cd is stale.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBus, XatmiError, TPGETANY, TPNOBLOCK, TPNOREPLY } from 'purser';

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'replied';
  } catch (error) {
    assert.ok(error instanceof XatmiError);
    return error.code;
  }
}

function delayed() {
  const bus = createBus();
  bus.advertise('DELAY', async (request) => {
    const { delayMs, tag } = request.data as { delayMs: number; tag: string };
    await sleep(delayMs);
    return tag;
  }, { servers: 8 });
  return bus;
}

test('acall + getReply by descriptor, in any order', async () => {
  const bus = delayed();
  const a = bus.acall('DELAY', { delayMs: 20, tag: 'a' });
  const b = bus.acall('DELAY', { delayMs: 1, tag: 'b' });
  assert.notEqual(a, b);
  assert.ok(a > TPGETANY && b > TPGETANY, 'descriptors never collide with TPGETANY');
  assert.deepEqual(await bus.getReply(a), { cd: a, data: 'a', urcode: 0 });
  assert.deepEqual(await bus.getReply(b), { cd: b, data: 'b', urcode: 0 });
  assert.equal(await codeOf(bus.getReply(a)), 'TPEBADDESC'); // consumed
  assert.equal(await codeOf(bus.getReply(999_999)), 'TPEBADDESC'); // never issued
  await bus.close();
});

test('TPGETANY returns replies in arrival order, each descriptor once, then TPEBADDESC', async () => {
  const bus = delayed();
  const slow = bus.acall('DELAY', { delayMs: 30, tag: 'slow' });
  const fast = bus.acall('DELAY', { delayMs: 2, tag: 'fast' });
  const middle = bus.acall('DELAY', { delayMs: 15, tag: 'middle' });
  const first = await bus.getReply(TPGETANY);
  const second = await bus.getReply(0, { flags: TPGETANY });
  const third = await bus.getReply(TPGETANY);
  assert.deepEqual([first, second, third].map((reply) => [reply.cd, reply.data]), [[fast, 'fast'], [middle, 'middle'], [slow, 'slow']]);
  assert.equal(await codeOf(bus.getReply(TPGETANY)), 'TPEBADDESC');
  await bus.close();
});

test('getReply with TPNOBLOCK: TPEBLOCK while the reply is not there, the reply once it is', async () => {
  const bus = delayed();
  const cd = bus.acall('DELAY', { delayMs: 10, tag: 'x' });
  assert.equal(await codeOf(bus.getReply(cd, { flags: TPNOBLOCK })), 'TPEBLOCK');
  assert.equal(await codeOf(bus.getReply(TPGETANY, { flags: TPNOBLOCK })), 'TPEBLOCK');
  await sleep(30);
  assert.equal((await bus.getReply(cd, { flags: TPNOBLOCK })).data, 'x');
  await bus.close();
});

test('two getReply on one descriptor: the second is TPEPROTO', async () => {
  const bus = delayed();
  const cd = bus.acall('DELAY', { delayMs: 5, tag: 'x' });
  const first = bus.getReply(cd);
  assert.equal(await codeOf(bus.getReply(cd)), 'TPEPROTO');
  assert.equal((await first).data, 'x');
  await bus.close();
});

test('cancel: the reply is discarded and counted, the cd is stale, a waiting getReply gets TPEBADDESC', async () => {
  const bus = delayed();
  const cd = bus.acall('DELAY', { delayMs: 10, tag: 'x' });
  const waiting = codeOf(bus.getReply(cd));
  bus.cancel(cd);
  assert.equal(await waiting, 'TPEBADDESC');
  assert.equal(await codeOf(bus.getReply(cd)), 'TPEBADDESC');
  assert.throws(() => bus.cancel(cd), (error: unknown) => (error as XatmiError).code === 'TPEBADDESC');
  assert.throws(() => bus.cancel(12345), (error: unknown) => (error as XatmiError).code === 'TPEBADDESC');
  await sleep(30);
  assert.equal(bus.stats().cancelledReplies, 1);
  assert.equal(bus.stats().lateReplies, 0);
  await bus.close();
});

test('cancel of a request still queued drops it unrun', async () => {
  const bus = createBus();
  const ran: string[] = [];
  bus.advertise('ONE', async (request) => {
    ran.push(request.data as string);
    await sleep(10);
    return request.data;
  }, { servers: 1 });
  const running = bus.acall('ONE', 'running');
  const queued = bus.acall('ONE', 'queued');
  assert.equal(bus.pq()[0].queued, 1);
  bus.cancel(queued);
  assert.equal(bus.pq()[0].queued, 0);
  assert.equal((await bus.getReply(running)).data, 'running');
  await sleep(20);
  assert.deepEqual(ran, ['running']);
  await bus.close();
});

test('getReply after TPETIME: TPETIME once (even if asked late), then the cd is stale; the late reply is dropped', async () => {
  const bus = delayed();
  const cd = bus.acall('DELAY', { delayMs: 40, tag: 'late' }, { timeoutMs: 10 });
  await sleep(20); // the deadline passes before anyone asks
  assert.equal(await codeOf(bus.getReply(cd)), 'TPETIME');
  assert.equal(await codeOf(bus.getReply(cd)), 'TPEBADDESC');
  const waiting = bus.acall('DELAY', { delayMs: 40, tag: 'late' }, { timeoutMs: 10 });
  assert.equal(await codeOf(bus.getReply(waiting)), 'TPETIME'); // asked while waiting
  await sleep(50);
  assert.equal(bus.stats().lateReplies, 2);
  await bus.close();
});

test('TPNOREPLY: cd 0, the request runs, nothing is kept for it', async () => {
  const bus = createBus();
  const got: unknown[] = [];
  bus.advertise('SINK', (request) => {
    got.push(request.data);
    return 'ignored';
  });
  assert.equal(bus.acall('SINK', 'fire', { flags: TPNOREPLY }), 0);
  await sleep(1);
  assert.deepEqual(got, ['fire']);
  assert.equal(await codeOf(bus.getReply(TPGETANY)), 'TPEBADDESC');
  assert.equal(bus.stats().lateReplies, 0);
  await bus.close();
});

test('a service that returns with descriptors outstanding fails (TPESVCERR) and its descriptors are cancelled', async () => {
  const bus = delayed();
  bus.advertise('LEAKY', (request) => {
    request.acall('DELAY', { delayMs: 5, tag: 'forgotten' });
    return 'done';
  });
  bus.advertise('TIDY', async (request) => {
    const cd = request.acall('DELAY', { delayMs: 1, tag: 'taken' });
    const other = request.acall('DELAY', { delayMs: 1, tag: 'cancelled' });
    request.cancel(other);
    return (await request.getReply(cd)).data;
  });
  assert.equal(await codeOf(bus.call('LEAKY', null)), 'TPESVCERR');
  assert.equal((await bus.call('TIDY', null)).data, 'taken');
  assert.equal(await codeOf(bus.getReply(TPGETANY)), 'TPEBADDESC'); // nothing left behind
  await sleep(20);
  assert.equal(bus.stats().cancelledReplies, 2);
  await bus.close();
});
