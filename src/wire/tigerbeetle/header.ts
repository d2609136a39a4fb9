/**
 * TigerBeetle's 256-byte message header (`src/vsr/message_header.zig`, release 0.17) for the five
 * commands a client exchanges with a replica: request, reply, ping_client, pong_client and eviction.
 *
 * Every message is this header plus a body of `size - 256` bytes. `checksum` covers header bytes
 * 16..256 and `checksum_body` the body, so `checksum_body` is set first. The first 128 bytes are the
 * same for every command (the "frame"); the last 128 depend on the command. All integers are
 * little-endian. The offsets below are the wire format; nothing else in Purser knows them.
 */
import { assert } from '../../errors.js';
import { CHECKSUM_SIZE_BYTES, checksumInto, checksumMatches } from './checksum.js';
import { readU128, writeU128 } from './codec.js';

export const HEADER_SIZE_BYTES = 256;
/** TigerBeetle's message_size_max: 1 MiB, header included. */
export const MESSAGE_SIZE_MAX_BYTES = 1024 * 1024;
/** The largest body, and the `batch_size_limit` a register reply announces (1,048,320 bytes). */
export const MESSAGE_BODY_SIZE_MAX_BYTES = MESSAGE_SIZE_MAX_BYTES - HEADER_SIZE_BYTES;
/** Body of a register request (`vsr.RegisterRequest`) and of its reply (`vsr.RegisterResult`). */
export const REGISTER_REQUEST_SIZE_BYTES = 256;
export const REGISTER_RESULT_SIZE_BYTES = 64;

/** The wire protocol version (`vsr.Version`); 0 in every release so far. */
export const PROTOCOL_VERSION = 0;

export const Command = {
  ping_client: 3,
  pong_client: 4,
  request: 5,
  reply: 8,
  eviction: 18,
} as const;
export type Command = (typeof Command)[keyof typeof Command];

/** `vsr.Operation` values below 128 belong to the replication protocol; only `register` reaches us. */
export const OPERATION_REGISTER = 2;
export const VSR_OPERATIONS_RESERVED = 128;

export enum EvictionReason {
  no_session = 1,
  client_release_too_low = 2,
  client_release_too_high = 3,
  invalid_request_operation = 4,
  invalid_request_body = 5,
  invalid_request_body_size = 6,
  session_too_low = 7,
  session_release_mismatch = 8,
}

/** A release as TigerBeetle packs it: `major << 16 | minor << 8 | patch`. */
export function packRelease(major: number, minor: number, patch: number): number {
  return (major << 16) | (minor << 8) | patch;
}

export function formatRelease(release: number): string {
  return `${release >>> 16}.${(release >>> 8) & 0xff}.${release & 0xff}`;
}

// Frame offsets (shared by every command).
const OFFSET_CHECKSUM = 0;
const OFFSET_CHECKSUM_BODY = 32;
const OFFSET_CLUSTER = 80;
const OFFSET_SIZE = 96;
const OFFSET_EPOCH = 100;
const OFFSET_VIEW = 104;
const OFFSET_RELEASE = 108;
const OFFSET_PROTOCOL = 112;
const OFFSET_COMMAND = 114;
const OFFSET_REPLICA = 115;
const OFFSET_COMMAND_PART = 128;

// Request part.
const REQUEST_PARENT = 128;
const REQUEST_CLIENT = 160;
const REQUEST_SESSION = 176;
const REQUEST_TIMESTAMP = 184;
const REQUEST_REQUEST = 192;
const REQUEST_OPERATION = 196;
const REQUEST_PREVIOUS_LATENCY = 200;

// Reply part.
const REPLY_REQUEST_CHECKSUM = 128;
const REPLY_CONTEXT = 160;
const REPLY_CLIENT = 192;
const REPLY_OP = 208;
const REPLY_COMMIT = 216;
const REPLY_TIMESTAMP = 224;
const REPLY_REQUEST = 232;
const REPLY_OPERATION = 236;

