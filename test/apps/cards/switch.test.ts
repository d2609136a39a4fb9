// The card switch end to end over TCP: every message type, each response code, ARQC good/bad/replayed,
// captures, reversals (before the original too), repeats, hold expiry on the ledger's clock, mini-statements
// against the ledger, and the card services. The ledger's clock is moved by the test; nothing sleeps.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AccountFilterFlags, TransferFlags, XatmiError, type Transfer } from 'purser';
import { acSessionKey, arpcMethod1 } from '../../../apps/cards/emv/crypto.js';
import { parseTlv } from '../../../apps/cards/emv/tlv.js';
import { isStatementCode, TRANSFER_CODE_FEE } from '../../../apps/cards/model.js';
import { parseStatementField } from '../../../apps/cards/responses.js';
import { available, issue, newPan, nextStan, requestFor, responseCode, startTestSwitch, type TestSwitch } from './_switch.js';

let s: TestSwitch;
before(async () => {
  s = await startTestSwitch();
});
after(async () => {
  await s.close();
});

async function cardTransfers(s: TestSwitch, mainId: bigint, limit = 100): Promise<Transfer[]> {
  return s.ledger.getAccountTransfers({ account_id: mainId, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, code: 0, timestamp_min: 0n, timestamp_max: 0n, limit, flags: AccountFilterFlags.debits | AccountFilterFlags.credits | AccountFilterFlags.reversed });
}

test('an approved chip authorization holds the amount and the fee as pending transfers and answers 00 with an ARPC (method 1, session key)', async () => {
  const card = await issue(s.bus, { creditLimit: 100_000 });
  const request = requestFor(card, { amount: 2500n });
  const atc = card.atc - 1;
  const response = await s.client.request(request);
  assert.equal(response.mti, '0110');
  assert.equal(responseCode(response), '00');
  assert.match(response.fields.get(38) as string, /^[0-9A-F]{6}$/);
  assert.equal(response.fields.get(4), '000000002500');
  const tags = parseTlv(response.fields.get(55) as Buffer);
  const issuerData = tags.get(0x91)!;
  const requestTags = parseTlv(request.fields.get(55) as Buffer);
  const sessionKey = acSessionKey(card.iccMasterKey, Buffer.from([atc >> 8, atc & 0xff]));
  assert.deepEqual(issuerData.subarray(0, 8), arpcMethod1(sessionKey, requestTags.get(0x9f26)!, Buffer.from('00')), 'the card can verify the ARPC');
  assert.equal(issuerData.subarray(8).toString('latin1'), '00', 'the ARC is DE 39');
  assert.equal(await available(s.ledger, card), 100_000n - 2500n - 10n);
  const transfers = await cardTransfers(s, card.mainId);
  const pending = transfers.filter((t) => t.flags & TransferFlags.pending);
  assert.deepEqual(pending.map((t) => [t.code, t.amount, t.timeout]).sort(), [[10, 2500n, 3600], [TRANSFER_CODE_FEE, 10n, 3600]].sort());
});

