/**
 * The attacks of issue 14, reproduced against a node with its default limits, to quote before and after
 * (run this same file in a checkout of the code before the hardening for the "before" column).
 *
 * Each scenario starts a fresh node (memory store, ledger, bus and TigerBeetle listeners, HTTP) in a child
 * process, samples the child's RSS from /proc every 50 ms, holds the attack, and measures what a real
 * client gets meanwhile. Attackers connect from 127.0.0.2 and the real client from 127.0.0.1 unless the
 * scenario says "same address" (Linux routes all of 127/8 to loopback), since per-address caps are part
 * of the defence and a real attacker is rarely on the victim's address.
 *
 *   tb-idle        256 TCP connections to the TigerBeetle port that send nothing; the official client
 *   bus-idle       4,096 bus connections idle after HELLO; connect() and a lookup
 *   bus-unfinished 300 bus connections each holding ~2 MiB of an unfinished frame; RSS; a lookup
 *   bus-flood      one connect() client sending 300 createTransfers of 8,189; RSS; another client's lookups
 *   http-idle      10,000 idle HTTP connections; how many the node holds; /health
 *
 * Figures are single runs (they are reproduction figures, not rates); `BENCH_SCENARIOS=a,b` picks some.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect as connectSocket, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import tb from 'tigerbeetle-node';
import { connect, startNode, type Account, type Transfer } from '../src/index.js';
import { FrameWriter } from '../src/wire/bus-writer.js';

const silent = pino({ level: 'silent' });
const ATTACKER = '127.0.0.2';
const CLIENT_WAIT_MS = 20_000;

function account(id: bigint): Account {
  return { id, debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, reserved: 0, ledger: 1, code: 1, flags: 0, timestamp: 0n };
}

// ------------------------------------------------------------------------------------------ server role

async function serve(): Promise<void> {
  const node = await startNode({ memory: true, httpPort: 0, busPort: 0, tbAddress: '127.0.0.1:0', logger: silent });
  await node.ledger.createAccounts([account(1n), account(2n)]);
  process.stdout.write(`${JSON.stringify({ http: node.http.port, bus: node.busListener.port, tb: node.tigerbeetle!.port })}\n`);
  process.stdin.resume();
  await new Promise<void>((resolve) => process.stdin.once('end', () => resolve()));
  process.exit(0); // the attack's sockets may still be open: no graceful drain
}

interface Server { child: ChildProcess; http: number; bus: number; tb: number; rssPeakMb: number; rssStartMb: number; stop(): void }

function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match === null ? 0 : Number(match[1]) / 1024;
}

async function startServer(): Promise<Server> {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, PURSER_BENCH_ATTACKS_ROLE: 'server' } });
  const ports = await new Promise<{ http: number; bus: number; tb: number }>((resolve, reject) => {
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const line = buffered.split('\n').find((l) => l.startsWith('{'));
      if (line !== undefined) resolve(JSON.parse(line) as { http: number; bus: number; tb: number });
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${String(code)}`)));
  });
  const server: Server = { child, ...ports, rssPeakMb: 0, rssStartMb: rssMb(child.pid!), stop: () => undefined };
  const sampler = setInterval(() => {
    try {
      server.rssPeakMb = Math.max(server.rssPeakMb, rssMb(child.pid!));
    } catch {
      // the child is gone
    }
  }, 50);
  server.stop = () => {
    clearInterval(sampler);
    child.kill('SIGKILL');
  };
  return server;
}

// ------------------------------------------------------------------------------------------ attackers

function open(port: number, localAddress: string): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = connectSocket({ port, host: '127.0.0.1', localAddress }, () => resolve(socket));
    socket.on('error', () => resolve(undefined));
  });
}

async function openMany(count: number, port: number, localAddress: string, first?: Buffer): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (let i = 0; i < count; i += 64) {
    const batch = await Promise.all(Array.from({ length: Math.min(64, count - i) }, () => open(port, localAddress)));
    for (const socket of batch) {
      if (socket === undefined) continue;
      socket.on('error', () => undefined);
      socket.resume(); // read (and drop) what the node says, so its hang-up is seen
      if (first !== undefined) socket.write(first);
      sockets.push(socket);
    }
  }
  return sockets;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const stillOpen = (sockets: Socket[]) => sockets.filter((socket) => !socket.destroyed && socket.readyState === 'open').length;


function hello(): Buffer {
  const writer = new FrameWriter();
  writer.hello(0);
  return writer.take()!;
}

/** A promise's outcome within `ms`: its time, or why not. */
async function timed(what: () => Promise<unknown>, ms = CLIENT_WAIT_MS): Promise<string> {
  const startedAt = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([what(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)))]);
    return `ok in ${(performance.now() - startedAt).toFixed(0)} ms`;
  } catch (error) {
    return `FAILED: ${(error as Error).message.slice(0, 120)}`;
  } finally {
    clearTimeout(timer);
  }
}

async function tbClient(port: number): Promise<string> {
  const client = tb.createClient({ cluster_id: 0n, replica_addresses: [String(port)] });
  const outcome = await timed(async () => {
    await client.createAccounts([account(3n)]);
    await client.lookupAccounts([1n]);
  });
  if (outcome.startsWith('ok')) client.destroy();
  return outcome;
}

