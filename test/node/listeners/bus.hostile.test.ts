// The bus listener against clients that try to lock it up, each attack bounded for CI: silent sockets,
// connections idle after HELLO, half-sent frames and slowloris, many connections from one address, a memory
// flood of unfinished frames, and a ledger flood from one connection. Each test holds the attack while a
// real connect() client does its calls, and asserts the node's own accounting (closed on timeout with the
// reason, refused with the reason, the memory budget never past its size). Limits are small so the
// deadlines pass quickly; the tests wait for states (a close, a counter), never for a time.
import assert from 'node:assert/strict';
import { connect as connectSocket, type Socket } from 'node:net';
import { test } from 'node:test';
import { pino } from 'pino';
import { ClientError, connect, createBus, openLedger, type Account, type Transfer } from 'purser';
import { ErrorReason, Op, type Frame } from '../../../src/wire/bus-protocol.js';
import { FrameDecoder, FrameReader } from '../../../src/wire/bus-reader.js';
import { FrameWriter } from '../../../src/wire/bus-writer.js';
import { startBusListener, type BusListenerOptions } from '../../../src/node/listeners/bus.js';
import { MemoryBudget, type ListenerLimits } from '../../../src/node/listeners/limits.js';
import { FairQueue } from '../../../src/node/listeners/fair-queue.js';

