// Checks the synchronous call path of createBus: replies, user return codes, and that every XATMI error
// code the bus produces on a call (TPENOENT, TPESVCFAIL, TPESVCERR, TPEBLOCK, TPELIMIT, TPEINVAL, TPEPROTO)
// arrives as an XatmiError with that code — and that bad input to every public function is TPEINVAL and
// changes nothing (the service list and counters are compared before and after).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBus, XatmiError, ServiceFailure, ServiceReply, PurserError, TPNOBLOCK, TPNOREPLY, TPGETANY, type Bus } from 'purser';
import { gate, until } from './_gates.js';

function code(error: unknown): string {
  assert.ok(error instanceof XatmiError, `expected an XatmiError, got ${String(error)}`);
  assert.ok(error instanceof PurserError);
  return error.code;
}

async function rejectsWith(promise: Promise<unknown>, expected: string): Promise<XatmiError> {
  try {
    await promise;
  } catch (error) {
    assert.equal(code(error), expected);
    return error as XatmiError;
  }
  assert.fail(`expected ${expected}, got a reply`);
}

function throwsWith(fn: () => unknown, expected: string): void {
  try {
    fn();
  } catch (error) {
    assert.equal(code(error), expected);
    return;
  }
  assert.fail(`expected ${expected}, nothing thrown`);
}

test('call returns the handler result; ServiceReply carries a urcode; async handlers work', async () => {
  const bus = createBus();
  bus.advertise('ECHO', (request) => request.data);
  bus.advertise('RC', () => new ServiceReply('ok', 7));
  bus.advertise('ASYNC', async (request) => {
    await new Promise((resolve) => setImmediate(resolve)); // answers on a later turn of the event loop
    return { got: request.data, service: request.service };
  });
  assert.deepEqual(await bus.call('ECHO', { a: 1 }), { cd: 0, data: { a: 1 }, urcode: 0 });
  const bytes = new Uint8Array([1, 2, 3]);
  assert.equal((await bus.call('ECHO', bytes)).data, bytes);
  assert.deepEqual(await bus.call('RC', null), { cd: 0, data: 'ok', urcode: 7 });
  assert.deepEqual((await bus.call('ASYNC', 5)).data, { got: 5, service: 'ASYNC' });
  assert.deepEqual(bus.services().sort(), ['ASYNC', 'ECHO', 'RC']);
  await bus.close();
});

test('TPENOENT for an unknown service, from call and acall, at once', async () => {
  const bus = createBus();
  await rejectsWith(bus.call('NOPE', 1), 'TPENOENT');
  throwsWith(() => bus.acall('NOPE', 1), 'TPENOENT');
  await rejectsWith(bus.unadvertise('NOPE'), 'TPENOENT');
  await bus.close();
});

test('TPESVCFAIL carries the data and urcode of a ServiceFailure; TPESVCERR for anything else thrown', async () => {
  const bus = createBus();
  bus.advertise('FAIL', () => {
    throw new ServiceFailure(51, { reason: 'insufficient funds' });
  });
  bus.advertise('ASYNCFAIL', () => Promise.reject(new ServiceFailure(5)));
  bus.advertise('BROKEN', () => {
    throw new TypeError('boom');
  });
  bus.advertise('REJECTS', () => Promise.reject(new Error('async boom')));
  const failure = await rejectsWith(bus.call('FAIL', 1), 'TPESVCFAIL');
  assert.equal(failure.urcode, 51);
  assert.deepEqual(failure.data, { reason: 'insufficient funds' });
  assert.equal((await rejectsWith(bus.call('ASYNCFAIL', 1), 'TPESVCFAIL')).urcode, 5);
  const broken = await rejectsWith(bus.call('BROKEN', 1), 'TPESVCERR');
  assert.match(broken.message, /boom/);
  await rejectsWith(bus.call('REJECTS', 1), 'TPESVCERR');
  const [row] = bus.psc().filter((view) => view.service === 'FAIL');
  assert.deepEqual({ done: row.done, failed: row.failed }, { done: 0, failed: 1 });
  await bus.close();
});

