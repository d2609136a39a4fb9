// Who may use a node: tokens with roles on the HTTP and bus listeners, accepted and refused for each role;
// comparisons that do not stop at the first match; tokens never in the log; TLS on both listeners with a
// certificate from config; and start refusing a non-loopback address without protection unless --insecure
// (then warning). Whole nodes, in memory, on ephemeral ports.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { pino, type Logger } from 'pino';
import { ClientError, ConfigError, XatmiError, connect, startNode, type PurserNode } from 'purser';
import { Authenticator, loadTokensFile } from '../../../src/node/auth.js';
import { isLoopback } from '../../../src/node/security.js';

const TOKENS = {
  admin: 'admin-token-0123456789abcdef',
  caller: 'caller-token-0123456789abcdef',
  ledgerCaller: 'ledger-token-0123456789abcdef',
  monitor: 'monitor-token-0123456789abcdef',
};

let dir: string;
let tokensFile: string;

function recordingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter((line) => line !== ''));
      done();
    },
  });
  return { logger: pino({ level: 'trace' }, destination), lines };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'purser-auth-'));
  tokensFile = join(dir, 'tokens.json');
  await writeFile(tokensFile, JSON.stringify([
    { name: 'ops', token: TOKENS.admin, role: 'admin' },
    { name: 'switch', token: TOKENS.caller, role: 'call', services: ['ECHO'] },
    { name: 'books', token: TOKENS.ledgerCaller, role: 'call', services: ['*'], ledger: true },
    { name: 'prometheus', token: TOKENS.monitor, role: 'monitor' },
  ]));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function withNode(options: Parameters<typeof startNode>[0], body: (node: PurserNode) => Promise<void>): Promise<void> {
  const node = await startNode({ memory: true, httpPort: 0, logger: pino({ level: 'silent' }), ...options });
  node.bus.advertise('ECHO', (request) => request.data, { servers: 2 });
  node.bus.advertise('OTHER', () => 'other', { servers: 1 });
  try {
    await body(node);
  } finally {
    await node.close();
  }
}

test('tokens file: entries are checked, and a refusal never quotes the token', async () => {
  const cases: Array<[unknown, RegExp]> = [
    [{}, /JSON array/],
    [[{ name: 'a', token: 'short', role: 'admin' }], /at least 16/],
    [[{ name: 'a', token: 'x'.repeat(20), role: 'root' }], /role must be one of/],
    [[{ name: 'a', token: 'x'.repeat(20), role: 'call', services: 'ECHO' }], /services must be an array/],
    [[{ name: 'a', token: 'x'.repeat(20), role: 'admin' }, { name: 'b', token: 'x'.repeat(20), role: 'admin' }], /same token appears twice/],
    [[{ name: 'a', token: 'x'.repeat(20), role: 'admin', extra: 1 }], /unknown key extra/],
  ];
  for (const [content, pattern] of cases) {
    const path = join(dir, 'bad.json');
    await writeFile(path, JSON.stringify(content));
    assert.throws(() => loadTokensFile(path), (error: unknown) => error instanceof ConfigError && pattern.test(error.message) && !error.message.includes('x'.repeat(20)), JSON.stringify(content));
  }
});

test('comparison: every known token is compared on every attempt (no early exit), whatever matches', () => {
  const auth = loadTokensFile(tokensFile);
  for (const attempt of [TOKENS.admin, TOKENS.monitor, 'nope', '', TOKENS.admin.slice(0, -1), `${TOKENS.admin}x`]) {
    const before = auth.comparisons;
    auth.authenticate(attempt);
    assert.equal(auth.comparisons - before, auth.size, `attempt ${JSON.stringify(attempt)}`);
  }
  assert.equal(auth.authenticate(TOKENS.admin)?.name, 'ops');
  assert.equal(auth.authenticate(TOKENS.admin.slice(0, -1)), undefined, 'a prefix is not the token');
  assert.equal(Authenticator.bearer(`Bearer ${TOKENS.admin}`), TOKENS.admin);
  assert.equal(Authenticator.bearer(`Basic ${TOKENS.admin}`), undefined);
});

