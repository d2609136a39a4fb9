// /health tells the truth: 200 while the node can serve, 503 with a JSON reason while it cannot (the
// ledger down, the store failed, the node recovering on start or stopping); /metrics carries the ledger's
// gauge and counters. A ledger request that fails unexpectedly is undone and counted, and the node stays
// healthy: one bad request is not an outage.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { pino } from 'pino';
import { LedgerInternalError, openLedger, openStore, startNode } from 'purser';
import { healthResponse } from '../../src/node/health.js';
import type { FileSystem } from '../../src/store/durability/fs.js';
import { SimDisk } from '../../src/store/durability/sim-disk.js';
import { account, transfer } from '../ledger/_client.js';

const silent = pino({ level: 'silent' });
const work = mkdtempSync(join(tmpdir(), 'purser-health-'));
after(() => rmSync(work, { recursive: true, force: true }));

interface HealthBody {
  status: string;
  reason?: string;
  phase: string;
  ledger: { up: boolean; internalErrors: number } | null;
}

async function health(url: string): Promise<{ status: number; body: HealthBody }> {
  const response = await fetch(`${url}/health`);
  return { status: response.status, body: (await response.json()) as HealthBody };
}

function metric(text: string, name: string): number {
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  assert.ok(match, `metric ${name} missing`);
  return Number(match[1]);
}

test('a ledger request that fails unexpectedly is counted and the node stays healthy; a closed ledger makes /health 503', async () => {
  const node = await startNode({ memory: true, httpPort: 0, logger: silent });
  try {
    let answer = await health(node.http.url);
    assert.equal(answer.status, 200);
    assert.equal(answer.body.status, 'ok');
    assert.deepEqual(answer.body.ledger, { up: true, internalErrors: 0, clockSkewNs: '0' });
    let text = await (await fetch(`${node.http.url}/metrics`)).text();
    assert.equal(metric(text, 'purser_ledger_up'), 1);
    assert.equal(metric(text, 'purser_ledger_internal_errors_total'), 0);

    await node.ledger.createAccounts([account(1n), account(2n)]);
    const state = node.ledger.state;
    const indexTransfer = state.indexTransfer.bind(state);
    state.indexTransfer = () => {
      throw new TypeError('injected');
    };
    await assert.rejects(node.ledger.createTransfers([transfer(10n, 1n, 2n, 1n)]), LedgerInternalError);
    state.indexTransfer = indexTransfer;
    assert.equal((await node.ledger.createTransfers([transfer(10n, 1n, 2n, 1n)]))[0].status, 0xffff_ffff);
    answer = await health(node.http.url);
    assert.equal(answer.status, 200, 'one failed request is not an outage');
    assert.equal(answer.body.ledger?.internalErrors, 1);
    text = await (await fetch(`${node.http.url}/metrics`)).text();
    assert.equal(metric(text, 'purser_ledger_internal_errors_total'), 1);

    await node.ledger.close();
    answer = await health(node.http.url);
    assert.equal(answer.status, 503);
    assert.equal(answer.body.status, 'unavailable');
    assert.match(answer.body.reason ?? '', /ledger down: closed/);
    text = await (await fetch(`${node.http.url}/metrics`)).text();
    assert.equal(metric(text, 'purser_ledger_up'), 0);
  } finally {
    await node.close();
  }
});

test('a store whose fsync failed makes health 503 with the reason, as does a stopping node', async () => {
  const disk = new SimDisk(3);
  const store = await openStore({ dir: join(work, 'failed'), fs: disk });
  const ledger = await openLedger({ store, logger: { error: () => undefined, warn: () => undefined } });
  const details = () => ({});
  assert.equal(healthResponse({ phase: 'serving', store, ledger, details }).status, 200);
  await ledger.createAccounts([account(1n), account(2n)]);
  disk.injectFault('FSYNC', 1, true);
  await assert.rejects(ledger.createTransfers([transfer(10n, 1n, 2n, 1n)]));
  const failed = healthResponse({ phase: 'serving', store, ledger, details });
  assert.equal(failed.status, 503);
  assert.match((failed.body as HealthBody).reason ?? '', /store failed/);
  assert.equal((failed.body as HealthBody).ledger?.up, false);
  const stopping = healthResponse({ phase: 'stopping', store: undefined, ledger: undefined, details });
  assert.equal(stopping.status, 503);
  assert.equal((stopping.body as HealthBody).reason, 'stopping');
  await ledger.close();
  await store.close().catch(() => undefined);
});

