/**
 * A store image: every table's records in key order plus the sequences, in one checksummed file. The same
 * format serves checkpoint snapshots (magic "PURSSNAP", naming the log position they cover) and portable
 * dumps (magic "PURSDUMP", position always 0, so that dump → load → dump is byte-identical).
 *
 * Layout, little-endian:
 *   header, 32 bytes: magic (8) | u32 version | u32 reserved | u64 covered LSN | u32 reserved | u32 crc32 of the 28 before
 *   body: u32 sequence count, per sequence: u16 name length, name, u64 high-water mark (sorted by name);
 *         per table (sorted by name): u8 1, u16 name length, name, then records as u32 key length,
 *         u32 value length, key, value, ended by a key length of 0 (keys are never empty); then u8 0.
 *   trailer, 16 bytes: u64 record count | u32 crc32 of the body | u32 end marker.
 * A reader checks the header, the structure as it goes, the record count and the body checksum at the end.
 */
import { crc32 } from 'node:zlib';
import { assert } from '../../errors.js';
import { ImageDamage } from '../errors.js';
import type { EngineSnapshot, SequenceState } from '../interfaces.js';
import { Encoder, utf8 } from './codec.js';
import type { FileHandle, FileSystem } from './fs.js';

export type ImageKind = 'snapshot' | 'dump';
export const IMAGE_VERSION = 1;
export const IMAGE_HEADER_BYTES = 32;
export const IMAGE_TRAILER_BYTES = 16;
const MAGIC: Record<ImageKind, Buffer> = { snapshot: Buffer.from('PURSSNAP', 'latin1'), dump: Buffer.from('PURSDUMP', 'latin1') };
const END_MARKER = 0x21444e45; // "END!"
/**
 * Bytes encoded before they are written out. Encoding is the longest synchronous stretch of a checkpoint
 * (commits wait behind it), about 1–2 µs per record: 256 KiB is some 1,700 records of 150 bytes, a few
 * milliseconds.
 */
const WRITE_CHUNK_BYTES = 256 * 1024; // 256 KiB
const READ_WINDOW_BYTES = 8 * 1024 * 1024; // 8 MiB
const RECORD_SIDE_MAX_BYTES = 64 * 1024 * 1024; // a key or value longer than this is damage

export interface ImageWriteResult {
  sizeBytes: number;
  records: number;
}

/**
 * Writes `image` to a new file at `path` and fsyncs it (the caller renames it and syncs the directory).
 * Yields to the event loop after every chunk, so commits keep flowing while a checkpoint is written.
 */
export async function writeImage(fs: FileSystem, path: string, kind: ImageKind, coveredLsn: number, image: EngineSnapshot, onProgress?: (records: number) => void): Promise<ImageWriteResult> {
  const file = await fs.open(path, 'create');
  try {
    const out = new Encoder(WRITE_CHUNK_BYTES + 64 * 1024);
    let position = 0;
    let bodyCrc = 0;
    const flush = async () => {
      const bytes = out.bytes();
      bodyCrc = crc32(bytes, bodyCrc);
      await file.write(bytes, position);
      position += bytes.length;
      out.reset();
    };
    await file.write(imageHeader(kind, coveredLsn), 0);
    position = IMAGE_HEADER_BYTES;
    const sequences = [...image.sequences].sort((a, b) => compareNames(a.name, b.name));
    out.u32(sequences.length);
    for (const sequence of sequences) {
      out.name(utf8(sequence.name));
      out.u64(sequence.highWater);
    }
    let records = 0;
    for (const table of [...image.tables()].sort(compareNames)) {
      out.u8(1);
      out.name(utf8(table));
      for (const [key, value] of image.records(table)) {
        assert(key.length > 0, 'keys are never empty');
        out.u32(key.length);
        out.u32(value.length);
        out.raw(key);
        out.raw(value);
        records++;
        if (out.length >= WRITE_CHUNK_BYTES) {
          await flush();
          onProgress?.(records);
        }
      }
      out.u32(0);
    }
    out.u8(0);
    await flush();
    const trailer = Buffer.alloc(IMAGE_TRAILER_BYTES);
    trailer.writeBigUInt64LE(BigInt(records), 0);
    trailer.writeUInt32LE(bodyCrc, 8);
    trailer.writeUInt32LE(END_MARKER, 12);
    await file.write(trailer, position);
    await file.sync();
    onProgress?.(records);
    return { sizeBytes: position + IMAGE_TRAILER_BYTES, records };
  } finally {
    await file.close();
  }
}

