// The ledger's own semantic suite (every test/ledger file that gets its clients from `makeClient()` in
// ./_client.js) run through the official tigerbeetle-node client and the TigerBeetle listener instead of
// in-process: test/_remote/suite.ts swaps in _wire-client.ts, nothing in test/ledger is edited.
// Both runs are child processes (a protocol mistake would abort the wire one): the same tests must pass
// and fail either way, and the wire client must report that the requests really went over the wire.
// Two things are left out, by name:
// - ledger.api.test.ts tests the in-process client object itself (typed errors for malformed arguments,
//   batches over 8,189, destroy()); the official client answers those with its own errors, client-side.
// - KNOWN_DIFFERENCES below: behaviour where TigerBeetle's own client differs from the in-process ledger.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, runLedgerSuite, semanticSuiteFiles } from '../../../_remote/suite.js';

const SUITE_TIMEOUT_MS = 5 * 60 * 1000;
/**
 * Test names that fail over the wire for a reason outside the protocol. Each is TigerBeetle's client
 * behaving as documented where Purser's in-process ledger is more lenient.
 */
const KNOWN_DIFFERENCES = new Map<string, string>([
  [
    'getAccountTransfers: debits, credits, both; reversed; limit',
    'a filter limit of 100,000: the in-process ledger caps it at 8,189, tigerbeetle-node 0.17 refuses it client-side with ERR_TOO_MUCH_DATA',
  ],
]);

test('the ledger suite gives the same results through the official client as in-process', { timeout: SUITE_TIMEOUT_MS }, async (t) => {
  const files = semanticSuiteFiles();
  assert.ok(files.length > 0, 'test/ledger has suites written against makeClient()');
  // In-process first: a test that fails there (the ledger mid-change) is not the wire's to answer for.
  const local = await runLedgerSuite(files, undefined, SUITE_TIMEOUT_MS / 2);
  const wire = await runLedgerSuite(files, join(ROOT, 'test/node/listeners/tigerbeetle/_wire-client.ts'), SUITE_TIMEOUT_MS / 2);
  const unexpected = [...wire.failed].filter((name) => !local.failed.has(name) && !KNOWN_DIFFERENCES.has(name));
  assert.deepEqual(unexpected, [], `failures over the wire only:\n${unexpected.join('\n')}\n${wire.output.slice(-3000)}`);
  const fixedByWire = [...local.failed].filter((name) => !wire.failed.has(name));
  assert.deepEqual(fixedByWire, [], 'nothing passes over the wire that fails in-process');
  const knownSeen = [...wire.failed].filter((name) => KNOWN_DIFFERENCES.has(name) && !local.failed.has(name));
  assert.equal(wire.passed, local.passed - knownSeen.length, 'the same tests pass, less the known differences');
  assert.ok(wire.passed > 0);
  t.diagnostic(`${String(wire.passed)} ledger tests passed over the wire (${String(local.passed)} in-process) in ${String(files.length)} files; known differences seen: ${String(knownSeen.length)}; failing in-process too: ${String(local.failed.size)}`);
  const markers = [...wire.output.matchAll(/wire-client: (\d+) official clients, (\d+) requests over the wire/g)];
  assert.equal(markers.length, files.length, 'every suite file used the wire client');
  for (const [, clients, requests] of markers) assert.ok(Number(clients) > 0 && Number(requests) > 0);
  assert.doesNotMatch(local.output, /wire-client:/, 'the in-process run did not');
});
