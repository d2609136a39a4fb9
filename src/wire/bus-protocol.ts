/**
 * The bus wire protocol: how a `connect()` client and a node's bus listener talk over TCP.
 *
 * This module is the one place that knows the byte layout; the client (`client.ts`) and the listener
 * (`../node/listeners/bus.ts`) only use `FrameWriter`, `FrameReader` and `FrameDecoder`.
 *
 * Every frame is `u32 bodyBytes` (little-endian, the bytes after this field) followed by `u8 op` and the op's
 * fields. The length prefix, the op byte and the ERROR frame's layout never change between versions, so a
 * peer of any version can read why it was refused.
 *
 *   HELLO   0x01  u32 magic 'PRSR' · u16 version · u16 reserved (0) · u32 frameBytesMax · u32 inFlightMax
 *   CALL    0x10  u32 callId · u32 flags · u32 timeoutMs · u8 dataKind · u8 serviceBytes · service · data
 *   CANCEL  0x11  u32 callId
 *   REPLY   0x20  u32 callId · u8 code · u8 dataKind · u16 reserved (0) · f64 urcode · data
 *   VALUES  0x30  u32 valueCount · one node:v8 stream (header, then valueCount values)
 *   LEDGER  0x40  u32 callId · u8 operation · 3 reserved (0) · u32 count · count events
 *   LEDGER_REPLY
 *           0x41  u32 callId · u8 status · 3 reserved (0) · u32 count · count results | utf-8 message
 *   ERROR   0x7f  u16 reason · utf-8 message        (the sender closes the connection after it)
 *   0x42–0x5f     reserved for more ledger requests
 *
 * Ledger requests carry the ledger `Client` methods (tigerbeetle-node's names): `operation` is
 * TigerBeetle's operation number (140–147) and events and results are its fixed-size little-endian structs
 * (Account and Transfer 128 bytes, ids 16, AccountFilter 128, QueryFilter 64, create results 16).
 *
 * A connection opens with the client's HELLO; the server answers with its own HELLO (its limits) or, when
 * magic or version do not match, with an ERROR frame and closes. Calls are multiplexed: the client picks a
 * `callId` unique among its calls in flight and the REPLY carries it back, in any order. A deadline travels
 * as the remaining milliseconds (`timeoutMs`), because the two clocks need not agree; the node starts it
 * again when the frame arrives.
 *
 * Data travels as raw bytes when it is bytes (`Buffer` and `Uint8Array` keep their class) and otherwise in
 * the `node:v8` serialization format (structured clone): no JSON on the hot path. Structured values are
 * batched: all those a sender produces in one turn of its event loop go into one v8 stream, sent as a VALUES
 * frame just before the CALL or REPLY frames whose data kind says "next value" (`DataKind.batched`); the
 * receiver reads them in order with one deserializer. Measured on this 2-core machine, a v8 serializer and
 * deserializer per value cost about 22 µs per round trip of one small object, one per batch of 64 about
 * 5.5 µs: creating them, not encoding, is the cost (each is a native object the garbage collector must
 * track). A batch holds at most `VALUES_BATCH_COUNT_MAX` values, and every frame stays under `FRAME_BYTES_MAX`.
 *
 * Anything malformed — a length over `FRAME_BYTES_MAX`, an unknown op, a field that runs past the frame, a
 * frame before HELLO — is a `ProtocolViolation`; the receiver answers with an ERROR frame and closes that
 * one connection. Nothing a peer sends can throw past the decoder.
 */
import { DefaultDeserializer, DefaultSerializer, deserialize } from 'node:v8';
import { assert } from '../errors.js';

export const PROTOCOL_MAGIC = 0x52535250; // 'PRSR' read as a little-endian u32
export const PROTOCOL_VERSION = 1;
/** Where a node's bus listener listens unless told otherwise (`--bus-port`). */
export const DEFAULT_BUS_PORT = 7700;

/**
 * The largest frame either side accepts, counting the length prefix. 2 MiB leaves room for a full ledger
 * batch (8,189 events × 128 bytes ≈ 1 MiB) plus headers; bigger frames close the connection.
 */