function compareNames(a: string, b: string): number {
  return Buffer.compare(utf8(a), utf8(b));
}

function imageHeader(kind: ImageKind, coveredLsn: number): Buffer {
  const header = Buffer.alloc(IMAGE_HEADER_BYTES);
  MAGIC[kind].copy(header, 0);
  header.writeUInt32LE(IMAGE_VERSION, 8);
  header.writeBigUInt64LE(BigInt(coveredLsn), 16);
  header.writeUInt32LE(crc32(header.subarray(0, 28)), 28);
  return header;
}

/** Where reading an image ends up: the engine (recovery, load) or nowhere (validation before a load). */
export interface ImageSink {
  sequence(state: SequenceState): void;
  /** Must consume `records` fully before returning; the arrays are views valid until the next table. */
  table(name: string, records: Iterable<[Uint8Array, Uint8Array]>): void;
}


export interface ImageInfo {
  coveredLsn: number;
  records: number;
  sizeBytes: number;
}

/** Reads the header and trailer only: enough to know an image's kind, position and size before reading it. */
export async function readImageInfo(file: FileHandle, kind: ImageKind): Promise<ImageInfo> {
  const sizeBytes = await file.size();
  if (sizeBytes < IMAGE_HEADER_BYTES + IMAGE_TRAILER_BYTES) throw new ImageDamage(0, `only ${sizeBytes} bytes: truncated`);
  const header = Buffer.alloc(IMAGE_HEADER_BYTES);
  await file.read(header, 0, IMAGE_HEADER_BYTES, 0);
  const coveredLsn = checkHeader(header, kind);
  const trailer = Buffer.alloc(IMAGE_TRAILER_BYTES);
  await file.read(trailer, 0, IMAGE_TRAILER_BYTES, sizeBytes - IMAGE_TRAILER_BYTES);
  if (trailer.readUInt32LE(12) !== END_MARKER) throw new ImageDamage(sizeBytes - IMAGE_TRAILER_BYTES, 'no end marker: truncated or not finished');
  return { coveredLsn, records: Number(trailer.readBigUInt64LE(0)), sizeBytes };
}

function checkHeader(header: Buffer, kind: ImageKind): number {
  if (!header.subarray(0, 8).equals(MAGIC[kind])) throw new ImageDamage(0, `not a ${kind} file (wrong magic)`);
  if (header.readUInt32LE(28) !== crc32(header.subarray(0, 28))) throw new ImageDamage(28, 'header checksum mismatch');
  const version = header.readUInt32LE(8);
  if (version !== IMAGE_VERSION) throw new ImageDamage(8, `format version ${version}, this Purser reads ${IMAGE_VERSION}`);
  return Number(header.readBigUInt64LE(16));
}

/**
 * Reads a whole image synchronously into `sink`, checking structure, order, record count and checksum.
 * Throws `ImageDamage` at the first problem; a sink that loads an engine must then discard it.
 */
