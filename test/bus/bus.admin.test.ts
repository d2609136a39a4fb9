// Checks what operators see and control: pq/psr/psc rows (queued, busy, average queue length, servers,
// done/failed, current service or IDLE, status), advertise/unadvertise taking effect at once (queued
// requests answered TPESVCERR, the running one finishes), resize (a shrinking server finishes its request
// and leaves the queue to the others), close draining queued work before it resolves, and the access log
// (one line per call with service, outcome, queue wait, service time and busy servers at start).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBus, XatmiError, type BusLogger } from 'purser';
import { gate, until } from './_gates.js';
import { codeOf } from '../_xatmi.js';


test('pq, psr and psc show queues, servers and outcomes', async () => {
  const bus = createBus();
  const door = gate();
  bus.advertise('BAL', async (request) => {
    await door.wait;
    if (request.data === 'fail') throw new Error('x');
    return request.data;
  }, { servers: 2, queueDepth: 10 });
  bus.advertise('IDLE_SVC', () => 1);
  const calls = ['a', 'b', 'c', 'fail'].map((data) => codeOf(bus.call('BAL', data)));
  const bal = bus.pq().find((row) => row.service === 'BAL')!;
  assert.deepEqual(bal, { service: 'BAL', queueDepth: 10, servers: 2, busy: 2, queued: 2, waitingForSlot: 0, averageQueued: (0 + 0 + 0 + 1) / 4, kind: 'in-process' });
  const servers = bus.psr().filter((row) => row.service === 'BAL');
  assert.deepEqual(servers.map((row) => [row.serverId, row.current]), [['BAL/1', 'BAL'], ['BAL/2', 'BAL']]);
  assert.equal(bus.psr().find((row) => row.service === 'IDLE_SVC')!.current, 'IDLE');
  door.open();
  assert.deepEqual(await Promise.all(calls), ['replied', 'replied', 'replied', 'TPESVCERR']);
  const psc = bus.psc().find((row) => row.service === 'BAL')!;
  assert.deepEqual(psc, { service: 'BAL', done: 3, failed: 1, timedOut: 0, expiredInQueue: 0, status: 'AVAILABLE' });
  assert.equal(bus.psr().filter((row) => row.service === 'BAL').reduce((sum, row) => sum + row.done, 0), 4);
  await bus.close();
});

test('psc counts a run that outlived its deadline as failed (timed out), not done, even if it then returns a reply', async () => {
  const bus = createBus();
  const door = gate();
  bus.advertise('SLOW', async () => {
    await door.wait;
    return 'too late';
  });
  assert.equal(await codeOf(bus.call('SLOW', null, { timeoutMs: 1 })), 'TPETIME');
  door.open();
  // One server: a second call is served only after the first run has finished — the state to wait for.
  assert.equal(await bus.call('SLOW', null).then((reply) => reply.data), 'too late');
  assert.deepEqual(bus.psc().find((row) => row.service === 'SLOW'), { service: 'SLOW', done: 1, failed: 1, timedOut: 1, expiredInQueue: 0, status: 'AVAILABLE' });
  await bus.close();
});

test('unadvertise takes effect at once: new calls TPENOENT, queued TPESVCERR, the running one finishes', async () => {
  const bus = createBus();
  const door = gate();
  bus.advertise('GONE', async (request) => {
    await door.wait;
    return request.data;
  }, { servers: 1 });
  const running = bus.call('GONE', 'running');
  const queued = codeOf(bus.call('GONE', 'queued'));
  const withdrawn = bus.unadvertise('GONE');
  assert.equal(await codeOf(bus.call('GONE', 'new')), 'TPENOENT');
  assert.equal(await queued, 'TPESVCERR');
  door.open();
  assert.equal((await running).data, 'running');
  await withdrawn;
  assert.deepEqual(bus.services(), []);
  bus.advertise('GONE', () => 'again'); // the name is free again at once
  assert.equal((await bus.call('GONE', null)).data, 'again');
  await bus.close();
});

test('resize: a leaving server finishes its request and leaves the queue to the others', async () => {
  const bus = createBus();
  const door = gate();
  bus.advertise('SCALE', async (request) => {
    await door.wait;
    return request.data;
  }, { servers: 3 });
  const calls = ['a', 'b', 'c', 'd', 'e', 'f'].map((data) => bus.call('SCALE', data));
  assert.deepEqual([bus.pq()[0].busy, bus.pq()[0].queued], [3, 3]);
  const shrinking = bus.resize('SCALE', 1);
  assert.equal(bus.pq()[0].servers, 1);
  // The two leaving servers still hold their requests: they finish them once the gate opens.
  door.open();
  assert.deepEqual((await Promise.all(calls)).map((reply) => reply.data), ['a', 'b', 'c', 'd', 'e', 'f']);
  await shrinking;
  // The one server left ran its own request and all three queued ones; the leaving ones took none.
  const [left] = bus.psr();
  assert.deepEqual([bus.psr().length, left.done], [1, 4], `${left.serverId} ran ${left.done}`);
  await bus.resize('SCALE', 4);
  assert.equal(bus.pq()[0].servers, 4);
  await assert.rejects(bus.resize('SCALE', 0), (error: unknown) => (error as XatmiError).code === 'TPEINVAL');
  await assert.rejects(bus.resize('NOPE', 1), (error: unknown) => (error as XatmiError).code === 'TPENOENT');
  await bus.close();
});

