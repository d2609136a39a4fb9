/**
 * What the listener hardening costs on the bus's hot path: `connect()` calls to an echo service on a node in
 * a second process, 1 and 64 in flight — the TCP half of `bench/bus.ts` without its Moleculer peer, so it
 * runs in any checkout (run it in one from before the hardening for the "before" figures). Every read chunk
 * now goes through the memory budget, every frame through the connection's deadlines and accounting.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { connect, createBus } from '../src/index.js';
import { startBusListener } from '../src/node/listeners/bus.js';
import { median, report, runs, measureCalls } from './_harness.js';


async function serve(): Promise<void> {
  const bus = createBus();
  bus.advertise('ECHO', (request) => request.data, { servers: 64 });
  const listener = await startBusListener({ host: '127.0.0.1', port: 0, bus, logger: pino({ level: 'silent' }) });
  process.stdout.write(`${JSON.stringify({ busPort: listener.address.port })}\n`);
  process.stdin.resume();
  await new Promise<void>((resolve) => process.stdin.once('end', () => resolve()));
  await listener.close({ drainTimeoutMs: 100 });
  await bus.close({ drainTimeoutMs: 100 });
}

async function startServer(): Promise<{ child: ChildProcess; busPort: number }> {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, PURSER_BENCH_BUS_TCP_ROLE: 'server' } });
  const busPort = await new Promise<number>((resolve, reject) => {
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const match = /"busPort":(\d+)/.exec(buffered);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${String(code)}`)));
  });
  return { child, busPort };
}


async function main(): Promise<void> {
  const server = await startServer();
  const client = await connect(server.busPort);
  const payload = (n: number) => ({ n, account: 'ACC-1', amount: 100 });
  const results: Record<1 | 64, Array<{ callsPerSecond: number; p99Us: number }>> = { 1: [], 64: [] };
  for (let run = 0; run < runs(5); run += 1) {
    for (const inFlight of [1, 64] as const) results[inFlight].push(await measureCalls((n) => client.call('ECHO', payload(n)), inFlight));
  }
  await client.close();
  server.child.stdin!.end();
  report('bus-tcp', [1, 64].flatMap((inFlight) => [
    { name: `connect() → echo, ${inFlight} in flight: throughput`, unit: 'calls/s', higherIsBetter: true, purser: results[inFlight as 1 | 64].map((r) => r.callsPerSecond) },
    { name: `connect() → echo, ${inFlight} in flight: p99 latency`, unit: 'µs', higherIsBetter: false, purser: results[inFlight as 1 | 64].map((r) => r.p99Us), note: inFlight === 64 ? `median of ${results[64].length} runs: ${median(results[64].map((r) => r.callsPerSecond)).toFixed(0)} calls/s` : undefined },
  ]));
}

if (process.env.PURSER_BENCH_BUS_TCP_ROLE === 'server') await serve();
else await main();
