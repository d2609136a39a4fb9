/**
 * One ISO 8583:1987 codec (ASCII variant, see `fields.ts`), driven by the field table: `decode` reads a
 * message into its MTI and a map of data elements, `encode` writes one back. Both check every field
 * against its specification; nothing outside the table is accepted and nothing is guessed.
 *
 * Text fields are JavaScript strings (the bytes are ASCII, checked); `b` fields are Buffers (the hex on the
 * wire decoded, or DE 55's raw bytes). Decoding never trusts a length it has not checked against both the
 * specification and the bytes left, so hostile input costs at most one pass over the message.
 */
import { IsoFormatError } from '../errors.js';
import { FIELDS, type FieldSpec } from './fields.js';

export type FieldValue = string | Buffer;

export interface IsoMessage {
  /** Message type indicator: four ASCII digits (`0100`). */
  mti: string;
  /** Data elements by number (2..128); bit 1 (the secondary bitmap) is implied by the fields present. */
  fields: Map<number, FieldValue>;
}

/** The largest message body accepted or produced. The 2-byte frame allows 65,535; real ones are < 1 KiB. */
export const MESSAGE_BYTES_MAX = 8192;

const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

function isDigit(byte: number): boolean {
  return byte >= DIGIT_0 && byte <= DIGIT_9;
}

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x37;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x57;
  return -1;
}

/** Why `bytes[start, end)` is not valid `content`, or undefined when it is. */
function contentFault(spec: FieldSpec, bytes: Buffer, start: number, end: number): string | undefined {
  switch (spec.content) {
    case 'n':
      for (let at = start; at < end; at++) if (!isDigit(bytes[at])) return `non-digit byte 0x${bytes[at].toString(16)} at offset ${at}`;
      return undefined;
    case 'ans':
      for (let at = start; at < end; at++) if (bytes[at] < 0x20 || bytes[at] > 0x7e) return `non-printable byte 0x${bytes[at].toString(16)} at offset ${at}`;
      return undefined;
    case 'z':
      for (let at = start; at < end; at++) {
        const byte = bytes[at];
        if (!isDigit(byte) && byte !== 0x3d && byte !== 0x44) return `byte 0x${byte.toString(16)} at offset ${at} is not a track-2 character`;
      }
      return undefined;
    case 'amount':
      if (bytes[start] !== 0x43 && bytes[start] !== 0x44) return `amount sign must be C or D at offset ${start}`;
      for (let at = start + 1; at < end; at++) if (!isDigit(bytes[at])) return `non-digit byte in amount at offset ${at}`;
      return undefined;
    case 'hex':
      for (let at = start; at < end; at++) if (hexValue(bytes[at]) < 0) return `non-hex byte 0x${bytes[at].toString(16)} at offset ${at}`;
      return undefined;
    case 'raw':
      return undefined;
  }
}

function isHex(bytes: Buffer, start: number, end: number): boolean {
  for (let at = start; at < end; at++) if (hexValue(bytes[at]) < 0) return false;
  return true;
}

function readDecimal(bytes: Buffer, start: number, digits: number): number {
  let value = 0;
  for (let at = start; at < start + digits; at++) {
    if (!isDigit(bytes[at])) return -1;
    value = value * 10 + bytes[at] - DIGIT_0;
  }
  return value;
}

function readHex(bytes: Buffer, start: number, byteCount: number): Buffer {
  const out = Buffer.allocUnsafe(byteCount);
  for (let index = 0; index < byteCount; index++) out[index] = (hexValue(bytes[start + 2 * index]) << 4) | hexValue(bytes[start + 2 * index + 1]);
  return out;
}

/**
 * Decodes one message body (the frame's payload). Throws `IsoFormatError` naming the field and offset of
 * the first fault, with the MTI and the fields read before it (so a reply can echo DE 11).
 */
