// The --tb-address option: off by default, a port means 127.0.0.1:<port>, host:port and [v6]:port are
// taken as given, PURSER_TB_ADDRESS sets it and the flag wins, and anything else is a ConfigError
// naming the option (the CLI exits 2 on it); the help documents it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, defaultConfig } from 'purser';
import { optionsHelp, resolveConfig } from '../../src/node/config.js';

test('--tb-address: off by default; port, host:port, env and flag precedence', () => {
  assert.equal(defaultConfig().tbAddress, 'off');
  assert.equal(resolveConfig([]).tbAddress, 'off');
  assert.equal(resolveConfig(['--tb-address', '3000']).tbAddress, '3000');
  assert.equal(resolveConfig(['--tb-address', '0.0.0.0:3001']).tbAddress, '0.0.0.0:3001');
  assert.equal(resolveConfig([], { PURSER_TB_ADDRESS: '127.0.0.1:3002' }).tbAddress, '127.0.0.1:3002');
  assert.equal(resolveConfig(['--tb-address', 'off'], { PURSER_TB_ADDRESS: '3002' }).tbAddress, 'off');
  assert.match(optionsHelp(), /--tb-address <host:port\|port\|off>.*default off; env PURSER_TB_ADDRESS/);
});

test('--tb-address: malformed values are ConfigErrors that name the option', () => {
  for (const [argv, env] of [
    [['--tb-address', 'on'], {}],
    [['--tb-address', '127.0.0.1:70000'], {}],
    [['--tb-address', 'host:'], {}],
    [[], { PURSER_TB_ADDRESS: 'three thousand' }],
  ] as const) {
    assert.throws(() => resolveConfig(argv, env), (e: unknown) => e instanceof ConfigError && /tbAddress/.test(e.message), JSON.stringify(argv));
  }
});
