// The ledger's own semantic suite (every test/ledger file that gets its clients from `makeClient()` in
// ./_client.js) run through the official tigerbeetle-node client and the TigerBeetle listener instead of
// in-process: a module hook (_wire-hooks.mjs) swaps in _wire-client.ts, nothing in test/ledger is edited.
// The suite runs in a child process (a protocol mistake would abort it) and must pass, with the wire
// client reporting that the requests really went over the wire. Two things are left out, by name:
// - ledger.api.test.ts tests the in-process client object itself (typed errors for malformed arguments,
//   batches over 8,189, destroy()); the official client answers those with its own errors, client-side.
// - KNOWN_DIFFERENCES below: behaviour where TigerBeetle's own client differs from the in-process ledger.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LEDGER_TESTS = join(ROOT, 'test/ledger');
const SUITE_TIMEOUT_MS = 5 * 60 * 1000;
const IN_PROCESS_API_SUITES = new Set(['ledger.api.test.ts']);
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

function semanticSuiteFiles(): string[] {
  return readdirSync(LEDGER_TESTS)
    .filter((name) => name.endsWith('.test.ts') && !IN_PROCESS_API_SUITES.has(name))
    .map((name) => join(LEDGER_TESTS, name))
    .filter((path) => {
      const source = readFileSync(path, 'utf8');
      return source.includes("from './_client.js'") && source.includes('makeClient(');
    });
}

test('the ledger suite passes through the official client, as it does in-process', { timeout: SUITE_TIMEOUT_MS }, async (t) => {
  const files = semanticSuiteFiles();
  assert.ok(files.length > 0, 'test/ledger has suites written against makeClient()');
  const args = ['--conditions=purser-source', '--import', 'tsx', '--import', './test/tigerbeetle/_wire-register.mjs', '--test', '--test-reporter=spec', ...files];
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
    // Without NODE_TEST_CONTEXT the child reports as a top-level run (with it, in the runner's binary protocol).
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), SUITE_TIMEOUT_MS - 5000);
    child.once('exit', (exitCode) => {
      clearTimeout(timer);
      resolve({ code: exitCode, output });
    });
  });
  const count = (label: string) => Number(new RegExp(`ℹ ${label} (\\d+)`).exec(output)?.[1] ?? Number.NaN);
  // The spec reporter lists each failure twice (in place and in the summary); names are what count.
  const failed = new Set([...output.matchAll(/^\s*✖ (.+?) \(\d+(?:\.\d+)?ms\)$/gm)].map((match) => match[1]).filter((name) => name !== 'failing tests:'));
  const unexpected = [...failed].filter((name) => !KNOWN_DIFFERENCES.has(name));
  assert.deepEqual(unexpected, [], `failures over the wire:\n${unexpected.join('\n') || output.slice(-3000)}`);
  assert.equal(count('fail'), failed.size, output.slice(-3000));
  assert.equal(code === 0, failed.size === 0, 'the exit status agrees with the failures (no crash)');
  assert.ok(count('pass') > 0);
  t.diagnostic(`${String(count('pass'))} ledger tests passed over the wire in ${String(files.length)} files; known differences failed as expected: ${String(failed.size)}`);
  const wire = [...output.matchAll(/wire-client: (\d+) official clients, (\d+) requests over the wire/g)];
  assert.equal(wire.length, files.length, 'every suite file used the wire client');
  for (const [, clients, requests] of wire) assert.ok(Number(clients) > 0 && Number(requests) > 0);
});