test('bus: no token and a wrong token are refused at HELLO; each role may do what it may and no more', async () => {
  const { logger, lines } = recordingLogger();
  await withNode({ authTokens: tokensFile, logger }, async (node) => {
    const port = node.busListener.port;
    const unauthorized = (error: unknown) => error instanceof ClientError && error.code === 'CLIENT_UNAUTHORIZED';
    await assert.rejects(connect(port), unauthorized);
    await assert.rejects(connect(port, { token: 'wrong-token-0123456789abcdef' }), unauthorized);

    const caller = await connect(port, { token: TOKENS.caller });
    assert.equal((await caller.call('ECHO', 'hi')).data, 'hi');
    await assert.rejects(caller.call('OTHER', 1), (error: unknown) => error instanceof XatmiError && error.code === 'TPEPERM');
    await assert.rejects(caller.lookupAccounts([1n]), (error: unknown) => error instanceof ClientError && error.code === 'CLIENT_FORBIDDEN');
    assert.equal((await caller.call('ECHO', 'still usable')).data, 'still usable');

    const books = await connect(port, { token: TOKENS.ledgerCaller });
    assert.deepEqual(await books.lookupAccounts([1n]), []);
    assert.equal((await books.call('OTHER', 1)).data, 'other');

    const monitor = await connect(port, { token: TOKENS.monitor });
    await assert.rejects(monitor.call('ECHO', 1), (error: unknown) => error instanceof XatmiError && error.code === 'TPEPERM');

    const admin = await connect(port, { token: TOKENS.admin });
    assert.equal((await admin.call('OTHER', 1)).data, 'other');
    assert.deepEqual(await admin.lookupAccounts([1n]), []);
    for (const client of [caller, books, monitor, admin]) await client.close();
  });
  const log = lines.join('\n');
  for (const token of [...Object.values(TOKENS), 'wrong-token-0123456789abcdef']) assert.ok(!log.includes(token), 'no token in the log');
});

test('HTTP: 401 without a token, 403 beyond the role, /health open to all', async () => {
  const { logger, lines } = recordingLogger();
  await withNode({ authTokens: tokensFile, logger }, async (node) => {
    const ask = async (method: string, path: string, token?: string) => {
      const response = await fetch(`${node.http.url}${path}`, {
        method,
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
        body: method === 'POST' ? '{"data": 1}' : undefined,
      });
      const body = await response.text();
      return { status: response.status, code: response.status >= 400 ? (JSON.parse(body) as { error: { code: string } }).error.code : undefined };
    };
    assert.equal((await ask('GET', '/health')).status, 200);
    assert.deepEqual(await ask('POST', '/v1/call/ECHO'), { status: 401, code: 'HTTP_UNAUTHORIZED' });
    assert.deepEqual(await ask('POST', '/v1/call/ECHO', 'wrong-token-0123456789abcdef'), { status: 401, code: 'HTTP_UNAUTHORIZED' });
    assert.deepEqual(await ask('GET', '/metrics'), { status: 401, code: 'HTTP_UNAUTHORIZED' });
    assert.deepEqual(await ask('POST', '/v1/admin/checkpoint'), { status: 401, code: 'HTTP_UNAUTHORIZED' });

    assert.equal((await ask('POST', '/v1/call/ECHO', TOKENS.caller)).status, 200);
    assert.deepEqual(await ask('POST', '/v1/call/OTHER', TOKENS.caller), { status: 403, code: 'HTTP_FORBIDDEN' });
    assert.deepEqual(await ask('GET', '/v1/admin/pq', TOKENS.caller), { status: 403, code: 'HTTP_FORBIDDEN' });
    assert.deepEqual(await ask('POST', '/v1/admin/checkpoint', TOKENS.caller), { status: 403, code: 'HTTP_FORBIDDEN' });
    assert.deepEqual(await ask('GET', '/metrics', TOKENS.caller), { status: 403, code: 'HTTP_FORBIDDEN' });

    assert.equal((await ask('GET', '/metrics', TOKENS.monitor)).status, 200);
    assert.deepEqual(await ask('POST', '/v1/call/ECHO', TOKENS.monitor), { status: 403, code: 'HTTP_FORBIDDEN' });

    assert.equal((await ask('GET', '/v1/admin/pq', TOKENS.admin)).status, 200);
    assert.equal((await ask('POST', '/v1/call/OTHER', TOKENS.admin)).status, 200);
    assert.equal((await ask('GET', '/metrics', TOKENS.admin)).status, 200);
  });
  const log = lines.join('\n');
  for (const token of [...Object.values(TOKENS), 'wrong-token-0123456789abcdef']) assert.ok(!log.includes(token), 'no token in the log');
});