export const FRAME_BYTES_MAX = 2 * 1024 * 1024;
/** Service names travel with a one-byte length. */
export const SERVICE_NAME_BYTES_MAX = 255;
/** Remaining time travels as u32 milliseconds (about 49 days); longer timeouts are refused. */
export const TIMEOUT_MS_MAX = 0xffff_ffff;
export const CALL_ID_MAX = 0xffff_ffff;

const LENGTH_BYTES = 4;
const HELLO_BODY_BYTES = 1 + 4 + 2 + 2 + 4 + 4;
const CALL_HEADER_BYTES = 1 + 4 + 4 + 4 + 1 + 1;
const CANCEL_BODY_BYTES = 1 + 4;
const REPLY_HEADER_BYTES = 1 + 4 + 1 + 1 + 2 + 8;
const LEDGER_HEADER_BYTES = 1 + 4 + 1 + 3 + 4;
/** The smallest possible frame body is a lone op byte; zero-length frames are malformed. */
const BODY_BYTES_MIN = 1;

export const Op = {
  hello: 0x01,
  call: 0x10,
  cancel: 0x11,
  reply: 0x20,
  values: 0x30,
  ledger: 0x40,
  ledgerReply: 0x41,
  error: 0x7f,
} as const;

/** How `data` is encoded. Bytes keep their class (Buffer stays Buffer) so a round trip is exact. */
export const DataKind = {
  undefined: 0,
  uint8array: 1,
  buffer: 2,
  v8: 3,
  /** A reply that failed without data carries the error's message here (UTF-8). */
  message: 4,
  /** The next value of the current VALUES frame. */
  batched: 5,
  /** The sender could not fit the value in a frame; nothing follows. */
  tooLarge: 6,
} as const;

/** How a ledger request ended, in LEDGER_REPLY frames; anything but `ok` carries a message. */
export const LedgerStatus = {
  ok: 0,
  /** The ledger refused the request as malformed (LedgerInvalidRequestError). */
  invalidRequest: 1,
  /** More events than one request may carry (LedgerBatchTooLargeError). */
  batchTooLarge: 2,
  /** The ledger is closed (LedgerClosedError). */
  closed: 3,
  /** This node hosts no ledger. */
  noLedger: 4,
  /** The ledger failed for another reason (logged on the node). */
  failed: 5,
} as const;
export type LedgerStatusValue = (typeof LedgerStatus)[keyof typeof LedgerStatus];

/** Why a connection was refused or closed, in ERROR frames. */
export const ErrorReason = {
  versionMismatch: 1,
  frameTooLarge: 2,
  badFrame: 3,
  shuttingDown: 4,
} as const;
export type ErrorReasonValue = (typeof ErrorReason)[keyof typeof ErrorReason];

/**
 * XATMI error codes on the wire: the numbers of the X/Open XATMI specification (`tperrno`), so a gateway in
 * another language can map them without a table of ours. 0 is success.
 */
export const WIRE_CODES = {
  TPEBADDESC: 2,
  TPEBLOCK: 3,
  TPEINVAL: 4,
  TPELIMIT: 5,
  TPENOENT: 6,
  TPEPROTO: 9,
  TPESVCERR: 10,
  TPESVCFAIL: 11,
  TPETIME: 13,
} as const;
export type XatmiCodeName = keyof typeof WIRE_CODES;
const CODE_BY_WIRE = new Map<number, XatmiCodeName>(Object.entries(WIRE_CODES).map(([name, wire]) => [wire, name as XatmiCodeName]));

/** A peer broke the protocol. The receiver sends an ERROR frame with `reason` and closes the connection. */
export class ProtocolViolation extends Error {
  constructor(
    readonly reason: ErrorReasonValue,
    message: string,
  ) {
    super(message);
    this.name = 'ProtocolViolation';
  }
}

