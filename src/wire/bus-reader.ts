/**
 * The reading half of the bus protocol (`bus-protocol.ts` has the layout): `FrameReader` splits a byte
 * stream into frame bodies, `FrameDecoder` turns them into frames. Nothing a peer sends throws past them
 * but a `ProtocolViolation`.
 */
import { DefaultDeserializer, deserialize } from 'node:v8';
import { ProtocolViolation } from './errors.js';
import {
  BODY_BYTES_MIN, CALL_HEADER_BYTES, CANCEL_BODY_BYTES, CODE_BY_WIRE, DataKind, ErrorReason, FRAME_BYTES_MAX, HELLO_BODY_BYTES,
  LEDGER_HEADER_BYTES, LENGTH_BYTES, Op, PROTOCOL_MAGIC, PROTOCOL_VERSION, REPLY_HEADER_BYTES, TOO_LARGE, VALUES_HEADER_BYTES, type Frame, type ReplyFrame,
} from './bus-protocol.js';

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

  /** Bytes received of a frame not yet complete (0 between frames). */
  get unfinishedBytes(): number {
    return this.bufferedBytes;
  }

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
        // Magic and version come first and are checked before the rest, so an older or foreign peer is
        // told "version mismatch" even when its HELLO is shorter than this version's.
        need(body, 7, 'HELLO');
        if (body.readUInt32LE(1) !== PROTOCOL_MAGIC) throw new ProtocolViolation(ErrorReason.versionMismatch, 'not a Purser bus peer (bad magic)');
        const version = body.readUInt16LE(5);
        if (version !== PROTOCOL_VERSION) return { op: Op.hello, version, frameBytesMax: 0, inFlightMax: 0, idleTimeoutMs: 0, token: '' };
        need(body, HELLO_BODY_BYTES, 'HELLO');
        const tokenBytes = body[21];
        if (body.length !== HELLO_BODY_BYTES + tokenBytes) throw new ProtocolViolation(ErrorReason.badFrame, 'HELLO frame has the wrong size for its token');
        return { op: Op.hello, version, frameBytesMax: body.readUInt32LE(9), inFlightMax: body.readUInt32LE(13), idleTimeoutMs: body.readUInt32LE(17), token: body.toString('utf8', HELLO_BODY_BYTES) };
      }
      case Op.ping:
      case Op.pong: {
        if (body.length !== 1) throw new ProtocolViolation(ErrorReason.badFrame, 'PING and PONG frames carry nothing');
        return { op: body[0] };
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