/** A free loopback port (bound and released), so the test knows the URL before startNode returns. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

test('/health answers 503 "recovering" while the store opens, 200 once the node serves', async () => {
  // The store's first directory listing waits for the test: the node is caught in the middle of recovery.
  const disk = new SimDisk(5);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let listings = 0;
  const gated: FileSystem = new Proxy(disk, {
    get(target, property) {
      const member = Reflect.get(target, property) as unknown;
      if (typeof member !== 'function') return member;
      const method = (member as (...args: unknown[]) => unknown).bind(target);
      if (property !== 'readdir') return method;
      return async (...args: unknown[]) => {
        if (listings++ === 0) await gate;
        return method(...args);
      };
    },
  });
  const port = await freePort();
  const starting = startNode({ dir: join(work, 'recovering'), httpPort: port, busPort: 0, logger: silent, storeFileSystem: gated });
  const url = `http://127.0.0.1:${port}`;
  let startFailure: unknown;
  starting.catch((error: unknown) => (startFailure = error));
  let answer: { status: number; body: HealthBody } | undefined;
  // Wait for a state (the listener is up), not for a time.
  while (answer === undefined && startFailure === undefined) answer = await health(url).catch(() => undefined);
  assert.equal(startFailure, undefined);
  assert.ok(answer !== undefined);
  assert.equal(answer.status, 503);
  assert.equal(answer.body.phase, 'starting');
  assert.match(answer.body.reason ?? '', /recovering/);
  assert.equal(answer.body.ledger, null);
  release();
  const node = await starting;
  try {
    assert.ok(listings > 0, 'the gate was on the recovery path');
    assert.equal((await health(url)).status, 200);
  } finally {
    await node.close();
  }
});

test('/health shows recovery progress while the store opens (records replayed from the log)', async () => {
  const dir = join(work, 'progress');
  const disk = new SimDisk(6);
  const seeded = await openStore({ dir, fs: disk });
  for (let i = 0; i < 25; i++) await seeded.transaction(async (tx) => tx.put('t', Buffer.from([i]), Buffer.from('v')));
  await seeded.close();
  // The replay is done (its progress reported) when the store creates its new log file: that waits here.
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let gated = 0;
  const fs: FileSystem = new Proxy(disk, {
    get(target, property) {
      const member = Reflect.get(target, property) as unknown;
      if (typeof member !== 'function') return member;
      const method = (member as (...args: unknown[]) => unknown).bind(target);
      if (property !== 'open') return method;
      return async (path: string, mode: string) => {
        if (mode === 'create' && path.endsWith('.wal') && gated++ === 0) await gate;
        return method(path, mode);
      };
    },
  });
  const port = await freePort();
  const starting = startNode({ dir, httpPort: port, busPort: 0, logger: silent, storeFileSystem: fs });
  let startFailure: unknown;
  starting.catch((error: unknown) => (startFailure = error));
  const url = `http://127.0.0.1:${port}`;
  // Wait for a state: the store reached the gate, so its replay (and the progress report) is behind it.
  while (gated === 0 && startFailure === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(startFailure, undefined);
  const answer = await health(url);
  const body = answer.body as HealthBody & { recovery?: { step: string; records: number } };
  assert.equal(answer.status, 503);
  assert.equal(body.status, 'unavailable');
  assert.deepEqual(body.recovery, { step: 'log', records: 25, totalRecords: null });
  release();
  const node = await starting;
  try {
    assert.equal((await health(url)).status, 200);
    assert.equal(((await health(url)).body as { recovery?: unknown }).recovery, undefined);
  } finally {
    await node.close();
  }
});