export interface HelloFrame { op: typeof Op.hello; version: number; frameBytesMax: number; inFlightMax: number }
export interface CallFrame { op: typeof Op.call; callId: number; flags: number; timeoutMs: number; service: string; data: unknown }
export interface CancelFrame { op: typeof Op.cancel; callId: number }
export interface ReplyFrame { op: typeof Op.reply; callId: number; code: XatmiCodeName | undefined; urcode: number; data: unknown; message: string | undefined }
export interface ErrorFrame { op: typeof Op.error; reason: number; message: string }
/** `events`/`results` are views into received memory (never reused); the receiver checks their sizes. */
export interface LedgerFrame { op: typeof Op.ledger; callId: number; operation: number; count: number; events: Buffer }
export interface LedgerReplyFrame { op: typeof Op.ledgerReply; callId: number; status: number; count: number; results: Buffer }
export type Frame = HelloFrame | CallFrame | CancelFrame | ReplyFrame | ErrorFrame | LedgerFrame | LedgerReplyFrame;

// ---------------------------------------------------------------------------------------------- data

/** Call or reply data that cannot go on the wire: not cloneable, or too big for a frame. Nothing was written. */
export class DataError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DataError';
  }
}

/** A VALUES batch holds at most this many values; the next value starts a new batch. */
export const VALUES_BATCH_COUNT_MAX = 1024;
const VALUES_HEADER_BYTES = 1 + 4;
/** The v8 stream of a VALUES frame may take this many bytes. */
const VALUES_STREAM_BYTES_MAX = FRAME_BYTES_MAX - LENGTH_BYTES - VALUES_HEADER_BYTES;

/**
 * The data of a frame whose value was too big to send (alone, its v8 stream exceeds a frame). The receiver
 * answers the call TPEINVAL, or turns the reply into TPESVCERR.
 */
export const TOO_LARGE: unique symbol = Symbol('purser.bus.data-too-large');

/** Decodes raw data into fresh memory: data never aliases the connection's receive buffers. */
function decodeRawData(kind: number, bytes: Buffer): unknown {
  switch (kind) {
    case DataKind.undefined:
      if (bytes.length !== 0) throw new ProtocolViolation(ErrorReason.badFrame, 'data of kind undefined must be empty');
      return undefined;
    case DataKind.uint8array:
      return new Uint8Array(bytes);
    case DataKind.buffer:
      return Buffer.from(bytes);
    case DataKind.v8:
      try {
        return deserialize(bytes);
      } catch (error) {
        throw new ProtocolViolation(ErrorReason.badFrame, `data does not deserialize: ${(error as Error).message}`);
      }
    case DataKind.tooLarge:
      if (bytes.length !== 0) throw new ProtocolViolation(ErrorReason.badFrame, 'data of kind too-large must be empty');
      return TOO_LARGE;
    default:
      throw new ProtocolViolation(ErrorReason.badFrame, `unknown data kind ${kind}`);
  }
}

// ---------------------------------------------------------------------------------------------- writing

/** Output chunks are this big unless one frame needs more; a flush hands one chunk to the socket. */
const WRITE_CHUNK_BYTES = 64 * 1024;
/** Batches up to this size are copied out of the chunk rather than taking it (see `take`). */
const COPY_OUT_BYTES_MAX = 16 * 1024;
const NO_BYTES = Buffer.alloc(0);

/**
 * One VALUES frame being built: its serializer (open while the batch takes more values), its values (kept
 * to rebuild or split the stream), and where in the chunk each frame that uses one starts.
 */
interface ValuesBatch {
  serializer: DefaultSerializer;
  values: unknown[];
  frameStarts: number[];
  /** Chunk offsets of those frames' data-kind bytes (patched to `tooLarge` when a value cannot go). */
  kindOffsets: number[];
}

/** Bytes to put into the output before the chunk byte at `offset`. */
interface Insertion {
  offset: number;
  bytes: Buffer;
  count: number;
}

/**
 * Collects encoded frames for one connection so that everything produced in one tick goes out in one
 * `socket.write` (one syscall) instead of one write per call or reply, with the tick's structured values in
 * as few v8 streams as fit (see the module comment).
 *
 * A value's serialized size is only known when its stream is released, at `take`. Releasing once per batch
 * instead of once per value halves the cost of v8 per value (a Buffer per value is what it saves); the
 * price is that a batch too big for one frame is split at `take` — each value then gets its own stream —
 * and a value too big even alone is sent as `tooLarge`, which the receiver answers as an error.
 */
