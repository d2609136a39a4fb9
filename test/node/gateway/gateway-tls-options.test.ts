// The gateway's TLS options for NATS: flags, PURSER_* variables, config-file keys (paths relative to the file)
// and startNode options all arrive; a certificate without its key (or the reverse), TLS files without NATS, and
// a CA, certificate or key file that is missing, not a file, too large, garbage, of the wrong kind or not the
// key of the certificate are each one ConfigError (CONFIG_INVALID) naming the option — and nothing starts (the
// data directory is never created). The compiled CLI exits 2 with one line naming the flag.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { ConfigError, startNode } from 'purser';
import { checkConfigObject } from '../../../src/node/config-file.js';
import { optionsHelp, resolveConfig } from '../../../src/node/config.js';
import { makeTestPki, opensslPath, type TestPki } from './_tls.js';

const skip = opensslPath === undefined ? 'openssl is not installed' : false;
const BIN = fileURLToPath(new URL('../../../bin/purser.js', import.meta.url));
const NATS = 'tls://127.0.0.1:4222';

let pki: TestPki;
let scratch: string;

before(() => {
  scratch = mkdtempSync(join(tmpdir(), 'purser-nats-tls-options-'));
  if (!skip) pki = makeTestPki();
});

after(() => {
  rmSync(scratch, { recursive: true, force: true });
  pki?.remove();
});

/** Writes `content` to a file in the scratch directory and returns its path. */
function file(name: string, content: string | Buffer): string {
  const path = join(scratch, name);
  writeFileSync(path, content);
  return path;
}

/** startNode with `options` is refused with CONFIG_INVALID naming `option`, before its data directory exists. */
async function assertRefused(options: Record<string, unknown>, option: RegExp): Promise<void> {
  const dir = join(scratch, `data-${Math.random().toString(36).slice(2)}`);
  await assert.rejects(startNode({ dir, httpPort: 0, nats: NATS, logger: pino({ level: 'silent' }), ...options }), (error: unknown) => {
    assert.ok(error instanceof ConfigError, `expected a ConfigError for ${JSON.stringify(options)}, got ${String(error)}`);
    assert.equal(error.code, 'CONFIG_INVALID');
    assert.match(error.message, option);
    return true;
  });
  assert.equal(existsSync(dir), false, 'nothing may start: the data directory was created');
}

test('flags, PURSER_* variables, config-file keys and --help carry the TLS options', () => {
  const fromEnv = resolveConfig(['--nats', NATS], { PURSER_NATS_TLS_CA: '/env/ca.pem', PURSER_NATS_TLS_CERT: '/env/c.pem', PURSER_NATS_TLS_KEY: '/env/k.pem' });
  assert.deepEqual([fromEnv.natsTlsCa, fromEnv.natsTlsCert, fromEnv.natsTlsKey], ['/env/ca.pem', '/env/c.pem', '/env/k.pem']);
  // Flags win over the environment.
  const fromFlags = resolveConfig(['--nats', NATS, '--nats-tls-ca', '/flag/ca.pem', '--nats-tls-cert', '/flag/c.pem', '--nats-tls-key', '/flag/k.pem'], { PURSER_NATS_TLS_CA: '/env/ca.pem' });
  assert.deepEqual([fromFlags.natsTlsCa, fromFlags.natsTlsCert, fromFlags.natsTlsKey], ['/flag/ca.pem', '/flag/c.pem', '/flag/k.pem']);
  // In a config file, paths are relative to the file's directory.
  const { options } = checkConfigObject({ nats: NATS, natsTlsCa: 'tls/ca.pem', natsTlsCert: 'tls/node.pem', natsTlsKey: '/abs/node.key' }, 'purser.config.json', '/etc/purser');
  assert.deepEqual([options.natsTlsCa, options.natsTlsCert, options.natsTlsKey], ['/etc/purser/tls/ca.pem', '/etc/purser/tls/node.pem', '/abs/node.key']);
  assert.throws(() => checkConfigObject({ nats: NATS, natsTlsCa: 7 }, 'purser.config.json', '/etc/purser'), (error: unknown) => error instanceof ConfigError && /natsTlsCa/.test(error.message));
  for (const flag of ['--nats-tls-ca <path>', '--nats-tls-cert <path>', '--nats-tls-key <path>']) assert.ok(optionsHelp().includes(flag), flag);
});