/** A self-signed certificate for 127.0.0.1, made by openssl (the test is skipped without it). */
function makeCertificate(): { cert: string; key: string } | undefined {
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    return { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
  } catch {
    return undefined;
  }
}

test('TLS: the HTTP and bus listeners speak TLS with the configured certificate; plain clients get nowhere', async (t) => {
  const files = makeCertificate();
  if (files === undefined) return t.skip('openssl is not available');
  const ca = readFileSync(files.cert);
  await withNode({ authTokens: tokensFile, tlsCert: files.cert, tlsKey: files.key }, async (node) => {
    assert.match(node.http.url, /^https:/);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${node.http.url}/v1/call/ECHO`, { method: 'POST', ca, headers: { authorization: `Bearer ${TOKENS.caller}` } }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end('{"data": 1}');
    });
    assert.equal(status, 200);
    const client = await connect(node.busListener.port, { token: TOKENS.caller, tls: { ca } });
    assert.equal((await client.call('ECHO', 'over TLS')).data, 'over TLS');
    await client.close();
    // A plain-TCP client's HELLO is not a TLS handshake: it never gets in.
    await assert.rejects(connect(node.busListener.port, { token: TOKENS.caller, connectTimeoutMs: 10_000 }), (error: unknown) => error instanceof ClientError && error.code === 'CLIENT_CONNECT_FAILED');
    // Nor does a TLS client that does not trust the certificate.
    await assert.rejects(connect(node.busListener.port, { token: TOKENS.caller, tls: true }), (error: unknown) => error instanceof ClientError && error.code === 'CLIENT_CONNECT_FAILED');
  });
});

test('start refuses a non-loopback address without tokens and TLS, unless --insecure, which warns', async () => {
  assert.ok(isLoopback('127.0.0.1') && isLoopback('::1') && isLoopback('localhost') && isLoopback('127.9.9.9'));
  assert.ok(!isLoopback('0.0.0.0') && !isLoopback('::') && !isLoopback('10.1.2.3') && !isLoopback('example.com'));
  const refused = (pattern: RegExp) => (error: unknown) => error instanceof ConfigError && pattern.test(error.message);
  await assert.rejects(startNode({ memory: true, httpPort: 0, httpHost: '0.0.0.0', logger: pino({ level: 'silent' }) }), refused(/HTTP on 0\.0\.0\.0.*--insecure/));
  await assert.rejects(startNode({ memory: true, httpPort: 0, busHost: '0.0.0.0', authTokens: tokensFile, logger: pino({ level: 'silent' }) }), refused(/bus on 0\.0\.0\.0/));
  await assert.rejects(startNode({ memory: true, httpPort: 0, tbAddress: '0.0.0.0:0', logger: pino({ level: 'silent' }) }), refused(/TigerBeetle on 0\.0\.0\.0/));
  const { logger, lines } = recordingLogger();
  await withNode({ busHost: '0.0.0.0', insecure: true, logger }, async (node) => {
    const client = await connect(node.busListener.port);
    assert.equal((await client.call('ECHO', 'open')).data, 'open');
    await client.close();
  });
  assert.ok(lines.some((line) => /"level":40/.test(line) && /INSECURE/.test(line) && /bus on 0\.0\.0\.0/.test(line)), 'a warning names the unprotected listener');
  const files = makeCertificate();
  if (files !== undefined) {
    const quiet = recordingLogger();
    await withNode({ busHost: '0.0.0.0', authTokens: tokensFile, tlsCert: files.cert, tlsKey: files.key, tbAddress: '0.0.0.0:0', tbAllowedAddresses: '127.0.0.1,10.0.0.0/8', logger: quiet.logger }, async (node) => {
      assert.ok(node.tigerbeetle !== undefined);
      const status = await new Promise<number>((resolve, reject) => {
        request(`${node.http.url}/health`, { ca: readFileSync(files.cert) }, (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        }).on('error', reject).end();
      });
      assert.equal(status, 200);
    });
    assert.ok(!quiet.lines.some((line) => /INSECURE/.test(line)), 'protected listeners start without a warning');
  }
});