// ping_client, pong_client and eviction parts.
const PING_CLIENT_CLIENT = 128;
const PING_CLIENT_TIMESTAMP = 144;
const PONG_CLIENT_TIMESTAMP = 128;
const EVICTION_CLIENT = 128;
const EVICTION_REASON = 255;

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function allZero(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i += 1) if (bytes[i] !== 0) return false;
  return true;
}

/** The frame fields every message has, read from its first 256 bytes. */
export interface Frame {
  checksum: bigint;
  cluster: bigint;
  sizeBytes: number;
  view: number;
  release: number;
  command: number;
  replica: number;
}

export function readFrame(header: Uint8Array): Frame {
  assert(header.length >= HEADER_SIZE_BYTES, 'header too short');
  const view = viewOf(header);
  return {
    checksum: readU128(view, OFFSET_CHECKSUM),
    cluster: readU128(view, OFFSET_CLUSTER),
    sizeBytes: view.getUint32(OFFSET_SIZE, true),
    view: view.getUint32(OFFSET_VIEW, true),
    release: view.getUint32(OFFSET_RELEASE, true),
    command: header[OFFSET_COMMAND],
    replica: header[OFFSET_REPLICA],
  };
}

/** Whether the header's `checksum` covers its bytes 16..256. */
export function headerChecksumValid(header: Uint8Array): boolean {
  return checksumMatches(header.subarray(CHECKSUM_SIZE_BYTES, HEADER_SIZE_BYTES), header, OFFSET_CHECKSUM);
}

/** Whether the header's `checksum_body` covers `body`. */
export function bodyChecksumValid(header: Uint8Array, body: Uint8Array): boolean {
  return checksumMatches(body, header, OFFSET_CHECKSUM_BODY);
}

/**
 * What is wrong with the frame (the first 128 bytes), or undefined: the checks every TigerBeetle
 * message passes before its command is looked at. Assumes the checksum was already verified.
 */
export function frameInvalid(header: Uint8Array): string | undefined {
  const view = viewOf(header);
  if (!allZero(header, 16, 32)) return 'checksum_padding != 0';
  if (!allZero(header, 48, 64)) return 'checksum_body_padding != 0';
  if (!allZero(header, 64, 80)) return 'nonce_reserved != 0';
  if (view.getUint16(OFFSET_PROTOCOL, true) !== PROTOCOL_VERSION) return 'protocol != 0';
  const sizeBytes = view.getUint32(OFFSET_SIZE, true);
  if (sizeBytes < HEADER_SIZE_BYTES) return 'size < 256';
  if (sizeBytes > MESSAGE_SIZE_MAX_BYTES) return 'size > 1 MiB';
  if (view.getUint32(OFFSET_EPOCH, true) !== 0) return 'epoch != 0';
  if (!allZero(header, 116, 128)) return 'reserved_frame != 0';
  return undefined;
}

export interface RequestHeader {
  checksum: bigint;
  cluster: bigint;
  sizeBytes: number;
  release: number;
  parent: bigint;
  client: bigint;
  session: bigint;
  request: number;
  operation: number;
}

export function readRequest(header: Uint8Array): RequestHeader {
  const view = viewOf(header);
  assert(header[OFFSET_COMMAND] === Command.request, 'not a request');
  return {
    checksum: readU128(view, OFFSET_CHECKSUM),
    cluster: readU128(view, OFFSET_CLUSTER),
    sizeBytes: view.getUint32(OFFSET_SIZE, true),
    release: view.getUint32(OFFSET_RELEASE, true),
    parent: readU128(view, REQUEST_PARENT),
    client: readU128(view, REQUEST_CLIENT),
    session: view.getBigUint64(REQUEST_SESSION, true),
    request: view.getUint32(REQUEST_REQUEST, true),
    operation: header[REQUEST_OPERATION],
  };
}

