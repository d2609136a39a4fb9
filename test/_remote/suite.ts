/**
 * Runs the ledger's own semantic suite (the test/ledger files that get their clients from `makeClient()`
 * in ./_client.js) through a remote client instead of in-process, for every remote client the project has
 * (connect() over the bus listener, tigerbeetle-node over the TigerBeetle listener). An adapter module is
 * a drop-in for test/ledger/_client.ts whose `makeClient()` returns the remote client; `hooks.mjs` points
 * test/ledger's `./_client.js` import at it, so nothing in test/ledger is edited.
 *
 * The suite runs in a child `node --test` (a protocol mistake there cannot take the parent runner down).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client, CreateAccountResult, CreateTransferResult } from 'purser';
import type { TestClient } from '../ledger/_client.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LEDGER_TESTS = join(ROOT, 'test/ledger');
/** ledger.api.test.ts tests the in-process client object itself (its typed errors, destroy()). */
const IN_PROCESS_API_SUITES = new Set(['ledger.api.test.ts']);

export function semanticSuiteFiles(): string[] {
  return readdirSync(LEDGER_TESTS)
    .filter((name) => name.endsWith('.test.ts') && !IN_PROCESS_API_SUITES.has(name))
    .map((name) => join(LEDGER_TESTS, name))
    .filter((path) => {
      const source = readFileSync(path, 'utf8');
      return source.includes("from './_client.js'") && source.includes('makeClient(');
    });
}

export interface SuiteRun {
  code: number | null;
  output: string;
  passed: number;
  /** Names of the failing tests (the spec reporter lists each twice; names are what count). */
  failed: Set<string>;
}

/** Runs the suite files in a child `node --test`: through the adapter at `adapterPath`, or in-process. */
export async function runLedgerSuite(files: string[], adapterPath: string | undefined, timeoutMs: number): Promise<SuiteRun> {
  const imports = adapterPath === undefined ? [] : ['--import', './test/_remote/register.mjs'];
  const args = ['--conditions=purser-source', '--import', 'tsx', ...imports, '--test', '--test-reporter=spec', ...files];
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
    // Without NODE_TEST_CONTEXT the child reports as a top-level run (with it, in the runner's binary protocol).
    const env: NodeJS.ProcessEnv = { ...process.env, PURSER_LEDGER_ADAPTER: adapterPath ?? '' };
    delete env.NODE_TEST_CONTEXT;
    const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
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

type ClientMethods = Omit<Client, 'destroy'>;

/**
 * A `Client` whose every method calls the one `target()` returns at that moment. `adjustCreateResults`
 * maps create results (the official client adds a `reserved` field the ledger's types do not have).
 */
export function delegatingClient(
  target: () => ClientMethods,
  adjustCreateResults: <T extends CreateAccountResult | CreateTransferResult>(results: T[]) => T[] = (results) => results,
): Client {
  return {
    createAccounts: async (batch) => adjustCreateResults(await target().createAccounts(batch)),
    createTransfers: async (batch) => adjustCreateResults(await target().createTransfers(batch)),
    lookupAccounts: (ids) => target().lookupAccounts(ids),
    lookupTransfers: (ids) => target().lookupTransfers(ids),
    getAccountTransfers: (filter) => target().getAccountTransfers(filter),
    getAccountBalances: (filter) => target().getAccountBalances(filter),
    queryAccounts: (filter) => target().queryAccounts(filter),
    queryTransfers: (filter) => target().queryTransfers(filter),
    destroy: () => undefined,
  };
}

/** The `TestClient` an adapter's `makeClient()` returns: the remote client, and how to tear it all down. */
export function remoteTestClient(client: Client, close: () => Promise<void>): TestClient {
  return { ...client, close };
}
