// connect() against a real bus behind a real TCP listener: every XATMI outcome crosses the wire with its
// code, data and urcode; acall/getReply/TPGETANY/cancel follow the bus's descriptor rules; the deadline
// travels; closing a connection cancels its calls; a lost connection ends calls in flight with TPESVCERR;
// bad input is a typed error and changes nothing.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import {
  ClientError, InvalidArgumentError, ServiceFailure, ServiceReply, TPGETANY, TPNOBLOCK, TPNOREPLY, TPNOTIME, XatmiError, connect, createBus,
  type Bus, type BusClient,
} from 'purser';
import { FRAME_BYTES_MAX } from '../../src/wire/bus-protocol.js';
import { FrameWriter } from '../../src/wire/bus-writer.js';
import { startBusListener, type BusListener } from '../../src/node/listeners/bus.js';
import { gates, until } from '../bus/_gates.js';

const silent = pino({ level: 'silent' });
const IN_FLIGHT_MAX = 64;
let bus: Bus;
let listener: BusListener;
let client: BusClient;
const noReplySeen: unknown[] = [];
/** Openers that tests call to let a blocked GATE request finish. */
const gateOpeners: Array<() => void> = [];
/** Releases for the HOLD service's requests. */
const held: Array<() => void> = [];
/** Gates named by the WAIT service's data: a WAIT request answers its data once the test opens that gate. */
const waits = gates();
const busy = (service: string) => bus.pq().find((row) => row.service === service)?.busy;
const queued = (service: string) => bus.pq().find((row) => row.service === service)?.queued;

