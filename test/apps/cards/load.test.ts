// `purser cards load` end to end against a node hosting the example config's switch: a short, slow run
// (the test asserts the books check, never a rate or a latency) must issue its cards, get every message
// answered as the mix expects, and pass the books check; bad arguments exit 2.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { loadConfigFile, startNode } from 'purser';
import type { CardsSwitch } from '../../../apps/cards/app.js';
import { main } from '../../../src/cli/main.js';
import { capturing } from '../../cli/_capture.js';

const EXAMPLE_CONFIG = fileURLToPath(new URL('../../../examples/purser.config.json', import.meta.url));

test('purser cards load drives the switch and its books check passes', async () => {
  const file = await loadConfigFile(EXAMPLE_CONFIG);
  process.env.PURSER_CARDS_PORT = '0';
  const node = await startNode({ ...file.options, services: {}, apps: file.apps, memory: true, httpPort: 0, logger: pino({ level: 'silent' }) });
  delete process.env.PURSER_CARDS_PORT;
  const output: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  const writeError = process.stderr.write.bind(process.stderr);
  try {
    const cards = node.apps.get('cards') as CardsSwitch;
    process.stdout.write = capturing(write, output);
    process.stderr.write = capturing(writeError, output);
    const code = await main(['cards', 'load', '--tps', '300', '--duration', '2', '--cards', '50', '--statements', '50',
      '--address', `127.0.0.1:${cards.address.port}`, '--bus-address', `${node.busListener.host}:${node.busListener.port}`], {});
    process.stdout.write = write;
    process.stderr.write = writeError;
    const text = output.join('');
    assert.equal(code, 0, text);
    assert.match(text, /books check passed/);
    // Some authorizations were answered (how many, and how fast, is the benchmark's business).
    assert.match(text, /authorizations: [1-9]\d* answered/);
    assert.match(text, /holds: \d+ captured, \d+ voided, 0 expired, \d+ pending/);
    assert.match(text, /mini-statements: 50 cards compared with the ledger/);
  } finally {
    process.stdout.write = write;
    process.stderr.write = writeError;
    await node.close();
  }
  assert.equal(await main(['cards', 'load', '--tps', 'fast'], {}), 2);
  assert.equal(await main(['cards', 'unload'], {}), 2);
  // No switch listening: one line naming the address, exit 1 (not a stack trace).
  const errors: string[] = [];
  process.stderr.write = capturing(writeError, errors);
  const busNode = await startNode({ memory: true, httpPort: 0, logger: pino({ level: 'silent' }) });
  busNode.bus.advertise('CARDS.ISSUE', () => ({ mainAccount: '1' }));
  try {
    assert.equal(await main(['cards', 'load', '--cards', '1', '--address', '127.0.0.1:1', '--bus-address', `${busNode.busListener.host}:${busNode.busListener.port}`], {}), 1);
  } finally {
    process.stderr.write = writeError;
    await busNode.close();
  }
  assert.match(errors.join(''), /cannot connect to the switch at 127\.0\.0\.1:1.*\[CARDS_UNREACHABLE\]\n$/);
});
