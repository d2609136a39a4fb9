// The listener's protocol rules, checked with a raw client that builds frames byte by byte: the register
// reply, duplicate detection (a resent request gets the identical cached reply and is not executed),
// ping/pong, every eviction reason the listener issues, the frames that close a connection, and typed
// errors for bad listener options and addresses.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Registry } from 'prom-client';
import {
  buildPingClient,
  buildRequest,
  Command,
  EvictionReason,
  HEADER_OFFSETS,
  HEADER_SIZE_BYTES,
  packRelease,
  readEviction,
  readFrame,
  readPongClient,
  readReply,
  sealMessage,
} from '../../../../src/wire/tigerbeetle/header.js';
import { TigerBeetleError } from '../../../../src/node/errors.js';
import { parseTigerBeetleAddress, startTigerBeetleListener } from '../../../../src/node/listeners/tigerbeetle/listener.js';
import { CLIENT_RELEASE, encodeAccounts, encodeIds, multiBatchBody, newAccount, RawConnection, RawSession, RecordingLedger, silentLogger, startListener } from './_harness.js';

const LOOKUP_ACCOUNTS = 140;
const QUERY_ACCOUNTS = 144;
const CREATE_ACCOUNTS = 146;

let ledger: RecordingLedger;
let listener: Awaited<ReturnType<typeof startListener>>;
let nextClient = 1000n;

before(async () => {
  ledger = new RecordingLedger();
  listener = await startListener(ledger);
});
after(async () => {
  await listener.close();
});

async function session(options: { release?: number } = {}): Promise<RawSession> {
  const connection = await RawConnection.open(listener.address.port);
  nextClient += 1n;
  return new RawSession(connection, nextClient, options);
}

function evictionReason(message: Buffer | undefined): number | undefined {
  if (message === undefined || readFrame(message).command !== Command.eviction) return undefined;
  return readEviction(message).reason;
}

test('register: a 320-byte reply with the session number as commit and batch_size_limit 1,048,320', async () => {
  const s = await session();
  const reply = await s.register();
  assert.equal(reply.length, 320);
  const fields = readReply(reply);
  assert.equal(fields.request, 0);
  assert.ok(fields.commit > 0n);
  assert.equal(fields.op, fields.commit);
  assert.equal(reply.readUInt32LE(HEADER_SIZE_BYTES), 1_048_320);
  assert.ok(reply.subarray(HEADER_SIZE_BYTES + 4).every((byte) => byte === 0));
  assert.equal(readFrame(reply).release, CLIENT_RELEASE);
  // The register resent gets the same bytes, and no second session.
  const again = await s.exchange(s.registerMessage());
  assert.deepEqual(again, reply);
  s.connection.close();
});

test('a resent request gets the identical cached reply and is not executed again', async () => {
  const s = await session();
  await s.register();
  const body = multiBatchBody(128, [encodeAccounts([newAccount(77n)])]);
  const calls = ledger.callsOf('createAccounts');
  const reply = await s.request(CREATE_ACCOUNTS, body);
  assert.equal(readFrame(reply!).command, Command.reply);
  const resent = await s.exchange(s.lastRequest!);
  assert.deepEqual(resent, reply);
  assert.equal(ledger.callsOf('createAccounts') - calls, 1);
  // The resend may also come on a new connection (the client reconnected).
  const other = await RawConnection.open(listener.address.port);
  other.send(s.lastRequest!);
  await other.waitFor(1);
  assert.deepEqual(other.messages[0], reply);
  other.close();
  // A request from the future (a gap in numbering) is ignored, not executed.
  s.connection.send(s.requestMessage(CREATE_ACCOUNTS, body, { request: s.requestNumber + 5 }));
  const next = await s.request(LOOKUP_ACCOUNTS, multiBatchBody(16, [encodeIds([77n])]));
  assert.equal(readReply(next!).request, 2, 'the gap request got no reply; the next in order did');
  assert.equal(ledger.callsOf('createAccounts') - calls, 1);
  s.connection.close();
});

test('ping_client is answered by pong_client echoing the ping timestamp', async () => {
  const connection = await RawConnection.open(listener.address.port);
  connection.send(buildPingClient(0n, CLIENT_RELEASE, 5n, 987654321n));
  await connection.waitFor(1);
  assert.equal(readFrame(connection.messages[0]).command, Command.pong_client);
  assert.equal(readPongClient(connection.messages[0]).pingTimestampMonotonic, 987654321n);
  connection.close();
});

