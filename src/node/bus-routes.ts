/**
 * The bus's JSON routes for the node's HTTP listener, for callers in other languages and for the admin
 * command. Described as plain route records so the bus does not depend on the node (the node mounts them).
 *
 *   POST /v1/call/:service   body {"data": <JSON>, "timeoutMs"?: n, "flags"?: n}  →  200 {"data", "urcode"}
 *   GET  /v1/admin/pq | psr | psc                                                 →  200 [rows]
 *   GET  /v1/admin/requests[?limit=n]    requests in the bus, oldest first        →  200 [rows]
 *   GET  /v1/admin/bbstats               totals over the bus                      →  200 {totals}
 *   POST /v1/admin/suspend/:service | resume/:service                             →  200 {service row}
 *   POST /v1/admin/resize/:service       body {"servers": n}                      →  200 {queue row}
 *   POST /v1/admin/cancel/:id            the caller gets TPESVCERR                →  200 {cancelled: bool}
 *
 * Errors answer {"error": {"code", "message", "urcode"?, "data"?}} with a status that says who is at fault:
 * TPEINVAL 400, TPENOENT 404, TPESVCFAIL 422, TPELIMIT 429, TPESVCERR 502, TPEBLOCK/TPEPROTO 503,
 * TPETIME 504, TPEPERM 403. Byte replies (Uint8Array) are sent as {"$base64": "…"} since JSON has no bytes.
 */
import { XatmiError } from '../bus/errors.js';
import type { Bus, XatmiErrorCode } from '../bus/interfaces.js';

export interface BusRoute {
  method: 'GET' | 'POST';
  /** Exact path, or a prefix ending in `/*` whose remainder arrives as `rest`. */
  path: string;
  handler: (request: { rest: string; body: Buffer; query: URLSearchParams }) => Promise<{ status: number; body: unknown }> | { status: number; body: unknown };
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
  TPEPERM: 403,
};

export function busHttpRoutes(bus: Bus): BusRoute[] {
  return [
    { method: 'POST', path: '/v1/call/*', handler: (request) => callRoute(bus, request.rest, request.body) },
    { method: 'GET', path: '/v1/admin/pq', handler: () => ({ status: 200, body: bus.pq() }) },
    { method: 'GET', path: '/v1/admin/psr', handler: () => ({ status: 200, body: bus.psr() }) },
    { method: 'GET', path: '/v1/admin/psc', handler: () => ({ status: 200, body: bus.psc() }) },
    { method: 'GET', path: '/v1/admin/bbstats', handler: () => ({ status: 200, body: bus.totals() }) },
    { method: 'GET', path: '/v1/admin/requests', handler: (request) => operate(() => bus.requests(positiveInteger(request.query.get('limit') ?? '1000', 'limit'))) },
    { method: 'POST', path: '/v1/admin/suspend/*', handler: (request) => operate(() => (bus.suspend(request.rest), serviceRow(bus, request.rest))) },
    { method: 'POST', path: '/v1/admin/resume/*', handler: (request) => operate(() => (bus.resume(request.rest), serviceRow(bus, request.rest))) },
    {
      method: 'POST',
      path: '/v1/admin/resize/*',
      handler: (request) => operate(async () => {
        const servers = parseResizeBody(request.body);
        await bus.resize(request.rest, servers);
        return bus.pq().find((row) => row.service === request.rest);
      }),
    },
    { method: 'POST', path: '/v1/admin/cancel/*', handler: (request) => operate(() => ({ cancelled: bus.cancelRequest(positiveInteger(request.rest, 'request id')) })) },
  ];
}

/** Runs an operator action; bad input and unknown services answer like a call's errors (400, 404). */
async function operate(action: () => unknown): Promise<{ status: number; body: unknown }> {
  try {
    return { status: 200, body: await action() };
  } catch (error) {
    if (!(error instanceof XatmiError)) throw error;
    return { status: STATUS_BY_CODE[error.code], body: { error: { code: error.code, message: error.message } } };
  }
}

function serviceRow(bus: Bus, service: string): unknown {
  return bus.psc().find((row) => row.service === service);
}

function positiveInteger(text: string, what: string): number {
  if (!/^[1-9]\d{0,14}$/.test(text)) throw new XatmiError('TPEINVAL', `${what} must be a positive integer, got ${JSON.stringify(text.slice(0, 40))}`);
  return Number(text);
}

function parseResizeBody(body: Buffer): number {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new XatmiError('TPEINVAL', 'resize needs a JSON body {"servers": n}');
  }
  const servers = (parsed as { servers?: unknown } | null)?.servers;
  if (typeof servers !== 'number' || !Number.isInteger(servers)) throw new XatmiError('TPEINVAL', 'resize needs a JSON body {"servers": n} with a whole number');
  return servers;
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