export class FrameWriter {
  private chunk: Buffer = Buffer.allocUnsafe(WRITE_CHUNK_BYTES);
  private used = 0;
  private batches: ValuesBatch[] = [];
  /** The last batch while it is open for more values. */
  private open: ValuesBatch | undefined;

  get pendingBytes(): number {
    return this.used;
  }

  /**
   * Hands back everything written so far, VALUES frames in place. Undefined when nothing is pending. A
   * small batch is copied out (into Node's pooled slab, cheap) and the chunk is reused; a big one hands the
   * chunk over. (A fresh 64 KiB chunk per flush spent 44% of a sequential caller's time in the collector.)
   */
  take(): Buffer | undefined {
    if (this.used === 0) return undefined;
    this.open = undefined;
    if (this.batches.length > 0) return this.takeWithValues();
    let out: Buffer;
    if (this.used <= COPY_OUT_BYTES_MAX) {
      out = Buffer.allocUnsafe(this.used);
      this.chunk.copy(out, 0, 0, this.used);
    } else {
      out = this.chunk.subarray(0, this.used);
      this.chunk = Buffer.allocUnsafe(WRITE_CHUNK_BYTES);
    }
    this.used = 0;
    return out;
  }

  private takeWithValues(): Buffer {
    const insertions: Insertion[] = [];
    for (const batch of this.batches) {
      if (batch.values.length === 0) continue; // its only value failed to serialize
      const stream = batch.serializer.releaseBuffer();
      if (stream.length <= VALUES_STREAM_BYTES_MAX) insertions.push({ offset: batch.frameStarts[0], bytes: stream, count: batch.values.length });
      else this.split(batch, insertions);
    }
    this.batches = [];
    const extraBytes = insertions.reduce((sum, insertion) => sum + LENGTH_BYTES + VALUES_HEADER_BYTES + insertion.bytes.length, 0);
    const out = Buffer.allocUnsafe(this.used + extraBytes);
    let at = 0;
    let copied = 0;
    for (const insertion of insertions) {
      at += this.chunk.copy(out, at, copied, insertion.offset);
      copied = insertion.offset;
      at = out.writeUInt32LE(VALUES_HEADER_BYTES + insertion.bytes.length, at);
      out[at++] = Op.values;
      at = out.writeUInt32LE(insertion.count, at);
      at += insertion.bytes.copy(out, at);
    }
    at += this.chunk.copy(out, at, copied, this.used);
    assert(at === out.length, 'VALUES assembly filled the output exactly');
    this.used = 0;
    if (this.chunk.length > WRITE_CHUNK_BYTES) this.chunk = Buffer.allocUnsafe(WRITE_CHUNK_BYTES);
    return out;
  }

  /** A batch too big for one frame: a stream per value; a value too big alone goes as `tooLarge`. */
  private split(batch: ValuesBatch, insertions: Insertion[]): void {
    batch.values.forEach((value, i) => {
      const stream = serializeAlone(value);
      if (stream.length <= VALUES_STREAM_BYTES_MAX) insertions.push({ offset: batch.frameStarts[i], bytes: stream, count: 1 });
      else this.chunk[batch.kindOffsets[i]] = DataKind.tooLarge;
    });
  }