test('close drains: queued and running requests finish, new calls are refused', async () => {
  const bus = createBus();
  const door = gate();
  bus.advertise('WORK', async (request) => {
    await door.wait;
    return request.data;
  }, { servers: 1 });
  const calls = [1, 2, 3].map((n) => bus.call('WORK', n));
  let closed = false;
  const closing = bus.close().then(() => (closed = true));
  assert.equal(await codeOf(bus.call('WORK', 4)), 'TPEPROTO');
  // Still draining: one running, two queued, all held by the gate.
  assert.deepEqual(bus.requests().map((row) => row.phase), ['running', 'queued', 'queued']);
  assert.equal(closed, false);
  door.open();
  assert.deepEqual((await Promise.all(calls)).map((reply) => reply.data), [1, 2, 3]);
  await closing;
  // A drain that runs out of time answers what is left with TPESVCERR.
  const stuck = createBus();
  stuck.advertise('STUCK', () => new Promise(() => {}), { servers: 1 });
  const running = codeOf(stuck.call('STUCK', 1));
  const queued = codeOf(stuck.call('STUCK', 2));
  await stuck.close({ drainTimeoutMs: 20 });
  assert.equal(await queued, 'TPESVCERR');
  assert.equal(await running, 'TPESVCERR');
});

test('one access-log line per call with service, outcome, queue wait, service time and busy servers', async () => {
  const lines: Array<Record<string, unknown>> = [];
  const logger: BusLogger = {
    debug: (object, message) => {
      if (message === 'call') lines.push(object as Record<string, unknown>);
    },
    info: () => {},
    warn: () => {},
    error: () => {},
  };
  const bus = createBus({ logger });
  const door = gate();
  let firstStartedAtMs = 0;
  bus.advertise('LOGGED', async () => {
    if (firstStartedAtMs === 0) firstStartedAtMs = performance.now();
    await door.wait;
    return 1;
  });
  const calls = [bus.call('LOGGED', 1), bus.call('LOGGED', 2)];
  const submittedAtMs = performance.now();
  // The gate opens only once the clock has moved 6 ms past the first run's start and the second call's
  // submission, so both logged times are at least that: a lower bound a loaded machine only makes longer.
  await until(() => performance.now() >= Math.max(firstStartedAtMs, submittedAtMs) + 6, 'the clock to move 6 ms');
  door.open();
  await Promise.all(calls);
  await codeOf(bus.call('NOPE', 1));
  assert.equal(lines.length, 2); // TPENOENT is refused before a request exists
  for (const line of lines) {
    assert.deepEqual(Object.keys(line).sort(), ['busyAtStart', 'outcome', 'queueWaitMs', 'service', 'serviceMs']);
    assert.equal(line.service, 'LOGGED');
    assert.equal(line.outcome, 'TPSUCCESS');
    assert.equal(line.busyAtStart, 1);
  }
  assert.ok((lines[0].serviceMs as number) >= 5, `the first call ran while the gate was shut (${String(lines[0].serviceMs)} ms)`);
  assert.ok((lines[1].queueWaitMs as number) >= 5, `the second call waited for the one server (${String(lines[1].queueWaitMs)} ms)`);
  await bus.close();
});

test('suspend: new calls get TPENOENT at once, the queued and running ones finish; resume restores it', async () => {
  const bus = createBus();
  const door = gate();
  bus.advertise('PAY', async (request) => {
    await door.wait;
    return request.data;
  }, { servers: 1, queueDepth: 10 });
  const running = bus.call('PAY', 'running');
  const queued = bus.call('PAY', 'queued');
  bus.suspend('PAY');
  assert.equal(await codeOf(bus.call('PAY', 'new')), 'TPENOENT');
  assert.throws(() => bus.acall('PAY', 'new'), (error: unknown) => error instanceof XatmiError && error.code === 'TPENOENT');
  assert.equal(bus.psc().find((row) => row.service === 'PAY')!.status, 'SUSPENDED');
  assert.equal(bus.totals().suspended, 1);
  door.open();
  assert.deepEqual([(await running).data, (await queued).data], ['running', 'queued']);
  bus.resume('PAY');
  assert.equal((await bus.call('PAY', 'after')).data, 'after');
  assert.equal(bus.psc().find((row) => row.service === 'PAY')!.status, 'AVAILABLE');
  assert.throws(() => bus.suspend('NOPE'), (error: unknown) => error instanceof XatmiError && error.code === 'TPENOENT');
  await bus.close();
});

