// `purser start` with a config file and `purser call` against it, as a user runs them: the compiled bin,
// real processes, exit codes and one-line errors.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/purser.js', import.meta.url));
const EXAMPLE_CONFIG = fileURLToPath(new URL('../../examples/purser.config.json', import.meta.url));

// The timeout is a hang guard: a CLI process starting on a loaded machine may take seconds.
function run(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: options.cwd, env: { ...process.env, ...options.env }, timeout: 60_000 });
}

/** Starts `purser start` and resolves with its HTTP URL and bus address once the start-up line is logged. */
async function startNode(args: string[], cwd?: string) {
  // The example config hosts the card switch too: any free port, so a node already on 8583 is no obstacle.
  const child = spawn(process.execPath, [BIN, 'start', '--http-port', '0', '--log-pretty', 'false', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PURSER_CARDS_PORT: '0' } });
  let output = '';
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const started = await new Promise<{ url: string; bus: string }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`purser start exited ${code}: ${output}`)));
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /"http":"(http:\/\/[^"]+)","bus":"([^"]+)"/.exec(output);
      if (match) resolve({ url: match[1], bus: match[2] });
    });
  });
  const stop = async () => {
    child.removeAllListeners('exit'); // the start-up rejection
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  };
  return { ...started, stop, output: () => output };
}

test('purser start hosts the example config; purser call reaches its services', async () => {
  const node = await startNode(['--config', EXAMPLE_CONFIG, '--memory']);
  try {
    const ok = run(['call', 'BALANCE', '{"account":"A1"}', '--address', node.bus, '--timeout-ms', '5000']);
    assert.equal(ok.status, 0, ok.stderr);
    assert.deepEqual(JSON.parse(ok.stdout), { account: 'A1', balanceMinor: 10_000, limits: { account: 'A1', dailyMinor: 100_000, remainingMinor: 75_000 } });
    assert.equal(ok.stderr, '');

    const threads = run(['call', 'HSM', '{"pan":"4111"}'], { env: { PURSER_BUS_ADDRESS: node.bus } });
    assert.equal(threads.status, 0, threads.stderr);
    assert.match((JSON.parse(threads.stdout) as { mac: string }).mac, /^[0-9a-f]{64}$/);

    const failed = run(['call', 'BALANCE', '{}', '--address', node.bus]);
    assert.equal(failed.status, 1);
    assert.deepEqual(JSON.parse(failed.stdout), { reason: 'no account' }, 'the failure data is printed');
    assert.match(failed.stderr, /^purser: .*\[TPESVCFAIL\]\n$/);

    const missing = run(['call', 'NOPE', '--address', node.bus]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /^purser: .*\[TPENOENT\]\n$/);

    // The node served all of it over HTTP too.
    const response = await fetch(`${node.url}/v1/call/LIMITS`, { method: 'POST', body: JSON.stringify({ data: { account: 'B' } }) });
    assert.equal(response.status, 200);
  } finally {
    await node.stop();
  }
});

test('the help names the config file and purser call', () => {
  const top = run(['--help']);
  assert.match(top.stdout, /^ {2}call /m);
  assert.match(run(['start', '--help']).stdout, /--config <file>/);
  assert.match(run(['call', '--help']).stdout, /--timeout-ms <ms>/);
});

test('purser call refuses bad arguments with exit 2, and an unreachable node with exit 1', () => {
  for (const args of [['call'], ['call', 'A', '{not json'], ['call', 'A', '1', '2'], ['call', 'A', '--timeout-ms', 'soon'], ['call', 'A', '--timeout-ms', '0'], ['call', 'A', '--bogus']]) {
    const result = run(args);
    assert.equal(result.status, 2, args.join(' '));
    assert.match(result.stderr, /^purser: [^\n]+\n$/, args.join(' '));
  }
  const bad = run(['call', 'A', '--address', 'nowhere:notaport']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^purser: [^\n]+\[INVALID_ARGUMENT\]\n$/);
  const refused = run(['call', 'A', '--address', '127.0.0.1:1']);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /^purser: .*\[CLIENT_CONNECT_FAILED\]\n$/);
});

test('purser start finds purser.config.json in the working directory, and refuses a bad one with exit 2 creating nothing', async () => {
  const root = await mkdtemp(join(tmpdir(), 'purser-cli-config-'));
  try {
    await mkdir(join(root, 'svc'));
    await writeFile(join(root, 'svc', 'echo.mjs'), 'export default (request) => ({ echo: request.data });\n');
    await writeFile(join(root, 'purser.config.json'), JSON.stringify({ memory: true, services: { ECHO: { module: './svc/echo.mjs' } } }));
    const node = await startNode([], root);
    try {
      const result = run(['call', 'ECHO', '[1,"two"]', '--address', node.bus]);
      assert.equal(result.status, 0, result.stderr);
      assert.deepEqual(JSON.parse(result.stdout), { echo: [1, 'two'] });
    } finally {
      await node.stop();
    }

    const bad = join(root, 'bad.json');
    for (const [text, key] of [['{"services": {"ECHO": {"module": "./svc/echo.mjs", "threads": "2"}}, "dir": "data"}', 'services.ECHO.threads'], ['{"dir": "data", "port": 1}', 'port']]) {
      await writeFile(bad, text);
      const result = run(['start', '--config', bad]);
      assert.equal(result.status, 2);
      assert.match(result.stderr, new RegExp(`^purser: bad\\.json: ${key.replace('.', '\\.')}: [^\\n]+\\n$`));
      assert.equal(existsSync(join(root, 'data')), false);
    }
    const missing = run(['start'], { env: { PURSER_CONFIG: join(root, 'absent.json') } });
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /absent\.json does not exist/);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
