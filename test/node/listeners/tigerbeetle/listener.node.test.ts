// The TigerBeetle listener inside a node: off by default; with tbAddress the official client creates and
// queries accounts and transfers in the node's ledger (seen in-process too, counted in /metrics), and on
// a data directory what it wrote survives a restart; a port already taken or a malformed address fails
// start-up with a typed error.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startNode, PurserError, TigerBeetleError } from 'purser';
import { runOfficialClient, silentLogger } from './_harness.js';

const PRELUDE = `
  const account = (id) => ({ id, debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, reserved: 0, ledger: 1, code: 1, flags: 0, timestamp: 0n });
  const transfer = (id, amount) => ({ id, debit_account_id: 1n, credit_account_id: 2n, amount, pending_id: 0n, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, timeout: 0, ledger: 1, code: 1, flags: 0, timestamp: 0n });
`;
const CREATED = 0xffff_ffff;

test('off by default: a node has no TigerBeetle listener unless tbAddress is given', async () => {
  const node = await startNode({ memory: true, httpPort: 0, logger: silentLogger });
  try {
    assert.equal(node.tigerbeetle, undefined);
  } finally {
    await node.close();
  }
});

test('the official client writes and reads the node ledger; the node sees it in-process and in /metrics', async () => {
  const node = await startNode({ memory: true, httpPort: 0, tbAddress: '127.0.0.1:0', logger: silentLogger });
  try {
    assert.ok(node.tigerbeetle !== undefined && node.tigerbeetle.port > 0);
    const output = await runOfficialClient(
      `127.0.0.1:${String(node.tigerbeetle.port)}`,
      `${PRELUDE}
      const accounts = await client.createAccounts([account(1n), account(2n)]);
      const transfers = await client.createTransfers([transfer(10n, 30n), transfer(11n, 12n)]);
      const [debit] = await client.lookupAccounts([1n]);
      const history = await client.getAccountTransfers({ account_id: 2n, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, code: 0, timestamp_min: 0n, timestamp_max: 0n, limit: 10, flags: 2 });
      return { statuses: [...accounts, ...transfers].map((r) => r.status), debits: debit.debits_posted, history: history.map((t) => t.id) };`,
    );
    assert.equal(output.error, undefined, output.error);
    assert.deepEqual(output.result, { statuses: [CREATED, CREATED, CREATED, CREATED], debits: 42n, history: [10n, 11n] });
    const [credit] = await node.ledger.lookupAccounts([2n]);
    assert.equal(credit.credits_posted, 42n);
    const metrics = await (await fetch(`${node.http.url}/metrics`)).text();
    assert.match(metrics, /purser_tigerbeetle_requests_total\{operation="create_transfers"\} 1/);
  } finally {
    await node.close();
  }
});

test('on a data directory, transfers made over the wire survive a node restart', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'purser-tb-node-'));
  try {
    const first = await startNode({ dir, httpPort: 0, tbAddress: '127.0.0.1:0', logger: silentLogger });
    try {
      const created = await runOfficialClient(`127.0.0.1:${String(first.tigerbeetle!.port)}`, `${PRELUDE} await client.createAccounts([account(1n), account(2n)]); return (await client.createTransfers([transfer(7n, 5n)])).map((r) => r.status);`);
      assert.deepEqual(created.result, [CREATED]);
    } finally {
      await first.close();
    }
    const second = await startNode({ dir, httpPort: 0, tbAddress: '127.0.0.1:0', logger: silentLogger });
    try {
      const read = await runOfficialClient(`127.0.0.1:${String(second.tigerbeetle!.port)}`, `return (await client.lookupTransfers([7n])).map((t) => t.amount);`);
      assert.deepEqual(read.result, [5n]);
    } finally {
      await second.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a TigerBeetle port already in use fails start-up with TB_LISTEN_FAILED; a malformed address with CONFIG_INVALID', async () => {
  const holder = await startNode({ memory: true, httpPort: 0, tbAddress: '127.0.0.1:0', logger: silentLogger });
  try {
    const taken = `127.0.0.1:${String(holder.tigerbeetle!.port)}`;
    await assert.rejects(startNode({ memory: true, httpPort: 0, tbAddress: taken, logger: silentLogger }), (e: unknown) => e instanceof TigerBeetleError && e.code === 'TB_LISTEN_FAILED');
    await assert.rejects(startNode({ memory: true, httpPort: 0, tbAddress: 'nonsense', logger: silentLogger }), (e: unknown) => e instanceof PurserError && e.code === 'CONFIG_INVALID');
  } finally {
    await holder.close();
  }
});
