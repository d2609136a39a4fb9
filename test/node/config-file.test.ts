// The config file: services it declares are hosted and callable (HTTP JSON and connect()); every kind of
// mistake is a ConfigError naming the key, and a refused start changes nothing (no data directory).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { ConfigError, XatmiError, connect, findConfigFile, loadConfigFile, startNode } from 'purser';
import { resolveStartConfig, takeConfigFlag } from '../../src/node/config-file.js';

const silent = pino({ level: 'silent' });
const EXAMPLE_CONFIG = fileURLToPath(new URL('../../examples/purser.config.json', import.meta.url));

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'purser-config-'));
}

test('the example config is hosted: its services answer over HTTP JSON and connect()', async () => {
  const file = await loadConfigFile(EXAMPLE_CONFIG);
  assert.deepEqual(Object.keys(file.services).sort(), ['BALANCE', 'HSM', 'LIMITS']);
  const node = await startNode({ ...file.options, services: file.services, memory: true, httpPort: 0, logger: silent });
  try {
    // The node's own services (the outbox's TASKS.* for remote workers) come besides the config's.
    const hosted = (name: string) => !name.startsWith('TASKS.');
    assert.deepEqual(node.bus.services().filter(hosted).sort(), ['BALANCE', 'HSM', 'LIMITS']);
    const kinds = Object.fromEntries(node.bus.pq().filter((row) => hosted(row.service)).map((row) => [row.service, [row.kind, row.servers, row.queueDepth]]));
    assert.deepEqual(kinds, { LIMITS: ['in-process', 2, 1000], BALANCE: ['in-process', 4, 1000], HSM: ['threads', 2, 1000] });

    const response = await fetch(`${node.http.url}/v1/call/BALANCE`, { method: 'POST', body: JSON.stringify({ data: { account: 'A1' } }) });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { data: { account: 'A1', balanceMinor: 10_000, limits: { account: 'A1', dailyMinor: 100_000, remainingMinor: 75_000 } }, urcode: 0 });

    const client = await connect(node.busListener);
    try {
      const mac = await client.call('HSM', { pan: '4111' });
      assert.match((mac.data as { mac: string }).mac, /^[0-9a-f]{64}$/);
      await assert.rejects(client.call('BALANCE', {}), (error: unknown) => error instanceof XatmiError && error.code === 'TPESVCFAIL' && error.urcode === 51);
    } finally {
      await client.close();
    }
  } finally {
    await node.close();
  }
});

