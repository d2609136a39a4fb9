// Test scaffolding for gateways: a nats-server on a free loopback port (the Debian package's binary) and
// nodes in child processes (_node-child.ts). Everything waits for a printed line, never for a time.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./_node-child.ts', import.meta.url));

export const natsServerPath = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'].find((path) => spawnSync(path, ['--version']).status === 0);

/** Resolves with the first line of `stream` that matches, or rejects when the process exits first. */
function lineMatching(child: ChildProcess, stream: NodeJS.ReadableStream, pattern: RegExp): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: stream });
    const seen: string[] = [];
    const onExit = (code: number | null) => reject(new Error(`process exited (${code}) before printing ${pattern}; it printed:\n${seen.join('\n')}`));
    child.once('exit', onExit);
    lines.on('line', (line) => {
      seen.push(line);
      const match = pattern.exec(line);
      if (!match) return;
      child.off('exit', onExit);
      lines.removeAllListeners('line');
      resolve(match);
    });
  });
}

export interface NatsServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * Starts nats-server on loopback (`port` 0: a free one) and resolves once it accepts clients; `config` is a
 * configuration file for it (the TLS tests' one).
 */
export async function startNatsServer(port = 0, config?: string): Promise<NatsServer> {
  if (!natsServerPath) throw new Error('nats-server is not installed (apt-get install nats-server)');
  const args = [...(config === undefined ? [] : ['-c', config]), '-a', '127.0.0.1', '-p', port === 0 ? '-1' : String(port)];
  const child = spawn(natsServerPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const match = await lineMatching(child, child.stderr, /Listening for client connections on 127\.0\.0\.1:(\d+)/);
  const bound = Number(match[1]);
  return {
    url: `nats://127.0.0.1:${bound}`,
    port: bound,
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    }),
  };
}

export interface ChildNode {
  name: string;
  bus: string;
  http: string;
  process: ChildProcess;
  kill(): Promise<void>;
}

export async function startChildNode(options: { nats: string; name: string; exports?: string; services: string[]; tls?: { natsTlsCa?: string; natsTlsCert?: string; natsTlsKey?: string } }): Promise<ChildNode> {
  const child = spawn(process.execPath, ['--conditions=purser-source', '--import', 'tsx', CHILD, JSON.stringify({ exports: '*', ...options })], { stdio: ['ignore', 'pipe', 'inherit'] });
  const match = await lineMatching(child, child.stdout, /^(\{.*\})$/);
  const { bus, http } = JSON.parse(match[1]) as { bus: string; http: string };
  return {
    name: options.name,
    bus,
    http,
    process: child,
    kill: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    }),
  };
}

/** Polls `check` (each poll after the previous answered, with a macrotask between) until it returns true. */
export async function until(check: () => Promise<boolean> | boolean): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 20));
}

/** A node's `purser admin pq` view, over its HTTP listener. */
export async function pq(of: ChildNode): Promise<Array<{ service: string; kind: string; queued: number; nodes?: string[] }>> {
  return (await (await fetch(`${of.http}/v1/admin/pq`)).json()) as Array<{ service: string; kind: string; queued: number; nodes?: string[] }>;
}

/** Waits until `of` sees `service` served by exactly `servedBy` (an empty list: not at all). */
export async function untilServed(of: ChildNode, service: string, servedBy: string[]): Promise<void> {
  await until(async () => {
    const row = (await pq(of)).find((entry) => entry.service === service);
    return servedBy.length === 0 ? row === undefined : JSON.stringify(row?.nodes) === JSON.stringify(servedBy);
  });
}
