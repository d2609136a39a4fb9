// The store inside a node: a node on a data directory commits durably and gets it back after a restart;
// POST /v1/admin/checkpoint (and `purser checkpoint --url`) checkpoints a running node, and answers 409 for
// a memory node; /metrics publishes the store's counters; a second node on the same directory is refused;
// and an fsync failure (simulated disk) fails the commit, logs, stops the node and calls onFatal.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { startNode } from 'purser';
import { main } from '../../src/cli/main.js';
import { StoreFailedError, StoreLockedError } from '../../src/store/errors.js';
import { SimDisk } from '../../src/store/durability/sim-disk.js';
import { capturing } from '../cli/_capture.js';

const silent = pino({ level: 'silent' });
let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'purser-node-store-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

test('a node keeps its store on the data directory, checkpoints over HTTP and publishes store metrics', async () => {
  const dir = join(work, 'node');
  let node = await startNode({ dir, httpPort: 0, logger: silent });
  await node.store.transaction(async (tx) => tx.put('t', Buffer.from('k'), Buffer.from('v')));
  await assert.rejects(startNode({ dir, httpPort: 0, logger: silent }), StoreLockedError);
  const response = await fetch(`${node.http.url}/v1/admin/checkpoint`, { method: 'POST' });
  assert.equal(response.status, 200);
  const body = (await response.json()) as { checkpoint: { records: number; coveredLsn: number } };
  assert.ok(body.checkpoint.records >= 1);
  const write = process.stdout.write.bind(process.stdout);
  const printedChunks: string[] = [];
  process.stdout.write = capturing(write, printedChunks);
  try {
    assert.equal(await main(['checkpoint', '--url', node.http.url], {}), 0);
  } finally {
    process.stdout.write = write;
  }
  assert.match(printedChunks.join(''), /"checkpoint"/);
  const metrics = await (await fetch(`${node.http.url}/metrics`)).text();
  // Other parts of the node may commit to the store too, so only lower bounds here.
  assert.match(metrics, /^purser_store_transactions_committed_total [1-9]\d*$/m);
  assert.match(metrics, /^purser_store_records [1-9]\d*$/m);
  // The second checkpoint writes nothing unless something was committed in between (unchanged: true).
  assert.match(metrics, /^purser_store_checkpoints_total [12]$/m);
  assert.match(metrics, /^purser_store_checkpoint_failures_total 0$/m);
  await node.close();
  node = await startNode({ dir, httpPort: 0, logger: silent });
  assert.equal(Buffer.from((await node.store.transaction((tx) => tx.get('t', Buffer.from('k'))))!).toString(), 'v');
  await node.close();
});

test('a memory node has no checkpoint', async () => {
  const node = await startNode({ memory: true, httpPort: 0, logger: silent });
  const response = await fetch(`${node.http.url}/v1/admin/checkpoint`, { method: 'POST' });
  assert.equal(response.status, 409);
  await node.close();
});

test('an fsync failure fails the commit, stops the node and reports it as fatal', async () => {
  const disk = new SimDisk(11);
  const dir = join(work, 'failing');
  const fatal: Error[] = [];
  let stopped!: () => void;
  const onStopped = new Promise<void>((resolve) => (stopped = resolve));
  const node = await startNode({
    dir,
    httpPort: 0,
    logger: silent,
    storeFileSystem: disk,
    onFatal: (error) => {
      fatal.push(error);
      stopped();
    },
  });
  await node.store.transaction(async (tx) => tx.put('t', Buffer.from('a'), Buffer.from('1')));
  disk.injectFault('FSYNC', 1, true);
  // The engine reports the failure as its own typed error, with the log's StoreFailedError as the cause.
  await assert.rejects(node.store.transaction(async (tx) => tx.put('t', Buffer.from('b'), Buffer.from('2'))), (error: Error) => error.cause instanceof StoreFailedError);
  await onStopped;
  assert.equal(fatal.length, 1);
  assert.ok(fatal[0] instanceof StoreFailedError);
  await assert.rejects(fetch(`${node.http.url}/health`));
  await assert.rejects(node.store.transaction(async (tx) => tx.get('t', Buffer.from('a'))));
});
