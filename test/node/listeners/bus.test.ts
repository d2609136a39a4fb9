// The bus listener against hostile or broken peers, over raw sockets: a version or magic mismatch gets an
// ERROR frame and a close; so do an oversized frame, a frame before HELLO, an unknown op and a reused call
// id; silence past the handshake timeout is not needed to prove (it is a timer). Then a fuzzer throws random
// and mutated streams at the node from many connections while a well-behaved client keeps calling: every
// one of its calls succeeds, and the node still accepts new connections afterwards.
import assert from 'node:assert/strict';
import { connect as connectSocket, createServer, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { ClientError, connect, createBus, type Bus } from 'purser';
import { ErrorReason, FRAME_BYTES_MAX, Op, PROTOCOL_VERSION, type Frame } from '../../../src/wire/bus-protocol.js';
import { FrameDecoder, FrameReader } from '../../../src/wire/bus-reader.js';
import { FrameWriter } from '../../../src/wire/bus-writer.js';
import { startBusListener, type BusListener } from '../../../src/node/listeners/bus.js';

let bus: Bus;
let listener: BusListener;
const registry = new Registry();

before(async () => {
  bus = createBus();
  bus.advertise('ECHO', (request) => request.data, { servers: 4 });
  listener = await startBusListener({ host: '127.0.0.1', port: 0, bus, logger: pino({ level: 'silent' }), metricsRegistry: registry });
});

after(async () => {
  await listener.close({ drainTimeoutMs: 100 });
  await bus.close({ drainTimeoutMs: 100 });
});

/**
 * Opens a raw socket, sends `bytes`, and collects the frames the node sends until it closes the socket.
 * With `end`, the socket then says it has nothing more to send (FIN), which the node answers by closing its
 * side once it has read everything before: the fuzz waits for that state, not for a time window. The wait
 * is bounded by a hang guard only; `closed` says whether the node closed.
 */
async function exchange(bytes: Buffer[], options: { end?: boolean } = {}): Promise<{ frames: Frame[]; closed: boolean }> {
  const socket: Socket = connectSocket(listener.address.port, '127.0.0.1');
  const reader = new FrameReader();
  const decoder = new FrameDecoder();
  const frames: Frame[] = [];
  socket.on('data', (chunk: Buffer) => {
    reader.push(chunk, (body) => {
      const frame = decoder.decode(body);
      if (frame !== undefined) frames.push(frame);
    });
  });
  socket.on('error', () => {}); // a reset after the node's close is expected
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  for (const chunk of bytes) socket.write(chunk);
  if (options.end === true) socket.end();
  const closed = await new Promise<boolean>((resolve) => {
    socket.once('close', () => resolve(true));
    setTimeout(() => resolve(false), 60_000).unref();
  });
  socket.destroy();
  return { frames, closed };
}

function hello(version = PROTOCOL_VERSION, magic?: number): Buffer {
  const writer = new FrameWriter();
  writer.hello(0, {}, version, magic);
  return writer.take()!;
}

function call(callId: number, service = 'ECHO', data: unknown = 1): Buffer {
  const writer = new FrameWriter();
  writer.call(callId, 0, 1000, Buffer.from(service), data);
  return writer.take()!;
}

function lastError(frames: Frame[]): { reason: number; message: string } {
  const last = frames.at(-1);
  assert.ok(last?.op === Op.error, `expected an ERROR frame last, got ${JSON.stringify(last)}`);
  return last;
}

test('handshake: a wrong version or wrong magic gets an ERROR frame and a close', async () => {
  const wrongVersion = await exchange([hello(PROTOCOL_VERSION + 1)]);
  assert.equal(wrongVersion.closed, true);
  assert.equal(wrongVersion.frames.length, 1);
  assert.equal(lastError(wrongVersion.frames).reason, ErrorReason.versionMismatch);
  const wrongMagic = await exchange([hello(PROTOCOL_VERSION, 0x0badf00d)]);
  assert.equal(lastError(wrongMagic.frames).reason, ErrorReason.versionMismatch);
  const noHello = await exchange([call(0x100)]);
  assert.equal(lastError(noHello.frames).reason, ErrorReason.badFrame);
  const http = await exchange([Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]);
  assert.equal(http.closed, true);
  assert.equal(lastError(http.frames).reason, ErrorReason.frameTooLarge); // 'GET ' read as a length
});

test('a client of another version learns why: connect() rejects with CLIENT_VERSION_MISMATCH', async () => {
  // A node of a future version, played by a socket that answers with its own HELLO; the client answers
  // that with an ERROR frame saying why it hangs up.
  const fromClient: Frame[] = [];
  const server = createServer((socket) => {
    const reader = new FrameReader();
    const decoder = new FrameDecoder();
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => reader.push(chunk, (body) => {
      const frame = decoder.decode(body);
      if (frame !== undefined) fromClient.push(frame);
      if (frame?.op === Op.hello) socket.write(hello(PROTOCOL_VERSION + 1));
    }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  try {
    await assert.rejects(connect((server.address() as { port: number }).port), (error: unknown) => error instanceof ClientError && error.code === 'CLIENT_VERSION_MISMATCH' && error.message.includes(`version ${PROTOCOL_VERSION + 1}`));
    while (fromClient.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(fromClient[0].op, Op.hello);
    assert.equal(lastError(fromClient).reason, ErrorReason.versionMismatch);
  } finally {
    server.close();
  }
  // And against the real node, a client that sends a wrong version reads why in the ERROR frame.
  const { frames } = await exchange([hello(PROTOCOL_VERSION + 1)]);
  assert.ok(lastError(frames).message.includes(`version ${PROTOCOL_VERSION + 1} is not supported`));
});

test('an oversized frame, an unknown op and a reused call id each close the connection with an ERROR', async () => {
  const header = Buffer.alloc(4);
  header.writeUInt32LE(FRAME_BYTES_MAX); // one byte over, counting the prefix
  const oversized = await exchange([hello(), header]);
  assert.equal(oversized.frames[0].op, Op.hello);
  assert.equal(lastError(oversized.frames).reason, ErrorReason.frameTooLarge);
  assert.equal(oversized.closed, true);

  const unknownOp = await exchange([hello(), Buffer.from([1, 0, 0, 0, 0x33])]);
  assert.equal(lastError(unknownOp.frames).reason, ErrorReason.badFrame);

  // Two calls with one id in the same batch: the first is still in flight when the second arrives.
  const reused = await exchange([hello(), Buffer.concat([call(0x100), call(0x100)])]);
  assert.equal(lastError(reused.frames).reason, ErrorReason.badFrame);
  assert.match(lastError(reused.frames).message, /already in flight/);
});

test('calls over a raw socket are answered with their call ids, in any order', async () => {
  const socket = connectSocket(listener.address.port, '127.0.0.1');
  const reader = new FrameReader();
  const decoder = new FrameDecoder();
  const frames: Frame[] = [];
  socket.on('data', (chunk: Buffer) => {
    reader.push(chunk, (body) => {
      const frame = decoder.decode(body);
      if (frame !== undefined) frames.push(frame);
    });
  });
  socket.write(Buffer.concat([hello(), call(0x200, 'ECHO', 'a'), call(0x201, 'ECHO', 'b'), call(0x202, 'NOPE')]));
  while (frames.length < 4) await new Promise((resolve) => setTimeout(resolve, 5));
  socket.destroy();
  const replies = new Map(frames.slice(1).map((frame) => [(frame as { callId: number }).callId, frame]));
  assert.deepEqual(replies.get(0x200), { op: Op.reply, callId: 0x200, code: undefined, urcode: 0, data: 'a', message: undefined });
  assert.equal((replies.get(0x202) as { code: string }).code, 'TPENOENT');
});

test('fuzz: random and mutated streams from many connections never disturb the node or other clients', async () => {
  const client = await connect(listener.address.port);
  let seed = 99;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const valid = Buffer.concat([hello(), call(0x100, 'ECHO', { a: [1, 2] }), call(0x101, 'ECHO', new Uint8Array(9)), call(0x102, 'X')]);
  let stop = false;
  let goodCalls = 0;
  const goodClient = (async () => {
    while (!stop) {
      assert.equal((await client.call('ECHO', goodCalls)).data, goodCalls);
      goodCalls += 1;
    }
  })();
  const streams: Buffer[][] = [];
  for (let i = 0; i < 300; i += 1) {
    let stream: Buffer;
    if (i % 3 === 0) {
      stream = Buffer.alloc(1 + Math.floor(random() * 200));
      for (let j = 0; j < stream.length; j += 1) stream[j] = Math.floor(random() * 256);
    } else {
      stream = Buffer.from(valid);
      // Keep the HELLO intact on most runs so the mutations reach the call decoder.
      const from = i % 3 === 1 ? 21 : 0;
      for (let flips = 1 + Math.floor(random() * 6); flips > 0; flips -= 1) stream[from + Math.floor(random() * (stream.length - from))] = Math.floor(random() * 256);
    }
    // Deliver in random pieces, so frame boundaries fall anywhere.
    const pieces: Buffer[] = [];
    for (let at = 0; at < stream.length;) {
      const size = 1 + Math.floor(random() * 40);
      pieces.push(stream.subarray(at, at + size));
      at += size;
    }
    streams.push(pieces);
  }
  const batchSize = 20;
  for (let i = 0; i < streams.length; i += batchSize) {
    await Promise.all([...streams.slice(i, i + batchSize).map(async (pieces) => {
      const { frames, closed } = await exchange(pieces, { end: true });
      assert.equal(closed, true, 'the node closed the fuzzed connection');
      for (const frame of frames) assert.ok([Op.hello, Op.reply, Op.error].includes(frame.op as 0x01));
    }), (async () => {
      // A call made while this batch's streams come in, so every batch overlaps a well-behaved call.
      assert.equal((await client.call('ECHO', `batch ${i}`)).data, `batch ${i}`);
    })()]);
  }
  stop = true;
  await goodClient;
  const fresh = await connect(listener.address.port);
  assert.equal((await fresh.call('ECHO', 'alive')).data, 'alive');
  await fresh.close();
  await client.close();

  // What operations see: every connection counted, the broken ones as violations, none left open.
  const stats = listener.stats();
  assert.ok(stats.connectionsOpened >= streams.length + 2);
  assert.ok(stats.protocolViolations > streams.length / 3, `violations ${stats.protocolViolations}`);
  while (listener.connectionCount() > 0) await new Promise((resolve) => setTimeout(resolve, 10));
  const text = await registry.metrics();
  assert.match(text, /purser_bus_client_connections 0/);
  assert.match(text, new RegExp(`purser_bus_client_protocol_violations_total ${listener.stats().protocolViolations}`));
  assert.match(text, new RegExp(`purser_bus_client_connections_opened_total ${listener.stats().connectionsOpened}`));
});