export function decode(bytes: Buffer): IsoMessage {
  const fields = new Map<number, FieldValue>();
  const partial: { mti: string | undefined; fields: Map<number, FieldValue> } = { mti: undefined, fields };
  const fail = (field: number, why: string): never => {
    throw new IsoFormatError(`ISO 8583 format error in ${field === 0 ? 'the MTI' : field === 1 ? 'the bitmap' : `DE ${field}`}: ${why}`, field, partial);
  };
  if (bytes.length > MESSAGE_BYTES_MAX) fail(-1, `message of ${bytes.length} bytes exceeds ${MESSAGE_BYTES_MAX}`);
  if (bytes.length < 4) fail(0, `message of ${bytes.length} bytes has no MTI`);
  for (let at = 0; at < 4; at++) if (!isDigit(bytes[at])) fail(0, 'the MTI must be four ASCII digits');
  const mti = bytes.toString('latin1', 0, 4);
  partial.mti = mti;
  let offset = 4;
  const bitmap = Buffer.alloc(16);
  if (bytes.length < offset + 16) fail(1, 'the primary bitmap needs 16 hex characters');
  if (!isHex(bytes, offset, offset + 16)) fail(1, 'the primary bitmap must be 16 hex characters');
  readHex(bytes, offset, 8).copy(bitmap, 0);
  offset += 16;
  const secondary = (bitmap[0] & 0x80) !== 0;
  if (secondary) {
    if (bytes.length < offset + 16) fail(1, 'bit 1 is set but the secondary bitmap is missing');
    if (!isHex(bytes, offset, offset + 16)) fail(1, 'the secondary bitmap must be 16 hex characters');
    readHex(bytes, offset, 8).copy(bitmap, 8);
    offset += 16;
  }
  const last = secondary ? 128 : 64;
  for (let id = 2; id <= last; id++) {
    if ((bitmap[(id - 1) >> 3] & (0x80 >> ((id - 1) & 7))) === 0) continue;
    const spec = FIELDS[id]!;
    let length = spec.length;
    if (spec.prefix > 0) {
      if (bytes.length < offset + spec.prefix) fail(id, `truncated in its length prefix at offset ${offset}`);
      length = readDecimal(bytes, offset, spec.prefix);
      if (length < 0) fail(id, `length prefix at offset ${offset} is not ${spec.prefix} digits`);
      if (length > spec.length) fail(id, `length ${length} exceeds the maximum ${spec.length}`);
      offset += spec.prefix;
    }
    const wireBytes = spec.content === 'hex' ? 2 * length : length;
    if (bytes.length < offset + wireBytes) fail(id, `truncated: needs ${wireBytes} bytes at offset ${offset}, ${bytes.length - offset} left`);
    const fault = contentFault(spec, bytes, offset, offset + wireBytes);
    if (fault !== undefined) fail(id, fault);
    let value: FieldValue;
    if (spec.content === 'hex') value = readHex(bytes, offset, length);
    else if (spec.content === 'raw') value = Buffer.from(bytes.subarray(offset, offset + length)); // a copy: the frame buffer is reused
    else value = bytes.toString('latin1', offset, offset + wireBytes);
    fields.set(id, value);
    offset += wireBytes;
  }
  if (offset !== bytes.length) fail(-1, `${bytes.length - offset} bytes after the last field`);
  return { mti, fields };
}

/** Encodes a message body. Throws `IsoFormatError` if a field does not fit its specification (a caller's bug or bad data). */
export function encode(message: IsoMessage): Buffer {
  const partial = { mti: message.mti, fields: message.fields };
  const fail = (field: number, why: string): never => {
    throw new IsoFormatError(`cannot encode ${field === 0 ? 'the MTI' : `DE ${field}`}: ${why}`, field, partial);
  };
  if (!/^\d{4}$/.test(message.mti)) fail(0, 'the MTI must be four digits');
  const ids = [...message.fields.keys()].sort((a, b) => a - b);
  const secondary = ids.length > 0 && ids[ids.length - 1] > 64;
  const bitmap = Buffer.alloc(secondary ? 16 : 8);
  if (secondary) bitmap[0] |= 0x80;
  const parts: Buffer[] = [Buffer.from(message.mti, 'latin1'), Buffer.alloc(0)];
  let total = 4 + 2 * bitmap.length;
  for (const id of ids) {
    const spec = FIELDS[id];
    if (spec === undefined || !Number.isInteger(id)) return fail(id, 'no such data element (2..128)');
    const value = message.fields.get(id)!;
    let body: Buffer;
    if (spec.content === 'hex' || spec.content === 'raw') {
      if (!Buffer.isBuffer(value)) return fail(id, 'a binary field takes a Buffer');
      body = spec.content === 'hex' ? Buffer.from(value.toString('hex').toUpperCase(), 'latin1') : value;
    } else {
      if (typeof value !== 'string') return fail(id, 'a text field takes a string');
      body = Buffer.from(value, 'latin1');
      if (body.length !== value.length) fail(id, 'characters outside latin1');
    }
    const length = spec.content === 'hex' ? body.length / 2 : body.length;
    if (spec.prefix === 0 && length !== spec.length) fail(id, `fixed length ${spec.length}, got ${length}`);
    if (spec.prefix > 0 && length > spec.length) fail(id, `length ${length} exceeds the maximum ${spec.length}`);
    const fault = contentFault(spec, body, 0, body.length);
    if (fault !== undefined) fail(id, fault);
    if (spec.prefix > 0) parts.push(Buffer.from(String(length).padStart(spec.prefix, '0'), 'latin1'));
    parts.push(body);
    total += body.length + spec.prefix;
    bitmap[(id - 1) >> 3] |= 0x80 >> ((id - 1) & 7);
  }
  if (total > MESSAGE_BYTES_MAX) fail(-1, `message of ${total} bytes exceeds ${MESSAGE_BYTES_MAX}`);
  parts[1] = Buffer.from(bitmap.toString('hex').toUpperCase(), 'latin1');
  return Buffer.concat(parts, total);
}

/** A message with its 2-byte big-endian length prefix, ready to write to a socket. */
export function frame(body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(2 + body.length);
  out.writeUInt16BE(body.length, 0);
  body.copy(out, 2);
  return out;
}

/** The response MTI of a request MTI: third digit + 1 (0100 → 0110, 0101 → 0110, 0421 → 0430). */
export function responseMti(mti: string): string | undefined {
  const fn = mti.charCodeAt(2) - DIGIT_0;
  if (fn % 2 !== 0) return undefined; // already a response (or an advice response)
  return `${mti.slice(0, 2)}${fn + 1}0`;
}
