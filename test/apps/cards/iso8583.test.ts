// The ISO 8583:1987 ASCII codec: every field format round-trips, the wire bytes are jPOS iso87ascii's
// (checked against a message built by hand from the standard's layout), and malformed or hostile input —
// truncated, bad bitmaps, bad lengths, oversized, random and mutated bytes — is an IsoFormatError that
// still carries the MTI and the fields read before the fault, never a crash or a partial message.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decode, encode, frame, MESSAGE_BYTES_MAX, responseMti, type IsoMessage } from '../../../apps/cards/iso8583/codec.js';
import { FIELDS } from '../../../apps/cards/iso8583/fields.js';
import { FrameReader } from '../../../apps/cards/iso8583/frames.js';
import { IsoFormatError } from '../../../apps/cards/errors.js';

const authorization = (): IsoMessage => ({
  mti: '0100',
  fields: new Map<number, string | Buffer>([
    [2, '9999990000000001'], [3, '000000'], [4, '000000001000'], [7, '1205103000'], [11, '000001'], [12, '103000'],
    [14, '2812'], [22, '051'], [23, '001'], [37, '000000000001'], [41, 'TERM0001'], [42, 'MERCHANT0000001'], [49, '978'],
    [55, Buffer.from('9F360200019F2608AABBCCDDEEFF0011', 'hex')],
  ]),
});

test('a message is laid out as iso87ascii: MTI, hex bitmap, LL/LLL ASCII prefixes, DE 55 as raw bytes with an LLL byte count', () => {
  const bytes = encode({ mti: '0800', fields: new Map<number, string | Buffer>([[7, '1205103000'], [11, '000042'], [70, '301']]) });
  // Bits 1 (secondary), 7, 11 → primary 8220000000000000; bit 70 → secondary 0400000000000000.
  assert.equal(bytes.toString('latin1'), '0800' + '8220000000000000' + '0400000000000000' + '1205103000' + '000042' + '301');
  const withChip = encode({ mti: '0110', fields: new Map<number, string | Buffer>([[2, '4111'], [55, Buffer.from([0x91, 0x02, 0xab, 0xcd])]]) });
  assert.equal(withChip.subarray(0, 4 + 16 + 6).toString('latin1'), '0110' + '4000000000000200' + '044111');
  assert.deepEqual(withChip.subarray(26), Buffer.concat([Buffer.from('004', 'latin1'), Buffer.from([0x91, 0x02, 0xab, 0xcd])]));
});

test('every data element of the table round-trips at its longest and shortest', () => {
  for (let id = 2; id <= 128; id++) {
    const spec = FIELDS[id]!;
    const sample = (length: number): string | Buffer => {
      switch (spec.content) {
        case 'n': return '7'.repeat(length);
        case 'ans': return 'A b~'.repeat(length).slice(0, length);
        case 'z': return '4111=D'.repeat(length).slice(0, length);
        case 'amount': return 'C' + '1'.repeat(length - 1);
        case 'hex': case 'raw': return Buffer.alloc(length, 0xa5);
      }
    };
    const lengths = spec.prefix === 0 ? [spec.length] : [0, spec.length];
    for (const length of lengths) {
      if (spec.content === 'amount' && length === 0) continue;
      const message: IsoMessage = { mti: '0200', fields: new Map([[11, '000001'], [id, sample(length)]]) };
      const decoded = decode(encode(message));
      assert.deepEqual(decoded, message, `DE ${id} length ${length}`);
    }
  }
});

test('responseMti answers requests and repeats, and refuses responses', () => {
  assert.equal(responseMti('0100'), '0110');
  assert.equal(responseMti('0101'), '0110');
  assert.equal(responseMti('0421'), '0430');
  assert.equal(responseMti('0800'), '0810');
  assert.equal(responseMti('0110'), undefined);
});

function formatError(bytes: Buffer): IsoFormatError {
  try {
    decode(bytes);
  } catch (error) {
    assert.ok(error instanceof IsoFormatError, String(error));
    return error;
  }
  assert.fail('decoded a malformed message');
}