test('TPEBLOCK: a full queue with TPNOBLOCK fails at once, for call and acall', async () => {
  const bus = createBus();
  const door = gate();
  bus.advertise('GATED', async () => {
    await door.wait;
    return 'done';
  }, { servers: 1, queueDepth: 2 });
  const running = bus.call('GATED', 0); // taken by the one server
  const queued = [bus.call('GATED', 1), bus.call('GATED', 2)]; // fill the queue
  await rejectsWith(bus.call('GATED', 3, { flags: TPNOBLOCK }), 'TPEBLOCK');
  throwsWith(() => bus.acall('GATED', 4, { flags: TPNOBLOCK }), 'TPEBLOCK');
  throwsWith(() => bus.acall('GATED', 5, { flags: TPNOBLOCK | TPNOREPLY }), 'TPEBLOCK');
  // A refused acall holds no descriptor: nothing for TPGETANY to wait on.
  await rejectsWith(bus.getReply(TPGETANY, { flags: TPNOBLOCK }), 'TPEBADDESC');
  assert.equal(bus.pq()[0].queued, 2);
  door.open();
  assert.equal((await running).data, 'done');
  for (const reply of await Promise.all(queued)) assert.equal(reply.data, 'done');
  await bus.close();
});

test('TPELIMIT past the outstanding-descriptor limit; a freed descriptor makes room again', async () => {
  const bus = createBus({ descriptorsMax: 3 });
  const door = gate();
  bus.advertise('SLOW', async () => {
    await door.wait;
    return 'ok';
  }, { servers: 4 });
  const cds = [bus.acall('SLOW', 1), bus.acall('SLOW', 2), bus.acall('SLOW', 3)];
  throwsWith(() => bus.acall('SLOW', 4), 'TPELIMIT');
  await rejectsWith(bus.call('SLOW', 4), 'TPELIMIT');
  // TPNOREPLY holds no descriptor, so it is still accepted.
  assert.equal(bus.acall('SLOW', 5, { flags: TPNOREPLY }), 0);
  door.open();
  // A run that has ended still holds its descriptor until its reply is taken.
  await until(() => bus.pq()[0].busy === 0, 'the held runs to end');
  throwsWith(() => bus.acall('SLOW', 6), 'TPELIMIT');
  assert.equal((await bus.getReply(cds[0])).data, 'ok');
  assert.equal((await bus.call('SLOW', 6)).data, 'ok');
  await bus.getReply(cds[1]);
  await bus.getReply(cds[2]);
  await bus.close();
});

test('TPEPROTO once the bus is closed, and for forward outside a running handler', async () => {
  const bus = createBus();
  let saved: { forward(service: string, data: unknown): unknown } | undefined;
  bus.advertise('KEEP', (request) => {
    saved = request;
    return 1;
  });
  await bus.call('KEEP', 1);
  throwsWith(() => saved!.forward('KEEP', 2), 'TPEPROTO');
  bus.advertise('TWICE', (request) => {
    request.forward('KEEP', 1);
    return request.forward('KEEP', 2);
  });
  await rejectsWith(bus.call('TWICE', 1), 'TPESVCERR'); // the handler threw TPEPROTO: the caller sees TPESVCERR
  await bus.close();
  await rejectsWith(bus.call('KEEP', 1), 'TPEPROTO');
  throwsWith(() => bus.acall('KEEP', 1), 'TPEPROTO');
  throwsWith(() => bus.advertise('NEW', () => 1), 'TPEPROTO');
});

