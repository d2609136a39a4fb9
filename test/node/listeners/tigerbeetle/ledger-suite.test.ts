// The ledger's own semantic suite (every test/ledger file that gets its clients from `makeClient()` in
// ./_client.js) run through the official tigerbeetle-node client and the TigerBeetle listener instead of
// in-process: a module hook (_wire-hooks.mjs) swaps in _wire-client.ts, nothing in test/ledger is edited.
// Both runs are child processes (a protocol mistake would abort the wire one): the same tests must pass
// and fail either way, and the wire client must report that the requests really went over the wire.
// Two things are left out, by name:
// - ledger.api.test.ts tests the in-process client object itself (typed errors for malformed arguments,
//   batches over 8,189, destroy()); the official client answers those with its own errors, client-side.
// - KNOWN_DIFFERENCES below: behaviour where TigerBeetle's own client differs from the in-process ledger.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
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

interface SuiteRun {
  code: number | null;
  output: string;
  passed: number;
  /** Names of the failing tests (the spec reporter lists each twice; names are what count). */
  failed: Set<string>;
}

/** Runs the suite files in a child `node --test`, with extra `--import`s (the wire hook) or none. */
async function runSuite(files: string[], imports: string[]): Promise<SuiteRun> {
  const args = ['--conditions=purser-source', '--import', 'tsx', ...imports.flatMap((module) => ['--import', module]), '--test', '--test-reporter=spec', ...files];
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
    // Without NODE_TEST_CONTEXT the child reports as a top-level run (with it, in the runner's binary protocol).
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), SUITE_TIMEOUT_MS / 2);
    child.once('exit', (exitCode) => {
      clearTimeout(timer);
      resolve({ code: exitCode, output });
    });
  });
  const count = (label: string) => Number(new RegExp(`ℹ ${label} (\\d+)`).exec(output)?.[1] ?? Number.NaN);
  const failed = new Set([...output.matchAll(/^\s*✖ (.+?) \(\d+(?:\.\d+)?ms\)$/gm)].map((match) => match[1]).filter((name) => name !== 'failing tests:'));
  assert.equal(count('fail'), failed.size, `the run finished and its failures were read:\n${output.slice(-3000)}`);
  assert.equal(code === 0, failed.size === 0, 'the exit status agrees with the failures (no crash)');
  return { code, output, passed: count('pass'), failed };
}

test('the ledger suite gives the same results through the official client as in-process', { timeout: SUITE_TIMEOUT_MS }, async (t) => {
  const files = semanticSuiteFiles();
  assert.ok(files.length > 0, 'test/ledger has suites written against makeClient()');
  // In-process first: a test that fails there (the ledger mid-change) is not the wire's to answer for.
  const local = await runSuite(files, []);
  const wire = await runSuite(files, ['./test/node/listeners/tigerbeetle/_wire-register.mjs']);
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
