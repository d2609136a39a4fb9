/**
 * The bus wire protocol: how a `connect()` client and a node's bus listener talk over TCP.
 *
 * This module and its two halves, `bus-writer.ts` (`FrameWriter`) and `bus-reader.ts` (`FrameReader`,
 * `FrameDecoder`), are the one place that knows the byte layout; the client (`src/client/`) and the
 * listener (`src/node/listeners/bus.ts`) only use those three classes and the constants here.
 *
 * Every frame is `u32 bodyBytes` (little-endian, the bytes after this field) followed by `u8 op` and the op's
 * fields. The length prefix, the op byte and the ERROR frame's layout never change between versions, so a
 * peer of any version can read why it was refused.
 *
 *   HELLO   0x01  u32 magic 'PRSR' · u16 version · u16 reserved (0) · u32 frameBytesMax · u32 inFlightMax
 *                 · u32 idleTimeoutMs · u8 tokenBytes · token (utf-8; the client's credential, empty from the node)
 *   PING    0x02  (nothing)                          the client's keep-alive while it has nothing to send
 *   PONG    0x03  (nothing)                          the node's answer
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
 * magic or version do not match, or the token is not accepted, with an ERROR frame and closes. The node's
 * HELLO names its idle timeout: a connection on which no complete frame arrives for that long is closed,
 * so a client with nothing to send pings well within it (every third of it). Calls are multiplexed: the client picks a
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

export const PROTOCOL_MAGIC = 0x52535250; // 'PRSR' read as a little-endian u32
/** 2: HELLO carries the idle timeout and a token; PING and PONG keep an idle connection open. */
export const PROTOCOL_VERSION = 2;
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

export const LENGTH_BYTES = 4;
/** A HELLO without its token; the token's bytes follow. */
export const HELLO_BODY_BYTES = 1 + 4 + 2 + 2 + 4 + 4 + 4 + 1;
/** Tokens travel with a one-byte length. */
export const TOKEN_BYTES_MAX = 255;
export const CALL_HEADER_BYTES = 1 + 4 + 4 + 4 + 1 + 1;
export const CANCEL_BODY_BYTES = 1 + 4;
export const REPLY_HEADER_BYTES = 1 + 4 + 1 + 1 + 2 + 8;
export const LEDGER_HEADER_BYTES = 1 + 4 + 1 + 3 + 4;
/** The smallest possible frame body is a lone op byte; zero-length frames are malformed. */
export const BODY_BYTES_MIN = 1;

export const Op = {
  hello: 0x01,
  ping: 0x02,
  pong: 0x03,
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
  /** The connection's token does not allow ledger requests. */
  forbidden: 6,
} as const;
export type LedgerStatusValue = (typeof LedgerStatus)[keyof typeof LedgerStatus];

/** Why a connection was refused or closed, in ERROR frames. */
export const ErrorReason = {
  versionMismatch: 1,
  frameTooLarge: 2,
  badFrame: 3,
  shuttingDown: 4,
  /** The HELLO's token is missing or not accepted, or the token may not do what was asked. */
  unauthorized: 5,
  /** The handshake, a frame or the connection's idle time ran past its limit. */
  timeout: 6,
  /** The node holds as many connections as it may (from this address, or in all). */
  overloaded: 7,
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
  TPEPERM: 8,
  TPEPROTO: 9,
  TPESVCERR: 10,
  TPESVCFAIL: 11,
  TPETIME: 13,
} as const;
export type XatmiCodeName = keyof typeof WIRE_CODES;
export const CODE_BY_WIRE = new Map<number, XatmiCodeName>(Object.entries(WIRE_CODES).map(([name, wire]) => [wire, name as XatmiCodeName]));

export interface HelloFrame { op: typeof Op.hello; version: number; frameBytesMax: number; inFlightMax: number; idleTimeoutMs: number; token: string }
export interface PingFrame { op: typeof Op.ping | typeof Op.pong }
export interface CallFrame { op: typeof Op.call; callId: number; flags: number; timeoutMs: number; service: string; data: unknown }
export interface CancelFrame { op: typeof Op.cancel; callId: number }
export interface ReplyFrame { op: typeof Op.reply; callId: number; code: XatmiCodeName | undefined; urcode: number; data: unknown; message: string | undefined }
export interface ErrorFrame { op: typeof Op.error; reason: number; message: string }
/** `events`/`results` are views into received memory (never reused); the receiver checks their sizes. */
export interface LedgerFrame { op: typeof Op.ledger; callId: number; operation: number; count: number; events: Buffer }
export interface LedgerReplyFrame { op: typeof Op.ledgerReply; callId: number; status: number; count: number; results: Buffer }
export type Frame = HelloFrame | PingFrame | CallFrame | CancelFrame | ReplyFrame | ErrorFrame | LedgerFrame | LedgerReplyFrame;

/** A VALUES batch holds at most this many values; the next value starts a new batch. */
export const VALUES_BATCH_COUNT_MAX = 1024;
export const VALUES_HEADER_BYTES = 1 + 4;
/** The v8 stream of a VALUES frame may take this many bytes. */
export const VALUES_STREAM_BYTES_MAX = FRAME_BYTES_MAX - LENGTH_BYTES - VALUES_HEADER_BYTES;

/**
 * The data of a frame whose value was too big to send (alone, its v8 stream exceeds a frame). The receiver
 * answers the call TPEINVAL, or turns the reply into TPESVCERR.
 */
export const TOO_LARGE: unique symbol = Symbol('purser.bus.data-too-large');

/** The whole size of a LEDGER or LEDGER_REPLY frame of `count` structs, to check against `FRAME_BYTES_MAX`. */
export function ledgerFrameBytes(count: number, sizeBytes: number): number {
  return LENGTH_BYTES + LEDGER_HEADER_BYTES + count * sizeBytes;
}