function rejectsWith(promise: Promise<unknown>, code: string, check?: (error: XatmiError) => void): Promise<void> {
  return assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof XatmiError, `expected an XatmiError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    check?.(error);
    return true;
  });
}

before(async () => {
  bus = createBus();
  bus.advertise('ECHO', (request) => request.data, { servers: 4 });
  bus.advertise('URCODE', (request) => new ServiceReply(request.data, 42));
  bus.advertise('FAIL', (request) => {
    throw new ServiceFailure(-7, { declined: request.data });
  });
  bus.advertise('BROKEN', () => {
    throw new Error('bug in the service');
  });
  bus.advertise('WAIT', async (request) => {
    await waits.named(String(request.data)).wait;
    return request.data;
  }, { servers: 64 });
  bus.advertise('GATE', () => new Promise((resolve) => gateOpeners.push(() => resolve('opened'))), { servers: 1, queueDepth: 1 });
  bus.advertise('REMAINING', (request) => request.remainingMs());
  bus.advertise('NESTED', async (request) => (await request.call('REMAINING', null)).data);
  bus.advertise('NOREPLY', (request) => {
    noReplySeen.push(request.data);
    return null;
  });
  bus.advertise('HOLD', () => new Promise((resolve) => held.push(() => resolve(null))), { servers: 2 * IN_FLIGHT_MAX });
  bus.advertise('UNCLONEABLE', () => ({ fn: () => 1 }));
  bus.advertise('HUGE', () => ({ text: 'x'.repeat(FRAME_BYTES_MAX) }));
  listener = await startBusListener({ host: '127.0.0.1', port: 0, bus, logger: silent, inFlightMax: IN_FLIGHT_MAX });
  client = await connect(`127.0.0.1:${listener.address.port}`);
});

after(async () => {
  await client.close();
  await listener.close({ drainTimeoutMs: 100 });
  await bus.close({ drainTimeoutMs: 100 });
});

test('success: data of every kind comes back equal and of the same type; urcode travels', async () => {
  for (const data of [undefined, null, 'text', 12.5, 7n, { nested: [1, 2, { deep: new Map([[1, 'x']]) }] }, new Date(0)]) {
    assert.deepEqual((await client.call('ECHO', data)).data, data);
  }
  const bytes = await client.call('ECHO', new Uint8Array([1, 2, 3]));
  assert.deepEqual(bytes, { cd: 0, data: new Uint8Array([1, 2, 3]), urcode: 0 });
  const buffer = (await client.call('ECHO', Buffer.from('money'))).data;
  assert.ok(Buffer.isBuffer(buffer));
  assert.equal(buffer.toString(), 'money');
  assert.deepEqual(await client.call('URCODE', 'x'), { cd: 0, data: 'x', urcode: 42 });
});

test('failures carry the bus code: TPENOENT, TPESVCFAIL with data and urcode, TPESVCERR, TPEINVAL', async () => {
  await rejectsWith(client.call('NO_SUCH_SERVICE', 1), 'TPENOENT');
  await rejectsWith(client.call('FAIL', 'card 1'), 'TPESVCFAIL', (error) => {
    assert.deepEqual(error.data, { declined: 'card 1' });
    assert.equal(error.urcode, -7);
  });
  await rejectsWith(client.call('BROKEN', 1), 'TPESVCERR');
  await rejectsWith(client.call('UNCLONEABLE', 1), 'TPESVCERR', (error) => assert.match(error.message, /cannot be sent/));
  await rejectsWith(client.call('HUGE', 1), 'TPESVCERR', (error) => assert.match(error.message, /does not fit in a frame/));
  await rejectsWith(client.call('bad name!', 1), 'TPEINVAL'); // the bus's own name check, answered over the wire
});

test('TPETIME at the deadline; whatever the node answers late is never given to a later call', async () => {
  // Both requests are held on the node until their callers have had TPETIME.
  await rejectsWith(client.call('WAIT', 'late 1', { timeoutMs: 30 }), 'TPETIME');
  const cd = client.acall('WAIT', 'late 2', { timeoutMs: 30 });
  await rejectsWith(client.getReply(cd), 'TPETIME');
  await rejectsWith(client.getReply(cd), 'TPEBADDESC'); // the timed-out cd is consumed, as in the bus
  assert.equal((await client.call('ECHO', 'next')).data, 'next');
  // Let both end, and wait until they have (so whatever the node sends for them is on the wire ahead of
  // the next reply, on the same ordered connection): the next call still gets its own reply.
  waits.open('late 1');
  waits.open('late 2');
  await until(() => busy('WAIT') === 0, 'the held WAIT runs to end');
  assert.equal((await client.call('ECHO', 'after')).data, 'after');
});

test('TPEBLOCK: a full queue fails at once under TPNOBLOCK; without it the call waits for the slot', async () => {
  const running = client.call('GATE', null);
  await until(() => gateOpeners.length === 1, 'the first GATE request to run');
  const inQueue = client.call('GATE', null); // fills the one queue slot
  await until(() => queued('GATE') === 1, 'the second GATE request queued');
  await rejectsWith(client.call('GATE', null, { flags: TPNOBLOCK }), 'TPEBLOCK');
  const waiting = client.call('GATE', null, { timeoutMs: 600_000 });
  for (let opened = 0; opened < 3; opened += 1) {
    await until(() => gateOpeners.length > 0, 'a GATE request to run');
    gateOpeners.shift()!();
  }
  assert.deepEqual((await Promise.all([running, inQueue, waiting])).map((reply) => reply.data), ['opened', 'opened', 'opened']);
});

test('acall/getReply by cd and TPGETANY; cancel makes the cd TPEBADDESC; TPNOREPLY returns 0', async () => {
  const first = client.acall('WAIT', 'first'); // held on the node until the test opens its gate
  const second = client.acall('ECHO', 'fast');
  assert.notEqual(first, second);
  assert.ok(first > TPGETANY && second > TPGETANY);
  const any = await client.getReply(TPGETANY);
  assert.deepEqual(any, { cd: second, data: 'fast', urcode: 0 });
  await rejectsWith(client.getReply(first, { flags: TPNOBLOCK }), 'TPEBLOCK');
  const byCd = client.getReply(first);
  await rejectsWith(client.getReply(first), 'TPEPROTO'); // one waiter per cd
  waits.open('first');
  assert.deepEqual(await byCd, { cd: first, data: 'first', urcode: 0 });
  await rejectsWith(client.getReply(TPGETANY), 'TPEBADDESC'); // nothing outstanding

  const cancelled = client.acall('WAIT', 'cancelled');
  const waiter = client.getReply(cancelled);
  client.cancel(cancelled);
  await rejectsWith(waiter, 'TPEBADDESC');
  await rejectsWith(client.getReply(cancelled), 'TPEBADDESC');
  assert.throws(() => client.cancel(cancelled), (error: unknown) => error instanceof XatmiError && error.code === 'TPEBADDESC');
  waits.open('cancelled');

  assert.equal(client.acall('NOREPLY', 'fire and forget', { flags: TPNOREPLY }), 0);
  await until(() => noReplySeen.length > 0, 'the TPNOREPLY request to run');
  assert.deepEqual(noReplySeen, ['fire and forget']);
});

test('TPELIMIT past the connection in-flight limit the node announced', async () => {
  const cds = Array.from({ length: IN_FLIGHT_MAX }, (_, index) => client.acall('WAIT', `limit ${index}`));
  assert.throws(() => client.acall('ECHO', 1), (error: unknown) => error instanceof XatmiError && error.code === 'TPELIMIT');
  await rejectsWith(client.call('ECHO', 1), 'TPELIMIT');
  for (let index = 0; index < IN_FLIGHT_MAX; index += 1) waits.open(`limit ${index}`);
  for (const [index, cd] of cds.entries()) assert.equal((await client.getReply(cd)).data, `limit ${index}`);
  assert.equal((await client.call('ECHO', 'room again')).data, 'room again');
});

test('TPNOREPLY calls hold in-flight slots while they run; past the limit they are dropped, not queued', async () => {
  const callsBefore = bus.stats().calls;
  for (let i = 0; i < IN_FLIGHT_MAX + 36; i += 1) assert.equal(client.acall('HOLD', null, { flags: TPNOREPLY }), 0);
  await client.call('ECHO', 'a later frame, so all of them have arrived').catch(() => undefined);
  await until(() => held.length === IN_FLIGHT_MAX, 'the admitted HOLD requests to run');
  assert.equal(bus.stats().calls - callsBefore, IN_FLIGHT_MAX); // the rest were dropped by the listener
  await rejectsWith(client.call('ECHO', 'while full'), 'TPELIMIT');
  for (const release of held.splice(0)) release();
  await until(() => busy('HOLD') === 0, 'the released HOLD requests to end');
  assert.equal((await client.call('ECHO', 'after')).data, 'after');
});

test('the deadline travels as remaining time, nested calls inherit it, TPNOTIME has none', async () => {
  // Deadlines far apart (20 s, 15 s, the 30 s default), so the checks hold however slow the machine is:
  // each call only has to take less than 10 s.
  const remaining = (await client.call('REMAINING', null, { timeoutMs: 20_000 })).data as number;
  assert.ok(remaining > 0 && remaining <= 20_000, `remaining ${remaining}`);
  const nested = (await client.call('NESTED', null, { timeoutMs: 15_000 })).data as number;
  assert.ok(nested > 0 && nested <= 15_000, `nested remaining ${nested}`);
  assert.equal((await client.call('REMAINING', null, { flags: TPNOTIME })).data, Infinity);
  const byDefault = (await client.call('REMAINING', null)).data as number;
  assert.ok(byDefault > 20_000 && byDefault <= 30_000, `default remaining ${byDefault}`);
});

test('many concurrent calls with random latencies and timeouts: every reply matches its request', { timeout: 300_000 }, async () => {
  const calls = 3000;
  let seed = 7;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  let ok = 0;
  let timedOut = 0;
  let fastCalls = 0;
  const work: Array<Promise<void>> = [];
  for (let i = 0; i < calls; i += 1) {
    // Timed-out calls keep their slot until the node's answer arrives: throttle on the client's own count.
    if (client.stats().inFlight >= IN_FLIGHT_MAX) await until(() => client.stats().inFlight < IN_FLIGHT_MAX, 'a free in-flight slot');
    // A slow call is held on the node until its caller has had TPETIME, so it can only time out; its gate
    // then opens and the node's late answer crosses the wire among other calls' replies. A fast call's
    // deadline is beyond the test's own timeout: it must be answered, however loaded the machine.
    const slow = random() < 0.2;
    const payload = { i, text: 'x'.repeat(Math.floor(random() * 64)) };
    if (!slow) fastCalls += 1;
    const call = slow ? client.call('WAIT', `random ${i}`, { timeoutMs: 1 + Math.floor(random() * 20) }) : client.call('ECHO', payload, { timeoutMs: 600_000 });
    work.push(call.then(
      (reply) => {
        assert.ok(!slow, `held call ${i} was answered`);
        assert.deepEqual(reply.data, payload);
        ok += 1;
      },
      (error: unknown) => {
        assert.ok(error instanceof XatmiError && error.code === 'TPETIME' && slow, String(error));
        timedOut += 1;
        waits.open(`random ${i}`);
      },
    ));
  }
  await Promise.all(work);
  assert.deepEqual([ok, timedOut], [fastCalls, calls - fastCalls]);
  // All the node's answers to timed-out calls arrive (or the hang guard fails the test).
  await until(() => client.stats().inFlight === 0, 'the node to answer every timed-out call');
  await until(() => busy('WAIT') === 0, 'the held WAIT runs to end');
});

test('closing a connection cancels its calls on the node: queued requests are dropped unrun', async () => {
  const other = await connect(listener.address.port);
  const blocker = other.acall('GATE', null);
  await until(() => gateOpeners.length === 1, 'the first GATE request to run');
  const inQueue = other.acall('GATE', null);
  await until(() => queued('GATE') === 1, 'the second GATE request queued');
  const waiting = Promise.allSettled([other.getReply(blocker), other.getReply(inQueue)]);
  await other.close();
  const outcomes = await waiting;
  assert.ok(outcomes.every((outcome) => outcome.status === 'rejected' && (outcome.reason as XatmiError).code === 'TPESVCERR'));
  await until(() => queued('GATE') === 0, 'the queued GATE request dropped');
  gateOpeners.shift()!(); // the running one finishes; its reply has nobody to go to
  await rejectsWith(other.call('ECHO', 1), 'TPEPROTO');
  assert.equal((await client.call('ECHO', 'others unaffected')).data, 'others unaffected');
});

test('a lost connection ends calls in flight with TPESVCERR; later calls are TPEPROTO', async () => {
  const server = createServer((socket) => {
    socket.once('data', () => {
      const writer = new FrameWriter();
      writer.hello(8);
      socket.write(writer.take()!);
      socket.once('data', () => socket.destroy()); // the first call kills the connection
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  try {
    const doomed = await connect({ port: (server.address() as { port: number }).port });
    await rejectsWith(doomed.call('ECHO', 1), 'TPESVCERR', (error) => {
      assert.ok(error.cause instanceof ClientError && error.cause.code === 'CLIENT_CONNECTION_LOST');
    });
    await rejectsWith(doomed.call('ECHO', 1), 'TPEPROTO');
    await doomed.close();
  } finally {
    server.close();
  }
});

test('bad input: typed errors, nothing sent, the connection stays usable', async () => {
  for (const address of ['nonsense', '127.0.0.1:0', '127.0.0.1:99999', ':7700', 0, 70000, 1.5, null, { port: 'x' }, { host: '', port: 7700 }]) {
    await assert.rejects(connect(address as never), InvalidArgumentError, `connect(${JSON.stringify(address)})`);
  }
  await assert.rejects(connect(7700, { connectTimeoutMs: -1 }), InvalidArgumentError);
  await assert.rejects(connect(7700, { defaultTimeoutMs: 0 }), InvalidArgumentError);
  const invalid = (error: unknown) => error instanceof XatmiError && error.code === 'TPEINVAL';
  await assert.rejects(client.call(42 as never, 1), invalid);
  await assert.rejects(client.call('', 1), invalid);
  await assert.rejects(client.call('X'.repeat(300), 1), invalid);
  await assert.rejects(client.call('ECHO', () => 1), invalid);
  await assert.rejects(client.call('ECHO', 1, { flags: TPNOREPLY }), invalid);
  await assert.rejects(client.call('ECHO', 1, { flags: 0x4000 }), invalid);
  await assert.rejects(client.call('ECHO', 1, { flags: -1 }), invalid);
  await assert.rejects(client.call('ECHO', 1, { timeoutMs: 0 }), invalid);
  await assert.rejects(client.call('ECHO', 1, { timeoutMs: Number.NaN }), invalid);
  await assert.rejects(client.call('ECHO', 1, { timeoutMs: 2 * 24 * 60 * 60 * 1000 }), invalid);
  assert.equal((await client.call('ECHO', 1, { timeoutMs: 1500.5 })).data, 1); // fractions round up, as the bus takes them
  await assert.rejects(client.call('ECHO', 1, null as never), invalid);
  await assert.rejects(client.call('ECHO', Buffer.alloc(FRAME_BYTES_MAX)), invalid);
  // Structured data is measured when its batch is sent: the node answers TPEINVAL.
  await assert.rejects(client.call('ECHO', { text: 'x'.repeat(FRAME_BYTES_MAX) }), invalid);
  assert.throws(() => client.acall('ECHO', 1, { flags: TPGETANY }), invalid);
  await assert.rejects(client.getReply(1.5), invalid);
  await assert.rejects(client.getReply(0x100, { flags: 0x4000 }), invalid);
  await assert.rejects(client.getReply(123456), (error: unknown) => error instanceof XatmiError && error.code === 'TPEBADDESC');
  assert.throws(() => client.cancel(Number.NaN), invalid);
  assert.equal(client.stats().inFlight, 0);
  assert.equal((await client.call('ECHO', 'still fine')).data, 'still fine');
});

test('connect fails with CLIENT_CONNECT_FAILED when nothing listens', async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await assert.rejects(connect(port), (error: unknown) => error instanceof ClientError && error.code === 'CLIENT_CONNECT_FAILED');
});
