// The HTTP listener: body cap, typed errors as 400, bugs as 500 without crashing, prefix routes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { InvalidArgumentError } from 'purser';
import { HTTP_BODY_BYTES_MAX, startHttpListener } from '../../../src/node/listeners/http.js';
import { createNodeMetrics } from '../../../src/node/metrics.js';

test('routes: exact and prefix; body cap 413; PurserError 400; bug 500; the listener survives all', async () => {
  const listener = await startHttpListener({ host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }), metrics: createNodeMetrics() });
  try {
    listener.route('POST', '/echo', (request) => ({ status: 200, body: { bytes: request.body.length } }));
    listener.route('POST', '/v1/call/*', (request) => ({ status: 200, body: { service: request.rest } }));
    listener.route('GET', '/typed', () => {
      throw new InvalidArgumentError('you sent nonsense');
    });
    listener.route('GET', '/bug', () => {
      throw new Error('oops');
    });
    const echo = await fetch(`${listener.address.url}/echo`, { method: 'POST', body: 'hello' });
    assert.deepEqual(await echo.json(), { bytes: 5 });
    const call = await fetch(`${listener.address.url}/v1/call/BAL%20ANCE`, { method: 'POST' });
    assert.deepEqual(await call.json(), { service: 'BAL ANCE' });
    const big = await fetch(`${listener.address.url}/echo`, { method: 'POST', body: Buffer.alloc(HTTP_BODY_BYTES_MAX + 1) });
    assert.equal(big.status, 413);
    await big.text();
    const typed = await fetch(`${listener.address.url}/typed`);
    assert.equal(typed.status, 400);
    assert.deepEqual(await typed.json(), { error: { code: 'INVALID_ARGUMENT', message: 'you sent nonsense' } });
    const bug = await fetch(`${listener.address.url}/bug`);
    assert.equal(bug.status, 500);
    await bug.text();
    const after = await fetch(`${listener.address.url}/echo`, { method: 'POST', body: 'x' });
    assert.deepEqual(await after.json(), { bytes: 1 });
  } finally {
    await listener.close();
  }
});
