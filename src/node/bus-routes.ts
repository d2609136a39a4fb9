/**
 * The bus's JSON routes for the node's HTTP listener, for callers in other languages and for the admin
 * command. Described as plain route records so the bus does not depend on the node (the node mounts them).
 *
 *   POST /v1/call/:service   body {"data": <JSON>, "timeoutMs"?: n, "flags"?: n}  →  200 {"data", "urcode"}
 *   GET  /v1/admin/pq | psr | psc                                                 →  200 [rows]
 *
 * Errors answer {"error": {"code", "message", "urcode"?, "data"?}} with a status that says who is at fault:
 * TPEINVAL 400, TPENOENT 404, TPESVCFAIL 422, TPELIMIT 429, TPESVCERR 502, TPEBLOCK/TPEPROTO 503,
 * TPETIME 504. Byte replies (Uint8Array) are sent as {"$base64": "…"} since JSON has no bytes.
 */
import { XatmiError } from '../bus/errors.js';
import type { Bus, XatmiErrorCode } from '../bus/interfaces.js';

export interface BusRoute {
  method: 'GET' | 'POST';
  /** Exact path, or a prefix ending in `/*` whose remainder arrives as `rest`. */
  path: string;
  handler: (request: { rest: string; body: Buffer }) => Promise<{ status: number; body: unknown }> | { status: number; body: unknown };
}

const STATUS_BY_CODE: Record<XatmiErrorCode, number> = {
  TPEINVAL: 400,
  TPENOENT: 404,
  TPEBADDESC: 400,
  TPESVCFAIL: 422,
  TPELIMIT: 429,
  TPESVCERR: 502,
  TPEBLOCK: 503,
  TPEPROTO: 503,
  TPETIME: 504,
};

export function busHttpRoutes(bus: Bus): BusRoute[] {
  return [
    { method: 'POST', path: '/v1/call/*', handler: (request) => callRoute(bus, request.rest, request.body) },
    { method: 'GET', path: '/v1/admin/pq', handler: () => ({ status: 200, body: bus.pq() }) },
    { method: 'GET', path: '/v1/admin/psr', handler: () => ({ status: 200, body: bus.psr() }) },
    { method: 'GET', path: '/v1/admin/psc', handler: () => ({ status: 200, body: bus.psc() }) },
  ];
}

async function callRoute(bus: Bus, service: string, body: Buffer): Promise<{ status: number; body: unknown }> {
  try {
    const { data, timeoutMs, flags } = parseCallBody(body);
    const reply = await bus.call(service, data, { timeoutMs, flags });
    return { status: 200, body: { data: toJson(reply.data), urcode: reply.urcode } };
  } catch (error) {
    if (!(error instanceof XatmiError)) throw error;
    const detail: Record<string, unknown> = { code: error.code, message: error.message };
    if (error.code === 'TPESVCFAIL') {
      detail.urcode = error.urcode;
      detail.data = toJson(error.data);
    }
    return { status: STATUS_BY_CODE[error.code], body: { error: detail } };
  }
}

function parseCallBody(body: Buffer): { data: unknown; timeoutMs?: number; flags?: number } {
  if (body.length === 0) return { data: null };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new XatmiError('TPEINVAL', `request body is not JSON: ${(error as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new XatmiError('TPEINVAL', 'request body must be a JSON object {"data": …, "timeoutMs"?: n, "flags"?: n}');
  const { data = null, timeoutMs, flags, ...unknown } = parsed as Record<string, unknown>;
  const extra = Object.keys(unknown);
  if (extra.length > 0) throw new XatmiError('TPEINVAL', `unknown field in request body: ${extra[0]}`);
  if (timeoutMs !== undefined && typeof timeoutMs !== 'number') throw new XatmiError('TPEINVAL', 'timeoutMs must be a number');
  if (flags !== undefined && typeof flags !== 'number') throw new XatmiError('TPEINVAL', 'flags must be a number');
  return { data, timeoutMs, flags };
}

function toJson(value: unknown): unknown {
  if (value instanceof Uint8Array) return { $base64: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  return value === undefined ? null : value;
}