test('bad combinations are refused: a certificate without its key, a key without its certificate, TLS files without NATS', () => {
  for (const [argv, option] of [
    [['--nats', NATS, '--nats-tls-cert', '/c.pem'], /natsTlsCert.*natsTlsKey/],
    [['--nats', NATS, '--nats-tls-key', '/k.pem'], /natsTlsCert.*natsTlsKey/],
    [['--nats-tls-ca', '/ca.pem'], /natsTlsCa.*nats/],
    [['--nats-tls-cert', '/c.pem', '--nats-tls-key', '/k.pem'], /natsTlsCert.*nats/],
  ] as const) {
    assert.throws(() => resolveConfig(argv, {}), (error: unknown) => error instanceof ConfigError && error.code === 'CONFIG_INVALID' && option.test(error.message), argv.join(' '));
  }
  assert.throws(() => checkConfigObject({ nats: NATS, natsTlsKey: 'k.pem' }, 'purser.config.json', '/etc/purser'), (error: unknown) => error instanceof ConfigError && /natsTlsCert/.test(error.message));
});

test('startNode refuses bad combinations before anything starts', async () => {
  await assertRefused({ natsTlsCert: '/c.pem' }, /natsTlsCert.*natsTlsKey/);
  await assertRefused({ natsTlsKey: '/k.pem' }, /natsTlsCert.*natsTlsKey/);
  await assertRefused({ nats: '', natsTlsCa: '/ca.pem' }, /natsTlsCa/);
});

test('a missing, unreadable or garbage CA, certificate or key file is refused, naming the option', { skip }, async () => {
  const garbage = file('garbage.pem', 'hello, I am not a certificate\n');
  const empty = file('empty.pem', '');
  const brokenCert = file('broken.pem', '-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n');
  const huge = file('huge.pem', Buffer.alloc(2 * 1024 * 1024, 0x41));
  const missing = join(scratch, 'no-such-file.pem');
  const ca = { natsTlsCa: pki.ca };
  const pair = { natsTlsCert: pki.clientCert, natsTlsKey: pki.clientKey };
  for (const [options, option] of [
    [{ natsTlsCa: missing }, /natsTlsCa \(--nats-tls-ca\).*cannot read/],
    [{ natsTlsCa: scratch }, /natsTlsCa \(--nats-tls-ca\).*not a regular file/],
    [{ natsTlsCa: '/dev/zero' }, /natsTlsCa \(--nats-tls-ca\).*not a regular file/],
    [{ natsTlsCa: huge }, /natsTlsCa \(--nats-tls-ca\).*more than a PEM file holds/],
    [{ natsTlsCa: garbage }, /natsTlsCa \(--nats-tls-ca\).*no PEM certificate/],
    [{ natsTlsCa: empty }, /natsTlsCa \(--nats-tls-ca\).*no PEM certificate/],
    [{ natsTlsCa: brokenCert }, /natsTlsCa \(--nats-tls-ca\).*not a valid PEM certificate/],
    // A key where the CA belongs.
    [{ natsTlsCa: pki.clientKey }, /natsTlsCa \(--nats-tls-ca\).*no PEM certificate/],
    [{ ...ca, ...pair, natsTlsCert: missing }, /natsTlsCert \(--nats-tls-cert\).*cannot read/],
    [{ ...ca, ...pair, natsTlsCert: garbage }, /natsTlsCert \(--nats-tls-cert\).*no PEM certificate/],
    [{ ...ca, ...pair, natsTlsCert: brokenCert }, /natsTlsCert \(--nats-tls-cert\).*not a valid PEM certificate/],
    [{ ...ca, ...pair, natsTlsKey: missing }, /natsTlsKey \(--nats-tls-key\).*cannot read/],
    [{ ...ca, ...pair, natsTlsKey: garbage }, /natsTlsKey \(--nats-tls-key\).*not a valid unencrypted PEM private key/],
    // The certificate where the key belongs, and a key that is not the certificate's (the server's).
    [{ ...ca, ...pair, natsTlsKey: pki.clientCert }, /natsTlsKey \(--nats-tls-key\).*not a valid unencrypted PEM private key/],
    [{ ...ca, ...pair, natsTlsKey: pki.serverKey }, /natsTlsKey \(--nats-tls-key\).*not the key of the certificate/],
  ] as const) {
    await assertRefused(options, option);
  }
  // And the good files pass this check (the node starts; NATS at 127.0.0.1:4222 need not exist for that).
  const node = await startNode({ memory: true, httpPort: 0, nats: NATS, ...ca, ...pair, logger: pino({ level: 'silent' }) });
  assert.notEqual(node.gateway, undefined);
  await node.close();
});

test('purser start with an unreadable TLS file exits 2 with one line naming the flag', () => {
  const result = spawnSync(process.execPath, [BIN, 'start', '--memory', '--http-port', '0', '--nats', NATS, '--nats-tls-ca', join(scratch, 'absent.pem')], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(result.status, 2, result.stderr);
  assert.match(result.stderr, /^purser: .*natsTlsCa \(--nats-tls-ca\): .*absent\.pem: cannot read it.*\n$/);
  assert.doesNotMatch(result.stderr, /\n\s+at /);
});