test('response codes: 05 blocked, 12 processing code, 14 unknown or bad Luhn, 51 no funds, 54 expired or wrong DE 14, 55 CVM failed, 61 cash limit, 82 bad ARQC, 63 replayed ATC, 13 zero amount', async () => {
  const card = await issue(s.bus, { creditLimit: 5000 });
  const codeOf = async (options: Parameters<typeof requestFor>[1], target: Parameters<typeof requestFor>[0] = card) => responseCode(await s.client.request(requestFor(target, options)));
  assert.equal(await codeOf({ amount: 4991n }), '51', 'amount + fee beyond the limit');
  assert.equal(await codeOf({ amount: 100n, processing: '990000' }), '12');
  assert.equal(await codeOf({}, { pan: newPan() }), '14', 'never issued');
  assert.equal(await codeOf({}, { pan: '9999990000000000' }), '14', 'fails the Luhn check');
  assert.equal(await codeOf({ expiry: '2901' }), '54', 'DE 14 differs from the card');
  const old = await issue(s.bus, { expiry: '2611' });
  assert.equal(await codeOf({}, old), '54', 'past its expiry month');
  assert.equal(await codeOf({ chipOverrides: { tvr: Buffer.from([0, 0, 0x80, 0, 0]) } }), '55');
  assert.equal(await codeOf({ processing: '010000', amount: 50_001n }), '61');
  assert.equal(await codeOf({ amount: 0n }), '13');
  const bad = requestFor(card, { amount: 100n });
  const icc = Buffer.from(bad.fields.get(55) as Buffer);
  icc[icc.indexOf(Buffer.from([0x9f, 0x26])) + 3] ^= 0xff;
  bad.fields.set(55, icc);
  assert.equal(responseCode(await s.client.request(bad)), '82');
  assert.equal(await codeOf({ chip: Buffer.from([0x9f, 0x36]) }), '82', 'DE 55 that is not BER-TLV');
  // A replay: the same cryptogram (same ATC) under a new STAN.
  const first = requestFor(card, { amount: 100n });
  assert.equal(responseCode(await s.client.request(first)), '00');
  const replay = { mti: '0100', fields: new Map(first.fields).set(11, nextStan()).set(37, 'REPLAY000001') };
  const replayed = await s.client.request(replay);
  assert.equal(responseCode(replayed), '63');
  assert.ok(parseTlv(replayed.fields.get(55) as Buffer).has(0x91), 'a valid ARQC gets an ARPC even when declined');
  // An ATC within the window but not used yet is fine (messages of one card may arrive out of order).
  card.atc += 5;
  assert.equal(await codeOf({ amount: 100n }), '00');
  card.atc -= 3;
  assert.equal(await codeOf({ amount: 100n }), '00');
  await s.bus.call('CARDS.STATUS', { pan: card.pan, status: 'blocked' });
  assert.equal(await codeOf({ amount: 100n }), '05');
  await s.bus.call('CARDS.STATUS', { pan: card.pan, status: 'active' });
  card.atc += 10; // past the ATCs used above
  assert.equal(await codeOf({ amount: 100n }), '00');
});

test('partial approval: with DE 48 "P" a balancing hold takes what is left after the fee (10, DE 4 the approved amount)', async () => {
  const card = await issue(s.bus, { creditLimit: 1000 });
  const response = await s.client.request(requestFor(card, { amount: 5000n, partial: true }));
  assert.equal(responseCode(response), '10');
  assert.equal(response.fields.get(4), '000000000990');
  assert.equal(await available(s.ledger, card), 0n);
  const [hold] = (await cardTransfers(s, card.mainId)).filter((t) => t.code === 10);
  assert.equal(hold.amount, 990n);
  assert.ok(hold.flags & TransferFlags.balancing_debit);
  assert.equal(responseCode(await s.client.request(requestFor(card, { amount: 1n, partial: true }))), '51', 'nothing left');
});

test('0200 financial request posts at once; a capture (0200 + DE 90) posts the hold, less releases the rest, more posts the excess', async () => {
  const card = await issue(s.bus, { creditLimit: 100_000 });
  assert.equal(responseCode(await s.client.request(requestFor(card, { mti: '0200', amount: 700n }))), '00');
  assert.equal(await available(s.ledger, card), 100_000n - 710n);
  const [posted] = (await cardTransfers(s, card.mainId)).filter((t) => t.code === 10);
  assert.equal(posted.flags & TransferFlags.pending, 0);

  const less = requestFor(card, { amount: 1000n });
  assert.equal(responseCode(await s.client.request(less)), '00');
  const lessStan = less.fields.get(11) as string;
  const capture = requestFor(card, { mti: '0200', amount: 600n, chip: false, original: { stan: lessStan }, rrn: less.fields.get(37) as string });
  assert.equal(responseCode(await s.client.request(capture)), '00');
  assert.equal(await available(s.ledger, card), 100_000n - 710n - 610n, 'the unused 400 is released');
  assert.equal(responseCode(await s.client.request({ mti: '0200', fields: new Map(capture.fields).set(11, nextStan()) })), '05', 'a second capture of the same hold');

  const more = requestFor(card, { amount: 1000n });
  assert.equal(responseCode(await s.client.request(more)), '00');
  const capture2 = requestFor(card, { mti: '0200', amount: 1300n, chip: false, original: { stan: more.fields.get(11) as string }, rrn: more.fields.get(37) as string });
  assert.equal(responseCode(await s.client.request(capture2)), '00');
  assert.equal(await available(s.ledger, card), 100_000n - 710n - 610n - 1310n);
  assert.equal(responseCode(await s.client.request(requestFor(card, { mti: '0200', amount: 5n, chip: false, original: { stan: '999999' } }))), '25', 'no such authorization');
});

