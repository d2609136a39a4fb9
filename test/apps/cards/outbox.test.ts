// Approvals publish `card.approved` through the task outbox in the message's own transaction: an approved
// authorization or financial request gets exactly one notice (the switch's own subscriber), a decline gets
// none, and a repeat adds none. The test waits for the notices to exist (a state), never for a time.
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { test } from 'node:test';
import { TABLE_NOTICES } from '../../../apps/cards/app.js';
import { issue, requestFor, responseCode, startTestSwitch, type TestSwitch } from './_switch.js';

async function notices(s: TestSwitch): Promise<number> {
  return s.store.transaction(async (tx) => {
    let count = 0;
    for await (const _ of tx.range(TABLE_NOTICES, {})) count++;
    return count;
  });
}

async function waitForNotices(s: TestSwitch, expected: number): Promise<void> {
  // Polls a state; the test runner's timeout is the hang guard.
  while ((await notices(s)) < expected) await delay(5);
}

test('each approval publishes one card.approved event; declines and repeats publish none', async () => {
  const s = await startTestSwitch();
  try {
    const card = await issue(s.bus, { creditLimit: 10_000 });
    const auth = requestFor(card, { amount: 1000n });
    assert.equal(responseCode(await s.client.request(auth)), '00');
    assert.equal(responseCode(await s.client.request({ mti: '0101', fields: auth.fields })), '00');
    assert.equal(responseCode(await s.client.request(requestFor(card, { mti: '0200', amount: 500n }))), '00');
    assert.equal(responseCode(await s.client.request(requestFor(card, { amount: 1_000_000n }))), '51');
    await waitForNotices(s, 2);
    // Everything published so far has run: the queue of the notice task is empty, so the count is final.
    while ((await s.tasks.queues()).some((row) => row.queue === 'cards.approval-notice' && row.ready + row.running + row.scheduled > 0)) await delay(5);
    assert.equal(await notices(s), 2);
  } finally {
    await s.close();
  }
});