  /** Makes room for `frameBytes` more bytes and returns the offset to write at. */
  private reserve(frameBytes: number): number {
    if (this.used + frameBytes > this.chunk.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.chunk.length * 2, this.used + frameBytes));
      this.chunk.copy(grown, 0, 0, this.used);
      this.chunk = grown;
    }
    const at = this.used;
    this.used += frameBytes;
    return at;
  }

  /**
   * Prepares `data` for a frame about to be written: bytes travel inline, structured values join the
   * current VALUES batch. Throws `DataError` (and writes nothing) for data that cannot be sent.
   */
  private prepare(data: unknown, headerBytes: number): { kind: number; inline: Uint8Array } {
    if (data === undefined) return { kind: DataKind.undefined, inline: NO_BYTES };
    const isBuffer = Buffer.isBuffer(data);
    if (isBuffer || (data instanceof Uint8Array && data.constructor === Uint8Array)) {
      if (LENGTH_BYTES + headerBytes + data.length > FRAME_BYTES_MAX) throw new DataError(`data of ${data.length} bytes does not fit in a frame of at most ${FRAME_BYTES_MAX} bytes`);
      return { kind: isBuffer ? DataKind.buffer : DataKind.uint8array, inline: data };
    }
    this.addValue(data);
    return { kind: DataKind.batched, inline: NO_BYTES };
  }

  private addValue(data: unknown): void {
    const batch = this.openBatch();
    try {
      batch.serializer.writeValue(data);
    } catch (error) {
      // The stream may hold half of the value now: start it again with the values before it.
      batch.serializer = newStream(batch.values);
      throw new DataError(`data cannot be serialized: ${(error as Error).message}`, { cause: error });
    }
    batch.values.push(data);
    if (batch.values.length >= VALUES_BATCH_COUNT_MAX) this.open = undefined;
  }

  private openBatch(): ValuesBatch {
    if (this.open !== undefined) return this.open;
    this.open = { serializer: newStream([]), values: [], frameStarts: [], kindOffsets: [] };
    this.batches.push(this.open);
    return this.open;
  }

  /** Records where the frame just reserved at `frameStart` sits, when its data is the batch's last value. */
  private noteBatched(kind: number, frameStart: number, kindOffset: number): void {
    if (kind !== DataKind.batched) return;
    const batch = this.batches[this.batches.length - 1];
    batch.frameStarts.push(frameStart);
    batch.kindOffsets.push(kindOffset);
    assert(batch.frameStarts.length === batch.values.length, 'one batched frame per value');
  }

  hello(inFlightMax: number, version = PROTOCOL_VERSION, magic = PROTOCOL_MAGIC): void {
    const at = this.reserve(LENGTH_BYTES + HELLO_BODY_BYTES);
    const b = this.chunk;
    b.writeUInt32LE(HELLO_BODY_BYTES, at);
    b[at + 4] = Op.hello;
    b.writeUInt32LE(magic, at + 5);
    b.writeUInt16LE(version, at + 9);
    b.writeUInt16LE(0, at + 11);
    b.writeUInt32LE(FRAME_BYTES_MAX, at + 13);
    b.writeUInt32LE(inFlightMax, at + 17);
  }

  /** Writes a CALL frame. Throws `DataError` for data that cannot be sent; then nothing was written. */
  call(callId: number, flags: number, timeoutMs: number, serviceBytes: Buffer, data: unknown): void {
    const { kind, inline } = this.prepare(data, CALL_HEADER_BYTES + serviceBytes.length);
    const bodyBytes = CALL_HEADER_BYTES + serviceBytes.length + inline.length;
    const at = this.reserve(LENGTH_BYTES + bodyBytes);
    this.noteBatched(kind, at, at + 17);
    const b = this.chunk;
    b.writeUInt32LE(bodyBytes, at);
    b[at + 4] = Op.call;
    b.writeUInt32LE(callId, at + 5);
    b.writeUInt32LE(flags, at + 9);
    b.writeUInt32LE(timeoutMs, at + 13);
    b[at + 17] = kind;
    b[at + 18] = serviceBytes.length;
    serviceBytes.copy(b, at + 19);
    b.set(inline, at + 19 + serviceBytes.length);
  }

  cancel(callId: number): void {
    const at = this.reserve(LENGTH_BYTES + CANCEL_BODY_BYTES);
    this.chunk.writeUInt32LE(CANCEL_BODY_BYTES, at);
    this.chunk[at + 4] = Op.cancel;
    this.chunk.writeUInt32LE(callId, at + 5);
  }

  /**
   * Writes a REPLY. `code` undefined is success; `data` is the reply data (TPESVCFAIL carries it too).
   * Throws `DataError` for data that cannot be sent; then nothing was written.
   */
  reply(callId: number, code: XatmiCodeName | undefined, urcode: number, data: unknown): void {
    const { kind, inline } = this.prepare(data, REPLY_HEADER_BYTES);
    this.replyFrame(callId, code, urcode, kind, inline);
  }

  /** Writes a failed REPLY that carries the error's message instead of data. */
  replyMessage(callId: number, code: XatmiCodeName, urcode: number, message: string): void {
    this.replyFrame(callId, code, urcode, DataKind.message, Buffer.from(message.slice(0, 1000), 'utf8'));
  }

  private replyFrame(callId: number, code: XatmiCodeName | undefined, urcode: number, kind: number, inline: Uint8Array): void {
    const bodyBytes = REPLY_HEADER_BYTES + inline.length;
    const at = this.reserve(LENGTH_BYTES + bodyBytes);
    this.noteBatched(kind, at, at + 10);
    const b = this.chunk;
    b.writeUInt32LE(bodyBytes, at);
    b[at + 4] = Op.reply;
    b.writeUInt32LE(callId, at + 5);
    b[at + 9] = code === undefined ? 0 : WIRE_CODES[code];
    b[at + 10] = kind;
    b.writeUInt16LE(0, at + 11);
    b.writeDoubleLE(urcode, at + 13);
    b.set(inline, at + 21);
  }

  /**
   * Writes a LEDGER request (or, with `op` ledgerReply, its reply): `count` structs of `sizeBytes` each,
   * written in place by `encode(view, at, index)`. The caller has checked that the frame fits.
   */
  ledger(op: typeof Op.ledger | typeof Op.ledgerReply, callId: number, operationOrStatus: number, count: number, sizeBytes: number, encode: (view: DataView, at: number, index: number) => void): void {
    const bodyBytes = LEDGER_HEADER_BYTES + count * sizeBytes;
    const at = this.reserve(LENGTH_BYTES + bodyBytes);
    const b = this.chunk;
    b.writeUInt32LE(bodyBytes, at);
    b[at + 4] = op;
    b.writeUInt32LE(callId, at + 5);
    b[at + 9] = operationOrStatus;
    b.fill(0, at + 10, at + 13);
    b.writeUInt32LE(count, at + 13);
    const view = new DataView(b.buffer, b.byteOffset, b.length);
    for (let i = 0, structAt = at + 4 + LEDGER_HEADER_BYTES; i < count; i += 1, structAt += sizeBytes) encode(view, structAt, i);
  }

  /** Writes a LEDGER_REPLY that failed: a status and a message, no results. */
  ledgerFailure(callId: number, status: LedgerStatusValue, message: string): void {
    const text = Buffer.from(message.slice(0, 1000), 'utf8');
    const at = this.reserve(LENGTH_BYTES + LEDGER_HEADER_BYTES + text.length);
    const b = this.chunk;
    b.writeUInt32LE(LEDGER_HEADER_BYTES + text.length, at);
    b[at + 4] = Op.ledgerReply;
    b.writeUInt32LE(callId, at + 5);
    b[at + 9] = status;
    b.fill(0, at + 10, at + 13);
    b.writeUInt32LE(0, at + 13);
    text.copy(b, at + 4 + LEDGER_HEADER_BYTES);
  }

  error(reason: ErrorReasonValue, message: string): void {
    const text = Buffer.from(message.slice(0, 1000), 'utf8');
    const bodyBytes = 1 + 2 + text.length;
    const at = this.reserve(LENGTH_BYTES + bodyBytes);
    this.chunk.writeUInt32LE(bodyBytes, at);
    this.chunk[at + 4] = Op.error;
    this.chunk.writeUInt16LE(reason, at + 5);
    text.copy(this.chunk, at + 7);
  }
}

