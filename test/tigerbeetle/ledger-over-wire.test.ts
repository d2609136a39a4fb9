// The ledger's own semantic suite (every test/ledger file written against `makeClient()` from
// ./_client.js) run through the official tigerbeetle-node client and the TigerBeetle listener instead of
// in-process: a module hook (_wire-hooks.mjs) swaps in _wire-client.ts, nothing in test/ledger is edited.
// The suite runs in a child process (a protocol mistake would abort it) and must pass in full, with the
// wire client reporting that the requests really went over the wire.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LEDGER_TESTS = join(ROOT, 'test/ledger');
const SUITE_TIMEOUT_MS = 5 * 60 * 1000;

function semanticSuiteFiles(): string[] {
  return readdirSync(LEDGER_TESTS)
    .filter((name) => name.endsWith('.test.ts'))
    .map((name) => join(LEDGER_TESTS, name))
    .filter((path) => readFileSync(path, 'utf8').includes("from './_client.js'"));
}

test('the ledger suite passes through the official client, as it does in-process', { timeout: SUITE_TIMEOUT_MS }, async () => {
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
  const failures = output.split('\n').filter((line) => /^\s*✖/.test(line)).slice(0, 20).join('\n');
  assert.equal(count('fail'), 0, `failures over the wire:\n${failures || output.slice(-3000)}`);
  assert.equal(code, 0, output.slice(-3000));
  assert.ok(count('pass') > 0);
  const wire = [...output.matchAll(/wire-client: (\d+) official clients, (\d+) requests over the wire/g)];
  assert.equal(wire.length, files.length, 'every suite file used the wire client');
  for (const [, clients, requests] of wire) assert.ok(Number(clients) > 0 && Number(requests) > 0);
});
