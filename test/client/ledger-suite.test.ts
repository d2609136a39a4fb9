// The ledger's own semantic suite run through connect() and the bus listener instead of in-process
// (test/_remote/suite.ts swaps in _ledger-client.ts; nothing in test/ledger is edited). It must pass in
// full, and the swapped client must report that it was used.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, runLedgerSuite, semanticSuiteFiles } from '../_remote/suite.js';

const SUITE_TIMEOUT_MS = 3 * 60 * 1000;

test('the ledger suite passes through connect() over the bus connection, as it does in-process', { timeout: SUITE_TIMEOUT_MS }, async (t) => {
  const files = semanticSuiteFiles();
  assert.ok(files.length > 0, 'test/ledger has suites written against makeClient()');
  const run = await runLedgerSuite(files, join(ROOT, 'test/client/_ledger-client.ts'), SUITE_TIMEOUT_MS - 5000);
  assert.equal(run.failed.size, 0, run.output.slice(-3000));
  assert.equal(run.code, 0, run.output.slice(-3000));
  assert.ok(run.passed > 0, run.output.slice(-3000));
  const clients = [...run.output.matchAll(/bus-ledger-client: (\d+) connect\(\) clients/g)].reduce((sum, match) => sum + Number(match[1]), 0);
  assert.ok(clients > 0, 'the suite used connect() clients');
  t.diagnostic(`${String(run.passed)} ledger tests passed over the bus connection, ${String(clients)} connect() clients`);
});