/**
 * What is wrong with a request header, or undefined (TigerBeetle's `Request.invalid_header`, for the
 * operations a client may send). Whether the operation is one the state machine knows is the caller's.
 */
export function requestInvalid(header: Uint8Array): string | undefined {
  const view = viewOf(header);
  const request = readRequest(header);
  if (request.release === 0) return 'release == 0';
  if (header[OFFSET_REPLICA] !== 0) return 'replica != 0';
  if (!allZero(header, 144, 160)) return 'parent_padding != 0';
  if (request.client === 0n) return 'client == 0';
  if (view.getBigUint64(REQUEST_TIMESTAMP, true) !== 0n) return 'timestamp != 0';
  if (!allZero(header, 197, 200)) return 'previous_request_latency_padding != 0';
  if (!allZero(header, 204, 256)) return 'reserved != 0';
  if (request.operation === OPERATION_REGISTER) {
    if (request.parent !== 0n) return 'register: parent != 0';
    if (request.session !== 0n) return 'register: session != 0';
    if (request.request !== 0) return 'register: request != 0';
    const bodyBytes = request.sizeBytes - HEADER_SIZE_BYTES;
    if (bodyBytes !== 0 && bodyBytes !== REGISTER_REQUEST_SIZE_BYTES) return 'register: body is neither empty nor 256 bytes';
    return undefined;
  }
  if (request.operation < VSR_OPERATIONS_RESERVED) return 'operation is reserved';
  if (request.session === 0n) return 'session == 0';
  if (request.request === 0) return 'request == 0';
  return undefined;
}

export interface PingClientHeader {
  cluster: bigint;
  release: number;
  client: bigint;
  pingTimestampMonotonic: bigint;
}

export function readPingClient(header: Uint8Array): PingClientHeader {
  const view = viewOf(header);
  return {
    cluster: readU128(view, OFFSET_CLUSTER),
    release: view.getUint32(OFFSET_RELEASE, true),
    client: readU128(view, PING_CLIENT_CLIENT),
    pingTimestampMonotonic: view.getBigUint64(PING_CLIENT_TIMESTAMP, true),
  };
}

/** What is wrong with a ping_client header, or undefined. Its body must be empty. */
export function pingClientInvalid(header: Uint8Array): string | undefined {
  const view = viewOf(header);
  if (view.getUint32(OFFSET_SIZE, true) !== HEADER_SIZE_BYTES) return 'size != 256';
  if (view.getUint32(OFFSET_RELEASE, true) === 0) return 'release == 0';
  if (header[OFFSET_REPLICA] !== 0) return 'replica != 0';
  if (view.getUint32(OFFSET_VIEW, true) !== 0) return 'view != 0';
  if (readU128(view, PING_CLIENT_CLIENT) === 0n) return 'client == 0';
  if (!allZero(header, 152, 256)) return 'reserved != 0';
  return undefined;
}

// ---- Building messages -----------------------------------------------------------------------------

/** A zeroed message buffer for a body of `bodyBytes`; the body starts at `HEADER_SIZE_BYTES`. */
export function allocateMessage(bodyBytes: number): Buffer {
  assert(bodyBytes >= 0 && bodyBytes <= MESSAGE_BODY_SIZE_MAX_BYTES, 'message body too large');
  return Buffer.alloc(HEADER_SIZE_BYTES + bodyBytes);
}

function writeFrame(message: Uint8Array, command: Command, cluster: bigint, release: number): DataView {
  const view = viewOf(message);
  writeU128(view, OFFSET_CLUSTER, cluster);
  view.setUint32(OFFSET_SIZE, message.length, true);
  view.setUint32(OFFSET_RELEASE, release, true);
  view.setUint16(OFFSET_PROTOCOL, PROTOCOL_VERSION, true);
  message[OFFSET_COMMAND] = command;
  return view;
}

