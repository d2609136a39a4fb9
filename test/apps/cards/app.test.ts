// The switch as the example config's app: a node started from examples/purser.config.json hosts it next to
// the example services (issue a card over HTTP JSON, authorize over ISO 8583), and the config's `apps` key
// is checked like `services` — a bad declaration stops the start with a ConfigError naming the key.
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { ConfigError, loadConfigFile, startNode } from 'purser';
import type { CardsSwitch } from '../../../apps/cards/app.js';
import { IsoClient } from '../../../apps/cards/client.js';
import { newPan, requestFor, responseCode, IMK } from './_switch.js';
import { chipCard } from '../../../apps/cards/client.js';

const EXAMPLE_CONFIG = fileURLToPath(new URL('../../../examples/purser.config.json', import.meta.url));

test('a node from examples/purser.config.json hosts the card switch: CARDS.ISSUE over HTTP, a chip authorization over TCP', async () => {
  const file = await loadConfigFile(EXAMPLE_CONFIG);
  assert.deepEqual(Object.keys(file.apps), ['cards']);
  process.env.PURSER_CARDS_PORT = '0'; // any free port: a node on 8583 elsewhere is no obstacle
  const node = await startNode({ ...file.options, services: file.services, apps: file.apps, memory: true, httpPort: 0, logger: pino({ level: 'silent' }) });
  delete process.env.PURSER_CARDS_PORT;
  try {
    assert.deepEqual(node.bus.services().filter((name) => !name.startsWith('TASKS.')).sort(), ['BALANCE', 'CARDS.ISSUE', 'CARDS.STATUS', 'HSM', 'LIMITS']);
    const pan = newPan();
    const response = await fetch(`${node.http.url}/v1/call/CARDS.ISSUE`, {
      method: 'POST', body: JSON.stringify({ data: { pan, psn: 1, expiry: '2912', customer: '7c9e6679-7425-40de-944b-e07fc1f90ae7', creditLimit: '50000', currency: 978 } }),
    });
    assert.equal(response.status, 200);
    const cards = node.apps.get('cards') as CardsSwitch;
    const client = await IsoClient.connect(cards.address.port);
    try {
      const card = { ...chipCard(IMK, pan, 1), mainId: 0n, limitId: 0n, expiry: '2912', atc: 1 };
      const answer = await client.request(requestFor(card, { amount: 1234n }));
      assert.equal(responseCode(answer), '00');
    } finally {
      client.close();
    }
  } finally {
    await node.close();
  }
});

test('the apps key is checked before anything starts', async () => {
  const root = await mkdtemp(join(tmpdir(), 'purser-apps-'));
  await writeFile(join(root, 'not-an-app.mjs'), 'export default 42;\n');
  const cases: [unknown, RegExp][] = [
    [{ apps: [] }, /apps: expected an object/],
    [{ apps: { cards: {} } }, /apps\.cards\.module: missing/],
    [{ apps: { cards: { module: './nope.mjs' } } }, /apps\.cards\.module: no module/],
    [{ apps: { cards: { module: './not-an-app.mjs', extra: 1 } } }, /apps\.cards\.extra: unknown key/],
    [{ apps: { cards: { module: './not-an-app.mjs', settings: 'x' } } }, /apps\.cards\.settings: expected an object/],
    [{ apps: { 'bad name!': { module: './not-an-app.mjs' } } }, /an app name/],
  ];
  for (const [value, message] of cases) {
    const path = join(root, 'purser.config.json');
    await writeFile(path, JSON.stringify(value));
    await assert.rejects(loadConfigFile(path), (error: unknown) => error instanceof ConfigError && message.test(error.message), JSON.stringify(value));
  }
  await writeFile(join(root, 'purser.config.json'), JSON.stringify({ apps: { cards: { module: './not-an-app.mjs' } } }));
  const file = await loadConfigFile(join(root, 'purser.config.json'));
  await assert.rejects(startNode({ apps: file.apps, memory: true, httpPort: 0, logger: pino({ level: 'silent' }) }), (error: unknown) => error instanceof ConfigError && /has no start function/.test(error.message));
  // Bad settings of a real app: the switch refuses them and the node does not start.
  await writeFile(join(root, 'purser.config.json'), JSON.stringify({ apps: { cards: { module: fileURLToPath(new URL('../../../examples/services/cards.mjs', import.meta.url)), settings: { issuers: [] } } } }));
  const bad = await loadConfigFile(join(root, 'purser.config.json'));
  await assert.rejects(startNode({ apps: bad.apps, memory: true, httpPort: 0, logger: pino({ level: 'silent' }) }), /apps\.cards\.settings\.issuers/);
});
