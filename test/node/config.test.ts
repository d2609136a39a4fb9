// Configuration: defaults come from one function; environment variables override them, flags override
// both; every malformed value or unknown flag is a ConfigError naming what was wrong.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, defaultConfig } from 'purser';
import { optionsHelp, resolveConfig } from '../../src/node/config.js';

test('defaults: ./purser-data on disk, HTTP on 127.0.0.1:7780', () => {
  const config = resolveConfig([], {});
  assert.deepEqual(config, defaultConfig());
  assert.equal(config.dir, './purser-data');
  assert.equal(config.httpHost, '127.0.0.1');
  assert.equal(config.httpPort, 7780);
  assert.equal(config.memory, false);
});

test('flags win over environment variables, which win over defaults', () => {
  const config = resolveConfig(['--http-port', '9001', '--memory'], { PURSER_HTTP_PORT: '9000', PURSER_DIR: '/tmp/x', PURSER_LOG_LEVEL: 'warn' });
  assert.equal(config.httpPort, 9001);
  assert.equal(config.dir, '/tmp/x');
  assert.equal(config.logLevel, 'warn');
  assert.equal(config.memory, true);
});

test('bad input is a ConfigError that names the offending flag or variable', () => {
  const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
    [['--bogus'], {}, /--bogus/],
    [['--http-port', 'abc'], {}, /--http-port/],
    [['--http-port', '70000'], {}, /--http-port/],
    [['--http-port', '-1'], {}, /http-port/],
    [['--log-level', 'loud'], {}, /--log-level/],
    [['--log-pretty', 'maybe'], {}, /--log-pretty/],
    [['stray'], {}, /stray|positional/i],
    [['--dir', ''], {}, /--dir/],
    [[], { PURSER_HTTP_PORT: 'abc' }, /PURSER_HTTP_PORT/],
    [[], { PURSER_MEMORY: 'yes please' }, /PURSER_MEMORY/],
    [[], { PURSER_SHUTDOWN_TIMEOUT_MS: '1.5' }, /PURSER_SHUTDOWN_TIMEOUT_MS/],
  ];
  for (const [argv, env, pattern] of cases) {
    assert.throws(
      () => resolveConfig(argv, env),
      (error: unknown) => error instanceof ConfigError && error.code === 'CONFIG_INVALID' && pattern.test(error.message),
      `${argv.join(' ')} ${JSON.stringify(env)}`,
    );
  }
});

test('help documents every option with its flag, default and environment variable', () => {
  const help = optionsHelp();
  for (const flag of ['--dir', '--memory', '--http-host', '--http-port', '--log-level', '--log-pretty', '--shutdown-timeout-ms']) {
    assert.match(help, new RegExp(flag));
  }
  assert.match(help, /PURSER_HTTP_PORT/);
  assert.match(help, /default 7780/);
});