test('a .mjs config in the working directory is found; its options and relative paths apply', async () => {
  const root = await tempDir();
  try {
    await mkdir(join(root, 'svc'));
    await writeFile(join(root, 'svc', 'twice.mjs'), 'export default (request) => ({ twice: request.data.n * 2 });\n');
    await writeFile(join(root, 'purser.config.mjs'), "export default { memory: true, httpPort: 0, logLevel: 'silent', services: { TWICE: { module: './svc/twice.mjs', queueDepth: 5 } } };\n");
    assert.equal(findConfigFile(root), join(root, 'purser.config.mjs'));
    const { config, file } = await resolveStartConfig(['--log-level', 'warn'], { PURSER_HTTP_HOST: '127.0.0.1' }, root);
    assert.equal(config.memory, true);
    assert.equal(config.httpPort, 0);
    assert.equal(config.busPort, 0, 'any HTTP port from the file means any bus port, as with the flag');
    assert.equal(config.logLevel, 'warn', 'a flag wins over the file');
    const node = await startNode({ ...config, services: file!.services, logger: silent });
    try {
      assert.deepEqual((await node.bus.call('TWICE', { n: 21 })).data, { twice: 42 });
      assert.equal(node.bus.pq()[0].queueDepth, 5);
    } finally {
      await node.close();
    }

    // Two candidate files at once is ambiguous; --config chooses.
    await writeFile(join(root, 'purser.config.json'), '{}');
    assert.throws(() => findConfigFile(root), (error: unknown) => error instanceof ConfigError && /more than one config file/.test(error.message));
    assert.equal(findConfigFile(root, 'purser.config.json'), join(root, 'purser.config.json'));
    assert.throws(() => findConfigFile(root, 'nope.json'), (error: unknown) => error instanceof ConfigError && /does not exist/.test(error.message));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('no config file: no services; dir in a file is relative to the file', async () => {
  const root = await tempDir();
  try {
    assert.equal(findConfigFile(root), undefined);
    await writeFile(join(root, 'c.json'), JSON.stringify({ dir: 'data' }));
    assert.equal((await loadConfigFile(join(root, 'c.json'))).options.dir, join(root, 'data'));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('--config is taken out of the flags in both spellings and only once', () => {
  assert.deepEqual(takeConfigFlag(['--config', 'a.json', '--memory']), { rest: ['--memory'], path: 'a.json' });
  assert.deepEqual(takeConfigFlag(['--config=b.json']), { rest: [], path: 'b.json' });
  assert.throws(() => takeConfigFlag(['--config']), ConfigError);
  assert.throws(() => takeConfigFlag(['--config', '--memory']), ConfigError);
  assert.throws(() => takeConfigFlag(['--config', 'a', '--config', 'b']), ConfigError);
});

test('bad configs are ConfigErrors naming the key, and a refused start creates nothing', async () => {
  const root = await tempDir();
  try {
    await writeFile(join(root, 'ok.mjs'), 'export default () => 1;\n');
    await writeFile(join(root, 'nohandler.mjs'), 'export const handler = () => 1;\n');
    await writeFile(join(root, 'throws.mjs'), "throw new Error('boom at import');\n");
    const cases: [string, string, RegExp][] = [
      ['unknown top-level key', '{"servces": {}}', /c\.json: servces: unknown key/],
      ['wrong type of an option', '{"httpPort": "7780"}', /httpPort: expected a port number/],
      ['services not an object', '{"services": []}', /services: expected an object/],
      ['bad service name', '{"services": {"no spaces": {"module": "./ok.mjs"}}}', /services\.no spaces: service name/],
      ['unknown service key', '{"services": {"A": {"module": "./ok.mjs", "server": 2}}}', /services\.A\.server: unknown key/],
      ['wrong type of a service key', '{"services": {"A": {"module": "./ok.mjs", "servers": "2"}}}', /services\.A\.servers: expected an integer from 1 to 1024, got "2"/],
      ['out of range', '{"services": {"A": {"module": "./ok.mjs", "queueDepth": 0}}}', /services\.A\.queueDepth: expected an integer/],
      ['servers and threads', '{"services": {"A": {"module": "./ok.mjs", "servers": 1, "threads": 1}}}', /services\.A: servers .* and threads/],
      ['worker-only key without threads', '{"services": {"A": {"module": "./ok.mjs", "pipelineDepth": 4}}}', /services\.A\.pipelineDepth: applies to worker threads only/],
      ['no module', '{"services": {"A": {"servers": 1}}}', /services\.A\.module: missing/],
      ['missing module file', '{"services": {"A": {"module": "./gone.mjs"}}}', /services\.A\.module: no module at .*gone\.mjs/],
      ['not JSON', '{\n  "services": {\n}', /c\.json: not valid JSON: .*line/],
      ['top level not an object', '[1]', /expected an object at the top level/],
      ['bad combination', '{"tbAddress": "nowhere:x"}', /tbAddress/],
    ];
    for (const [label, text, message] of cases) {
      await writeFile(join(root, 'c.json'), text);
      await assert.rejects(loadConfigFile(join(root, 'c.json')), (error: unknown) => error instanceof ConfigError && message.test(error.message) && !error.message.includes('\n'), label);
    }

    // Modules that load but cannot serve are refused by startNode before anything starts.
    const dir = join(root, 'data');
    for (const [module, message] of [['nohandler.mjs', /services\.A\.module: .*has no handler/], ['throws.mjs', /services\.A\.module: .*cannot be loaded: boom at import/]] as const) {
      await writeFile(join(root, 'c.json'), JSON.stringify({ dir: 'data', httpPort: 0, services: { A: { module: `./${module}` } } }));
      const file = await loadConfigFile(join(root, 'c.json'));
      await assert.rejects(startNode({ ...file.options, services: file.services, logger: silent }), (error: unknown) => error instanceof ConfigError && message.test(error.message), module);
      assert.equal(existsSync(dir), false, 'no data directory was created');
    }
    // A program's declarations get the same checks.
    await assert.rejects(startNode({ memory: true, httpPort: 0, logger: silent, services: { A: { module: join(root, 'ok.mjs'), threads: 0 } } }), (error: unknown) => error instanceof ConfigError && /startNode: services\.A\.threads/.test(error.message));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
