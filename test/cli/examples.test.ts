// The documentation's runnable examples: each is a file under examples/ that runs here as a user runs it
// (plain node, the compiled package); test/docs.test.ts checks that every code block in the docs is a
// verbatim copy of one of these files.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { loadConfigFile, startNode } from 'purser';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// Not spawnSync: the node a child talks to runs in this process and must keep answering.
const runExample = (file: string, env: NodeJS.ProcessEnv = {}) =>
  promisify(execFile)(process.execPath, [file], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });

test('examples/bus.mjs runs', async () => {
  const { stdout } = await runExample('examples/bus.mjs');
  assert.equal(stdout, "TPESVCFAIL 51 { reason: 'no account' }\n{ balanceMinor: 10000, limits: { account: 'A1', dailyMinor: 100000 } } true A2 64\n");
});

test('examples/ledger.mjs runs', async () => {
  const { stdout } = await runExample('examples/ledger.mjs');
  assert.equal(stdout, 'created\n10n\n');
});

test('examples/tigerbeetle-client.mjs runs unmodified tigerbeetle-node against a node', async () => {
  const node = await startNode({ memory: true, httpPort: 0, tbAddress: '127.0.0.1:0', logger: pino({ level: 'silent' }) });
  try {
    const { stdout } = await runExample('examples/tigerbeetle-client.mjs', { TB_ADDRESS: String(node.tigerbeetle!.port) });
    assert.equal(stdout, 'created [ [ 1250n, 0n ], [ 0n, 1250n ] ]\n');
    const accounts = await node.ledger.queryAccounts({ user_data_128: 0n, user_data_64: 0n, user_data_32: 0, ledger: 1, code: 1, timestamp_min: 0n, timestamp_max: 0n, limit: 10, flags: 0 });
    assert.equal(accounts.length, 2, 'the accounts are in the node\'s ledger');
  } finally {
    await node.close();
  }
});

test('examples/connect-client.mjs calls the services of examples/services.config.json through connect()', async () => {
  const file = await loadConfigFile(`${ROOT}examples/services.config.json`);
  const node = await startNode({ ...file.options, services: file.services, memory: true, httpPort: 0, logger: pino({ level: 'silent' }) });
  try {
    const { stdout } = await runExample('examples/connect-client.mjs', { PURSER_BUS_ADDRESS: `${node.busListener.host}:${node.busListener.port}` });
    assert.equal(stdout, '10000 true A2\n');
  } finally {
    await node.close();
  }
});

test('examples/program.mjs starts a node, reads its health and gets a typed error', async () => {
  const { stdout } = await runExample('examples/program.mjs');
  assert.equal(stdout, 'ok true\nTPENOENT\n');
});

test('examples/store.mjs runs a transaction with reads, writes, a range, an escrow counter and a sequence', async () => {
  const { stdout } = await runExample('examples/store.mjs');
  assert.equal(stdout, "{ alice: 'Alice', found: 2, names: [ 'Alice' ], balance: 70n } 32768n 2\n");
});