/** The whole size of a LEDGER or LEDGER_REPLY frame of `count` structs, to check against `FRAME_BYTES_MAX`. */
export function ledgerFrameBytes(count: number, sizeBytes: number): number {
  return LENGTH_BYTES + LEDGER_HEADER_BYTES + count * sizeBytes;
}

/** A v8 stream with its header and `values`, ready for more. */
function newStream(values: readonly unknown[]): DefaultSerializer {
  const serializer = new DefaultSerializer();
  serializer.writeHeader();
  for (const value of values) serializer.writeValue(value);
  return serializer;
}

function serializeAlone(value: unknown): Buffer {
  const serializer = newStream([value]);
  return serializer.releaseBuffer();
}

// ---------------------------------------------------------------------------------------------- reading

/**
 * Splits a byte stream into frame bodies. `push` hands each complete body (op byte first) that the new bytes
 * finished to `onBody`, in order; a partial frame waits for more. Chunks are joined only once a whole frame
 * is present, so a large frame arriving in many small chunks is copied once, not once per chunk. A body is
 * a view into memory received from the socket, which is never reused.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private bufferedBytes = 0;
  /** The length of the next frame (prefix included), once its prefix has arrived. */
  private nextFrameBytes = 0;

  constructor(private readonly frameBytesMax: number = FRAME_BYTES_MAX) {}

  /**
   * Throws `ProtocolViolation` at the first bad length prefix, after the frames before it were handed over;
   * the caller closes the connection. Whatever `onBody` throws passes through.
   */
  push(chunk: Buffer, onBody: (body: Buffer) => void): void {
    this.chunks.push(chunk);
    this.bufferedBytes += chunk.length;
    if (this.bufferedBytes < LENGTH_BYTES || this.bufferedBytes < this.nextFrameBytes) return;
    const buffer = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.bufferedBytes);
    this.chunks = [];
    this.bufferedBytes = 0;
    let offset = 0;
    for (;;) {
      const available = buffer.length - offset;
      if (available < LENGTH_BYTES) break;
      const bodyBytes = buffer.readUInt32LE(offset);
      if (bodyBytes < BODY_BYTES_MIN) throw new ProtocolViolation(ErrorReason.badFrame, 'empty frame');
      if (bodyBytes + LENGTH_BYTES > this.frameBytesMax) {
        throw new ProtocolViolation(ErrorReason.frameTooLarge, `frame of ${bodyBytes + LENGTH_BYTES} bytes exceeds the maximum of ${this.frameBytesMax}`);
      }
      if (available < LENGTH_BYTES + bodyBytes) {
        this.nextFrameBytes = LENGTH_BYTES + bodyBytes;
        break;
      }
      this.nextFrameBytes = 0;
      const start = offset + LENGTH_BYTES;
      offset = start + bodyBytes;
      onBody(buffer.subarray(start, offset));
    }
    if (offset < buffer.length) {
      this.chunks.push(buffer.subarray(offset));
      this.bufferedBytes = buffer.length - offset;
    }
  }
}

