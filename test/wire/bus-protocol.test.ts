// The bus wire codec, without sockets: every frame type round-trips through FrameWriter → FrameReader →
// FrameDecoder; data keeps its type (bytes as bytes, the rest through batched v8 streams, cut into several
// VALUES frames when big, a value too big alone marked too-large); a stream cut at every byte still yields
// the same frames; data that cannot be cloned is a DataError that writes nothing; bad lengths and random or mutated bodies raise ProtocolViolation and
// nothing else.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DataKind, ErrorReason, FRAME_BYTES_MAX, Op, PROTOCOL_VERSION, TOO_LARGE, VALUES_BATCH_COUNT_MAX, type Frame,
} from '../../src/wire/bus-protocol.js';
import { FrameDecoder, FrameReader } from '../../src/wire/bus-reader.js';
import { FrameWriter } from '../../src/wire/bus-writer.js';
import { DataError, ProtocolViolation } from '../../src/wire/errors.js';

function decodeAll(bodies: Buffer[]): Frame[] {
  const decoder = new FrameDecoder();
  return bodies.map((body) => decoder.decode(body)).filter((frame): frame is Frame => frame !== undefined);
}

function framesOf(writer: FrameWriter, chunkBytes = Infinity): Frame[] {
  const bytes = writer.take();
  assert.ok(bytes);
  const reader = new FrameReader();
  const decoder = new FrameDecoder();
  const frames: Frame[] = [];
  for (let at = 0; at < bytes.length; at += chunkBytes) {
    reader.push(bytes.subarray(at, Math.min(bytes.length, at + chunkBytes)), (body) => {
      const frame = decoder.decode(body);
      if (frame !== undefined) frames.push(frame);
    });
  }
  return frames;
}

function sampleWriter(): FrameWriter {
  const writer = new FrameWriter();
  writer.hello(64, { idleTimeoutMs: 60_000, token: 'sésame-token' });
  writer.ping(Op.ping);
  writer.ping(Op.pong);
  writer.call(7, 0x21, 1500, Buffer.from('BALANCE'), { account: 42n, tags: new Map([['a', 1]]) });
  writer.call(8, 0, 10, Buffer.from('RAW'), new Uint8Array([1, 2, 3]));
  writer.cancel(7);
  writer.reply(8, undefined, 5, Buffer.from('ok'));
  writer.reply(9, 'TPESVCFAIL', -3, 'insufficient funds');
  writer.replyMessage(10, 'TPETIME', 0, 'no reply within 10 ms');
  writer.error(ErrorReason.frameTooLarge, 'too big');
  return writer;
}

test('every frame type round-trips, and data keeps its type', () => {
  const frames = framesOf(sampleWriter());
  assert.deepEqual(frames[0], { op: Op.hello, version: PROTOCOL_VERSION, frameBytesMax: FRAME_BYTES_MAX, inFlightMax: 64, idleTimeoutMs: 60_000, token: 'sésame-token' });
  assert.deepEqual(frames.splice(1, 2), [{ op: Op.ping }, { op: Op.pong }]);
  assert.deepEqual(frames[1], { op: Op.call, callId: 7, flags: 0x21, timeoutMs: 1500, service: 'BALANCE', data: { account: 42n, tags: new Map([['a', 1]]) } });
  assert.deepEqual(frames[2], { op: Op.call, callId: 8, flags: 0, timeoutMs: 10, service: 'RAW', data: new Uint8Array([1, 2, 3]) });
  assert.deepEqual(frames[3], { op: Op.cancel, callId: 7 });
  assert.deepEqual(frames[4], { op: Op.reply, callId: 8, code: undefined, urcode: 5, data: Buffer.from('ok'), message: undefined });
  assert.ok(Buffer.isBuffer((frames[4] as { data: unknown }).data));
  assert.deepEqual(frames[5], { op: Op.reply, callId: 9, code: 'TPESVCFAIL', urcode: -3, data: 'insufficient funds', message: undefined });
  assert.deepEqual(frames[6], { op: Op.reply, callId: 10, code: 'TPETIME', urcode: 0, data: undefined, message: 'no reply within 10 ms' });
  assert.deepEqual(frames[7], { op: Op.error, reason: ErrorReason.frameTooLarge, message: 'too big' });
  assert.equal(frames.length, 8);
});