// ------------------------------------------------------------------------------------------ scenarios

type Scenario = (server: Server) => Promise<Record<string, string | number>>;

const scenarios: Record<string, Scenario> = {
  async 'tb-idle'(server) {
    const attack = await openMany(256, server.tb, ATTACKER);
    await sleep(500);
    const client = await tbClient(server.tb);
    const held = stillOpen(attack);
    for (const socket of attack) socket.destroy();
    const sameAddress = await openMany(256, server.tb, '127.0.0.1');
    await sleep(500);
    const clientSame = await tbClient(server.tb);
    for (const socket of sameAddress) socket.destroy();
    return { 'idle sockets held (of 256)': held, 'official client': client, 'same address: official client': clientSame };
  },
  async 'bus-idle'(server) {
    const attack = await openMany(4096, server.bus, ATTACKER, hello());
    await sleep(1000);
    const held = stillOpen(attack);
    const outcome = await timed(async () => {
      const client = await connect(server.bus);
      await client.lookupAccounts([1n]);
      await client.close();
    });
    for (const socket of attack) socket.destroy();
    return { 'idle-after-HELLO connections held (of 4,096)': held, 'connect() and a lookup': outcome };
  },
  async 'bus-unfinished'(server) {
    const frameBytes = 2 * 1024 * 1024;
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(frameBytes - 4);
    const partial = Buffer.concat([hello(), prefix, Buffer.alloc(frameBytes - 64 * 1024)]);
    const attack = await openMany(300, server.bus, ATTACKER, partial);
    await sleep(3000);
    const outcome = await timed(async () => {
      const client = await connect(server.bus);
      await client.lookupAccounts([1n]);
      await client.close();
    });
    const held = stillOpen(attack);
    const unsentMb = attack.reduce((sum, socket) => sum + socket.writableLength, 0) / 1024 / 1024;
    for (const socket of attack) socket.destroy();
    return { 'connections held (of 300)': held, 'bytes not taken by the node (MiB, in the kernel or the attacker)': unsentMb.toFixed(0), 'node RSS start → peak (MB)': `${server.rssStartMb.toFixed(0)} → ${server.rssPeakMb.toFixed(0)}`, 'connect() and a lookup meanwhile': outcome };
  },
  async 'bus-flood'(server) {
    const flooder = await connect(server.bus, { defaultTimeoutMs: 600_000 });
    const victim = await connect(server.bus);
    const batch: Transfer[] = Array.from({ length: 8189 }, (_, i) => ({ id: BigInt(i + 1), debit_account_id: 1n, credit_account_id: 2n, amount: 1n, pending_id: 0n, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, timeout: 0, ledger: 1, code: 1, flags: 0, timestamp: 0n }));
    const startedAt = performance.now();
    const flood = Promise.all(Array.from({ length: 300 }, () => flooder.createTransfers(batch)));
    await sleep(1000);
    const latenciesMs: number[] = [];
    const lookups = timed(async () => {
      for (let i = 0; i < 20; i += 1) {
        const at = performance.now();
        await victim.lookupAccounts([1n]);
        latenciesMs.push(performance.now() - at);
      }
    }, 120_000);
    const lookupOutcome = await lookups;
    await flood;
    const floodSeconds = (performance.now() - startedAt) / 1000;
    await flooder.close();
    await victim.close();
    latenciesMs.sort((a, b) => a - b);
    return {
      'flood of 300 × 8,189 done in (s)': floodSeconds.toFixed(1),
      '20 lookups meanwhile': lookupOutcome,
      'lookup latency median / max (ms)': latenciesMs.length === 0 ? '—' : `${latenciesMs[latenciesMs.length >> 1].toFixed(0)} / ${latenciesMs[latenciesMs.length - 1].toFixed(0)}`,
      'node RSS start → peak (MB)': `${server.rssStartMb.toFixed(0)} → ${server.rssPeakMb.toFixed(0)}`,
    };
  },
  async 'http-idle'(server) {
    const attack = await openMany(10_000, server.http, '127.0.0.1');
    await sleep(1000);
    const held = stillOpen(attack);
    const health = await timed(async () => {
      const response = await fetch(`http://127.0.0.1:${server.http}/health`);
      if (response.status !== 200) throw new Error(`status ${response.status}`);
    });
    for (const socket of attack) socket.destroy();
    return { 'idle connections held (of 10,000)': held, 'GET /health meanwhile': health };
  },
};

async function main(): Promise<void> {
  const wanted = process.env.BENCH_SCENARIOS?.split(',') ?? Object.keys(scenarios);
  console.log(`attacks (${process.cwd()})`);
  for (const name of wanted) {
    const server = await startServer();
    try {
      const figures = await scenarios[name](server);
      console.log(`\n${name}`);
      for (const [figure, value] of Object.entries(figures)) console.log(`  ${figure}: ${value}`);
    } finally {
      server.stop();
    }
  }
  process.exit(0);
}

if (process.env.PURSER_BENCH_ATTACKS_ROLE === 'server') await serve();
else await main();