function need(body: Buffer, bytes: number, what: string): void {
  if (body.length < bytes) throw new ProtocolViolation(ErrorReason.badFrame, `${what} frame too short (${body.length} bytes)`);
}

/**
 * Decodes frame bodies (as handed over by `FrameReader.push`) of one connection, in order: it holds the
 * current VALUES stream, whose values the following frames take one by one. `decode` returns undefined for
 * a VALUES frame (it only feeds later frames). Throws `ProtocolViolation`, nothing else.
 */
export class FrameDecoder {
  private values: DefaultDeserializer | undefined;
  private valuesLeft = 0;

  decode(body: Buffer): Frame | undefined {
    switch (body[0]) {
      case Op.hello: {
        need(body, HELLO_BODY_BYTES, 'HELLO');
        if (body.readUInt32LE(1) !== PROTOCOL_MAGIC) throw new ProtocolViolation(ErrorReason.versionMismatch, 'not a Purser bus peer (bad magic)');
        return { op: Op.hello, version: body.readUInt16LE(5), frameBytesMax: body.readUInt32LE(9), inFlightMax: body.readUInt32LE(13) };
      }
      case Op.call: {
        need(body, CALL_HEADER_BYTES, 'CALL');
        const serviceBytes = body[14];
        need(body, CALL_HEADER_BYTES + serviceBytes, 'CALL');
        const service = body.toString('utf8', CALL_HEADER_BYTES, CALL_HEADER_BYTES + serviceBytes);
        const data = this.data(body[13], body.subarray(CALL_HEADER_BYTES + serviceBytes));
        return { op: Op.call, callId: body.readUInt32LE(1), flags: body.readUInt32LE(5), timeoutMs: body.readUInt32LE(9), service, data };
      }
      case Op.cancel: {
        if (body.length !== CANCEL_BODY_BYTES) throw new ProtocolViolation(ErrorReason.badFrame, 'CANCEL frame has the wrong size');
        return { op: Op.cancel, callId: body.readUInt32LE(1) };
      }
      case Op.reply:
        return this.reply(body);
      case Op.values:
        this.startValues(body);
        return undefined;
      case Op.ledger:
      case Op.ledgerReply: {
        need(body, LEDGER_HEADER_BYTES, 'LEDGER');
        const callId = body.readUInt32LE(1);
        const operationOrStatus = body[5];
        const count = body.readUInt32LE(9);
        const structs = body.subarray(LEDGER_HEADER_BYTES);
        if (body[0] === Op.ledger) return { op: Op.ledger, callId, operation: operationOrStatus, count, events: structs };
        return { op: Op.ledgerReply, callId, status: operationOrStatus, count, results: structs };
      }
      case Op.error: {
        need(body, 3, 'ERROR');
        return { op: Op.error, reason: body.readUInt16LE(1), message: body.toString('utf8', 3) };
      }
      default:
        throw new ProtocolViolation(ErrorReason.badFrame, `unknown op 0x${(body[0] ?? 0).toString(16)}`);
    }
  }

