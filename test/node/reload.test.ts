// Reloading a running node's config file: a service added, removed, resized and given new code (a call held
// by the old code finishes on it, the queued one runs on the new, nobody sees TPENOENT); unsafe changes and
// node options are reported and left alone; a broken file or module changes nothing; `purser admin reload`
// prints the summary; a node without a config file refuses with a typed error.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { ConfigError, loadConfigFile, startNode, XatmiError } from 'purser';
import { main } from '../../src/cli/main.js';
import { captureStdout } from '../cli/_capture.js';

const silent = pino({ level: 'silent' });

/** A service module answering `version` for each call; a call whose data is 'hold' waits for globalThis.releaseHeld. */
function serviceSource(version: string): string {
  return `export default async (request) => {
  if (request.data === 'hold') await globalThis.heldCall;
  return ${JSON.stringify(version)};
};
`;
}

async function writeConfig(dir: string, config: unknown): Promise<string> {
  const path = join(dir, 'purser.config.json');
  await writeFile(path, JSON.stringify(config));
  return path;
}


test('reload adds, removes, resizes and swaps code without a gap; unsafe changes and options are reported, not applied', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'purser-reload-'));
  let release!: () => void;
  (globalThis as { heldCall?: Promise<void> }).heldCall = new Promise<void>((resolve) => (release = resolve));
  const path = await writeConfig(dir, {
    services: {
      PAY: { module: './pay.mjs', servers: 1, queueDepth: 10 },
      OLD: { module: './old.mjs' },
      FIXED: { module: './fixed.mjs', queueDepth: 5 },
    },
  });
  await writeFile(join(dir, 'pay.mjs'), serviceSource('pay v1'));
  await writeFile(join(dir, 'old.mjs'), serviceSource('old'));
  await writeFile(join(dir, 'fixed.mjs'), serviceSource('fixed'));
  const file = await loadConfigFile(path);
  const node = await startNode({ memory: true, httpPort: 0, logger: silent, services: file.services, configFile: path });
  try {
    node.bus.advertise('PROGRAM', () => 'mine'); // advertised by a program: reload never touches it
    const held = node.bus.call('PAY', 'hold');
    const queued = node.bus.call('PAY', 'queued');
    // Wait for the state: the held call runs on PAY's one (old) server and the other is queued behind it.
    const phases = () => node.bus.requests().filter((row) => row.service === 'PAY').map((row) => row.phase).sort();
    while (JSON.stringify(phases()) !== '["queued","running"]') await new Promise((resolve) => setImmediate(resolve));

    await writeFile(join(dir, 'pay.mjs'), serviceSource('pay v2'));
    await writeFile(join(dir, 'new.mjs'), serviceSource('new'));
    await writeConfig(dir, {
      httpPort: 9999,
      services: {
        PAY: { module: './pay.mjs', servers: 2, queueDepth: 10 },
        NEW: { module: './new.mjs', servers: 2 },
        FIXED: { module: './fixed.mjs', queueDepth: 50 },
        PROGRAM: { module: './new.mjs' },
      },
    });
    const report = await node.reload();
    assert.deepEqual(report.added, ['NEW']);
    assert.deepEqual(report.replaced, ['PAY']);
    assert.deepEqual(report.removed, ['OLD']);
    assert.deepEqual(report.restartNeeded, ['httpPort']);
    assert.deepEqual(report.refused.map((entry) => entry.service), ['FIXED', 'PROGRAM']);
    // The queued call ran on the new code while the held one still holds an old server.
    assert.equal((await queued).data, 'pay v2');
    assert.equal((await node.bus.call('PAY', null)).data, 'pay v2');
    release();
    assert.equal((await held).data, 'pay v1');
    assert.equal((await node.bus.call('NEW', null)).data, 'new');
    await assert.rejects(node.bus.call('OLD', null), (error: unknown) => error instanceof XatmiError && error.code === 'TPENOENT');
    assert.equal((await node.bus.call('PROGRAM', null)).data, 'mine');
    assert.equal(node.bus.pq().find((row) => row.service === 'FIXED')!.queueDepth, 5, 'a refused change is not applied');

    // Only the server count changes: a resize, through the CLI this time.
    await writeConfig(dir, { services: { PAY: { module: './pay.mjs', servers: 3, queueDepth: 10 }, NEW: { module: './new.mjs', servers: 2 }, FIXED: { module: './fixed.mjs', queueDepth: 5 } } });
    const printed = await captureStdout(() => main(['admin', 'reload', '--url', node.http.url]));
    assert.equal(printed.code, 0);
    assert.match(printed.out, /^resized: PAY$/m);
    assert.match(printed.out, /^unchanged: NEW, FIXED$/m);
    assert.equal(node.bus.pq().find((row) => row.service === 'PAY')!.servers, 3);

    // A broken file, or a module that fails to load, changes nothing.
    await writeFile(path, '{ "services": ');
    await assert.rejects(node.reload(), ConfigError);
    await writeFile(join(dir, 'broken.mjs'), 'export default (;');
    await writeConfig(dir, { services: { PAY: { module: './pay.mjs', servers: 1, queueDepth: 10 }, NEW: { module: './new.mjs', servers: 2 }, BROKEN: { module: './broken.mjs' } } });
    await assert.rejects(node.reload(), (error: unknown) => error instanceof ConfigError && /BROKEN/.test(error.message));
    assert.deepEqual(node.bus.services().sort(), ['FIXED', 'NEW', 'PAY', 'PROGRAM']);
    assert.equal(node.bus.pq().find((row) => row.service === 'PAY')!.servers, 3);
    const refused = await fetch(`${node.http.url}/v1/admin/reload`, { method: 'POST' });
    assert.equal(refused.status, 400);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'CONFIG_INVALID');
  } finally {
    release();
    await node.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a node started without a config file refuses to reload, with a typed error', async () => {
  const node = await startNode({ memory: true, httpPort: 0, logger: silent });
  try {
    await assert.rejects(node.reload(), (error: unknown) => error instanceof ConfigError && /without a config file/.test(error.message));
    assert.equal((await fetch(`${node.http.url}/v1/admin/reload`, { method: 'POST' })).status, 400);
  } finally {
    await node.close();
  }
});
