// The ledger's own semantic suite (the test/ledger files written against `makeClient()` from ./_client.js)
// run through connect() and the bus listener instead of in-process: a module hook (_ledger-hooks.mjs)
// swaps in _ledger-client.ts, nothing in test/ledger is edited. The suite runs in a child process (so a
// protocol mistake cannot take this runner down) and must pass in full, and the swapped client must report
// that it was used. ledger.api.test.ts is left out: it tests the in-process client object itself.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LEDGER_TESTS = join(ROOT, 'test/ledger');
const SUITE_TIMEOUT_MS = 3 * 60 * 1000;

function suiteFiles(): string[] {
  return readdirSync(LEDGER_TESTS)
    .filter((name) => name.endsWith('.test.ts') && name !== 'ledger.api.test.ts')
    .map((name) => join(LEDGER_TESTS, name))
    .filter((path) => readFileSync(path, 'utf8').includes("from './_client.js'"));
}

test('the ledger suite passes through connect() over the bus connection, as it does in-process', { timeout: SUITE_TIMEOUT_MS }, async (t) => {
  const files = suiteFiles();
  assert.ok(files.length > 0, 'test/ledger has suites written against makeClient()');
  const args = ['--conditions=purser-source', '--import', 'tsx', '--import', './test/client/_ledger-register.mjs', '--test', '--test-reporter=spec', ...files];
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT; // report as a top-level run, in text
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
  assert.equal(count('fail'), 0, output.slice(-3000));
  assert.equal(code, 0, output.slice(-3000));
  assert.ok(count('pass') > 0, output.slice(-3000));
  const clients = [...output.matchAll(/bus-ledger-client: (\d+) connect\(\) clients/g)].reduce((sum, match) => sum + Number(match[1]), 0);
  assert.ok(clients > 0, 'the suite used connect() clients');
  t.diagnostic(`${String(count('pass'))} ledger tests passed over the bus connection, ${String(clients)} connect() clients`);
});