test('data kinds: undefined and bytes travel inline, everything else batched in VALUES frames', () => {
  const writer = new FrameWriter();
  const values = [undefined, new Uint8Array(2), Buffer.alloc(2), null, new Uint16Array(2), 'x', { shared: 1 }];
  values.forEach((value, i) => writer.reply(i + 1, undefined, 0, value));
  const bodies: Buffer[] = [];
  new FrameReader().push(writer.take()!, (body) => bodies.push(body));
  assert.deepEqual(bodies.map((body) => body[0]), [Op.reply, Op.reply, Op.reply, Op.values, Op.reply, Op.reply, Op.reply, Op.reply]);
  assert.deepEqual(bodies.filter((body) => body[0] === Op.reply).map((body) => body[6]), [
    DataKind.undefined, DataKind.uint8array, DataKind.buffer, DataKind.batched, DataKind.batched, DataKind.batched, DataKind.batched,
  ]);
  assert.deepEqual(decodeAll(bodies).map((frame) => (frame as { data: unknown }).data), values);
});

test('a value that cannot be cloned is a DataError and writes nothing; the batch goes on', () => {
  const writer = new FrameWriter();
  const shared = { before: true };
  writer.reply(1, undefined, 0, shared);
  assert.throws(() => writer.reply(2, undefined, 0, { fn: () => 1 }), DataError);
  assert.throws(() => writer.call(3, 0, 10, Buffer.from('S'), Buffer.alloc(FRAME_BYTES_MAX)), DataError); // inline bytes: known at once
  writer.reply(5, undefined, 0, { after: true, shared });
  const frames = framesOf(writer);
  assert.deepEqual(frames.map((frame) => [(frame as { callId: number }).callId, (frame as { data: unknown }).data]), [[1, { before: true }], [5, { after: true, shared: { before: true } }]]);
});

test('a batch too big for a frame is split; a value too big alone arrives as TOO_LARGE', () => {
  const writer = new FrameWriter();
  const value = 'v'.repeat(300 * 1024);
  const big = 'b'.repeat(FRAME_BYTES_MAX / 2);
  const huge = { huge: 'h'.repeat(FRAME_BYTES_MAX) };
  const sent = [value, value, value, big, huge, value, big];
  sent.forEach((data, i) => writer.reply(i + 1, undefined, 0, data));
  const bytes = writer.take()!;
  const bodies: Buffer[] = [];
  new FrameReader().push(bytes, (body) => bodies.push(body));
  assert.ok(bodies.every((body) => body.length + 4 <= FRAME_BYTES_MAX));
  assert.equal(bodies.filter((body) => body[0] === Op.values).length, sent.length - 1);
  assert.deepEqual(decodeAll(bodies).map((frame) => (frame as { data: unknown }).data), sent.map((data) => (data === huge ? TOO_LARGE : data)));
});

test('many small values share one VALUES frame, up to the batch count limit', () => {
  const writer = new FrameWriter();
  const count = VALUES_BATCH_COUNT_MAX + 10;
  for (let i = 0; i < count; i += 1) writer.reply(i + 1, undefined, 0, { i });
  const bodies: Buffer[] = [];
  new FrameReader().push(writer.take()!, (body) => bodies.push(body));
  assert.equal(bodies.filter((body) => body[0] === Op.values).length, 2);
  assert.deepEqual(decodeAll(bodies).map((frame) => (frame as { data: { i: number } }).data.i), Array.from({ length: count }, (_, i) => i));
});

test('VALUES misuse is a ProtocolViolation: batched data without values, unused values, an empty batch', () => {
  const writer = new FrameWriter();
  writer.reply(1, undefined, 0, { a: 1 });
  writer.reply(2, undefined, 0, { b: 2 });
  const bodies: Buffer[] = [];
  new FrameReader().push(writer.take()!, (body) => bodies.push(Buffer.from(body)));
  assert.throws(() => new FrameDecoder().decode(bodies[1]), /without a VALUES frame/);
  const decoder = new FrameDecoder();
  decoder.decode(bodies[0]);
  assert.throws(() => decoder.decode(bodies[0]), /unused/);
  const empty = Buffer.from(bodies[0]);
  empty.writeUInt32LE(0, 1);
  assert.throws(() => new FrameDecoder().decode(empty), /without values/);
});