test('requests lists waiting, queued and running requests by id; an operator cancel answers TPESVCERR and a queued one never runs', async () => {
  const bus = createBus();
  const door = gate();
  const ran: string[] = [];
  bus.advertise('SLOW', async (request) => {
    ran.push(request.data as string);
    await door.wait;
    return request.data;
  }, { servers: 1, queueDepth: 1 });
  const first = codeOf(bus.call('SLOW', 'running'));
  const second = codeOf(bus.call('SLOW', 'queued'));
  const third = codeOf(bus.call('SLOW', 'waiting', { timeoutMs: 60_000 }));
  const rows = bus.requests();
  assert.deepEqual(rows.map((row) => [row.service, row.phase, row.kind]), [['SLOW', 'running', 'call'], ['SLOW', 'queued', 'call'], ['SLOW', 'waiting', 'call']]);
  // Oldest first, and each row's own deadline: the waiting one asked for 60 s, the others have the 30 s default.
  assert.ok(rows[0].ageMs >= rows[1].ageMs && rows[1].ageMs >= rows[2].ageMs, rows.map((row) => row.ageMs).join(' '));
  assert.ok(rows[0].remainingMs! > 0 && rows[0].remainingMs! <= 30_000 && rows[2].remainingMs! > 30_000, rows.map((row) => row.remainingMs).join(' '));
  assert.deepEqual(bus.requests(2).map((row) => row.phase), ['running', 'queued']);
  const [running, queued] = rows;
  assert.equal(bus.cancelRequest(queued.id), true);
  assert.equal(await second, 'TPESVCERR');
  assert.equal(bus.cancelRequest(running.id), true);
  assert.equal(await first, 'TPESVCERR');
  assert.equal(bus.cancelRequest(queued.id), false, 'a cancelled request is gone');
  assert.equal(bus.cancelRequest(999_999), false);
  assert.throws(() => bus.cancelRequest(-1), (error: unknown) => error instanceof XatmiError && error.code === 'TPEINVAL');
  assert.throws(() => bus.requests(0), (error: unknown) => error instanceof XatmiError && error.code === 'TPEINVAL');
  door.open();
  // The waiting request moved up when the queued one left; it runs and answers. The queued one never ran.
  assert.equal(await third, 'replied');
  assert.deepEqual(ran, ['running', 'waiting']);
  assert.deepEqual(bus.requests(), []);
  const totals = bus.totals();
  assert.equal(totals.cancelledByOperator, 2);
  assert.deepEqual([totals.cancelledReplies, totals.lateReplies], [1, 0], 'the cancelled running request\'s reply was dropped, counted as cancelled');
  assert.deepEqual([totals.calls, totals.running, totals.queued, totals.waiting], [3, 0, 0, 0]);
  await bus.close();
});

test('replace swaps a service\'s code without a gap: the running request finishes on the old code, the queued one runs on the new', async () => {
  const bus = createBus();
  const door = gate();
  bus.advertise('PAY', async (request) => {
    if (request.data === 'hold') await door.wait;
    return `old ${String(request.data)}`;
  }, { servers: 1, queueDepth: 10 });
  const running = bus.call('PAY', 'hold');
  const queued = bus.call('PAY', 'queued');
  const replaced = bus.replace('PAY', (request) => `new ${String(request.data)}`, { servers: 2, queueDepth: 10 });
  // The new servers take the queue at once, while the old one still holds its request.
  assert.equal((await queued).data, 'new queued');
  assert.equal((await bus.call('PAY', 'after')).data, 'new after');
  door.open();
  assert.equal((await running).data, 'old hold');
  await replaced;
  assert.deepEqual(bus.psr().filter((row) => row.service === 'PAY').map((row) => row.serverId), ['PAY/2', 'PAY/3']);
  assert.deepEqual(bus.psc().find((row) => row.service === 'PAY'), { service: 'PAY', done: 3, failed: 0, timedOut: 0, expiredInQueue: 0, status: 'AVAILABLE' });
  for (const [options, message] of [[{ queueDepth: 5 }, /queue depth/], [{ threads: 2, queueDepth: 10 }, /threads needs a module URL/]] as const) {
    await assert.rejects(bus.replace('PAY', () => 1, options), (error: unknown) => error instanceof XatmiError && error.code === 'TPEINVAL' && message.test(error.message));
  }
  await assert.rejects(bus.replace('PAY', new URL('data:text/javascript,export default () => 1'), { queueDepth: 10 }), /runs in-process/);
  await assert.rejects(bus.replace('NOPE', () => 1), (error: unknown) => error instanceof XatmiError && error.code === 'TPENOENT');
  await bus.close();
});