test('evictions: no session, release too low/high, release mismatch, session too low, bad operation, bad body', async () => {
  const s = await session();
  assert.equal(evictionReason(await s.exchange(s.requestMessage(LOOKUP_ACCOUNTS, multiBatchBody(16, [encodeIds([1n])]), { session: 9999n, request: 1 }))), EvictionReason.no_session);

  const old = await session({ release: packRelease(0, 16, 99) });
  assert.equal(evictionReason(await old.exchange(old.registerMessage())), EvictionReason.client_release_too_low);
  const newer = await session({ release: packRelease(0, 18, 0) });
  assert.equal(evictionReason(await newer.exchange(newer.registerMessage())), EvictionReason.client_release_too_high);

  const mismatch = await session();
  await mismatch.register();
  const body = multiBatchBody(16, [encodeIds([1n])]);
  assert.equal(evictionReason(await mismatch.exchange(mismatch.requestMessage(LOOKUP_ACCOUNTS, body, { release: packRelease(0, 17, 8) }))), EvictionReason.session_release_mismatch);

  const reRegistered = await session();
  await reRegistered.register();
  const firstSession = reRegistered.session;
  // Registering again (a new register request, so a different checksum) gives a newer session.
  const second = buildRequest({ cluster: 0n, release: CLIENT_RELEASE, parent: 0n, client: reRegistered.client, session: 0n, request: 0, operation: 2, body: new Uint8Array(256).fill(0, 0) });
  second[HEADER_OFFSETS.view] = 1;
  sealMessage(second);
  const secondReply = await reRegistered.exchange(second);
  assert.ok(readReply(secondReply!).commit > firstSession);
  assert.equal(evictionReason(await reRegistered.exchange(reRegistered.requestMessage(LOOKUP_ACCOUNTS, body, { session: firstSession }))), EvictionReason.session_too_low);

  for (const [operation, requestBody, reason] of [
    [139, body, EvictionReason.invalid_request_operation],
    [200, body, EvictionReason.invalid_request_operation],
    [CREATE_ACCOUNTS, new Uint8Array(100), EvictionReason.invalid_request_body_size],
    [CREATE_ACCOUNTS, new Uint8Array(256), EvictionReason.invalid_request_body],
    [QUERY_ACCOUNTS, multiBatchBody(64, [[new Uint8Array(64), new Uint8Array(64)]]), EvictionReason.invalid_request_body],
    [LOOKUP_ACCOUNTS, multiBatchBody(16, [encodeIds(Array.from({ length: 8190 }, (_, i) => BigInt(i + 1)))]), EvictionReason.invalid_request_body],
  ] as const) {
    const victim = await session();
    await victim.register();
    assert.equal(evictionReason(await victim.exchange(victim.requestMessage(operation, requestBody))), reason, `operation ${String(operation)}`);
    // An eviction ends the session: the next request is told there is none.
    assert.equal(evictionReason(await victim.exchange(victim.requestMessage(LOOKUP_ACCOUNTS, body))), EvictionReason.no_session);
    victim.connection.close();
  }
  for (const raw of [s, old, newer, mismatch, reRegistered]) raw.connection.close();
});

test('frames that close the connection: bad header or body checksum, wrong cluster, size over 1 MiB, server commands', async () => {
  const valid = (await session()).registerMessage();
  const cases: [string, (message: Buffer) => Buffer][] = [
    ['header checksum', (m) => ((m[HEADER_OFFSETS.checksum] ^= 1), m)],
    ['body checksum', (m) => ((m[HEADER_SIZE_BYTES + 3] ^= 1), m)],
    ['wrong cluster', (m) => ((m[80] = 1), sealMessage(m), m)],
    ['size over 1 MiB', (m) => (m.writeUInt32LE(2 * 1024 * 1024, HEADER_OFFSETS.size), sealMessage(m.subarray(0, HEADER_SIZE_BYTES)), m.subarray(0, HEADER_SIZE_BYTES))],
    ['reply command', (m) => ((m[HEADER_OFFSETS.command] = Command.reply), sealMessage(m), m)],
    ['non-zero reserved frame', (m) => ((m[120] = 1), sealMessage(m), m)],
  ];
  for (const [name, corrupt] of cases) {
    const connection = await RawConnection.open(listener.address.port);
    connection.send(corrupt(Buffer.from(valid)));
    assert.equal(await connection.waitClosed(), true, name);
    assert.equal(connection.messages.length, 0, `${name}: nothing was answered`);
  }
});