test('a stream cut at every chunk size yields the same frames', () => {
  const whole = framesOf(sampleWriter());
  for (const chunkBytes of [1, 2, 3, 5, 7, 13, 64]) assert.deepEqual(framesOf(sampleWriter(), chunkBytes), whole);
});

test('a frame larger than the maximum, or empty, is a ProtocolViolation as soon as its length arrives', () => {
  const tooBig = Buffer.alloc(4);
  tooBig.writeUInt32LE(FRAME_BYTES_MAX); // plus the prefix: one over
  assert.throws(() => new FrameReader().push(tooBig, () => {}), (error) => error instanceof ProtocolViolation && error.reason === ErrorReason.frameTooLarge);
  assert.throws(() => new FrameReader().push(Buffer.alloc(4), () => {}), (error) => error instanceof ProtocolViolation && error.reason === ErrorReason.badFrame);
  // The largest allowed frame passes.
  const largest = Buffer.alloc(FRAME_BYTES_MAX);
  largest.writeUInt32LE(FRAME_BYTES_MAX - 4);
  largest[4] = Op.cancel;
  let count = 0;
  new FrameReader().push(largest, () => (count += 1));
  assert.equal(count, 1);
  // Frames before a bad one are handed over before the violation is raised.
  const seen: number[] = [];
  const writer = new FrameWriter();
  writer.cancel(1);
  assert.throws(() => new FrameReader().push(Buffer.concat([writer.take()!, tooBig]), (body) => seen.push(body[0])), ProtocolViolation);
  assert.deepEqual(seen, [Op.cancel]);
});

test('bad magic and unknown ops, kinds and codes are ProtocolViolations', () => {
  const decoder = new FrameDecoder();
  const hello = Buffer.from(sampleWriter().take()!.subarray(4, 4 + 17));
  hello.writeUInt32LE(0x12345678, 1);
  assert.throws(() => decoder.decode(hello), (error) => error instanceof ProtocolViolation && error.reason === ErrorReason.versionMismatch);
  assert.throws(() => decoder.decode(Buffer.from([0x55])), ProtocolViolation);
  assert.throws(() => decoder.decode(Buffer.from([Op.cancel, 1, 0, 0])), ProtocolViolation);
  const call = Buffer.from([Op.call, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 99, 1, 0x41]);
  assert.throws(() => decoder.decode(call), /unknown data kind 99/);
  call[13] = DataKind.message; // a CALL never carries a message
  assert.throws(() => decoder.decode(call), ProtocolViolation);
  const reply = Buffer.alloc(17);
  reply[0] = Op.reply;
  reply[5] = 200;
  assert.throws(() => decoder.decode(reply), /unknown XATMI code 200/);
});

test('fuzz: random and mutated bodies decode or raise ProtocolViolation, never anything else', () => {
  const valid = sampleWriter().take()!;
  const bodies: Buffer[] = [];
  new FrameReader().push(valid, (body) => bodies.push(Buffer.from(body)));
  // One decoder for the whole run, as a connection has: VALUES state carries over from frame to frame.
  const decoder = new FrameDecoder();
  let seed = 12345;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  let violations = 0;
  for (let i = 0; i < 20000; i += 1) {
    let body: Buffer;
    if (i % 2 === 0) {
      body = Buffer.from(bodies[i % bodies.length]);
      for (let flips = 1 + Math.floor(random() * 4); flips > 0; flips -= 1) body[Math.floor(random() * body.length)] = Math.floor(random() * 256);
      if (random() < 0.3) body = body.subarray(0, Math.floor(random() * body.length));
    } else {
      body = Buffer.alloc(Math.floor(random() * 40));
      for (let j = 0; j < body.length; j += 1) body[j] = Math.floor(random() * 256);
    }
    if (body.length === 0) continue;
    try {
      decoder.decode(body);
    } catch (error) {
      assert.ok(error instanceof ProtocolViolation, `not a ProtocolViolation: ${String(error)}`);
      violations += 1;
    }
  }
  assert.ok(violations > 1000, 'the fuzzer should have produced many invalid frames');
});
