// Checks the bus inside a started node: node.bus, the JSON call route (POST /v1/call/:service: replies,
// TPESVCFAIL with urcode, status codes for errors, bad bodies), the admin views over HTTP, the bus metrics
// on /metrics, `purser admin pq|psr|psc` (run through the CLI's main() against the node, table and --json,
// bad arguments exit 2, an unreachable node exits 1), and that node.close() drains a call in flight.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { startNode, ServiceFailure, type PurserNode } from 'purser';
import { main } from '../../src/cli/main.js';
import { captureStdout } from '../cli/_capture.js';
import { untilBusRefusesCalls } from '../_xatmi.js';

const silent = pino({ level: 'silent' });

async function post(node: PurserNode, service: string, body: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${node.http.url}/v1/call/${service}`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

test('JSON calls over HTTP, admin views, metrics and the admin command against a started node', async () => {
  // HANG never answers, so close() waits out the drain: keep it short.
  const node = await startNode({ memory: true, httpPort: 0, logger: silent, shutdownTimeoutMs: 200 });
  try {
    node.bus.advertise('BALANCE', (request) => ({ account: (request.data as { account: string }).account, balance: 100 }), { servers: 2, queueDepth: 50 });
    node.bus.advertise('DECLINE', () => {
      throw new ServiceFailure(51, { reason: 'insufficient funds' });
    });
    node.bus.advertise('BYTES', () => new Uint8Array([1, 2, 255]));
    node.bus.advertise('HANG', () => new Promise(() => {}));

    assert.deepEqual(await post(node, 'BALANCE', JSON.stringify({ data: { account: 'A1' } })), { status: 200, json: { data: { account: 'A1', balance: 100 }, urcode: 0 } });
    const declined = await post(node, 'DECLINE', '{}');
    assert.equal(declined.status, 422);
    assert.deepEqual(declined.json.error, { code: 'TPESVCFAIL', message: 'service DECLINE failed with urcode 51', urcode: 51, data: { reason: 'insufficient funds' } });
    assert.deepEqual((await post(node, 'BYTES', '')).json.data, { $base64: Buffer.from([1, 2, 255]).toString('base64') });
    const codeOf = (reply: { status: number; json: Record<string, unknown> }) => [reply.status, (reply.json.error as { code: string }).code];
    assert.deepEqual(codeOf(await post(node, 'NOPE', '{}')), [404, 'TPENOENT']);
    assert.deepEqual(codeOf(await post(node, 'HANG', '{"timeoutMs": 20}')), [504, 'TPETIME']);
    assert.deepEqual(codeOf(await post(node, 'BALANCE', '{not json')), [400, 'TPEINVAL']);
    assert.deepEqual(codeOf(await post(node, 'BALANCE', '[1]')), [400, 'TPEINVAL']);
    assert.deepEqual(codeOf(await post(node, 'BALANCE', '{"data": 1, "extra": 2}')), [400, 'TPEINVAL']);
    assert.deepEqual(codeOf(await post(node, 'BALANCE', '{"timeoutMs": "soon"}')), [400, 'TPEINVAL']);
    assert.deepEqual(codeOf(await post(node, 'BALANCE', '{"timeoutMs": -1}')), [400, 'TPEINVAL']);
    assert.deepEqual(codeOf(await post(node, 'BAD%20NAME', '{}')), [400, 'TPEINVAL']);

    const pq = (await (await fetch(`${node.http.url}/v1/admin/pq`)).json()) as Array<{ service: string; servers: number; queueDepth: number }>;
    assert.deepEqual(pq.find((row) => row.service === 'BALANCE'), { service: 'BALANCE', queueDepth: 50, servers: 2, busy: 0, queued: 0, waitingForSlot: 0, averageQueued: 0, kind: 'in-process' });
    const psc = (await (await fetch(`${node.http.url}/v1/admin/psc`)).json()) as Array<{ service: string; done: number; failed: number }>;
    assert.deepEqual(psc.find((row) => row.service === 'DECLINE'), { service: 'DECLINE', done: 0, failed: 1, timedOut: 0, expiredInQueue: 0, status: 'AVAILABLE' });

    const metrics = await (await fetch(`${node.http.url}/metrics`)).text();
    for (const name of ['purser_bus_queue_depth', 'purser_bus_busy_servers', 'purser_bus_queue_wait_seconds_bucket', 'purser_bus_service_seconds_bucket', 'purser_bus_expired_in_queue_total', 'purser_bus_late_replies_total', 'purser_bus_worker_restarts_total']) {
      assert.match(metrics, new RegExp(`^${name}`, 'm'), `${name} missing from /metrics`);
    }
    assert.match(metrics, /purser_bus_busy_servers\{service="HANG"\} 1/);
    assert.match(metrics, /^purser_bus_service_seconds_count\{service="BALANCE"\} 1$/m);
    assert.match(metrics, /^purser_bus_queue_wait_seconds_bucket\{le="\+Inf",service="BALANCE"\} 1$/m);
    assert.match(metrics, /purser_bus_calls_total\{service="DECLINE",outcome="TPESVCFAIL"\} 1/);

    const pqTable = await captureStdout(() => main(['admin', 'pq', '--url', node.http.url]));
    assert.equal(pqTable.code, 0);
    assert.match(pqTable.out, /^Service\s+Queue depth\s+Servers\s+Busy\s+Queued\s+Waiting\s+Ave\. queued\s+Kind$/m);
    assert.match(pqTable.out, /^BALANCE\s+50\s+2\s+0\s+0\s+0\s+0\s+in-process$/m);
    const psr = await captureStdout(() => main(['admin', 'psr', '--url', node.http.url]));
    assert.match(psr.out, /^BALANCE\/1\s+BALANCE\s+\d+\s+IDLE\s+running\s+0$/m);
    assert.match(psr.out, /^HANG\/1\s+HANG\s+0\s+HANG\s+running\s+0$/m);
    const pscJson = await captureStdout(() => main(['admin', 'psc', '--json'], { PURSER_URL: node.http.url }));
    assert.equal(pscJson.code, 0);
    assert.deepEqual((JSON.parse(pscJson.out) as Array<{ service: string }>).map((row) => row.service).sort(), ['BALANCE', 'BYTES', 'DECLINE', 'HANG']);

    for (const bad of [['admin'], ['admin', 'pt'], ['admin', 'pq', 'extra'], ['admin', 'pq', '--bogus'], ['admin', 'pq', '--url', 'not a url']]) {
      const result = await captureStdout(() => main(bad));
      assert.equal(result.code, 2, `${bad.join(' ')} should exit 2`);
      assert.match(result.err, /^purser: /);
    }
    const unreachable = await captureStdout(() => main(['admin', 'pq', '--url', 'http://127.0.0.1:1']));
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.err, /cannot reach the node.*\[ADMIN_UNREACHABLE\]/);
  } finally {
    await node.close();
  }
});

test('operator verbs over HTTP and the CLI: suspend, resume, resize, requests, cancel, bbstats; bad arguments and unknown services', async () => {
  const node = await startNode({ memory: true, httpPort: 0, logger: silent, shutdownTimeoutMs: 200 });
  let release!: () => void;
  const door = new Promise<void>((resolve) => (release = resolve));
  try {
    node.bus.advertise('PAY', async () => {
      await door;
      return 'paid';
    }, { servers: 1, queueDepth: 10 });
    const url = node.http.url;
    const suspended = await captureStdout(() => main(['admin', 'susp', 'PAY', '--url', url]));
    assert.equal(suspended.code, 0);
    assert.match(suspended.out, /PAY .*SUSPENDED/);
    const refused = await post(node, 'PAY', '{}');
    assert.equal(refused.status, 404);
    assert.equal((refused.json.error as { code: string }).code, 'TPENOENT');
    assert.equal((await captureStdout(() => main(['admin', 'res', 'PAY', '--url', url]))).code, 0);
    const resized = await captureStdout(() => main(['admin', 'resize', 'PAY', '3', '--url', url, '--json']));
    assert.equal((JSON.parse(resized.out) as { servers: number }).servers, 3);
    assert.equal(node.bus.pq().find((row) => row.service === 'PAY')!.servers, 3);

    const call = post(node, 'PAY', '{}');
    // Wait for the state: the call is running on a server.
    while (node.bus.requests().length === 0) await new Promise((resolve) => setImmediate(resolve));
    const listed = await captureStdout(() => main(['admin', 'requests', '--url', url]));
    const [id] = node.bus.requests().map((row) => row.id);
    assert.match(listed.out, new RegExp(`^${id}\\s+PAY\\s+running\\s+call`, 'm'));
    const cancelled = await captureStdout(() => main(['admin', 'cancel', String(id), '--url', url]));
    assert.match(cancelled.out, new RegExp(`request ${id} cancelled`));
    assert.equal((await call).status, 502);
    assert.match((await captureStdout(() => main(['admin', 'cancel', String(id), '--url', url]))).out, /no request/);
    const totals = JSON.parse((await captureStdout(() => main(['admin', 'bbstats', '--json', '--url', url]))).out) as Record<string, number>;
    assert.equal(totals.cancelledByOperator, 1);
    assert.equal(totals.servers, 3);
    assert.match((await captureStdout(() => main(['admin', 'bbstats', '--url', url]))).out, /^cancelledByOperator\s+1$/m);

    for (const bad of [['admin', 'susp'], ['admin', 'resize', 'PAY'], ['admin', 'resize', 'PAY', 'many'], ['admin', 'cancel', '0'], ['admin', 'cancel', 'x'], ['admin', 'requests', 'extra']]) {
      const result = await captureStdout(() => main([...bad, '--url', url]));
      assert.equal(result.code, 2, `${bad.join(' ')} should exit 2`);
    }
    const unknown = await captureStdout(() => main(['admin', 'susp', 'NOPE', '--url', url]));
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /NOPE.*\[TPENOENT\].*\[ADMIN_REFUSED\]/);
    const tooMany = await captureStdout(() => main(['admin', 'resize', 'PAY', '999999', '--url', url]));
    assert.equal(tooMany.code, 1);
    assert.match(tooMany.err, /\[TPEINVAL\]/);
    // Hostile input straight to the routes: typed 400s, nothing changed.
    for (const [path, body] of [['/v1/admin/resize/PAY', 'not json'], ['/v1/admin/resize/PAY', '{"servers":"3"}'], ['/v1/admin/cancel/-1', ''], ['/v1/admin/cancel/1e3', '']]) {
      const response = await fetch(`${url}${path}`, { method: 'POST', body });
      assert.equal(response.status, 400, path);
      assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'TPEINVAL');
    }
    assert.equal((await fetch(`${url}/v1/admin/requests?limit=0`)).status, 400);
    assert.equal(node.bus.pq().find((row) => row.service === 'PAY')!.servers, 3);
  } finally {
    release();
    await node.close();
  }
});

test('node.close() drains: a call in flight is answered before the node stops', async () => {
  const node = await startNode({ memory: true, httpPort: 0, logger: silent, shutdownTimeoutMs: 60_000 });
  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  let finish!: () => void;
  const finishing = new Promise<void>((resolve) => (finish = resolve));
  node.bus.advertise('SLOW', async (request) => {
    started();
    await finishing; // released once the bus is draining, so the call is in flight during shutdown
    return request.data;
  });
  const inFlight = node.bus.call('SLOW', 'finished');
  await running;
  const closing = node.close();
  // The bus closes after the node's other parts: release the call only once the bus refuses new calls
  // (TPEPROTO), so the answer below is the drain's doing, not a call that finished before the bus closed.
  await untilBusRefusesCalls(node);
  finish();
  await closing;
  assert.equal((await inFlight).data, 'finished');
  await assert.rejects(node.bus.call('SLOW', 1), (error: unknown) => (error as { code: string }).code === 'TPEPROTO');
});