/** Sets `checksum_body` and then `checksum`, in that order (the header checksum covers the first). */
export function sealMessage(message: Uint8Array): void {
  checksumInto(message.subarray(HEADER_SIZE_BYTES), message, OFFSET_CHECKSUM_BODY);
  checksumInto(message.subarray(CHECKSUM_SIZE_BYTES, HEADER_SIZE_BYTES), message, OFFSET_CHECKSUM);
}

export interface ReplyFields {
  cluster: bigint;
  /** Must be the request's release: the client asserts it. */
  release: number;
  requestChecksum: bigint;
  client: bigint;
  /** The commit number; `op` and `commit` are equal for a single replica. */
  commit: bigint;
  timestamp: bigint;
  request: number;
  operation: number;
}

/**
 * Fills in the header of a reply whose body is already in `message` and seals it. `context` (what the
 * client sends back as its next request's `parent`) is derived from the reply itself, so a resent
 * cached reply carries the same one.
 */
export function sealReply(message: Buffer, fields: ReplyFields): void {
  const view = writeFrame(message, Command.reply, fields.cluster, fields.release);
  writeU128(view, REPLY_REQUEST_CHECKSUM, fields.requestChecksum);
  writeU128(view, REPLY_CLIENT, fields.client);
  view.setBigUint64(REPLY_OP, fields.commit, true);
  view.setBigUint64(REPLY_COMMIT, fields.commit, true);
  view.setBigUint64(REPLY_TIMESTAMP, fields.timestamp, true);
  view.setUint32(REPLY_REQUEST, fields.request, true);
  message[REPLY_OPERATION] = fields.operation;
  sealMessage(message);
  // The context is the checksum of the reply as sealed with a zero context; then seal again.
  message.copy(message, REPLY_CONTEXT, OFFSET_CHECKSUM, OFFSET_CHECKSUM + CHECKSUM_SIZE_BYTES);
  checksumInto(message.subarray(CHECKSUM_SIZE_BYTES, HEADER_SIZE_BYTES), message, OFFSET_CHECKSUM);
}

export interface ReplyHeader {
  requestChecksum: bigint;
  context: bigint;
  client: bigint;
  op: bigint;
  commit: bigint;
  timestamp: bigint;
  request: number;
  operation: number;
}

export function readReply(header: Uint8Array): ReplyHeader {
  const view = viewOf(header);
  return {
    requestChecksum: readU128(view, REPLY_REQUEST_CHECKSUM),
    context: readU128(view, REPLY_CONTEXT),
    client: readU128(view, REPLY_CLIENT),
    op: view.getBigUint64(REPLY_OP, true),
    commit: view.getBigUint64(REPLY_COMMIT, true),
    timestamp: view.getBigUint64(REPLY_TIMESTAMP, true),
    request: view.getUint32(REPLY_REQUEST, true),
    operation: header[REPLY_OPERATION],
  };
}

/**
 * What the official client would reject in this reply, or undefined: both checksums, the frame, and
 * `Reply.invalid_header` (release and client non-zero, paddings zero, op == commit != 0, timestamp != 0,
 * register replies 320 bytes with request 0, other replies request != 0, reserved bytes zero).
 */
