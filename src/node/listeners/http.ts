/**
 * The node's HTTP listener: `/health`, `/metrics`, and whatever routes the parts add (the bus adds its JSON
 * call API and admin views). Routes are exact `METHOD /path` matches or a prefix ending in `/*`; there is
 * no framework because there are only a handful of routes and every one of them is ours.
 *
 * Request bodies are capped (`HTTP_BODY_BYTES_MAX`); a path that is not valid percent-encoding answers 400
 * `HTTP_BAD_PATH`; a route handler that throws a `PurserError` answers 400 with its code, anything else
 * answers 500 and is logged. A client can never crash the node from here, nor fill its log: what clients
 * cause (aborted uploads, bad requests, refused connections) logs at debug.
 *
 * Limits (`HttpLimits`): connections in all and per remote address (at a cap, the oldest connection that
 * has not sent a request makes room; else the newcomer is closed), time to send the headers and the whole
 * request (slowloris), idle keep-alive time.
 *
 * With an `Authenticator`, every route but `/health` needs `Authorization: Bearer <token>`: `/metrics` a
 * monitor or admin token, `/v1/call/<service>` a call token allowed that service (or admin), everything
 * else (`/v1/admin/*`) an admin token. With `tls`, the listener speaks HTTPS only.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TlsOptions } from 'node:tls';
import { PurserError } from '../../errors.js';
import { HttpError, NodeError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { NodeMetrics } from '../metrics.js';
import { Authenticator, mayCall, type Principal } from '../auth.js';
import { ConnectionTable, normalizeAddress } from './limits.js';

export const HTTP_BODY_BYTES_MAX = 1024 * 1024; // 1 MiB

export interface HttpLimits {
  connectionsMax: number;
  connectionsPerAddressMax: number;
  /** Time to receive a request's headers. */
  headersTimeoutMs: number;
  /** Time to receive a whole request, body included. */
  requestTimeoutMs: number;
  /** Time a kept-alive connection may wait for its next request. */
  keepAliveTimeoutMs: number;
}

export function defaultHttpLimits(): HttpLimits {
  return {
    connectionsMax: 1024,
    connectionsPerAddressMax: 256,
    headersTimeoutMs: 10 * 1000, // 10 seconds
    requestTimeoutMs: 30 * 1000, // 30 seconds: 1 MiB at 1 Mbit/s takes 9
    keepAliveTimeoutMs: 5 * 1000, // 5 seconds
  };
}

export interface HttpListenerOptions {
  host: string;
  port: number;
  logger: Logger;
  metrics: NodeMetrics;
  limits?: Partial<HttpLimits>;
  auth?: Authenticator;
  tls?: TlsOptions;
}

export interface HttpRequest {
  method: string;
  path: string;
  /** The part of the path after a `/*` prefix route, URL-decoded. Empty for exact routes. */
  rest: string;
  query: URLSearchParams;
  body: Buffer;
}

export interface HttpResponse {
  status: number;
  /** A string is sent as is; anything else as JSON. */
  body: unknown;
  contentType?: string;
}

export type HttpHandler = (request: HttpRequest) => Promise<HttpResponse> | HttpResponse;

export interface HttpListener {
  readonly address: { host: string; port: number; url: string };
  route(method: string, path: string, handler: HttpHandler): void;
  close(): Promise<void>;
}

export async function startHttpListener(options: HttpListenerOptions): Promise<HttpListener> {
  const exact = new Map<string, HttpHandler>();
  const prefixes: Array<{ method: string; prefix: string; handler: HttpHandler }> = [];
  const { logger, metrics, auth } = options;
  const limits = { ...defaultHttpLimits(), ...options.limits };
  // node:http checks the header and request deadlines every connectionsCheckingInterval (30 s by default):
  // check often enough that a deadline is kept to within a quarter of itself.
  const checkingIntervalMs = Math.max(10, Math.min(1000, Math.floor(Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 4)));
  const serverOptions = { headersTimeout: limits.headersTimeoutMs, requestTimeout: limits.requestTimeoutMs, keepAliveTimeout: limits.keepAliveTimeoutMs, connectionsCheckingInterval: checkingIntervalMs };
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    void serve(req, res);
  };
  const server = options.tls === undefined ? http.createServer(serverOptions, onRequest) : https.createServer({ ...options.tls, ...serverOptions, handshakeTimeout: limits.headersTimeoutMs }, onRequest);
  // A backstop under limitConnections, which closes what it turns away.
  server.maxConnections = limits.connectionsMax * 2;
  limitConnections(server, limits, logger, options.tls !== undefined);

  async function serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let route = 'unmatched';
    let status = 500;
    const endTimer = metrics.httpRequestDuration.startTimer();
    try {
      const method = req.method ?? 'GET';
      const url = parseUrl(req.url);
      let handler = exact.get(`${method} ${url.pathname}`);
      let rest = '';
      if (handler) route = url.pathname;
      else {
        for (const candidate of prefixes) {
          if (candidate.method === method && url.pathname.startsWith(candidate.prefix)) {
            handler = candidate.handler;
            route = `${candidate.prefix}*`;
            rest = decodePath(url.pathname.slice(candidate.prefix.length));
            break;
          }
        }
      }
      if (!handler) {
        status = 404;
        send(res, 404, { error: { code: 'NOT_FOUND', message: `no route ${method} ${url.pathname}` } });
        return;
      }
      if (auth !== undefined) checkAccess(auth, req.headers.authorization, url.pathname, rest);
      const body = await readBody(req);
      if (body === 'aborted') {
        status = 499; // nginx's "client closed request": counted, not answered (nobody is listening)
        logger.debug({ url: req.url }, 'http request aborted by the client');
        return;
      }
      if (body === undefined) {
        status = 413;
        send(res, 413, { error: { code: 'BODY_TOO_LARGE', message: `request body exceeds ${HTTP_BODY_BYTES_MAX} bytes` } });
        return;
      }
      const response = await handler({ method, path: url.pathname, rest, query: url.searchParams, body });
      status = response.status;
      send(res, response.status, response.body, response.contentType);
    } catch (error) {
      status = error instanceof HttpError ? httpStatus(error) : error instanceof PurserError ? 400 : 500;
      if (error instanceof PurserError) {
        if (status === 401) res.setHeader('www-authenticate', 'Bearer');
        send(res, status, { error: { code: error.code, message: error.message } });
      } else {
        logger.error({ err: error, url: req.url }, 'http handler failed');
        send(res, 500, { error: { code: 'INTERNAL', message: 'internal error; see the node log' } });
      }
    } finally {
      metrics.httpRequests.inc({ route, status: String(status) });
      endTimer({ route });
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new NodeError('NODE_LISTEN_FAILED', `cannot listen on ${options.host}:${options.port} for HTTP: ${error.message}`, { cause: error })));
    server.listen(options.port, options.host, () => resolve());
  });
  server.on('error', (error) => logger.error({ err: error }, 'http listener error'));
  server.on('clientError', (error, socket) => {
    logger.debug({ err: error }, 'http client error (malformed request or timeout)');
    socket.destroy();
  });
  server.on('tlsClientError', (error) => logger.debug({ err: error }, 'https: TLS handshake failed'));

  const bound = server.address() as AddressInfo;
  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  const scheme = options.tls === undefined ? 'http' : 'https';
  return {
    address: { host: bound.address, port: bound.port, url: `${scheme}://${host}:${bound.port}` },
    route(method, path, handler) {
      if (path.endsWith('/*')) prefixes.push({ method, prefix: path.slice(0, -1), handler });
      else exact.set(`${method} ${path}`, handler);
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
    },
  };
}