test('reversals: void a hold, refund a posted purchase, are idempotent and repeatable (0401/0421), and work before the original (which is then declined)', async () => {
  const card = await issue(s.bus, { creditLimit: 100_000 });
  const auth = requestFor(card, { amount: 3000n });
  assert.equal(responseCode(await s.client.request(auth)), '00');
  const reversal = requestFor(card, { mti: '0400', amount: 3000n, chip: false, original: { stan: auth.fields.get(11) as string }, rrn: auth.fields.get(37) as string });
  const first = await s.client.request(reversal);
  assert.equal(first.mti, '0410');
  assert.equal(responseCode(first), '00');
  assert.equal(await available(s.ledger, card), 100_000n, 'hold and fee voided');
  const repeat = await s.client.request({ mti: '0401', fields: reversal.fields });
  assert.equal(responseCode(repeat), '00');
  const again = requestFor(card, { mti: '0420', amount: 3000n, chip: false, original: { stan: auth.fields.get(11) as string }, rrn: auth.fields.get(37) as string });
  assert.equal(responseCode(await s.client.request(again)), '00', 'a second reversal of the same original changes nothing');
  assert.equal((await s.client.request({ mti: '0421', fields: again.fields })).mti, '0430');
  assert.equal(await available(s.ledger, card), 100_000n);

  const purchase = requestFor(card, { mti: '0200', amount: 800n });
  assert.equal(responseCode(await s.client.request(purchase)), '00');
  const refund = requestFor(card, { mti: '0400', amount: 800n, chip: false, original: { stan: purchase.fields.get(11) as string }, rrn: purchase.fields.get(37) as string });
  assert.equal(responseCode(await s.client.request(refund)), '00');
  assert.equal(await available(s.ledger, card), 100_000n, 'purchase and fee refunded');

  // The reversal first: accepted; the late original is declined and holds nothing, and its repeat says the same.
  const late = requestFor(card, { amount: 2000n });
  const early = requestFor(card, { mti: '0420', amount: 2000n, chip: false, original: { stan: late.fields.get(11) as string }, rrn: late.fields.get(37) as string });
  assert.equal(responseCode(await s.client.request(early)), '00');
  assert.equal(responseCode(await s.client.request(late)), '05');
  assert.equal(responseCode(await s.client.request({ mti: '0101', fields: late.fields })), '05');
  assert.equal(await available(s.ledger, card), 100_000n);
});

test('repeats (0101) and duplicates are answered from the first result, byte for byte, and hold once', async () => {
  const card = await issue(s.bus, { creditLimit: 100_000 });
  const auth = requestFor(card, { amount: 1500n });
  const first = await s.client.request(auth);
  const repeat = await s.client.request({ mti: '0101', fields: auth.fields });
  assert.equal(repeat.mti, '0110');
  assert.deepEqual(repeat, first);
  assert.deepEqual(await s.client.request(auth), first, 'the same 0100 again');
  assert.equal(await available(s.ledger, card), 100_000n - 1510n);
  const financial = requestFor(card, { mti: '0200', amount: 100n });
  const once = await s.client.request(financial);
  assert.deepEqual(await s.client.request(financial), once);
  assert.equal(await available(s.ledger, card), 100_000n - 1510n - 110n);
});

