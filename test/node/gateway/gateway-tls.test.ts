// TLS between gateways and NATS, against real nats-servers serving TLS with a throwaway CA (_tls.ts): two
// nodes call each other over TLS with the same replies and codes as over plain NATS; a node that cannot verify
// the server (wrong CA, or only the system's CAs), a node that requires TLS from a server without it, and a
// node without a client certificate on a server that verifies clients are each refused with
// NODE_GATEWAY_TLS_FAILED (ready() rejects, /health and the admin view say `refused`) — never left hanging and
// never connected in plain text; with its certificate, a node calls over mutual TLS. Every wait is for a state.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { connect, NodeError, startNode, XatmiError, type BusClient, type PurserNode } from 'purser';
import { natsServerPath, pq, startChildNode, startNatsServer, until, untilServed, type ChildNode, type NatsServer } from './_cluster.js';
import { makeTestPki, natsTlsConfig, opensslPath, type TestPki } from './_tls.js';
import { codeOf } from '../../_xatmi.js';

const skip = natsServerPath === undefined ? 'nats-server is not installed (apt-get install nats-server; .ci/run does)' : opensslPath === undefined ? 'openssl is not installed' : false;

let pki: TestPki;
/** TLS required, clients not verified; TLS and client certificates required; no TLS at all. */
let tlsServer: NatsServer;
let mtlsServer: NatsServer;
let plainServer: NatsServer;
const children: ChildNode[] = [];
const clients: BusClient[] = [];
const inProcess: PurserNode[] = [];

const tlsUrl = (server: NatsServer) => `tls://127.0.0.1:${server.port}`;

before(async () => {
  if (skip) return;
  pki = makeTestPki();
  [tlsServer, mtlsServer, plainServer] = await Promise.all([startNatsServer(0, natsTlsConfig(pki, false)), startNatsServer(0, natsTlsConfig(pki, true)), startNatsServer()]);
});

after(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await Promise.all(inProcess.map((node) => node.close()));
  await Promise.all(children.map((child) => child.kill()));
  await Promise.all([tlsServer, mtlsServer, plainServer].map((server) => server?.stop()));
  pki?.remove();
});

async function child(options: Parameters<typeof startChildNode>[0]): Promise<ChildNode> {
  const started = await startChildNode(options);
  children.push(started);
  return started;
}

async function node(options: Parameters<typeof startNode>[0]): Promise<PurserNode> {
  const started = await startNode({ memory: true, httpPort: 0, gatewayHeartbeatMs: 1000, logger: pino({ level: 'silent' }), ...options });
  inProcess.push(started);
  return started;
}

async function gatewayView(of: { http: string }): Promise<{ state: string; error?: { code?: string; message: string } }> {
  return (await (await fetch(`${of.http}/v1/admin/gateway`)).json()) as { state: string; error?: { code?: string; message: string } };
}

/** Starts a node with `options` and checks that its gateway is refused on TLS: ready() rejects, and it says so. */
async function assertRefused(options: Parameters<typeof startNode>[0], why: RegExp): Promise<void> {
  const refused = await node(options);
  await assert.rejects(refused.gateway!.ready(), (error: unknown) => {
    assert.ok(error instanceof NodeError, `expected a NodeError, got ${String(error)}`);
    assert.equal(error.code, 'NODE_GATEWAY_TLS_FAILED');
    assert.match(error.message, why);
    return true;
  });
  const health = (await (await fetch(`${refused.http.url}/health`)).json()) as { status: string; gateway: { state: string; error?: { code?: string } } };
  // The node itself serves (its own services do not need NATS); its link says why it is not connected.
  assert.equal(health.status, 'ok');
  assert.deepEqual([health.gateway.state, health.gateway.error?.code], ['refused', 'NODE_GATEWAY_TLS_FAILED']);
  const view = await gatewayView({ http: refused.http.url });
  assert.deepEqual([view.state, view.error?.code], ['refused', 'NODE_GATEWAY_TLS_FAILED']);
  assert.equal(refused.gateway!.stats().nodes.length, 0);
  // ready() asked again gives the same answer at once, not a wait.
  await assert.rejects(refused.gateway!.ready(), NodeError);
}

