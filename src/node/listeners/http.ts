/**
 * The node's HTTP listener: `/health`, `/metrics`, and whatever routes the parts add (the bus adds its JSON
 * call API and admin views). Routes are exact `METHOD /path` matches or a prefix ending in `/*`; there is
 * no framework because there are only a handful of routes and every one of them is ours.
 *
 * Request bodies are capped (`HTTP_BODY_BYTES_MAX`); a route handler that throws a `PurserError` answers
 * 400 with its code, anything else answers 500 and is logged. A client can never crash the node from here.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PurserError } from '../../errors.js';
import { NodeError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { NodeMetrics } from '../metrics.js';

export const HTTP_BODY_BYTES_MAX = 1024 * 1024; // 1 MiB

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

export async function startHttpListener(options: { host: string; port: number; logger: Logger; metrics: NodeMetrics }): Promise<HttpListener> {
  const exact = new Map<string, HttpHandler>();
  const prefixes: Array<{ method: string; prefix: string; handler: HttpHandler }> = [];
  const { logger, metrics } = options;

  const server = http.createServer((req, res) => {
    void serve(req, res);
  });
  server.keepAliveTimeout = 5000;

  async function serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let route = 'unmatched';
    let status = 500;
    const endTimer = metrics.httpRequestDuration.startTimer();
    try {
      const url = new URL(req.url ?? '/', 'http://node');
      const method = req.method ?? 'GET';
      let handler = exact.get(`${method} ${url.pathname}`);
      let rest = '';
      if (handler) route = url.pathname;
      else {
        for (const candidate of prefixes) {
          if (candidate.method === method && url.pathname.startsWith(candidate.prefix)) {
            handler = candidate.handler;
            route = `${candidate.prefix}*`;
            rest = decodeURIComponent(url.pathname.slice(candidate.prefix.length));
            break;
          }
        }
      }
      if (!handler) {
        status = 404;
        send(res, 404, { error: { code: 'NOT_FOUND', message: `no route ${method} ${url.pathname}` } });
        return;
      }
      const body = await readBody(req);
      if (body === undefined) {
        status = 413;
        send(res, 413, { error: { code: 'BODY_TOO_LARGE', message: `request body exceeds ${HTTP_BODY_BYTES_MAX} bytes` } });
        return;
      }
      const response = await handler({ method, path: url.pathname, rest, query: url.searchParams, body });
      status = response.status;
      send(res, response.status, response.body, response.contentType);
    } catch (error) {
      if (error instanceof PurserError) {
        status = 400;
        send(res, 400, { error: { code: error.code, message: error.message } });
      } else {
        status = 500;
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
  server.on('clientError', (_error, socket) => socket.destroy());

  const bound = server.address() as AddressInfo;
  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  return {
    address: { host: bound.address, port: bound.port, url: `http://${host}:${bound.port}` },
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

function readBody(req: http.IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > HTTP_BODY_BYTES_MAX) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
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
