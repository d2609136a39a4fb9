// Checks asynchronous calls: acall/getReply by descriptor, TPGETANY (replies in arrival order, each
// descriptor once), cancel (reply discarded and counted, descriptor stale, a not-yet-started request
// dropped), TPEBADDESC for unknown/cancelled/consumed descriptors, getReply with TPNOBLOCK, TPNOREPLY, and
// the documented choice for getReply after TPETIME: the TPETIME is delivered once, then the cd is stale.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBus, XatmiError, TPGETANY, TPNOBLOCK, TPNOREPLY, type BusOptions } from 'purser';
import { gate, gates, until } from './_gates.js';
import { codeOf } from '../_xatmi.js';

/**
 * A bus whose HOLD service answers each request with its tag once the test opens the gate of that name
 * (opened early, the handler passes at once): the test decides when each reply arrives, not a timer.
 */
function held(options: BusOptions = {}) {
  const bus = createBus(options);
  const doors = gates();
  bus.advertise('HOLD', async (request) => {
    const tag = request.data as string;
    await doors.named(tag).wait;
    return tag;
  }, { servers: 8 });
  const busy = () => bus.pq().find((row) => row.service === 'HOLD')!.busy;
  return { bus, open: (tag: string) => doors.open(tag), busy };
}

test('acall + getReply by descriptor, in any order', async () => {
  const { bus, open, busy } = held();
  const a = bus.acall('HOLD', 'a');
  const b = bus.acall('HOLD', 'b');
  assert.notEqual(a, b);
  assert.ok(a > TPGETANY && b > TPGETANY, 'descriptors never collide with TPGETANY');
  // b's reply arrives first (its run has ended); a is asked for first all the same.
  open('b');
  await until(() => busy() === 1, "b's run ended");
  const replyA = bus.getReply(a);
  open('a');
  assert.deepEqual(await replyA, { cd: a, data: 'a', urcode: 0 });
  assert.deepEqual(await bus.getReply(b), { cd: b, data: 'b', urcode: 0 });
  assert.equal(await codeOf(bus.getReply(a)), 'TPEBADDESC'); // consumed
  assert.equal(await codeOf(bus.getReply(999_999)), 'TPEBADDESC'); // never issued
  await bus.close();
});

test('TPGETANY returns replies in arrival order, each descriptor once, then TPEBADDESC', async () => {
  const { bus, open, busy } = held();
  const slow = bus.acall('HOLD', 'slow');
  const fast = bus.acall('HOLD', 'fast');
  const middle = bus.acall('HOLD', 'middle');
  // All three replies are there before anyone asks, arrived in an order unlike the descriptors' order.
  for (const [tag, stillBusy] of [['fast', 2], ['middle', 1], ['slow', 0]] as const) {
    open(tag);
    await until(() => busy() === stillBusy, `${tag}'s run ended`);
  }
  const first = await bus.getReply(TPGETANY);
  const second = await bus.getReply(0, { flags: TPGETANY });
  const third = await bus.getReply(TPGETANY);
  assert.deepEqual([first, second, third].map((reply) => [reply.cd, reply.data]), [[fast, 'fast'], [middle, 'middle'], [slow, 'slow']]);
  assert.equal(await codeOf(bus.getReply(TPGETANY)), 'TPEBADDESC');
  await bus.close();
});

test('getReply with TPNOBLOCK: TPEBLOCK while the reply is not there, the reply once it is', async () => {
  const { bus, open, busy } = held();
  const cd = bus.acall('HOLD', 'x');
  assert.equal(await codeOf(bus.getReply(cd, { flags: TPNOBLOCK })), 'TPEBLOCK');
  assert.equal(await codeOf(bus.getReply(TPGETANY, { flags: TPNOBLOCK })), 'TPEBLOCK');
  open('x');
  await until(() => busy() === 0, 'the run ended');
  assert.equal((await bus.getReply(cd, { flags: TPNOBLOCK })).data, 'x');
  await bus.close();
});

test('two getReply on one descriptor: the second is TPEPROTO', async () => {
  const { bus, open } = held();
  const cd = bus.acall('HOLD', 'x');
  const first = bus.getReply(cd);
  assert.equal(await codeOf(bus.getReply(cd)), 'TPEPROTO');
  open('x');
  assert.equal((await first).data, 'x');
  await bus.close();
});