test('two nodes call each other over TLS: the same replies and error codes as over plain NATS', { skip }, async () => {
  // alpha names a tls:// URL; beta a nats:// one with a CA file, which makes TLS required just the same.
  const alpha = await child({ nats: tlsUrl(tlsServer), name: 'alpha', services: ['ECHO', 'DECLINE'], tls: { natsTlsCa: pki.ca } });
  const beta = await child({ nats: `nats://127.0.0.1:${tlsServer.port}`, name: 'beta', services: ['SLOW'], tls: { natsTlsCa: pki.ca } });
  await untilServed(beta, 'DECLINE', ['alpha']);
  await untilServed(alpha, 'SLOW', ['beta']);
  assert.deepEqual((await pq(beta)).find((row) => row.service === 'DECLINE')?.kind, 'remote');
  for (const of of [alpha, beta]) assert.equal((await gatewayView(of)).state, 'up');
  const onBeta = await connect(beta.bus);
  clients.push(onBeta);
  const onAlpha = await connect(alpha.bus);
  clients.push(onAlpha);
  // beta → alpha: a reply with bigints and bytes, a service failure with its data, an unknown service.
  assert.deepEqual((await onBeta.call('ECHO', { amount: 10n, bytes: new Uint8Array([1, 2]) })).data, { node: 'alpha', data: { amount: 10n, bytes: new Uint8Array([1, 2]) } });
  await assert.rejects(onBeta.call('DECLINE', null), (error: unknown) => error instanceof XatmiError && error.code === 'TPESVCFAIL' && error.urcode === 51 && (error.data as { node: string }).node === 'alpha');
  assert.equal(await codeOf(onBeta.call('NOWHERE', null)), 'TPENOENT');
  // alpha → beta, and the deadline travels.
  assert.deepEqual((await onAlpha.call('SLOW', { ms: 1 })).data, { node: 'beta' });
  assert.equal(await codeOf(onAlpha.call('SLOW', { ms: 60_000 }, { timeoutMs: 100 })), 'TPETIME');
});

test('a node that cannot verify the NATS server is refused with NODE_GATEWAY_TLS_FAILED, not left waiting', { skip }, async () => {
  // A CA that did not sign the server's certificate.
  await assertRefused({ nats: tlsUrl(tlsServer), nodeName: 'wrong-ca', natsTlsCa: pki.otherCa }, /certificate/i);
  // tls:// and no CA file: the system's CAs, which do not know the throwaway CA.
  await assertRefused({ nats: tlsUrl(tlsServer), nodeName: 'system-ca' }, /certificate/i);
});

test('TLS required and a server without TLS: refused, never plain text', { skip }, async () => {
  await assertRefused({ nats: `nats://127.0.0.1:${plainServer.port}`, nodeName: 'no-fallback', natsTlsCa: pki.ca }, /tls/i);
  await assertRefused({ nats: tlsUrl(plainServer), nodeName: 'no-fallback-url' }, /tls/i);
});

test('a server that verifies clients refuses a node without a certificate; with one, calls cross over mutual TLS', { skip }, async () => {
  await assertRefused({ nats: tlsUrl(mtlsServer), nodeName: 'no-cert', natsTlsCa: pki.ca }, /certificate|alert/i);
  const serving = await child({ nats: tlsUrl(mtlsServer), name: 'mtls-serving', services: ['ECHO'], tls: { natsTlsCa: pki.ca, natsTlsCert: pki.clientCert, natsTlsKey: pki.clientKey } });
  const calling = await node({ nats: tlsUrl(mtlsServer), nodeName: 'mtls-calling', natsTlsCa: pki.ca, natsTlsCert: pki.clientCert, natsTlsKey: pki.clientKey });
  await calling.gateway!.ready();
  assert.equal(calling.gateway!.stats().state, 'up');
  await until(() => calling.bus.pq().some((row) => row.service === 'ECHO' && row.kind === 'remote'));
  assert.deepEqual((await calling.bus.call('ECHO', 'over mTLS')).data, { node: serving.name, data: 'over mTLS' });
  const health = (await (await fetch(`${calling.http.url}/health`)).json()) as { gateway: { state: string; error?: unknown } };
  assert.deepEqual(health.gateway, { state: 'up' });
});

test('a refused node connects once the server is fixed, without a restart', { skip }, async () => {
  // A server without TLS on a port of its own: refused (TLS is required) …
  const server = await startNatsServer();
  const port = server.port;
  const waiting = await node({ nats: tlsUrl(server), nodeName: 'fixed-later', natsTlsCa: pki.ca });
  await assert.rejects(waiting.gateway!.ready(), NodeError);
  assert.equal(waiting.gateway!.link().state, 'refused');
  // … until that port serves TLS with a certificate of the CA: the gateway's own retries find it.
  await server.stop();
  const fixed = await startNatsServer(port, natsTlsConfig(pki, false));
  try {
    await until(() => waiting.gateway!.link().state === 'up');
    assert.deepEqual(waiting.gateway!.link(), { state: 'up' });
    await waiting.gateway!.ready();
  } finally {
    await fixed.stop();
  }
});