export function replyInvalid(message: Uint8Array): string | undefined {
  if (message.length < HEADER_SIZE_BYTES) return 'shorter than a header';
  const header = message.subarray(0, HEADER_SIZE_BYTES);
  if (!headerChecksumValid(header)) return 'checksum';
  if (!bodyChecksumValid(header, message.subarray(HEADER_SIZE_BYTES))) return 'checksum_body';
  const frameProblem = frameInvalid(header);
  if (frameProblem !== undefined) return frameProblem;
  const frame = readFrame(header);
  if (frame.sizeBytes !== message.length) return 'size != message length';
  if (frame.command !== Command.reply) return 'command != reply';
  if (frame.release === 0) return 'release == 0';
  const reply = readReply(header);
  if (reply.client === 0n) return 'client == 0';
  if (!allZero(header, 144, 160)) return 'request_checksum_padding != 0';
  if (!allZero(header, 176, 192)) return 'context_padding != 0';
  if (reply.op !== reply.commit) return 'op != commit';
  if (reply.commit === 0n) return 'commit == 0';
  if (reply.timestamp === 0n) return 'timestamp == 0';
  if (reply.operation === OPERATION_REGISTER) {
    if (frame.sizeBytes !== HEADER_SIZE_BYTES + REGISTER_RESULT_SIZE_BYTES) return 'register: size != 320';
    if (reply.request !== 0) return 'register: request != 0';
  } else if (reply.request === 0) {
    return 'request == 0';
  }
  if (!allZero(header, 237, 256)) return 'reserved != 0';
  return undefined;
}

export function buildPongClient(cluster: bigint, release: number, pingTimestampMonotonic: bigint): Buffer {
  const message = allocateMessage(0);
  const view = writeFrame(message, Command.pong_client, cluster, release);
  view.setBigUint64(PONG_CLIENT_TIMESTAMP, pingTimestampMonotonic, true);
  sealMessage(message);
  return message;
}

export function buildEviction(cluster: bigint, release: number, client: bigint, reason: EvictionReason): Buffer {
  assert(client !== 0n, 'an eviction names a client');
  const message = allocateMessage(0);
  const view = writeFrame(message, Command.eviction, cluster, release);
  writeU128(view, EVICTION_CLIENT, client);
  message[EVICTION_REASON] = reason;
  sealMessage(message);
  return message;
}

export function readEviction(header: Uint8Array): { client: bigint; reason: number } {
  return { client: readU128(viewOf(header), EVICTION_CLIENT), reason: header[EVICTION_REASON] };
}

export function readPongClient(header: Uint8Array): { pingTimestampMonotonic: bigint } {
  return { pingTimestampMonotonic: viewOf(header).getBigUint64(PONG_CLIENT_TIMESTAMP, true) };
}

// ---- Client-side builders (tests, the fuzzer and the benchmark speak the protocol with these) -------

export interface RequestFields {
  cluster: bigint;
  release: number;
  parent: bigint;
  client: bigint;
  session: bigint;
  request: number;
  operation: number;
  body: Uint8Array;
}

export function buildRequest(fields: RequestFields): Buffer {
  const message = allocateMessage(fields.body.length);
  message.set(fields.body, HEADER_SIZE_BYTES);
  const view = writeFrame(message, Command.request, fields.cluster, fields.release);
  writeU128(view, REQUEST_PARENT, fields.parent);
  writeU128(view, REQUEST_CLIENT, fields.client);
  view.setBigUint64(REQUEST_SESSION, fields.session, true);
  view.setUint32(REQUEST_REQUEST, fields.request, true);
  message[REQUEST_OPERATION] = fields.operation;
  view.setUint32(REQUEST_PREVIOUS_LATENCY, 0, true);
  sealMessage(message);
  return message;
}

export function buildPingClient(cluster: bigint, release: number, client: bigint, pingTimestampMonotonic: bigint): Buffer {
  const message = allocateMessage(0);
  const view = writeFrame(message, Command.ping_client, cluster, release);
  writeU128(view, PING_CLIENT_CLIENT, client);
  view.setBigUint64(PING_CLIENT_TIMESTAMP, pingTimestampMonotonic, true);
  sealMessage(message);
  return message;
}

/** Offsets tests need to corrupt or inspect specific fields. */
export const HEADER_OFFSETS = { checksum: OFFSET_CHECKSUM, checksumBody: OFFSET_CHECKSUM_BODY, size: OFFSET_SIZE, release: OFFSET_RELEASE, command: OFFSET_COMMAND, commandPart: OFFSET_COMMAND_PART, view: OFFSET_VIEW } as const;
