// The HTTP listener against hostile clients: a path that is not percent-encoding answers 400 with a typed
// code (not a 500 with a stack); an aborted upload is counted and logged at debug, never at error; idle
// and slowloris sockets are closed at the header deadline; connections beyond the caps (in all, per
// address) are closed while other clients are served. Waits are for states, with hang guards.
import assert from 'node:assert/strict';
import { connect as connectSocket, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino, type Logger } from 'pino';
import { startHttpListener, type HttpLimits } from '../../../src/node/listeners/http.js';
import { createNodeMetrics } from '../../../src/node/metrics.js';

const GUARD_MS = 60_000;

async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + GUARD_MS;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`hang guard: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A logger that keeps the level of every line, to assert what clients can and cannot put in the log. */
function recordingLogger(): { logger: Logger; levels: number[] } {
  const levels: number[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') levels.push((JSON.parse(line) as { level: number }).level);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, destination), levels };
}

async function withListener(limits: Partial<HttpLimits>, body: (url: string, port: number, levels: number[], metrics: ReturnType<typeof createNodeMetrics>) => Promise<void>): Promise<void> {
  const { logger, levels } = recordingLogger();
  const metrics = createNodeMetrics();
  const listener = await startHttpListener({ host: '127.0.0.1', port: 0, logger, metrics, limits });
  listener.route('POST', '/v1/call/*', (request) => ({ status: 200, body: { service: request.rest, bytes: request.body.length } }));
  listener.route('GET', '/health', () => ({ status: 200, body: { status: 'ok' } }));
  try {
    await body(listener.address.url, listener.address.port, levels, metrics);
  } finally {
    await listener.close();
  }
}

const ERROR_LEVEL = 50;

function openFrom(port: number, localAddress = '127.0.0.1'): Promise<Socket & { hungUp: () => boolean }> {
  return new Promise((resolve, reject) => {
    let closed = false;
    const socket = connectSocket({ port, host: '127.0.0.1', localAddress }, () => resolve(Object.assign(socket, { hungUp: () => closed })));
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined);
    socket.once('error', reject);
  });
}

test('a path that is not percent-encoding is a 400 HTTP_BAD_PATH, and nothing is logged at error', async () => {
  await withListener({}, async (url, _port, levels) => {
    const response = await fetch(`${url}/v1/call/%ZZ`, { method: 'POST', body: '{}' });
    assert.equal(response.status, 400);
    const body = (await response.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'HTTP_BAD_PATH');
    const fine = await fetch(`${url}/v1/call/A%20B`, { method: 'POST', body: 'x' });
    assert.deepEqual(await fine.json(), { service: 'A B', bytes: 1 });
    assert.ok(!levels.some((level) => level >= ERROR_LEVEL), 'no error-level line');
  });
});

test('aborted uploads are counted (499) and logged at debug, never at error', async () => {
  await withListener({}, async (url, port, levels, metrics) => {
    for (let i = 0; i < 20; i += 1) {
      const socket = await openFrom(port);
      socket.write('POST /v1/call/X HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n0123456789');
      socket.destroy();
    }
    const aborted = async () => (await metrics.registry.getSingleMetricAsString('purser_http_requests_total')).match(/status="499"} (\d+)/)?.[1];
    await until(async () => (await aborted()) === '20', 'twenty aborted uploads counted');
    assert.ok(!levels.some((level) => level >= ERROR_LEVEL), 'no error-level line');
    assert.equal((await fetch(`${url}/health`)).status, 200);
  });
});

test('idle and slowloris sockets are closed at the header deadline', async () => {
  await withListener({ headersTimeoutMs: 300, requestTimeoutMs: 600 }, async (url, port) => {
    const idle = await openFrom(port);
    const slow = await openFrom(port);
    slow.write('GET /health HTTP/1.1\r\n');
    const drip = setInterval(() => slow.write('X-A: b\r\n'), 20);
    try {
      await until(() => idle.hungUp() && slow.hungUp(), 'both closed');
    } finally {
      clearInterval(drip);
    }
    assert.equal((await fetch(`${url}/health`)).status, 200);
  });
});

test('at the caps, idle connections make room for real clients; connections that sent a request do not', async () => {
  // Kept-alive connections stay for a minute here, so a slow machine cannot close them before the check.
  await withListener({ connectionsMax: 8, connectionsPerAddressMax: 3, keepAliveTimeoutMs: 60_000 }, async (url, port) => {
    const idle = await Promise.all([1, 2, 3, 4, 5].map(() => openFrom(port, '127.0.0.1')));
    // 127.0.0.1's cap is 3: the two oldest idle sockets made room for the newer ones.
    await until(() => idle[0].hungUp() && idle[1].hungUp(), 'the two oldest idle sockets are closed');
    assert.equal((await fetch(`${url}/health`)).status, 200, 'a real client of the same address is served');
    // Sockets that sent a request (and keep the connection alive) are not displaced: the newcomer is closed.
    const busy = await Promise.all([1, 2, 3].map(async () => {
      const socket = await openFrom(port, '127.0.0.2');
      socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
      await new Promise((resolve) => socket.once('data', resolve));
      return socket;
    }));
    const fourth = await openFrom(port, '127.0.0.2');
    await until(() => fourth.hungUp(), 'the fourth from 127.0.0.2 is closed');
    assert.ok(busy.every((socket) => !socket.hungUp()));
    for (const socket of [...idle, ...busy]) socket.destroy();
  });
});
