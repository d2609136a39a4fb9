// The ISO 8583 listener against malformed and hostile input: a message whose MTI and STAN were readable
// gets a format error (30); anything else closes that connection only; random bytes from many connections
// never stop the switch; limits on connections hold; a ledger that cannot take work answers 91.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IsoClient } from '../../../apps/cards/client.js';
import { encode, frame } from '../../../apps/cards/iso8583/codec.js';
import { issue, requestFor, responseCode, startTestSwitch } from './_switch.js';

test('a malformed message with a readable MTI and STAN is answered 30; one without is the end of that connection only', async () => {
  const s = await startTestSwitch();
  try {
    const card = await issue(s.bus);
    const good = requestFor(card, { amount: 100n, chip: false });
    // A non-printable byte in DE 41, after DE 11: the STAN was read, so the switch answers.
    const bytes = encode(good);
    const at = bytes.indexOf('TERM0001', 0, 'latin1');
    bytes[at + 3] = 0x01;
    const answer = await s.client.requestEncoded({ mti: '0100', fields: new Map([[11, good.fields.get(11)!]]) }, bytes);
    assert.equal(answer.mti, '0110');
    assert.equal(responseCode(answer), '30');
    assert.equal(answer.fields.get(11), good.fields.get(11));
    // A request missing a field the switch needs (DE 49) is a format error too.
    const noCurrency = requestFor(card, { amount: 100n, chip: false });
    noCurrency.fields.delete(49);
    assert.equal(responseCode(await s.client.request(noCurrency)), '30');
    // The same connection still works.
    assert.equal(responseCode(await s.client.request(requestFor(card, { amount: 100n, chip: false }))), '00');

    for (const hostile of [
      frame(Buffer.from('XXXX0000', 'latin1')), // no MTI
      frame(Buffer.from('01007234', 'latin1')), // bitmap cut short: no STAN
      Buffer.from([0, 0]), // a zero-length frame
      Buffer.from([0xff, 0xff, 1, 2, 3]), // a frame beyond the 8 KiB limit
    ]) {
      const other = await IsoClient.connect(s.cards.address.port);
      other.writeRaw(hostile);
      await other.waitClosed();
    }
    assert.equal(responseCode(await s.client.request(requestFor(card, { amount: 100n, chip: false }))), '00', 'the first connection was not touched');
    assert.ok(s.cards.stats().listener.closedForBadInput >= 4);
  } finally {
    await s.close();
  }
});

test('random and mutated bytes from many connections never stop the switch; a good client keeps being answered', async () => {
  const s = await startTestSwitch();
  try {
    const card = await issue(s.bus);
    let seed = 11;
    const random = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const template = encode(requestFor(card, { amount: 100n }));
    for (let round = 0; round < 40; round++) {
      const attacker = await IsoClient.connect(s.cards.address.port);
      for (let message = 0; message < 20; message++) {
        const body = Buffer.from(template);
        for (let flips = 1 + random(6); flips > 0; flips--) body[random(body.length)] = random(256);
        attacker.writeRaw(random(5) === 0 ? Buffer.from(Array.from({ length: random(64) }, () => random(256))) : frame(body.subarray(0, 1 + random(body.length))));
      }
      attacker.close();
      assert.equal(responseCode(await s.client.request(requestFor(card, { amount: 1n, chip: false }))), '00', `round ${round}`);
    }
  } finally {
    await s.close();
  }
});

test('connections beyond connectionsMax are closed at once; idle connections are closed after idleTimeoutMs', async () => {
  // Two switches, so neither claim waits on the other's timer: with one switch and a 1 s idle timeout, a
  // machine slow enough to spend a second between connects let the idle close make room for the third.
  const capped = await startTestSwitch({ connectionsMax: 2, idleTimeoutMs: 3_600_000 });
  try {
    const second = await IsoClient.connect(capped.cards.address.port);
    const third = await IsoClient.connect(capped.cards.address.port);
    await third.waitClosed();
    assert.equal(capped.cards.stats().listener.connectionsRefused, 1);
    assert.equal(second.closed, false, 'the connections within the cap stay');
    second.close();
  } finally {
    await capped.close();
  }
  const idle = await startTestSwitch({ idleTimeoutMs: 1000 });
  try {
    const silent = await IsoClient.connect(idle.cards.address.port);
    await silent.waitClosed(); // closed by the idle timeout (a state, not a sleep)
    assert.equal(idle.cards.stats().listener.connectionsRefused, 0, 'closed as idle, not refused');
  } finally {
    await idle.close();
  }
});

test('a ledger that cannot take work answers 91 and the listener stays up', async () => {
  const s = await startTestSwitch();
  const card = await issue(s.bus);
  await s.ledger.close();
  try {
    assert.equal(responseCode(await s.client.request(requestFor(card, { amount: 100n }))), '91');
    assert.equal(responseCode(await s.client.request(requestFor(card, { amount: 100n }))), '91');
    const echo = await s.client.request({ mti: '0800', fields: new Map([[11, '000001'], [70, '301']]) });
    assert.equal(echo.fields.get(39), '00');
  } finally {
    await s.close();
  }
});