test('cancel: the reply is discarded and counted, the cd is stale, a waiting getReply gets TPEBADDESC', async () => {
  const { bus, open, busy } = held();
  const cd = bus.acall('HOLD', 'x');
  const waiting = codeOf(bus.getReply(cd));
  bus.cancel(cd);
  assert.equal(await waiting, 'TPEBADDESC');
  assert.equal(await codeOf(bus.getReply(cd)), 'TPEBADDESC');
  assert.throws(() => bus.cancel(cd), (error: unknown) => (error as XatmiError).code === 'TPEBADDESC');
  assert.throws(() => bus.cancel(12345), (error: unknown) => (error as XatmiError).code === 'TPEBADDESC');
  assert.equal(bus.stats().cancelledReplies, 0, 'the run still goes on');
  open('x');
  await until(() => busy() === 0, 'the cancelled run ended');
  assert.equal(bus.stats().cancelledReplies, 1);
  assert.equal(bus.stats().lateReplies, 0);
  await bus.close();
});

test('cancel of a request still queued drops it unrun', async () => {
  const bus = createBus();
  const door = gate();
  const ran: string[] = [];
  bus.advertise('ONE', async (request) => {
    ran.push(request.data as string);
    await door.wait;
    return request.data;
  }, { servers: 1 });
  const running = bus.acall('ONE', 'running');
  const queued = bus.acall('ONE', 'queued');
  assert.equal(bus.pq()[0].queued, 1);
  bus.cancel(queued);
  assert.equal(bus.pq()[0].queued, 0);
  door.open();
  assert.equal((await bus.getReply(running)).data, 'running');
  // One server, first in first out: had the cancelled request still been queued, it would run before this.
  assert.equal((await bus.call('ONE', 'after')).data, 'after');
  assert.deepEqual(ran, ['running', 'after']);
  await bus.close();
});

test('getReply after TPETIME: TPETIME once (even if asked late), then the cd is stale; the late reply is dropped', async () => {
  const outcomes: string[] = [];
  const observer: NonNullable<BusOptions['observer']> = {
    served: () => {},
    answered: (_service, outcome) => outcomes.push(outcome),
    expiredInQueue: () => {},
    lateReply: () => {},
    workerRestarted: () => {},
  };
  const { bus, open, busy } = held({ observer });
  const cd = bus.acall('HOLD', 'late', { timeoutMs: 10 });
  // The bus answers the cd TPETIME (the observer hears it) before anyone asks for it.
  await until(() => outcomes.includes('TPETIME'), 'the deadline to pass');
  assert.equal(await codeOf(bus.getReply(cd)), 'TPETIME');
  assert.equal(await codeOf(bus.getReply(cd)), 'TPEBADDESC');
  const waiting = bus.acall('HOLD', 'late', { timeoutMs: 10 });
  assert.equal(await codeOf(bus.getReply(waiting)), 'TPETIME'); // asked while waiting
  assert.equal(bus.stats().lateReplies, 0, 'both runs are still held');
  open('late');
  await until(() => busy() === 0, 'both held runs ended');
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
  await until(() => got.length > 0, 'the request to run');
  assert.deepEqual(got, ['fire']);
  assert.equal(bus.pq()[0].busy, 0);
  assert.equal(await codeOf(bus.getReply(TPGETANY)), 'TPEBADDESC');
  assert.equal(bus.stats().lateReplies, 0);
  assert.equal(bus.stats().cancelledReplies, 0);
  await bus.close();
});

test('a service that returns with descriptors outstanding fails (TPESVCERR) and its descriptors are cancelled', async () => {
  const { bus, open, busy } = held();
  bus.advertise('LEAKY', (request) => {
    request.acall('HOLD', 'forgotten');
    return 'done';
  });
  bus.advertise('TIDY', async (request) => {
    const cd = request.acall('HOLD', 'taken');
    const other = request.acall('HOLD', 'cancelled');
    request.cancel(other);
    return (await request.getReply(cd)).data;
  });
  open('taken');
  assert.equal(await codeOf(bus.call('LEAKY', null)), 'TPESVCERR');
  assert.equal((await bus.call('TIDY', null)).data, 'taken');
  assert.equal(await codeOf(bus.getReply(TPGETANY)), 'TPEBADDESC'); // nothing left behind
  // The two abandoned runs are still held; when they end, their replies are dropped as cancelled.
  open('forgotten');
  open('cancelled');
  await until(() => busy() === 0, 'the abandoned runs ended');
  assert.equal(bus.stats().cancelledReplies, 2);
  assert.equal(bus.stats().lateReplies, 0);
  await bus.close();
});