export function readImage(file: FileHandle, info: ImageInfo, kind: ImageKind, sink: ImageSink, onProgress?: (records: number) => void): void {
  const reader = new SyncReader(file, info.sizeBytes - IMAGE_TRAILER_BYTES);
  checkHeader(Buffer.from(reader.take(IMAGE_HEADER_BYTES)), kind);
  reader.startChecksum();
  const sequenceCount = reader.u32();
  let previousName: string | undefined;
  for (let i = 0; i < sequenceCount; i++) {
    const name = reader.name();
    if (previousName !== undefined && compareNames(previousName, name) >= 0) throw new ImageDamage(reader.position, 'sequences out of order');
    previousName = name;
    sink.sequence({ name, highWater: reader.u64() });
  }
  let records = 0;
  previousName = undefined;
  for (;;) {
    const marker = reader.u8();
    if (marker === 0) break;
    if (marker !== 1) throw new ImageDamage(reader.position - 1, `bad table marker ${marker}`);
    const name = reader.name();
    if (previousName !== undefined && compareNames(previousName, name) >= 0) throw new ImageDamage(reader.position, 'tables out of order');
    previousName = name;
    sink.table(name, tableRecords(reader, () => {
      records++;
      if ((records & 0xffff) === 0) onProgress?.(records);
    }));
  }
  if (reader.position !== info.sizeBytes - IMAGE_TRAILER_BYTES) throw new ImageDamage(reader.position, 'bytes after the last table');
  if (records !== info.records) throw new ImageDamage(info.sizeBytes - IMAGE_TRAILER_BYTES, `holds ${records} records, the trailer says ${info.records}`);
  const trailer = Buffer.alloc(IMAGE_TRAILER_BYTES);
  file.readSync(trailer, 0, IMAGE_TRAILER_BYTES, info.sizeBytes - IMAGE_TRAILER_BYTES);
  if (reader.checksum() !== trailer.readUInt32LE(8)) throw new ImageDamage(IMAGE_HEADER_BYTES, 'body checksum mismatch');
  onProgress?.(records);
}

function* tableRecords(reader: SyncReader, counted: () => void): Generator<[Uint8Array, Uint8Array]> {
  let previous: Uint8Array | undefined;
  for (;;) {
    const keyLength = reader.u32();
    if (keyLength === 0) return;
    const valueLength = reader.u32();
    if (keyLength > RECORD_SIDE_MAX_BYTES || valueLength > RECORD_SIDE_MAX_BYTES) throw new ImageDamage(reader.position - 8, 'record length out of range');
    const key = reader.take(keyLength);
    const value = reader.take(valueLength);
    if (previous !== undefined && Buffer.compare(previous, key) >= 0) throw new ImageDamage(reader.position - keyLength - valueLength, 'keys out of order');
    previous = key;
    counted();
    yield [key, value];
  }
}

/**
 * Sequential synchronous reading through a window that is reallocated on every refill (never reused), so
 * the views it hands out stay valid. Checksums every byte it passes after `startChecksum()`.
 */
class SyncReader {
  position = 0;
  private buffer = Buffer.alloc(0);
  private start = 0;
  private checksumFrom: number | undefined;
  private crc = 0;

  constructor(
    private readonly file: FileHandle,
    private readonly endBytes: number,
  ) {}

  startChecksum(): void {
    this.checksumFrom = this.position;
  }

  checksum(): number {
    this.addToChecksum(this.position);
    return this.crc;
  }

  take(length: number): Uint8Array {
    if (this.position + length > this.endBytes) throw new ImageDamage(this.position, 'truncated: a field runs past the end');
    if (this.position + length > this.start + this.buffer.length) this.refill(length);
    const at = this.position - this.start;
    this.position += length;
    return this.buffer.subarray(at, at + length);
  }

  u8(): number {
    return this.take(1)[0];
  }

  u16(): number {
    const b = this.take(2);
    return b[0] | (b[1] << 8);
  }

  u32(): number {
    const b = this.take(4);
    return (b[0] | (b[1] << 8) | (b[2] << 16)) + b[3] * 0x1000000;
  }

  u64(): bigint {
    const b = this.take(8);
    return Buffer.from(b.buffer, b.byteOffset, 8).readBigUInt64LE(0);
  }

  name(): string {
    return Buffer.from(this.take(this.u16())).toString('utf8');
  }

  private addToChecksum(upTo: number): void {
    if (this.checksumFrom === undefined || upTo <= this.checksumFrom) return;
    const from = this.checksumFrom - this.start;
    this.crc = crc32(this.buffer.subarray(from, upTo - this.start), this.crc);
    this.checksumFrom = upTo;
  }

  private refill(length: number): void {
    this.addToChecksum(this.position);
    const windowBytes = Math.min(this.endBytes - this.position, Math.max(READ_WINDOW_BYTES, length));
    const buffer = Buffer.allocUnsafe(windowBytes);
    let filled = 0;
    while (filled < windowBytes) {
      const count = this.file.readSync(buffer, filled, windowBytes - filled, this.position + filled);
      if (count === 0) throw new ImageDamage(this.position + filled, 'file ended early');
      filled += count;
    }
    this.buffer = buffer;
    this.start = this.position;
  }
}