/**
 * Caps connections in all and per remote address. At a cap the oldest connection that has not sent a
 * request yet (of the same address, at its cap) is closed to make room, so idle sockets cannot lock out
 * real clients, even from their own address; if every connection has sent one, the newcomer is closed.
 */
function limitConnections(server: http.Server, limits: HttpLimits, logger: Logger, tls: boolean): void {
  const table = new ConnectionTable<HttpConnection>(limits);
  const bySocket = new WeakMap<Socket, HttpConnection>();
  // With TLS, a request's socket is the TLS socket: connections are counted once their handshake is done
  // (sockets still in it are bounded by maxConnections and the handshake timeout).
  server.on(tls ? 'secureConnection' : 'connection', (socket: Socket) => {
    const address = normalizeAddress(socket.remoteAddress);
    const outcome = table.admit(address);
    if (outcome !== 'admitted') {
      logger.debug({ remote: address, reason: outcome }, 'http connection closed at a connection cap');
      socket.destroy();
      return;
    }
    const connection: HttpConnection = { greeted: false, displace: () => socket.destroy() };
    bySocket.set(socket, connection);
    table.add(connection, address);
    socket.once('close', () => table.remove(connection));
  });
  server.on('request', (req: http.IncomingMessage) => {
    const connection = bySocket.get(req.socket);
    if (connection !== undefined) connection.greeted = true;
  });
}

interface HttpConnection {
  greeted: boolean;
  displace(): void;
}

function parseUrl(raw: string | undefined): URL {
  try {
    return new URL(raw ?? '/', 'http://node');
  } catch (error) {
    throw new HttpError('HTTP_BAD_PATH', 'the request target is not a URL path', { cause: error });
  }
}

function decodePath(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch (error) {
    throw new HttpError('HTTP_BAD_PATH', `the path ${JSON.stringify(encoded.slice(0, 200))} is not valid percent-encoding`, { cause: error });
  }
}

function httpStatus(error: HttpError): number {
  return error.code === 'HTTP_UNAUTHORIZED' ? 401 : error.code === 'HTTP_FORBIDDEN' ? 403 : 400;
}

/** Throws HTTP_UNAUTHORIZED or HTTP_FORBIDDEN unless the request's token may use this path. */
function checkAccess(auth: Authenticator, authorization: string | undefined, path: string, service: string): void {
  if (path === '/health') return; // load balancers ask without credentials; it reveals no data
  const token = Authenticator.bearer(authorization);
  const principal = token === undefined ? undefined : auth.authenticate(token);
  if (principal === undefined) throw new HttpError('HTTP_UNAUTHORIZED', token === undefined ? 'this node requires Authorization: Bearer <token>' : 'the token is not accepted');
  if (!allowed(principal, path, service)) throw new HttpError('HTTP_FORBIDDEN', `token ${principal.name} (role ${principal.role}) may not use ${path}`);
}

function allowed(principal: Principal, path: string, service: string): boolean {
  if (principal.role === 'admin') return true;
  if (path === '/metrics') return principal.role === 'monitor';
  if (path.startsWith('/v1/call/')) return mayCall(principal, service);
  return false;
}

/** The body, `undefined` if it is over the cap, or `'aborted'` if the client went away while sending it. */
function readBody(req: http.IncomingMessage): Promise<Buffer | undefined | 'aborted'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > HTTP_BODY_BYTES_MAX) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? undefined : Buffer.concat(chunks)));
    // An upload the client abandons is the client's business: no error, no stack in the node's log.
    req.on('error', () => resolve('aborted'));
    req.on('close', () => {
      if (!req.complete) resolve('aborted');
    });
  });
}

function send(res: http.ServerResponse, status: number, body: unknown, contentType?: string): void {
  if (res.headersSent) return;
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': contentType ?? (typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json'),
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}