test('a hold expires on the ledger clock: its amount is released, a reversal then changes nothing, and a capture posts a new transfer', async () => {
  const card = await issue(s.bus, { creditLimit: 10_000 });
  const auth = requestFor(card, { amount: 4000n });
  const auth2 = requestFor(card, { amount: 1000n });
  assert.equal(responseCode(await s.client.request(auth)), '00');
  assert.equal(responseCode(await s.client.request(auth2)), '00');
  assert.equal(await available(s.ledger, card), 10_000n - 5020n);
  s.advanceSeconds(3601); // the holds were timestamped a few nanoseconds after the clock reading
  // Each ledger request first expires what is due at its time, so this read sees the holds released.
  assert.equal(await available(s.ledger, card), 10_000n);
  const reversal = requestFor(card, { mti: '0400', amount: 4000n, chip: false, original: { stan: auth.fields.get(11) as string }, rrn: auth.fields.get(37) as string });
  assert.equal(responseCode(await s.client.request(reversal)), '00');
  assert.equal(await available(s.ledger, card), 10_000n);
  const capture = requestFor(card, { mti: '0200', amount: 1000n, chip: false, original: { stan: auth2.fields.get(11) as string }, rrn: auth2.fields.get(37) as string });
  assert.equal(responseCode(await s.client.request(capture)), '00');
  assert.equal(await available(s.ledger, card), 10_000n - 1010n);
});

test('inquiries: balance (31) in DE 54; the mini-statement (38) is the last ten statement lines, equal to the ledger\'s newest transfers', async () => {
  const card = await issue(s.bus, { creditLimit: 100_000 });
  for (let index = 0; index < 12; index++) assert.equal(responseCode(await s.client.request(requestFor(card, { mti: index % 2 ? '0200' : '0100', amount: BigInt(100 + index) }))), '00');
  const balance = await s.client.request(requestFor(card, { processing: '310000', amount: 0n }));
  assert.equal(responseCode(balance), '00');
  assert.equal(balance.fields.get(54), `0002978C${(await available(s.ledger, card)).toString().padStart(12, '0')}`);
  const statement = await s.client.request(requestFor(card, { processing: '380000', amount: 0n }));
  const lines = parseStatementField(statement.fields.get(48) as string);
  assert.equal(lines.length, 10);
  const ledgerLines = (await cardTransfers(s, card.mainId)).filter((t) => isStatementCode(t.code)).slice(0, 10);
  assert.deepEqual(lines.map((line) => [line.transferId, line.amount]), ledgerLines.map((t) => [t.id, t.amount]));
  assert.deepEqual(lines.slice(0, 2).map((line) => line.kind), ['PU', 'HD']);
});

test('network management (0800) is echoed 0810; unsupported request classes are answered 12', async () => {
  const echo = await s.client.request({ mti: '0800', fields: new Map([[7, '1205120000'], [11, '000777'], [70, '301']]) });
  assert.equal(echo.mti, '0810');
  assert.equal(echo.fields.get(39), '00');
  assert.equal(echo.fields.get(70), '301');
  const other = await s.client.request({ mti: '0300', fields: new Map([[11, '000778'], [41, 'TERM0001']]) });
  assert.equal(other.mti, '0310');
  assert.equal(other.fields.get(39), '12');
});

