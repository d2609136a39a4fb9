// Gateways between nodes over a real nats-server, with nodes in child processes: a service on one node is
// callable from another with the same replies and error codes (TPESVCFAIL with its data, TPENOENT), pq shows
// it as remote with its node; forward across nodes; deadlines travel (TPETIME at the caller); several nodes
// exporting a service share its calls; kill -9 of the serving node mid-call answers TPESVCERR and its
// services leave; a NATS restart loses nothing permanently (calls resume); garbage on the purser subjects
// is dropped and counted; bad options are refused. Every wait is for a state.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connect as natsConnect } from '@nats-io/transport-node';
import { ConfigError, connect, startNode, TPNOBLOCK, XatmiError, type BusClient } from 'purser';
import { natsServerPath, pq, startChildNode, startNatsServer, until, untilServed, type ChildNode, type NatsServer } from './_cluster.js';
import { codeOf } from '../../_xatmi.js';

const skip = natsServerPath === undefined ? 'nats-server is not installed (apt-get install nats-server; .ci/run does)' : false;

let nats: NatsServer;
const nodes: ChildNode[] = [];
const clients: BusClient[] = [];

async function node(name: string, services: string[], exports = '*'): Promise<ChildNode> {
  const started = await startChildNode({ nats: nats.url, name, services, exports });
  nodes.push(started);
  return started;
}

async function client(of: ChildNode): Promise<BusClient> {
  const opened = await connect(of.bus);
  clients.push(opened);
  return opened;
}

before(async () => {
  if (skip) return;
  nats = await startNatsServer();
});

after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(nodes.map((n) => n.kill()));
  await nats?.stop();
});

test('a service on one node is called from another: same replies, same error codes; forward crosses nodes; deadlines travel', { skip }, async () => {
  const a = await node('alpha', ['ECHO', 'DECLINE', 'SLOW', 'TINY']);
  const b = await node('beta', ['FWD'], '');
  await untilServed(b, 'ECHO', ['alpha']);
  const row = (await pq(b)).find((entry) => entry.service === 'ECHO')!;
  assert.deepEqual([row.kind, row.nodes], ['remote', ['alpha']]);
  const onB = await client(b);
  assert.deepEqual((await onB.call('ECHO', { amount: 10n, bytes: new Uint8Array([1, 2]) })).data, { node: 'alpha', data: { amount: 10n, bytes: new Uint8Array([1, 2]) } });
  await assert.rejects(onB.call('DECLINE', null), (error: unknown) => error instanceof XatmiError && error.code === 'TPESVCFAIL' && error.urcode === 51 && (error.data as { node: string }).node === 'alpha');
  assert.equal(await codeOf(onB.call('NOWHERE', null)), 'TPENOENT');
  // FWD on beta forwards to ECHO on alpha; the reply goes straight to the caller.
  assert.deepEqual((await onB.call('FWD', 'x')).data, { node: 'alpha', data: { forwardedBy: 'beta', data: 'x' } });
  // The deadline goes with the call: the caller gets TPETIME on time, whatever the serving node does.
  assert.equal(await codeOf(onB.call('SLOW', { ms: 60_000 }, { timeoutMs: 100 })), 'TPETIME');
  // TPNOBLOCK travels: with alpha's TINY busy and its queue full, the remote bus answers TPEBLOCK, as a local one would.
  await untilServed(b, 'TINY', ['alpha']);
  void onB.call('TINY', 'running', { timeoutMs: 600_000 }).catch(() => undefined);
  void onB.call('TINY', 'queued', { timeoutMs: 600_000 }).catch(() => undefined);
  await until(async () => (await pq(a)).find((entry) => entry.service === 'TINY')?.queued === 1);
  assert.equal(await codeOf(onB.call('TINY', 'third', { flags: TPNOBLOCK })), 'TPEBLOCK');
  // A node that exports nothing offers nothing: once alpha has heard beta, it still has no FWD.
  await until(async () => ((await (await fetch(`${a.http}/v1/admin/gateway`)).json()) as { nodes: Array<{ node: string }> }).nodes.some((entry) => entry.node === 'beta'));
  assert.equal((await pq(a)).some((entry) => entry.service === 'FWD'), false);
});

