/**
 * What gateways say to each other over NATS: subjects and messages, encoded with the V8 serializer (the
 * structured-clone values bus calls carry: objects, bigints, byte arrays), and checked on the way in —
 * anything on a purser subject may come from anyone on the NATS server, so a message that does not decode
 * to the expected shape is dropped and counted, never trusted.
 *
 *   purser.call.<SERVICE>  queue group "purser.call.<SERVICE>"   CallMessage; reply subject purser.reply.<caller>
 *   purser.reply.<node>                                          AckMessage, then ReplyMessage, for one call id
 *   purser.hb.<node>       on the control connection             HeartbeatMessage (which services it exports)
 *   purser.bye.<node>      on the control connection             the node leaves (graceful close)
 */
import { deserialize, serialize } from 'node:v8';
import type { XatmiErrorCode } from '../../bus/interfaces.js';

export const PROTOCOL_VERSION = 1;
/** Largest message a gateway sends or accepts (NATS's own default max_payload is 1 MiB). */
export const MESSAGE_BYTES_MAX = 1024 * 1024;
/** A node name is one NATS subject token. */
export const NODE_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export const callSubject = (service: string) => `purser.call.${service}`;
export const replySubject = (node: string) => `purser.reply.${node}`;
export const heartbeatSubject = (node: string) => `purser.hb.${node}`;
export const byeSubject = (node: string) => `purser.bye.${node}`;
export const HEARTBEAT_WILDCARD = 'purser.hb.*';
export const BYE_WILDCARD = 'purser.bye.*';

export interface CallMessage {
  v: number;
  id: number;
  caller: string;
  service: string;
  /** Time left at the caller when sent; the serving node's deadline starts from its own clock. */
  remainingMs: number;
  flags: number;
  data: unknown;
}

export interface AckMessage {
  v: number;
  kind: 'ack';
  id: number;
  node: string;
}

export type ReplyMessage =
  | { v: number; kind: 'reply'; id: number; node: string; ok: true; data: unknown; urcode: number }
  | { v: number; kind: 'reply'; id: number; node: string; ok: false; code: XatmiErrorCode; message: string; urcode?: number; data?: unknown };

export interface HeartbeatMessage {
  v: number;
  node: string;
  /** Random per start: a restarted node is a new incarnation, whatever its name. */
  epoch: number;
  /** The interval it sends at, so a listener can judge it by its own schedule. */
  heartbeatMs: number;
  services: string[];
}

const XATMI_CODES: readonly string[] = ['TPENOENT', 'TPETIME', 'TPEBLOCK', 'TPESVCFAIL', 'TPESVCERR', 'TPELIMIT', 'TPEBADDESC', 'TPEINVAL', 'TPEPROTO'];

export function encode(message: object): Uint8Array {
  return serialize(message);
}

/** Decodes a message, or undefined when it is not a V8-serialized object of at most MESSAGE_BYTES_MAX. */
function decodeObject(bytes: Uint8Array): Record<string, unknown> | undefined {
  if (bytes.length === 0 || bytes.length > MESSAGE_BYTES_MAX) return undefined;
  let value: unknown;
  try {
    value = deserialize(bytes);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const object = value as Record<string, unknown>;
  return object.v === PROTOCOL_VERSION ? object : undefined;
}

const isId = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) > 0;
const isNode = (value: unknown): value is string => typeof value === 'string' && NODE_NAME_PATTERN.test(value);

export function decodeCall(bytes: Uint8Array): CallMessage | undefined {
  const m = decodeObject(bytes);
  if (!m || !isId(m.id) || !isNode(m.caller) || typeof m.service !== 'string' || m.service.length === 0 || m.service.length > 127) return undefined;
  if (typeof m.remainingMs !== 'number' || Number.isNaN(m.remainingMs) || !Number.isInteger(m.flags) || (m.flags as number) < 0) return undefined;
  return m as unknown as CallMessage;
}

export function decodeReplyOrAck(bytes: Uint8Array): AckMessage | ReplyMessage | undefined {
  const m = decodeObject(bytes);
  if (!m || !isId(m.id) || !isNode(m.node)) return undefined;
  if (m.kind === 'ack') return m as unknown as AckMessage;
  if (m.kind !== 'reply') return undefined;
  if (m.ok === true) return Number.isInteger(m.urcode) ? (m as unknown as ReplyMessage) : undefined;
  if (m.ok === false && typeof m.code === 'string' && XATMI_CODES.includes(m.code) && typeof m.message === 'string') return m as unknown as ReplyMessage;
  return undefined;
}

export function decodeHeartbeat(bytes: Uint8Array): HeartbeatMessage | undefined {
  const m = decodeObject(bytes);
  if (!m || !isNode(m.node) || !Number.isSafeInteger(m.epoch) || !Number.isSafeInteger(m.heartbeatMs) || (m.heartbeatMs as number) < 1) return undefined;
  if (!Array.isArray(m.services) || m.services.length > 100_000 || !m.services.every((service) => typeof service === 'string' && service.length > 0 && service.length <= 127)) return undefined;
  return m as unknown as HeartbeatMessage;
}