test('CARDS.ISSUE and CARDS.STATUS: agreement numbers per customer, typed failures for bad input, duplicates and unknown cards', async () => {
  const customer = '0f8fad5b-d9cb-469f-a165-70867728950e';
  const first = await s.bus.call('CARDS.ISSUE', { pan: newPan(), psn: '02', expiry: '2812', customer, creditLimit: '1000', currency: '978' });
  const second = await s.bus.call('CARDS.ISSUE', { pan: newPan(), psn: 3, expiry: '2812', customer, creditLimit: 5, currency: 978 });
  assert.equal((first.data as { agreement: number }).agreement, 1);
  assert.equal((second.data as { agreement: number }).agreement, 2);
  const accounts = await s.ledger.queryAccounts({ user_data_128: BigInt(`0x${customer.replace(/-/g, '')}`), user_data_64: 0n, user_data_32: 2, ledger: 978, code: 0, timestamp_min: 0n, timestamp_max: 0n, limit: 10, flags: 0 });
  assert.equal(accounts.length, 2, 'the agreement\'s account set: MAIN and LIMIT');
  const failures: [unknown, string][] = [
    [{}, 'CARDS_INVALID_REQUEST'],
    [{ pan: '9999990000000000', psn: 1, expiry: '2812', customer, creditLimit: 1, currency: 978 }, 'CARDS_INVALID_REQUEST'],
    [{ pan: newPan(), psn: 1, expiry: '2813', customer, creditLimit: 1, currency: 978 }, 'CARDS_INVALID_REQUEST'],
    [{ pan: newPan(), psn: 1, expiry: '2812', customer: 'nope', creditLimit: 1, currency: 978 }, 'CARDS_INVALID_REQUEST'],
    [{ pan: newPan(), psn: 1, expiry: '2812', customer, creditLimit: -1, currency: 978 }, 'CARDS_INVALID_REQUEST'],
    [{ pan: newPan(), psn: 1, expiry: '2812', customer, creditLimit: 1.5, currency: 978 }, 'CARDS_INVALID_REQUEST'],
    [{ pan: newPan(), psn: 1, expiry: '2812', customer, creditLimit: 1, currency: 'EUR' }, 'CARDS_INVALID_REQUEST'],
    [{ pan: (first.data as { pan: string }).pan, psn: 1, expiry: '2812', customer, creditLimit: 1, currency: 978 }, 'CARDS_DUPLICATE_CARD'],
    [{ pan: '4111111111111111', psn: 1, expiry: '2812', customer, creditLimit: 1, currency: 978 }, 'CARDS_INVALID_REQUEST'],
  ];
  for (const [data, code] of failures) {
    await assert.rejects(s.bus.call('CARDS.ISSUE', data), (error: unknown) => error instanceof XatmiError && error.code === 'TPESVCFAIL' && (error.data as { code: string }).code === code, JSON.stringify(data));
  }
  await assert.rejects(s.bus.call('CARDS.STATUS', { pan: newPan(), status: 'blocked' }), (error: unknown) => error instanceof XatmiError && (error.data as { code: string }).code === 'CARDS_UNKNOWN_CARD');
  await assert.rejects(s.bus.call('CARDS.STATUS', { pan: newPan(), status: 'gone' }), (error: unknown) => error instanceof XatmiError && (error.data as { code: string }).code === 'CARDS_INVALID_REQUEST');
  const changed = await s.bus.call('CARDS.STATUS', { pan: (first.data as { pan: string }).pan, status: 'lost' });
  assert.deepEqual(changed.data, { pan: (first.data as { pan: string }).pan, status: 'lost', previous: 'active' });
});

test('messages of one card sent together (one batch) see each other in arrival order: a capture and a reversal of authorizations in the same batch, then an inquiry', async () => {
  const card = await issue(s.bus, { creditLimit: 100_000 });
  const first = requestFor(card, { amount: 1000n });
  const second = requestFor(card, { amount: 2000n });
  const capture = requestFor(card, { mti: '0200', amount: 1000n, chip: false, original: { stan: first.fields.get(11) as string }, rrn: first.fields.get(37) as string });
  const reversal = requestFor(card, { mti: '0400', amount: 2000n, chip: false, original: { stan: second.fields.get(11) as string }, rrn: second.fields.get(37) as string });
  const third = requestFor(card, { mti: '0200', amount: 300n });
  const balance = requestFor(card, { processing: '310000', amount: 0n });
  // Written back to back without waiting: the switch takes them into one batch.
  const answers = await Promise.all([first, second, capture, reversal, third].map((message) => s.client.request(message)));
  assert.deepEqual(answers.map(responseCode), ['00', '00', '00', '00', '00']);
  const expected = 100_000n - 1010n - 310n;
  assert.equal((await s.client.request(balance)).fields.get(54), `0002978C${expected.toString().padStart(12, '0')}`);
  assert.equal(await available(s.ledger, card), expected);
  const statement = parseStatementField((await s.client.request(requestFor(card, { processing: '380000', amount: 0n }))).fields.get(48) as string);
  assert.deepEqual(statement.map((line) => line.kind), ['PU', 'VD', 'CP', 'HD', 'HD', 'CL']);
});