  private startValues(body: Buffer): void {
    need(body, VALUES_HEADER_BYTES, 'VALUES');
    if (this.valuesLeft !== 0) throw new ProtocolViolation(ErrorReason.badFrame, `VALUES frame while ${this.valuesLeft} values of the last one are unused`);
    const count = body.readUInt32LE(1);
    if (count === 0) throw new ProtocolViolation(ErrorReason.badFrame, 'VALUES frame without values');
    try {
      this.values = new DefaultDeserializer(body.subarray(VALUES_HEADER_BYTES));
      this.values.readHeader();
    } catch (error) {
      throw new ProtocolViolation(ErrorReason.badFrame, `VALUES stream does not start with a v8 header: ${(error as Error).message}`);
    }
    this.valuesLeft = count;
  }

  private data(kind: number, inline: Buffer): unknown {
    if (kind !== DataKind.batched) return decodeRawData(kind, inline);
    if (inline.length !== 0) throw new ProtocolViolation(ErrorReason.badFrame, 'batched data must not carry inline bytes');
    if (this.valuesLeft === 0) throw new ProtocolViolation(ErrorReason.badFrame, 'batched data without a VALUES frame before it');
    this.valuesLeft -= 1;
    try {
      return this.values!.readValue();
    } catch (error) {
      this.valuesLeft = 0;
      throw new ProtocolViolation(ErrorReason.badFrame, `a value does not deserialize: ${(error as Error).message}`);
    } finally {
      if (this.valuesLeft === 0) this.values = undefined;
    }
  }

  private reply(body: Buffer): ReplyFrame {
    need(body, REPLY_HEADER_BYTES, 'REPLY');
    const wire = body[5];
    const code = wire === 0 ? undefined : CODE_BY_WIRE.get(wire);
    if (wire !== 0 && code === undefined) throw new ProtocolViolation(ErrorReason.badFrame, `unknown XATMI code ${wire}`);
    const kind = body[6];
    const payload = body.subarray(REPLY_HEADER_BYTES);
    const isMessage = kind === DataKind.message;
    return {
      op: Op.reply,
      callId: body.readUInt32LE(1),
      code,
      urcode: body.readDoubleLE(9),
      data: isMessage ? undefined : this.data(kind, payload),
      message: isMessage ? payload.toString('utf8') : undefined,
    };
  }
}