test('several nodes exporting a service share its calls', { skip }, async () => {
  const gamma = await node('gamma', ['ECHO']);
  const caller = nodes.find((n) => n.name === 'beta')!;
  await untilServed(caller, 'ECHO', ['alpha', 'gamma']);
  const onB = await client(caller);
  const served = new Map<string, number>();
  const replies = await Promise.all(Array.from({ length: 200 }, (_, index) => onB.call('ECHO', index)));
  for (const reply of replies) {
    const from = (reply.data as { node: string }).node;
    served.set(from, (served.get(from) ?? 0) + 1);
  }
  // NATS queue groups pick a member per message: both serve (all 200 on one would happen with odds 2^-199).
  assert.ok((served.get('alpha') ?? 0) > 0 && (served.get(gamma.name) ?? 0) > 0, `served: ${JSON.stringify([...served])}`);
});

test('kill -9 of the serving node mid-call: the caller gets TPESVCERR and the node\'s services leave', { skip }, async () => {
  const delta = await node('delta', ['HOLD']);
  const caller = nodes.find((n) => n.name === 'beta')!;
  await untilServed(caller, 'HOLD', ['delta']);
  const onB = await client(caller);
  const held = codeOf(onB.call('HOLD', null, { timeoutMs: 600_000 }));
  // Wait for the state: delta is running the call (its own admin view says so).
  await until(async () => ((await (await fetch(`${delta.http}/v1/admin/requests`)).json()) as unknown[]).length === 1);
  await delta.kill();
  assert.equal(await held, 'TPESVCERR');
  await untilServed(caller, 'HOLD', []);
  assert.equal(await codeOf(onB.call('HOLD', null)), 'TPENOENT');
});

test('garbage on the purser subjects is dropped and counted; the nodes keep serving', { skip }, async () => {
  const raw = await natsConnect({ servers: nats.url });
  for (const subject of ['purser.call.ECHO', 'purser.hb.mallory', 'purser.reply.beta', 'purser.bye.beta']) {
    for (const payload of [new Uint8Array(0), new Uint8Array([0xff, 0x0d, 0x6f]), new TextEncoder().encode('{"v":1}'), new Uint8Array(2 * 1024 * 1024)]) {
      try {
        raw.publish(subject, payload, { reply: 'purser.reply.mallory' });
      } catch {
        // Over the server's max payload: refused by the client, which is fine too.
      }
    }
  }
  await raw.flush();
  await raw.close();
  const alpha = nodes.find((n) => n.name === 'alpha')!;
  await until(async () => ((await (await fetch(`${alpha.http}/v1/admin/gateway`)).json()) as { badMessages: number }).badMessages > 0);
  const onB = await client(nodes.find((n) => n.name === 'beta')!);
  assert.equal(((await onB.call('ECHO', 'still here')).data as { data: string }).data, 'still here');
});

test('a NATS restart: calls fail fast while it is down and resume once it is back', { skip }, async () => {
  const beta = nodes.find((n) => n.name === 'beta')!;
  const onB = await client(beta);
  const port = nats.port;
  await nats.stop();
  // While NATS is down the remote service is withdrawn or its calls fail: nothing waits out its deadline.
  await until(async () => ['TPENOENT', 'TPESVCERR'].includes(await codeOf(onB.call('ECHO', 'down', { timeoutMs: 600_000 }))));
  nats = await startNatsServer(port);
  await until(async () => (await codeOf(onB.call('ECHO', 'back', { timeoutMs: 2_000 }))) === 'replied');
});

test('a node closed while its NATS server is gone stops: its process exits by itself', { skip }, async () => {
  const server = await startNatsServer();
  const script = fileURLToPath(new URL('./_close-while-down.ts', import.meta.url));
  const child = spawn(process.execPath, ['--conditions=purser-source', '--import', 'tsx', script, server.url], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  const lines: string[] = [];
  const up = new Promise<void>((resolve) => createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    if (line === 'up') resolve();
  }));
  await Promise.race([up, exited]);
  await server.stop();
  // Before the fix the node closed but its NATS client kept reconnecting, and the process never exited.
  const [code] = (await exited) as [number | null];
  assert.deepEqual([code, lines], [0, ['up', 'closed']]);
});

test('bad gateway options are refused before anything starts', async () => {
  for (const options of [{ nats: 'http://127.0.0.1:4222' }, { nats: 'nats://127.0.0.1:4222', nodeName: 'a.b' }, { nats: 'nats://127.0.0.1:4222', gatewayHeartbeatMs: 1 }]) {
    await assert.rejects(startNode({ memory: true, httpPort: 0, ...options }), ConfigError, JSON.stringify(options));
  }
});
