// The bus listener inside a node: startNode opens it (on any free port when the HTTP port is any free
// port, unless a bus port is given), connect() reaches node.bus and node.ledger through it, and
// node.close() answers the network calls in flight before it says goodbye. Configuration: --bus-host/--bus-port and PURSER_BUS_*
// with the same precedence as every other option, and typed errors for bad values.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { ConfigError, CreateAccountStatus, XatmiError, connect, defaultConfig, startNode } from 'purser';
import { resolveConfig } from '../../../src/node/config.js';
import { untilBusRefusesCalls } from '../../_xatmi.js';

const silent = pino({ level: 'silent' });

test('a node serves node.bus over TCP; close answers calls in flight, then later calls are TPEPROTO', async () => {
  const node = await startNode({ memory: true, httpPort: 0, logger: silent, shutdownTimeoutMs: 60_000 });
  let closed = false;
  try {
    assert.equal(node.busListener.host, '127.0.0.1');
    assert.ok(node.busListener.port > 0 && node.busListener.port !== 7700, `ephemeral bus port, got ${node.busListener.port}`);
    node.bus.advertise('BALANCE', (request) => ({ account: request.data, balance: 100n }));
    let started!: () => void;
    const slowStarted = new Promise<void>((resolve) => (started = resolve));
    let finish!: () => void;
    const finishing = new Promise<void>((resolve) => (finish = resolve));
    node.bus.advertise('SLOW', async () => {
      started();
      await finishing; // released once the bus is draining: the call is in flight during shutdown
      return 'finished';
    });
    const client = await connect(node.busListener.port);
    assert.deepEqual((await client.call('BALANCE', 'ACC-1')).data, { account: 'ACC-1', balance: 100n });
    const metrics = await (await fetch(`${node.http.url}/metrics`)).text();
    assert.match(metrics, /purser_bus_client_connections 1/);
    const slow = client.call('SLOW', null);
    await slowStarted; // the node has the call: shutdown must answer it, not drop it
    const closing = node.close();
    // Released only once the bus refuses new calls (its close and the listener's have begun), so the answer
    // below is the drain's doing, not a call that finished before shutdown reached the bus.
    await untilBusRefusesCalls(node);
    finish();
    await closing;
    closed = true;
    assert.equal((await slow).data, 'finished');
    await assert.rejects(client.call('BALANCE', 'ACC-1'), (error: unknown) => error instanceof XatmiError && error.code === 'TPEPROTO');
    await client.close();
  } finally {
    if (!closed) await node.close();
  }
});

test('a node serves its ledger to connect() clients: what they create, node.ledger sees', async () => {
  const node = await startNode({ memory: true, httpPort: 0, logger: silent });
  try {
    const client = await connect(node.busListener.port);
    const blank = { debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, reserved: 0, ledger: 1, code: 1, flags: 0, timestamp: 0n };
    const results = await client.createAccounts([{ id: 10n, ...blank }, { id: 11n, ...blank }]);
    assert.deepEqual(results.map((result) => result.status), [CreateAccountStatus.created, CreateAccountStatus.created]);
    assert.deepEqual(await client.lookupAccounts([10n, 11n]), await node.ledger.lookupAccounts([10n, 11n]));
    assert.equal((await node.ledger.lookupAccounts([11n])).length, 1);
    await client.close();
  } finally {
    await node.close();
  }
});

test('a bus port in use is a NODE_LISTEN_FAILED error and the node releases what it opened', async () => {
  const first = await startNode({ memory: true, httpPort: 0, logger: silent });
  try {
    await assert.rejects(
      startNode({ memory: true, httpPort: 0, busPort: first.busListener.port, logger: silent }),
      (error: unknown) => error instanceof Error && (error as { code?: string }).code === 'NODE_LISTEN_FAILED',
    );
  } finally {
    await first.close();
  }
});

test('config: bus listener defaults to 127.0.0.1:7700; flags beat environment; any HTTP port means any bus port', () => {
  assert.equal(defaultConfig().busHost, '127.0.0.1');
  assert.equal(defaultConfig().busPort, 7700);
  assert.equal(resolveConfig([], {}).busPort, 7700);
  assert.equal(resolveConfig(['--http-port', '0'], {}).busPort, 0);
  assert.equal(resolveConfig(['--http-port', '0', '--bus-port', '7701'], {}).busPort, 7701);
  assert.equal(resolveConfig(['--http-port', '0'], { PURSER_BUS_PORT: '7702' }).busPort, 7702);
  assert.equal(resolveConfig(['--bus-port', '7703'], { PURSER_BUS_PORT: '7702' }).busPort, 7703);
  assert.equal(resolveConfig(['--bus-host', '0.0.0.0'], {}).busHost, '0.0.0.0');
  assert.equal(resolveConfig([], { PURSER_BUS_HOST: '::1' }).busHost, '::1');
});

test('config: bad bus host or port is a ConfigError naming the flag or variable', async () => {
  assert.throws(() => resolveConfig(['--bus-port', 'abc'], {}), (error: unknown) => error instanceof ConfigError && /--bus-port/.test(error.message));
  assert.throws(() => resolveConfig(['--bus-port', '65536'], {}), ConfigError);
  assert.throws(() => resolveConfig([], { PURSER_BUS_PORT: '-1' }), (error: unknown) => error instanceof ConfigError && /PURSER_BUS_PORT/.test(error.message));
  assert.throws(() => resolveConfig(['--bus-host', ''], {}), ConfigError);
  await assert.rejects(startNode({ memory: true, busPort: 1.5, logger: silent }), ConfigError);
  await assert.rejects(startNode({ memory: true, busHost: '', logger: silent }), ConfigError);
});
