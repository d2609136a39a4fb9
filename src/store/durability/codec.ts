/**
 * Binary encoding shared by the log, snapshots and dumps: a growable little-endian writer, a bounds-checked
 * reader, and the payloads of log records (commit records and sequence high-water marks). No JSON: a commit
 * is encoded straight into the log's pending buffer, and decoded straight into the engine on replay.
 *
 * Commit payload: kind byte 1, u32 write count, then per write: table (u16 length + UTF-8, or 0xFFFF for
 * "same table as the previous write" — writes come sorted by table, so most writes pay 2 bytes for it),
 * key (u16 length + bytes), value (u32 length + bytes, or 0xFFFFFFFF for a delete); then u32 extension
 * count and per extension: kind (u16 + UTF-8) and payload (u32 + bytes).
 * Sequence payload: kind byte 2, name (u16 + UTF-8), high-water mark as u64.
 */
import { assert } from '../../errors.js';
import { DecodeError } from '../errors.js';
import type { CommitRecord, CommitWrite } from '../interfaces.js';

export const PAYLOAD_COMMIT = 1;
export const PAYLOAD_SEQUENCE = 2;
const SAME_TABLE = 0xffff;
const DELETED = 0xffffffff;
const NAME_LENGTH_MAX_BYTES = 0xfffe;
const TABLE_NAME_CACHE_MAX = 4096;

/** A growable buffer written front to back. `bytes()` returns a view, valid until the next write. */
export class Encoder {
  buffer: Buffer;
  length = 0;

  constructor(initialBytes = 64 * 1024) {
    this.buffer = Buffer.allocUnsafe(initialBytes);
  }

  ensure(extraBytes: number): void {
    if (this.length + extraBytes <= this.buffer.length) return;
    let capacity = this.buffer.length * 2;
    while (capacity < this.length + extraBytes) capacity *= 2;
    const grown = Buffer.allocUnsafe(capacity);
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }

  u8(value: number): void {
    this.ensure(1);
    this.buffer[this.length++] = value;
  }

  u16(value: number): void {
    this.ensure(2);
    this.length = this.buffer.writeUInt16LE(value, this.length);
  }

  u32(value: number): void {
    this.ensure(4);
    this.length = this.buffer.writeUInt32LE(value, this.length);
  }

  u64(value: bigint): void {
    this.ensure(8);
    this.length = this.buffer.writeBigUInt64LE(value, this.length);
  }

  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }

  name(bytes: Uint8Array): void {
    assert(bytes.length <= NAME_LENGTH_MAX_BYTES, 'name too long to encode');
    this.u16(bytes.length);
    this.raw(bytes);
  }

  bytes(): Buffer {
    return this.buffer.subarray(0, this.length);
  }

  reset(): void {
    this.length = 0;
  }
}


export class Decoder {
  position: number;

  constructor(
    readonly buffer: Buffer,
    start = 0,
    readonly end = buffer.length,
  ) {
    this.position = start;
  }

  private need(bytes: number): void {
    if (this.position + bytes > this.end) throw new DecodeError(`needs ${bytes} bytes at ${this.position}, only ${this.end - this.position} left`);
  }

  u8(): number {
    this.need(1);
    return this.buffer[this.position++];
  }

  u16(): number {
    this.need(2);
    const value = this.buffer.readUInt16LE(this.position);
    this.position += 2;
    return value;
  }

  u32(): number {
    this.need(4);
    const value = this.buffer.readUInt32LE(this.position);
    this.position += 4;
    return value;
  }

  u64(): bigint {
    this.need(8);
    const value = this.buffer.readBigUInt64LE(this.position);
    this.position += 8;
    return value;
  }

  /**
   * A view, not a copy: readers of the log and of snapshots allocate a fresh buffer for every read and
   * never write into it, so views stay valid and unchanged for as long as anyone holds them.
   */
  raw(lengthBytes: number): Uint8Array {
    this.need(lengthBytes);
    const bytes = this.buffer.subarray(this.position, this.position + lengthBytes);
    this.position += lengthBytes;
    return bytes;
  }

  string(lengthBytes: number): string {
    this.need(lengthBytes);
    const text = this.buffer.toString('utf8', this.position, this.position + lengthBytes);
    this.position += lengthBytes;
    return text;
  }

  get remaining(): number {
    return this.end - this.position;
  }
}

const tableNameCache = new Map<string, Buffer>();

export function utf8(name: string): Buffer {
  let bytes = tableNameCache.get(name);
  if (bytes) return bytes;
  bytes = Buffer.from(name, 'utf8');
  if (tableNameCache.size < TABLE_NAME_CACHE_MAX) tableNameCache.set(name, bytes);
  return bytes;
}

export function encodeCommit(out: Encoder, record: CommitRecord): void {
  out.u8(PAYLOAD_COMMIT);
  out.u32(record.writes.length);
  let previousTable: string | undefined;
  for (const write of record.writes) {
    if (write.table === previousTable) out.u16(SAME_TABLE);
    else out.name(utf8(write.table));
    previousTable = write.table;
    out.name(write.key);
    if (write.value === undefined) out.u32(DELETED);
    else {
      out.u32(write.value.length);
      out.raw(write.value);
    }
  }
  out.u32(record.extensions.length);
  for (const extension of record.extensions) {
    out.name(utf8(extension.kind));
    out.u32(extension.payload.length);
    out.raw(extension.payload);
  }
}

export function encodeSequence(out: Encoder, name: string, highWater: bigint): void {
  out.u8(PAYLOAD_SEQUENCE);
  out.name(utf8(name));
  out.u64(highWater);
}

export type LogPayload = { kind: 'commit'; record: CommitRecord } | { kind: 'sequence'; name: string; highWater: bigint };

export function decodePayload(input: Decoder): LogPayload {
  const kind = input.u8();
  if (kind === PAYLOAD_SEQUENCE) {
    const name = input.string(input.u16());
    return { kind: 'sequence', name, highWater: input.u64() };
  }
  if (kind !== PAYLOAD_COMMIT) throw new DecodeError(`unknown payload kind ${kind}`);
  const writeCount = input.u32();
  const writes: CommitWrite[] = [];
  let table = '';
  for (let i = 0; i < writeCount; i++) {
    const tableLength = input.u16();
    if (tableLength !== SAME_TABLE) table = input.string(tableLength);
    else if (i === 0) throw new DecodeError('first write refers to a previous table');
    const key = input.raw(input.u16());
    const valueLength = input.u32();
    writes.push({ table, key, value: valueLength === DELETED ? undefined : input.raw(valueLength) });
  }
  const extensionCount = input.u32();
  const extensions = [];
  for (let i = 0; i < extensionCount; i++) {
    const kindName = input.string(input.u16());
    extensions.push({ kind: kindName, payload: input.raw(input.u32()) });
  }
  if (input.remaining !== 0) throw new DecodeError(`${input.remaining} bytes after the commit record`);
  return { kind: 'commit', record: { writes, extensions } };
}