test('bad input to every public function is TPEINVAL and changes nothing', async () => {
  assert.throws(() => createBus(null as never), (error: unknown) => code(error) === 'TPEINVAL');
  assert.throws(() => createBus({ descriptorsMax: 0 }), (error: unknown) => code(error) === 'TPEINVAL');
  assert.throws(() => createBus({ defaultTimeoutMs: -1 }), (error: unknown) => code(error) === 'TPEINVAL');
  assert.throws(() => createBus({ accessLogLevel: 'trace' as never }), (error: unknown) => code(error) === 'TPEINVAL');
  const bus: Bus = createBus();
  bus.advertise('OK', (request) => request.data);
  const before = { services: bus.services(), stats: bus.stats() };
  const badAdvertise: Array<() => void> = [
    () => bus.advertise('', () => 1),
    () => bus.advertise('has space', () => 1),
    () => bus.advertise('x'.repeat(200), () => 1),
    () => bus.advertise(42 as never, () => 1),
    () => bus.advertise('A', 'not a handler' as never),
    () => bus.advertise('A', () => 1, { servers: 0 }),
    () => bus.advertise('A', () => 1, { servers: 1.5 }),
    () => bus.advertise('A', () => 1, { queueDepth: 0 }),
    () => bus.advertise('A', () => 1, { threads: 2 }),
    () => bus.advertise('A', () => 1, { pipelineDepth: 2 }),
    () => bus.advertise('A', () => 1, { restartsMax: 2 }),
    () => bus.advertise('A', () => 1, null as never),
    () => bus.advertise('A', new URL('https://example.com/x.js')),
    () => bus.advertise('A', new URL('file:///x.js'), { servers: 2 }),
    () => bus.advertise('A', new URL('file:///x.js'), { pipelineDepth: 0 }),
    () => bus.advertise('A', new URL('file:///x.js'), { threads: 100000 }),
    () => bus.advertise('OK', () => 1), // already advertised
  ];
  for (const bad of badAdvertise) throwsWith(bad, 'TPEINVAL');
  const badCalls: Array<[string, unknown, unknown]> = [
    ['', 1, undefined],
    ['OK', () => 1, undefined],
    ['OK', Symbol('x'), undefined],
    ['OK', 1, null],
    ['OK', 1, 'fast'],
    ['OK', 1, { timeoutMs: 0 }],
    ['OK', 1, { timeoutMs: -5 }],
    ['OK', 1, { timeoutMs: Number.NaN }],
    ['OK', 1, { timeoutMs: Infinity }],
    ['OK', 1, { flags: 0x4000 }],
    ['OK', 1, { flags: -1 }],
    ['OK', 1, { flags: 1.5 }],
    ['OK', 1, { flags: TPGETANY }],
  ];
  for (const [service, data, options] of badCalls) {
    await rejectsWith(bus.call(service, data, options as never), 'TPEINVAL');
    throwsWith(() => bus.acall(service, data, options as never), 'TPEINVAL');
  }
  await rejectsWith(bus.call('OK', 1, { flags: TPNOREPLY }), 'TPEINVAL'); // TPNOREPLY is for acall only
  await rejectsWith(bus.getReply(1.5), 'TPEINVAL');
  await rejectsWith(bus.getReply(256, { flags: 0x4000 }), 'TPEINVAL');
  await rejectsWith(bus.getReply(256, null as never), 'TPEINVAL');
  throwsWith(() => bus.cancel('x' as never), 'TPEINVAL');
  await rejectsWith(bus.unadvertise(''), 'TPEINVAL');
  await rejectsWith(bus.close({ drainTimeoutMs: -1 }), 'TPEINVAL');
  assert.throws(() => new ServiceFailure(1.5), (error: unknown) => code(error) === 'TPEINVAL');
  assert.throws(() => new ServiceReply(1, Number.NaN), (error: unknown) => code(error) === 'TPEINVAL');
  // Inside a handler: forward and nested calls validate too (the handler sees TPEINVAL).
  const seen: string[] = [];
  bus.advertise('CHECKS', async (request) => {
    for (const bad of [() => request.forward('', 1), () => request.forward('OK', () => 1), () => request.acall('OK', 1, { timeoutMs: -1 })]) {
      try {
        bad();
      } catch (error) {
        seen.push(code(error));
      }
    }
    seen.push(await request.call('OK', 1, { flags: 0x4000 }).then(() => 'replied', (error: unknown) => code(error)));
    return 'checked';
  });
  assert.equal((await bus.call('CHECKS', null)).data, 'checked');
  assert.deepEqual(seen, ['TPEINVAL', 'TPEINVAL', 'TPEINVAL', 'TPEINVAL']);
  await bus.unadvertise('CHECKS');
  assert.deepEqual({ services: bus.services(), stats: { ...bus.stats(), calls: before.stats.calls } }, before);
  assert.equal((await bus.call('OK', 'still fine')).data, 'still fine');
  await bus.close();
});