test('malformed messages are IsoFormatErrors that name the field, with the MTI and DE 11 when they were readable', () => {
  const good = encode(authorization());
  assert.deepEqual(decode(good), authorization());

  // Truncated at every length: always an error, and DE 11 is known once the message got past it.
  for (let length = 0; length < good.length; length++) {
    const error = formatError(good.subarray(0, length));
    if (length >= 4) assert.equal(error.partial.mti, '0100');
    if (error.field > 11) assert.equal(error.partial.fields.get(11), '000001');
  }
  const text = good.toString('latin1');
  const cases: [string, number][] = [
    ['01X0' + text.slice(4), 0], // MTI not digits
    [text.slice(0, 4) + 'Z' + text.slice(5), 1], // bitmap not hex
    [text.slice(0, 4) + 'F' + text.slice(5, 20), 1], // bit 1 set, no secondary bitmap
    [text.slice(0, 4) + 'F' + text.slice(5, 20) + 'G'.repeat(16), 1], // a secondary bitmap that is not hex
    [text.replace('169999990000000001', '209999990000000001'), 2], // LL length beyond 19
    [text.replace('169999990000000001', '1A9999990000000001'), 2], // LL length not digits
    [text.slice(0, 55) + 'X' + text.slice(56), 4], // non-digit amount (DE 4 is at 44..56)
    [text + '00', -1], // bytes after the last field
  ];
  for (const [bytes, field] of cases) assert.equal(formatError(Buffer.from(bytes, 'latin1')).field, field, bytes);
  // A field the bitmap announces that is not there.
  const extraBit = Buffer.from(text, 'latin1');
  extraBit[4 + 15] = 0x31; // bit 64 (MAC) set, no data for it
  assert.equal(formatError(extraBit).field, 64);
  assert.equal(formatError(extraBit).partial.fields.get(11), '000001');
  // DE 55 claiming more bytes than there are.
  const chip = Buffer.from(text, 'latin1');
  const at = chip.indexOf('016', 60, 'latin1');
  chip.write('999', at, 'latin1');
  assert.equal(formatError(chip).field, 55);
  // Oversized.
  assert.equal(formatError(Buffer.alloc(MESSAGE_BYTES_MAX + 1, 0x30)).field, -1);
});

test('random and mutated bytes never crash the decoder', () => {
  let seed = 7;
  const random = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  const good = encode(authorization());
  for (let round = 0; round < 20_000; round++) {
    let bytes: Buffer;
    if (round % 2 === 0) {
      bytes = Buffer.from(Array.from({ length: random(200) }, () => (random(4) === 0 ? random(256) : 0x30 + random(10))));
    } else {
      bytes = Buffer.from(good);
      for (let flips = 1 + random(4); flips > 0; flips--) bytes[random(bytes.length)] = random(256);
      if (random(3) === 0) bytes = bytes.subarray(0, random(bytes.length));
    }
    try {
      const message = decode(bytes);
      assert.deepEqual(decode(encode(message)), message, 'what decodes, re-encodes to the same message');
    } catch (error) {
      assert.ok(error instanceof IsoFormatError, String(error));
    }
  }
});

test('encode refuses fields that do not fit their specification', () => {
  const bad: [number, string | Buffer][] = [[3, '12345'], [4, '12345678901a'], [2, '1'.repeat(20)], [55, 'text'], [41, Buffer.alloc(8)], [39, '\u0001\u0002'], [129, 'x']];
  for (const [id, value] of bad) assert.throws(() => encode({ mti: '0100', fields: new Map([[id, value]]) }), IsoFormatError, `DE ${id}`);
  assert.throws(() => encode({ mti: '100', fields: new Map() }), IsoFormatError);
});

test('the frame reader splits a stream at any chunking, and refuses zero-length and oversized frames', () => {
  const bodies = [encode(authorization()), encode({ mti: '0800', fields: new Map([[70, '301']]) })];
  const stream = Buffer.concat(bodies.map(frame));
  for (let chunk = 1; chunk <= stream.length; chunk += 7) {
    const reader = new FrameReader();
    const out: Buffer[] = [];
    for (let at = 0; at < stream.length; at += chunk) {
      const frames = reader.push(stream.subarray(at, at + chunk));
      assert.ok(Array.isArray(frames));
      out.push(...frames);
    }
    assert.deepEqual(out, bodies);
    assert.equal(reader.pendingBytes, 0);
  }
  assert.equal(typeof new FrameReader().push(Buffer.from([0, 0])), 'string');
  assert.equal(typeof new FrameReader().push(Buffer.from([0xff, 0xff])), 'string');
});
