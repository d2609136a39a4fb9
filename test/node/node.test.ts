// startNode: a node boots in memory or on a data directory, answers /health and /metrics, refuses bad
// options with a typed error, and closes cleanly (twice is fine).
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { ConfigError, NodeError, startNode } from 'purser';

const silent = pino({ level: 'silent' });

test('a memory node answers /health and /metrics on an ephemeral loopback port', async () => {
  const node = await startNode({ memory: true, httpPort: 0, logger: silent });
  try {
    assert.equal(node.http.host, '127.0.0.1');
    assert.ok(node.http.port > 0);
    assert.equal(node.dataDir, undefined);
    const health = await fetch(`${node.http.url}/health`);
    assert.equal(health.status, 200);
    const body = (await health.json()) as { status: string; memory: boolean };
    assert.equal(body.status, 'ok');
    assert.equal(body.memory, true);

    const metrics = await fetch(`${node.http.url}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get('content-type') ?? '', /text\/plain/);
    const text = await metrics.text();
    assert.match(text, /^# HELP purser_/m);
    assert.match(text, /purser_http_requests_total\{route="\/health",status="200"\} 1/);

    const missing = await fetch(`${node.http.url}/nope`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'NOT_FOUND');
  } finally {
    await node.close();
    await node.close();
  }
});

test('a disk node creates its data directory', async () => {
  const root = await mkdtemp(join(tmpdir(), 'purser-node-'));
  const dir = join(root, 'nested', 'data');
  const node = await startNode({ dir, httpPort: 0, logger: silent });
  try {
    assert.equal(node.dataDir, dir);
    assert.ok((await stat(dir)).isDirectory());
  } finally {
    await node.close();
    await rm(root, { recursive: true, force: true });
  }
});

test('bad options are refused with typed errors and nothing is left listening', async () => {
  await assert.rejects(startNode({ httpPort: 70000, memory: true, logger: silent }), ConfigError);
  await assert.rejects(startNode({ httpPort: 1.5, memory: true, logger: silent }), ConfigError);
  await assert.rejects(startNode({ logLevel: 'loud' as never, memory: true, logger: silent }), ConfigError);
  await assert.rejects(startNode({ dir: '', logger: silent }), ConfigError);

  const root = await mkdtemp(join(tmpdir(), 'purser-node-'));
  const file = join(root, 'a-file');
  await writeFile(file, 'not a directory');
  await assert.rejects(startNode({ dir: join(file, 'data'), httpPort: 0, logger: silent }), (error: unknown) => error instanceof NodeError && error.code === 'NODE_DATA_DIR');
  await rm(root, { recursive: true, force: true });

  const first = await startNode({ memory: true, httpPort: 0, logger: silent });
  try {
    await assert.rejects(startNode({ memory: true, httpPort: first.http.port, logger: silent }), (error: unknown) => error instanceof NodeError && error.code === 'NODE_LISTEN_FAILED');
  } finally {
    await first.close();
  }
});

test('an unknown route answers 404 even with a large body, and the node keeps serving', async () => {
  const node = await startNode({ memory: true, httpPort: 0, logger: silent });
  try {
    const big = await fetch(`${node.http.url}/metrics`, { method: 'POST', body: Buffer.alloc(2 * 1024 * 1024) });
    assert.equal(big.status, 404);
    await big.text();
    const again = await fetch(`${node.http.url}/health`);
    assert.equal(again.status, 200);
  } finally {
    await node.close();
  }
});