test('bad listener options and addresses are typed errors; a port in use is TB_LISTEN_FAILED', async () => {
  const base = { host: '127.0.0.1', port: 0, ledger, logger: silentLogger };
  await assert.rejects(startTigerBeetleListener({ ...base, cluster: -1n }), (e: unknown) => e instanceof TigerBeetleError && e.code === 'TB_OPTIONS_INVALID');
  await assert.rejects(startTigerBeetleListener({ ...base, ledger: {} as never }), (e: unknown) => e instanceof TigerBeetleError && e.code === 'TB_OPTIONS_INVALID');
  await assert.rejects(startTigerBeetleListener({ ...base, port: 70000 }), (e: unknown) => e instanceof TigerBeetleError && e.code === 'TB_OPTIONS_INVALID');
  await assert.rejects(startTigerBeetleListener({ ...base, port: listener.address.port }), (e: unknown) => e instanceof TigerBeetleError && e.code === 'TB_LISTEN_FAILED');
  assert.deepEqual(parseTigerBeetleAddress('3000'), { host: '127.0.0.1', port: 3000 });
  assert.deepEqual(parseTigerBeetleAddress('0.0.0.0:3001'), { host: '0.0.0.0', port: 3001 });
  assert.deepEqual(parseTigerBeetleAddress('[::1]:3002'), { host: '::1', port: 3002 });
  assert.equal(parseTigerBeetleAddress('off'), undefined);
  for (const bad of ['', 'on', '127.0.0.1:', ':3000', '127.0.0.1:99999', 'a b:1', '3000x']) {
    assert.throws(() => parseTigerBeetleAddress(bad), (e: unknown) => e instanceof TigerBeetleError && e.code === 'TB_ADDRESS_INVALID', bad);
  }
});

test('with a registry, the listener counts requests, evictions, refusals and resent replies for Prometheus', async () => {
  const registry = new Registry();
  const counted = await startTigerBeetleListener({ host: '127.0.0.1', port: 0, ledger: new RecordingLedger(), logger: silentLogger, metricsRegistry: registry });
  try {
    const s = new RawSession(await RawConnection.open(counted.address.port), 5n);
    await s.register();
    await s.request(LOOKUP_ACCOUNTS, multiBatchBody(16, [encodeIds([1n])]));
    await s.exchange(s.lastRequest!);
    await s.exchange(s.requestMessage(139, multiBatchBody(16, [encodeIds([1n])])));
    const bad = await RawConnection.open(counted.address.port);
    bad.send(Buffer.alloc(256, 7));
    await bad.waitClosed();
    const text = await registry.metrics();
    assert.match(text, /purser_tigerbeetle_requests_total\{operation="lookup_accounts"\} 1/);
    assert.match(text, /purser_tigerbeetle_evictions_total\{reason="invalid_request_operation"\} 1/);
    assert.match(text, /purser_tigerbeetle_connections_refused_total 1/);
    assert.match(text, /purser_tigerbeetle_replies_resent_total 1/);
    assert.match(text, /purser_tigerbeetle_connections 1/);
    s.connection.close();
  } finally {
    await counted.close();
  }
});

test('a ledger that breaks its contract (or fails) costs that connection and session, not the node', async () => {
  class BrokenLedger extends RecordingLedger {
    override lookupAccounts(ids: bigint[]) {
      // More results than ids: a reply the client would reject, so it must not be sent.
      return Promise.resolve([...ids, 0n].map((id) => newAccount(id)));
    }
    override createTransfers(): Promise<never> {
      return Promise.reject(new Error('disk on fire'));
    }
  }
  const broken = await startListener(new BrokenLedger());
  try {
    for (const operation of [LOOKUP_ACCOUNTS, 147]) {
      const s = new RawSession(await RawConnection.open(broken.address.port), BigInt(operation));
      await s.register();
      const body = operation === LOOKUP_ACCOUNTS ? multiBatchBody(16, [encodeIds([1n])]) : multiBatchBody(128, [[new Uint8Array(128)]]);
      s.connection.send(s.requestMessage(operation, body));
      assert.equal(await s.connection.waitClosed(), true, `operation ${String(operation)}: connection closed`);
      assert.equal(s.connection.messages.length, 1, 'only the register reply was sent');
      // The session is gone: on a new connection the client learns it must register again.
      const again = new RawSession(await RawConnection.open(broken.address.port), s.client);
      again.session = s.session;
      again.parent = s.parent;
      assert.equal(evictionReason(await again.exchange(again.requestMessage(operation, body))), EvictionReason.no_session);
      again.connection.close();
    }
    const healthy = new RawSession(await RawConnection.open(broken.address.port), 77n);
    const reply = await healthy.register();
    assert.equal(readFrame(reply).command, Command.reply, 'the listener still serves others');
    healthy.connection.close();
  } finally {
    await broken.close();
  }
});
