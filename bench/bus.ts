/**
 * The bus against Moleculer 0.14.36, its peer, on the same workload in the same run: an echo service that
 * returns a small object.
 *
 *   in-process   bus.call vs broker.call to a local service, 1 and 64 calls in flight
 *   threads      bus.call to a service on 2 worker threads, 64 in flight (Moleculer has no equivalent)
 *   TCP          from this process to a second process: Purser's connect() client against the node's bus
 *                listener vs Moleculer's TCP transporter between two brokers, 1 and 64 in flight
 *
 * Throughput is calls per second over a fixed window after a warm-up; latency is each call's own round
 * trip, p50 and p99 per run. Every figure is the median of several runs, Purser and Moleculer interleaved
 * so machine noise hits both alike. The second process hosts both servers (the Purser node and the
 * Moleculer broker) and runs this same file with PURSER_BENCH_BUS_ROLE=server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ServiceBroker } from 'moleculer';
import { pino } from 'pino';
import { connect, createBus, type Bus } from '../src/index.js';
import { startBusListener } from '../src/node/listeners/bus.js';
import { median, report, runs, type Measurement, measureCalls, type CallRun } from './_harness.js';

const WORKER_MODULE = new URL('./_bus-echo-worker.ts', import.meta.url);
const silent = pino({ level: 'silent' });

type Run = CallRun;


function localBroker(): ServiceBroker {
  const broker = new ServiceBroker({ nodeID: `bench-local-${process.pid}`, logger: false, metrics: false, tracing: false });
  broker.createService({ name: 'echo', actions: { echo: (ctx: { params: unknown }) => ctx.params } });
  return broker;
}

function tcpBroker(nodeID: string, port: number, peer: string): ServiceBroker {
  return new ServiceBroker({
    nodeID,
    logger: false,
    metrics: false,
    tracing: false,
    transporter: { type: 'TCP', options: { udpDiscovery: false, port, urls: [peer] } },
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// ------------------------------------------------------------------------------------------ server role

async function serve(): Promise<void> {
  const bus = createBus();
  bus.advertise('ECHO', (request) => request.data, { servers: 64 });
  const listener = await startBusListener({ host: '127.0.0.1', port: 0, bus, logger: silent });
  const moleculerPort = Number(process.env.PURSER_BENCH_MOLECULER_PORT);
  const broker = tcpBroker('bench-server', moleculerPort, `127.0.0.1:${process.env.PURSER_BENCH_MOLECULER_PEER_PORT}/bench-client`);
  broker.createService({ name: 'echo', actions: { echo: (ctx: { params: unknown }) => ctx.params } });
  await broker.start();
  process.stdout.write(`${JSON.stringify({ busPort: listener.address.port })}\n`);
  // Runs until the parent closes stdin.
  process.stdin.resume();
  await new Promise<void>((resolve) => process.stdin.once('end', () => resolve()));
  await broker.stop();
  await listener.close({ drainTimeoutMs: 100 });
  await bus.close({ drainTimeoutMs: 100 });
}

async function startServerProcess(): Promise<{ child: ChildProcess; busPort: number; moleculerServerPort: number; moleculerClientPort: number }> {
  const moleculerServerPort = await freePort();
  const moleculerClientPort = await freePort();
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, PURSER_BENCH_BUS_ROLE: 'server', PURSER_BENCH_MOLECULER_PORT: String(moleculerServerPort), PURSER_BENCH_MOLECULER_PEER_PORT: String(moleculerClientPort) },
  });
  const busPort = await new Promise<number>((resolve, reject) => {
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const match = /"busPort":(\d+)/.exec(buffered);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`bench server exited with ${String(code)} before listening`)));
  });
  return { child, busPort, moleculerServerPort, moleculerClientPort };
}

// ------------------------------------------------------------------------------------------ client role

interface Series { purser: Run[]; peer: Run[] }
const newSeries = (): Series => ({ purser: [], peer: [] });

async function main(): Promise<void> {
  const runCount = runs(5);
  const bus: Bus = createBus();
  bus.advertise('ECHO', (request) => request.data, { servers: 64 });
  bus.advertise('ECHO_THREADS', WORKER_MODULE, { threads: 2 });
  const broker = localBroker();
  await broker.start();

  const server = await startServerProcess();
  const client = await connect(server.busPort);
  const remoteBroker = tcpBroker('bench-client', server.moleculerClientPort, `127.0.0.1:${server.moleculerServerPort}/bench-server`);
  await remoteBroker.start();
  await remoteBroker.waitForServices(['echo'], 15000);

  const payload = (n: number) => ({ n, account: 'ACC-1', amount: 100 });
  const inProcess = { 1: newSeries(), 64: newSeries() };
  const tcp = { 1: newSeries(), 64: newSeries() };
  const threads: Run[] = [];
  for (let run = 0; run < runCount; run += 1) {
    for (const inFlight of [1, 64] as const) {
      inProcess[inFlight].purser.push(await measureCalls((n) => bus.call('ECHO', payload(n)), inFlight));
      inProcess[inFlight].peer.push(await measureCalls((n) => broker.call('echo.echo', payload(n)), inFlight));
      tcp[inFlight].purser.push(await measureCalls((n) => client.call('ECHO', payload(n)), inFlight));
      tcp[inFlight].peer.push(await measureCalls((n) => remoteBroker.call('echo.echo', payload(n)), inFlight));
    }
    threads.push(await measureCalls((n) => bus.call('ECHO_THREADS', payload(n)), 64));
  }

  await client.close();
  server.child.stdin!.end();
  await remoteBroker.stop();
  await broker.stop();
  await bus.close({ drainTimeoutMs: 100 });
  await new Promise<void>((resolve) => (server.child.exitCode !== null ? resolve() : server.child.once('exit', () => resolve())));

  const moleculer = 'Moleculer 0.14.36';
  const rows: Measurement[] = [];
  const add = (name: string, series: Series, targetRatio?: number) => {
    rows.push({ name: `${name}: throughput`, unit: 'calls/s', higherIsBetter: true, purser: series.purser.map((r) => r.callsPerSecond), peer: series.peer.map((r) => r.callsPerSecond), peerName: moleculer, targetRatio });
    rows.push({ name: `${name}: p50 latency`, unit: 'µs', higherIsBetter: false, purser: series.purser.map((r) => r.p50Us), peer: series.peer.map((r) => r.p50Us), peerName: moleculer });
    rows.push({ name: `${name}: p99 latency`, unit: 'µs', higherIsBetter: false, purser: series.purser.map((r) => r.p99Us), peer: series.peer.map((r) => r.p99Us), peerName: moleculer });
  };
  add('in-process, 1 in flight', inProcess[1], 1.5);
  add('in-process, 64 in flight', inProcess[64], 1.5);
  const threadRate = median(threads.map((r) => r.callsPerSecond));
  rows.push({
    name: 'worker threads (2), 64 in flight: throughput', unit: 'calls/s', higherIsBetter: true, purser: threads.map((r) => r.callsPerSecond),
    note: `no Moleculer equivalent; target ≥ 150,000 calls/s ${threadRate >= 150_000 ? 'met' : 'MISSED'}; p50 ${median(threads.map((r) => r.p50Us)).toFixed(0)} µs, p99 ${median(threads.map((r) => r.p99Us)).toFixed(0)} µs`,
  });
  add('TCP, second process, 1 in flight', tcp[1]);
  add('TCP, second process, 64 in flight', tcp[64], 3);
  report('bus', rows);
}

if (process.env.PURSER_BENCH_BUS_ROLE === 'server') await serve();
else await main();
