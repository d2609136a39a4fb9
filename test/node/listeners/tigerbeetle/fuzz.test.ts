// Fuzzing the listener: thousands of random frames and of mutations of valid frames (bytes flipped,
// some resealed so the checksums hold and the damage reaches the request rules), sent over many
// connections while a well-behaved session keeps working. Checks that the node survives, that the
// well-behaved session's replies stay correct and in order, and that the official client is served
// afterwards. The generator is seeded, so a failure reproduces.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command, HEADER_SIZE_BYTES, readFrame, readReply, sealMessage } from '../../../../src/wire/tigerbeetle/header.js';
import { encodeAccounts, encodeIds, multiBatchBody, newAccount, RawConnection, RawSession, RecordingLedger, runOfficialClient, startListener } from './_harness.js';

/** A small deterministic generator (xorshift32), so that a failing run can be replayed. */
function generator(seed: number): (below: number) => number {
  let state = seed >>> 0 || 1;
  return (below) => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % below;
  };
}

/** Most fuzzed connections are closed at their first bad frame, so there are many short ones. */
const CONNECTIONS = 600;
const FRAMES_PER_CONNECTION = 8;
const CHECK_EVERY_CONNECTIONS = 20;

test('random and mutated frames never crash the node or disturb another session', async () => {
  const ledger = new RecordingLedger();
  const listener = await startListener(ledger);
  const random = generator(0x7b1e);
  try {
    const good = new RawSession(await RawConnection.open(listener.address.port), 1n);
    await good.register();
    await good.request(146, multiBatchBody(128, [encodeAccounts([newAccount(1n), newAccount(2n)])]));

    // Seeds for mutation: a register, a create_accounts and a lookup of another client's session.
    const seeds: Buffer[] = [];
    const donor = new RawSession(await RawConnection.open(listener.address.port), 2n);
    await donor.register();
    seeds.push(donor.registerMessage(), donor.requestMessage(146, multiBatchBody(128, [encodeAccounts([newAccount(3n)])])), donor.requestMessage(140, multiBatchBody(16, [encodeIds([1n, 2n])])));

    for (let c = 0; c < CONNECTIONS; c += 1) {
      const connection = await RawConnection.open(listener.address.port);
      for (let f = 0; f < FRAMES_PER_CONNECTION && !connection.closed; f += 1) {
        connection.send(fuzzFrame(random, seeds));
      }
      connection.close();
      if (c % CHECK_EVERY_CONNECTIONS !== 0) continue;
      // Interleave the well-behaved session's traffic with the fuzzing.
      const reply = await good.request(140, multiBatchBody(16, [encodeIds([1n, 2n, 3n])]));
      assert.ok(reply !== undefined && readFrame(reply).command === Command.reply, `round ${String(c)}: the good session was served`);
      assert.equal(readReply(reply).request, good.requestNumber);
      const body = reply.subarray(HEADER_SIZE_BYTES);
      assert.ok(body.length >= 2 * 128, 'accounts 1 and 2 are found');
    }
    assert.ok(listener.stats.connectionsRefused > 0, 'some fuzzed connections were refused');
    assert.ok(listener.stats.evictions > 0, 'some fuzzed requests were evicted');

    const official = await runOfficialClient(listener.url, `return (await client.lookupAccounts([1n, 2n])).map((a) => a.id);`);
    assert.deepEqual(official.result, [1n, 2n]);
    good.connection.close();
    donor.connection.close();
  } finally {
    await listener.close();
  }
});

/** One fuzzed frame: random bytes, a valid header with random fields, or a mutated seed (often resealed). */
function fuzzFrame(random: (below: number) => number, seeds: Buffer[]): Buffer {
  const kind = random(4);
  if (kind === 0) {
    const bytes = Buffer.alloc(random(600));
    for (let i = 0; i < bytes.length; i += 1) bytes[i] = random(256);
    return bytes;
  }
  const message = Buffer.from(seeds[random(seeds.length)]);
  const flips = 1 + random(3);
  for (let i = 0; i < flips; i += 1) {
    // Mostly the fields the rules look at (size, release, command, client, session, request, operation),
    // sometimes anywhere, including the body.
    const at = random(3) === 0 ? random(message.length) : 96 + random(110);
    message[at] = random(256);
  }
  if (kind === 1) return message;
  // Reseal, keeping the size field honest about the bytes sent (or not, once in a while).
  if (random(8) !== 0) message.writeUInt32LE(message.length, 96);
  sealMessage(message);
  return message;
}
