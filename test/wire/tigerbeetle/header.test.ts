// TigerBeetle's 256-byte message headers: headers built here pass the checks the official client and
// replica apply, each field rule is enforced, and a flipped byte fails them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  buildEviction,
  buildPingClient,
  buildPongClient,
  buildRequest,
  Command,
  EvictionReason,
  frameInvalid,
  headerChecksumValid,
  bodyChecksumValid,
  allocateMessage,
  packRelease,
  pingClientInvalid,
  readEviction,
  readFrame,
  readPingClient,
  readPongClient,
  readReply,
  readRequest,
  replyInvalid,
  requestInvalid,
  sealReply,
} from '../../../src/wire/tigerbeetle/header.js';

const RELEASE = packRelease(0, 17, 9);

test('a request built here passes the replica checks, and each field rule is enforced', () => {
  const body = new Uint8Array(256);
  const register = buildRequest({ cluster: 7n, release: RELEASE, parent: 0n, client: 42n, session: 0n, request: 0, operation: 2, body });
  assert.equal(register.length, 512);
  assert.equal(RELEASE, 0x1109);
  assert.ok(headerChecksumValid(register.subarray(0, 256)));
  assert.ok(bodyChecksumValid(register.subarray(0, 256), register.subarray(256)));
  assert.equal(frameInvalid(register), undefined);
  assert.equal(requestInvalid(register), undefined);
  const frame = readFrame(register);
  assert.deepEqual([frame.cluster, frame.sizeBytes, frame.release, frame.command], [7n, 512, RELEASE, Command.request]);
  assert.equal(readRequest(register).client, 42n);

  const request = buildRequest({ cluster: 7n, release: RELEASE, parent: 5n, client: 42n, session: 1n, request: 1, operation: 147, body: new Uint8Array(0) });
  assert.equal(requestInvalid(request), undefined);
  assert.match(requestInvalid(buildRequest({ cluster: 7n, release: RELEASE, parent: 5n, client: 42n, session: 0n, request: 1, operation: 147, body })) ?? '', /session == 0/);
  assert.match(requestInvalid(buildRequest({ cluster: 7n, release: RELEASE, parent: 0n, client: 0n, session: 1n, request: 1, operation: 147, body })) ?? '', /client == 0/);
  assert.match(requestInvalid(buildRequest({ cluster: 7n, release: RELEASE, parent: 0n, client: 1n, session: 1n, request: 1, operation: 3, body })) ?? '', /reserved/);
  const tampered = Buffer.from(request);
  tampered[250] = 1;
  assert.equal(headerChecksumValid(tampered), false, 'a changed byte breaks the checksum');
});

test('a reply sealed here passes the client checks; context is stable and op == commit', () => {
  const reply = allocateMessage(64);
  sealReply(reply, { cluster: 0n, release: RELEASE, requestChecksum: 123n, client: 9n, commit: 4n, timestamp: 1n, request: 0, operation: 2 });
  assert.equal(replyInvalid(reply), undefined);
  const fields = readReply(reply);
  assert.deepEqual([fields.requestChecksum, fields.client, fields.op, fields.commit, fields.request], [123n, 9n, 4n, 4n, 0]);
  assert.notEqual(fields.context, 0n);
  const again = allocateMessage(64);
  sealReply(again, { cluster: 0n, release: RELEASE, requestChecksum: 123n, client: 9n, commit: 4n, timestamp: 1n, request: 0, operation: 2 });
  assert.equal(readReply(again).context, fields.context);

  const noTimestamp = allocateMessage(0);
  sealReply(noTimestamp, { cluster: 0n, release: RELEASE, requestChecksum: 1n, client: 9n, commit: 4n, timestamp: 0n, request: 1, operation: 147 });
  assert.equal(replyInvalid(noTimestamp), 'timestamp == 0');
  const corrupt = Buffer.from(reply);
  corrupt[300] ^= 1;
  assert.equal(replyInvalid(corrupt), 'checksum_body');
});

test('ping, pong and eviction carry their fields', () => {
  const ping = buildPingClient(0n, RELEASE, 77n, 123456n);
  assert.equal(pingClientInvalid(ping), undefined);
  assert.deepEqual(readPingClient(ping), { cluster: 0n, release: RELEASE, client: 77n, pingTimestampMonotonic: 123456n });
  const pong = buildPongClient(0n, RELEASE, 123456n);
  assert.equal(readFrame(pong).command, Command.pong_client);
  assert.equal(readPongClient(pong).pingTimestampMonotonic, 123456n);
  const eviction = buildEviction(0n, RELEASE, 77n, EvictionReason.no_session);
  assert.equal(eviction[255], 1);
  assert.deepEqual(readEviction(eviction), { client: 77n, reason: 1 });
  assert.ok(headerChecksumValid(eviction));
});