const silent = pino({ level: 'silent' });
/** Generous hang guard for waits on a state; a loaded CI machine is slow, never wrong. */
const GUARD_MS = 60_000;
const CREATED = 0xffff_ffff;

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + GUARD_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`hang guard: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function withListener(limits: Partial<ListenerLimits>, extra: Partial<BusListenerOptions>, body: (port: number, listener: Awaited<ReturnType<typeof startBusListener>>) => Promise<void>): Promise<void> {
  const bus = createBus();
  bus.advertise('ECHO', (request) => request.data, { servers: 4 });
  const listener = await startBusListener({ host: '127.0.0.1', port: 0, bus, logger: silent, limits, ...extra });
  try {
    await body(listener.address.port, listener);
  } finally {
    await listener.close({ drainTimeoutMs: 100 });
    await bus.close({ drainTimeoutMs: 100 });
  }
}

/** A raw socket that records the frames the node sends and whether it closed. */
class Raw {
  readonly frames: Frame[] = [];
  closed = false;
  private constructor(readonly socket: Socket) {
    const reader = new FrameReader();
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => reader.push(chunk, (body) => {
      const frame = decoder.decode(body);
      if (frame !== undefined) this.frames.push(frame);
    }));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => undefined);
  }

  static open(port: number, localAddress = '127.0.0.1'): Promise<Raw> {
    return new Promise((resolve, reject) => {
      const socket = connectSocket({ port, host: '127.0.0.1', localAddress }, () => resolve(new Raw(socket)));
      socket.once('error', reject);
    });
  }

  hello(): void {
    const writer = new FrameWriter();
    writer.hello(0);
    this.socket.write(writer.take()!);
  }

  async closedWith(): Promise<number | undefined> {
    await until(() => this.closed, 'the node closes the socket');
    const last = this.frames.at(-1);
    return last?.op === Op.error ? last.reason : undefined;
  }
}

test('silent sockets are closed at the handshake deadline, and at the cap a real client displaces the oldest', async () => {
  await withListener({ connectionsMax: 6, handshakeTimeoutMs: 60_000 }, {}, async (port, listener) => {
    const silentSockets = await Promise.all(Array.from({ length: 6 }, () => Raw.open(port)));
    await until(() => listener.connectionCount() === 6, 'six silent connections held');
    // The listener is full of sockets that never said HELLO: a real client still gets in.
    const client = await connect(port);
    assert.equal((await client.call('ECHO', 'served')).data, 'served');
    assert.equal(await silentSockets[0].closedWith(), ErrorReason.overloaded);
    assert.equal(listener.stats().connectionsRefused.displaced, 1);
    await client.close();
    for (const raw of silentSockets) raw.socket.destroy();
  });
  await withListener({ handshakeTimeoutMs: 50 }, {}, async (port) => {
    const raw = await Raw.open(port);
    assert.equal(await raw.closedWith(), ErrorReason.timeout);
  });
});

test('a connection idle after HELLO is closed; a connect() client that idles longer stays, because it pings', async () => {
  // The client pings every third of the idle timeout, so it is closed only if this process stalls for two
  // thirds of it between a ping and the node's deadline check: 1.5 s leaves a loaded machine a second.
  await withListener({ idleTimeoutMs: 1500 }, {}, async (port, listener) => {
    const client = await connect(port);
    const idler = await Raw.open(port);
    idler.hello();
    // The idler said HELLO after the client connected: its idle deadline is the later one.
    assert.equal(await idler.closedWith(), ErrorReason.timeout);
    assert.equal(idler.frames[0].op, Op.hello);
    assert.equal((await client.call('ECHO', 'still here')).data, 'still here');
    assert.equal(listener.stats().connectionsOpened, 2, 'the client never reconnected (connect() does not)');
    await client.close();
  });
});

test('half a frame, and a frame dripped byte by byte (slowloris), are closed at the frame deadline', async () => {
  await withListener({ frameTimeoutMs: 200, idleTimeoutMs: 60_000 }, {}, async (port, listener) => {
    const half = await Raw.open(port);
    half.hello();
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(1024 * 1024);
    half.socket.write(Buffer.concat([prefix, Buffer.alloc(512 * 1024)]));
    const drip = await Raw.open(port);
    drip.hello();
    drip.socket.write(prefix);
    const dripper = setInterval(() => drip.socket.write(Buffer.alloc(1)), 10);
    const client = await connect(port);
    try {
      assert.equal(await half.closedWith(), ErrorReason.timeout);
      assert.equal(await drip.closedWith(), ErrorReason.timeout);
      assert.equal((await client.call('ECHO', 1)).data, 1);
      await until(() => listener.stats().budget.usedBytes === 0, 'the closed connections gave their bytes back');
    } finally {
      clearInterval(dripper);
      await client.close();
    }
  });
});

test('connections beyond the per-address cap are refused with a reason; other addresses are served', async () => {
  await withListener({ connectionsPerAddressMax: 4 }, {}, async (port, listener) => {
    const held = await Promise.all(Array.from({ length: 4 }, async () => {
      const raw = await Raw.open(port, '127.0.0.2');
      raw.hello();
      return raw;
    }));
    await until(() => held.every((raw) => raw.frames.length === 1), 'the four are greeted');
    const fifth = await Raw.open(port, '127.0.0.2');
    assert.equal(await fifth.closedWith(), ErrorReason.overloaded);
    assert.match((fifth.frames.at(-1) as { message: string }).message, /4 connections from 127\.0\.0\.2/);
    // 127.0.0.1 is another address: the connect() client is served.
    const client = await connect(port);
    assert.equal((await client.call('ECHO', 'other address')).data, 'other address');
    assert.equal(listener.stats().connectionsRefused.address_full, 1);
    // And connect() itself reports the refusal as a typed error.
    const more = await Promise.all(Array.from({ length: 3 }, () => connect(port)));
    await assert.rejects(connect(port), (error: unknown) => error instanceof ClientError && error.code === 'CLIENT_CONNECT_FAILED' && /limit/.test(error.message));
    for (const c of [client, ...more]) await c.close();
    for (const raw of held) raw.socket.destroy();
  });
});

test('unfinished frames from many connections stay within the memory budget; a real client is still served', async () => {
  const budget = new MemoryBudget(4 * 1024 * 1024);
  // Connections that wait for budget in the middle of a frame are not read (not even their hang-up) until
  // the budget frees or their frame deadline passes: the deadline is what ends this attack.
  await withListener({ frameTimeoutMs: 3000, idleTimeoutMs: 60_000 }, { budget }, async (port, listener) => {
    // 12 connections each start a 2 MiB frame and send 1.5 MiB of it: 18 MiB offered to a 4 MiB budget.
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(2 * 1024 * 1024 - 4);
    const hogs = await Promise.all(Array.from({ length: 12 }, async () => {
      const raw = await Raw.open(port);
      raw.hello();
      raw.socket.write(Buffer.concat([prefix, Buffer.alloc(1536 * 1024)]));
      return raw;
    }));
    await until(() => budget.refusals > 0 && budget.waitingCount > 0, 'connections wait for budget (back-pressure)');
    const client = await connect(port);
    assert.equal((await client.call('ECHO', 'small call')).data, 'small call');
    assert.ok(budget.peakBytes <= budget.maxBytes, `peak ${budget.peakBytes} within ${budget.maxBytes}`);
    assert.ok(listener.stats().budget.peakBytes <= 4 * 1024 * 1024);
    for (const raw of hogs) raw.socket.destroy();
    await until(() => budget.usedBytes === 0, 'every byte is given back when the hogs leave or time out');
    await client.close();
  });
});

function account(id: bigint): Account {
  return { id, debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, reserved: 0, ledger: 1, code: 1, flags: 0, timestamp: 0n };
}

function transfers(first: bigint, count: number): Transfer[] {
  return Array.from({ length: count }, (_, i) => ({
    id: first + BigInt(i), debit_account_id: 1n, credit_account_id: 2n, amount: 1n, pending_id: 0n, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, timeout: 0, ledger: 1, code: 1, flags: 0, timestamp: 0n,
  }));
}

test('a ledger flood from one connection: another connection\'s lookup is served in turn, memory stays bounded', async () => {
  const ledger = await openLedger();
  await ledger.createAccounts([account(1n), account(2n)]);
  // Each flood batch holds the ledger (which runs one request at a time, in order) until the test lets it
  // through, so the flood piles up however fast this machine is, and the test counts the batches the
  // lookup had to wait for.
  const gates: Array<() => void> = [];
  // The order in which the ledger answered, recorded at the ledger itself: what the fairness claim is about.
  const answered: Array<'batch' | 'lookup'> = [];
  const gated = new Proxy(ledger, {
    get(target, property, receiver) {
      if (property === 'lookupAccounts') {
        return async (ids: bigint[]) => {
          const found = await target.lookupAccounts(ids);
          answered.push('lookup');
          return found;
        };
      }
      if (property !== 'createTransfers') return Reflect.get(target, property, receiver) as unknown;
      return (batch: Transfer[]) => target.transaction(async (session) => {
        await new Promise<void>((resolve) => gates.push(resolve));
        const results = await session.createTransfers(batch);
        answered.push('batch');
        return results;
      });
    },
  });
  const fair = new FairQueue();
  const budget = new MemoryBudget(16 * 1024 * 1024);
  try {
    await withListener({}, { ledger: gated, fair, budget }, async (port, listener) => {
      const flooder = await connect(port, { defaultTimeoutMs: 600_000 });
      const victim = await connect(port);
      const flood = Array.from({ length: 24 }, (_, i) => flooder.createTransfers(transfers(1n + BigInt(i) * 10_000n, 8189)));
      // The flood is queued at the node (and its connection no longer read: 8 MiB held) before the lookup.
      await until(() => fair.stats().queued >= 4 && gates.length === 1, 'flood requests wait in the fair queue');
      let lookedUp = false;
      const lookup = victim.lookupAccounts([1n]).then((found) => {
        lookedUp = true;
        return found;
      });
      await until(() => fair.stats().owners === 2, 'the lookup waits its turn');
      // Let the ledger go on, one batch at a time, until the victim has its answer. How many batches the
      // ledger answered first is read from its own record, so it does not matter how soon the answer
      // reaches the victim (a count of gates released by this loop would race that).
      while (!lookedUp) {
        gates.shift()?.();
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      assert.equal((await lookup).length, 1);
      // First come, first served would answer every queued batch (at least 4) before the lookup; the fair
      // queue serves the newcomer right after the batch the ledger is running.
      const batchesFirst = answered.indexOf('lookup');
      assert.ok(batchesFirst >= 0 && batchesFirst <= 1, `the ledger answered ${batchesFirst} flood batches before the lookup: ${answered.join(',')}`);
      assert.ok(listener.stats().budget.usedBytes <= 8 * 1024 * 1024 + 64 * 1024, 'the flooder is held to its 8 MiB (plus one read)');
      while (gates.length > 0 || fair.stats().queued > 0 || fair.stats().running > 0) {
        gates.shift()?.();
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      const results = await Promise.all(flood);
      assert.ok(results.every((batch) => batch.length === 8189 && batch.every((r) => Number(r.status) === CREATED)), 'every flood transfer was created');
      assert.ok(budget.peakBytes <= budget.maxBytes);
      await flooder.close();
      await victim.close();
      await until(() => budget.usedBytes === 0, 'every byte is given back');
    });
  } finally {
    await ledger.close();
  }
});
