/**
 * Gateway benchmark (issue: gateways over NATS): two nodes on one nats-server, a remote call from one to
 * the other — Purser's gateway (a bus call on the caller's node, imported as a proxy, served by the other
 * node's bus) against Moleculer 0.14 with its NATS transporter (a remote action call between two brokers),
 * on the same NATS server. The serving side of both runs in a second process (this file with
 * PURSER_BENCH_GATEWAY_ROLE=server); the callers run here. 1 and 64 calls in flight; calls/s, p50 and p99
 * per run; medians of several runs, Purser and Moleculer interleaved. Target: at least 2× Moleculer's
 * calls/s at 64 in flight, with a lower p99.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ServiceBroker } from 'moleculer';
import { pino } from 'pino';
import { startNode } from '../src/index.js';
import { report, runs, type Measurement, measureCalls, type CallRun } from './_harness.js';

const silent = pino({ level: 'silent' });
const moleculerName = 'Moleculer 0.14.36 (NATS transporter)';

type Run = CallRun;


function firstLine(child: ChildProcess, stream: NodeJS.ReadableStream, pattern: RegExp): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: stream });
    child.once('exit', (code) => reject(new Error(`exited with ${String(code)} before printing ${pattern}`)));
    lines.on('line', (line) => {
      const match = pattern.exec(line);
      if (match) resolve(match);
    });
  });
}

function broker(nodeID: string, url: string): ServiceBroker {
  return new ServiceBroker({ nodeID, logger: false, metrics: false, tracing: false, transporter: { type: 'NATS', options: { url } } });
}

// ------------------------------------------------------------------------------------------ server role

async function serve(url: string): Promise<void> {
  const node = await startNode({ memory: true, httpPort: 0, nats: url, nodeName: 'bench-server', logger: silent });
  node.bus.advertise('ECHO', (request) => request.data, { servers: 64 });
  await node.gateway!.ready();
  const server = broker('bench-server', url);
  server.createService({ name: 'echo', actions: { echo: (ctx: { params: unknown }) => ctx.params } });
  await server.start();
  process.stdout.write('ready\n');
  process.stdin.resume();
  await new Promise<void>((resolve) => process.stdin.once('end', () => resolve()));
  await server.stop();
  await node.close();
}

// ------------------------------------------------------------------------------------------ client role

async function main(): Promise<void> {
  const natsChild = spawn('nats-server', ['-a', '127.0.0.1', '-p', '-1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const url = `nats://127.0.0.1:${(await firstLine(natsChild, natsChild.stderr, /Listening for client connections on 127\.0\.0\.1:(\d+)/))[1]}`;
  const serverChild = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, PURSER_BENCH_GATEWAY_ROLE: 'server', PURSER_BENCH_NATS: url } });
  await firstLine(serverChild, serverChild.stdout, /^ready$/);

  const node = await startNode({ memory: true, httpPort: 0, nats: url, nodeName: 'bench-client', gatewayExports: '', logger: silent });
  await node.gateway!.ready();
  while (!node.bus.pq().some((row) => row.service === 'ECHO' && row.kind === 'remote')) await new Promise((resolve) => setTimeout(resolve, 50));
  const client = broker('bench-client', url);
  await client.start();
  await client.waitForServices(['echo'], 15_000);

  const payload = (n: number) => ({ n, account: 'ACC-1', amount: 100 });
  const series = { 1: { purser: [] as Run[], peer: [] as Run[] }, 64: { purser: [] as Run[], peer: [] as Run[] } };
  for (let run = 0; run < runs(5); run += 1) {
    for (const inFlight of [1, 64] as const) {
      series[inFlight].purser.push(await measureCalls((n) => node.bus.call('ECHO', payload(n)), inFlight));
      series[inFlight].peer.push(await measureCalls((n) => client.call('echo.echo', payload(n)), inFlight));
    }
  }
  await client.stop();
  await node.close();
  serverChild.stdin.end();
  await new Promise<void>((resolve) => (serverChild.exitCode !== null ? resolve() : serverChild.once('exit', () => resolve())));
  natsChild.kill('SIGKILL');

  const rows: Measurement[] = [];
  for (const inFlight of [1, 64] as const) {
    const { purser, peer } = series[inFlight];
    const name = `two nodes over NATS, ${inFlight} in flight`;
    rows.push({ name: `${name}: throughput`, unit: 'calls/s', higherIsBetter: true, purser: purser.map((r) => r.callsPerSecond), peer: peer.map((r) => r.callsPerSecond), peerName: moleculerName, targetRatio: inFlight === 64 ? 2 : undefined });
    rows.push({ name: `${name}: p50 latency`, unit: 'µs', higherIsBetter: false, purser: purser.map((r) => r.p50Us), peer: peer.map((r) => r.p50Us), peerName: moleculerName });
    rows.push({ name: `${name}: p99 latency`, unit: 'µs', higherIsBetter: false, purser: purser.map((r) => r.p99Us), peer: peer.map((r) => r.p99Us), peerName: moleculerName });
  }
  report('gateway', rows);
}

if (process.env.PURSER_BENCH_GATEWAY_ROLE === 'server') await serve(process.env.PURSER_BENCH_NATS!);
else await main();
