// The card switch's capacity, without the load generator's cost: N chip authorizations (ARQCs computed
// beforehand) pipelined over one TCP connection, W in flight, into a switch on a durable store, ledger and
// task outbox in this process. Run by hand (under the shared lock):
//   N=20000 W=2000 [NOTASKS=1] node --conditions=purser-source --import tsx bench/_cards-capacity.ts
// NOTASKS=1 runs the switch without the outbox (no card.approved events). Prints authorizations/s.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createBus, openLedger, openStore, openTasks } from '../src/index.js';
import { startCardsSwitch } from '../apps/cards/app.js';
import { chipCard, chipData } from '../apps/cards/client.js';
import { encode, frame, type FieldValue } from '../apps/cards/iso8583/codec.js';
import { luhnCheckDigit } from '../apps/cards/model.js';

const IMK = Buffer.from('0123456789ABCDEFFEDCBA9876543210', 'hex');
const MESSAGES = Number(process.env.N ?? 20000);
const WINDOW = Number(process.env.W ?? 2000);
const dir = mkdtempSync(join(tmpdir(), 'cardsperf-'));
const store = await openStore({ dir });
const ledger = await openLedger({ store });
const tasks = await openTasks({ store });
await tasks.start();
const bus = createBus();
const cards = await startCardsSwitch({ bus, store, ledger, tasks: process.env.NOTASKS ? undefined : tasks, logger: pino({ level: 'silent' }), env: {}, settings: { port: 0, issuers: [{ bin: '999999', imkAc: IMK.toString('hex') }] } });
const chip = [];
for (let i = 0; i < 2000; i++) {
  const body = `999999${String(i).padStart(9, '0')}`;
  const pan = body + luhnCheckDigit(body);
  await bus.call('CARDS.ISSUE', { pan, psn: 1, expiry: '3012', customer: '7c9e6679-7425-40de-944b-e07fc1f90ae7', creditLimit: 100_000_000, currency: 978 });
  chip.push({ ...chipCard(IMK, pan, 1), atc: 1 });
}
const frames: Buffer[] = [];
for (let i = 0; i < MESSAGES; i++) {
  const card = chip[i % chip.length];
  const stan = String(i % 1_000_000).padStart(6, '0');
  const fields = new Map<number, FieldValue>([[2, card.pan], [3, '000000'], [4, '000000001000'], [7, '1205120000'], [11, stan], [22, '051'], [23, '001'], [37, `R${String(i).padStart(11, '0')}`], [41, `T${String(i % 64).padStart(7, '0')}`], [42, `M${String(i % 50).padStart(14, '0')}`], [49, '978']]);
  fields.set(55, chipData(card, { amount: 1000n, currency: 978, atc: card.atc++ }));
  frames.push(frame(encode({ mti: '0100', fields })));
}
// Raw pipelining: count answers by frames received.
const { connect } = await import('node:net');
const socket = connect(cards.address.port, '127.0.0.1');
await new Promise((resolve) => socket.once('connect', resolve));
let answered = 0; let sent = 0; let pending: Buffer = Buffer.alloc(0);
const started = performance.now();
await new Promise<void>((resolve) => {
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let at = 0;
    while (pending.length - at >= 2) { const len = pending.readUInt16BE(at); if (pending.length - at - 2 < len) break; at += 2 + len; answered++; }
    pending = pending.subarray(at);
    while (sent < MESSAGES && sent - answered < WINDOW) socket.write(frames[sent++]);
    if (answered === MESSAGES) resolve();
  });
  while (sent < Math.min(WINDOW, MESSAGES)) socket.write(frames[sent++]);
});
const elapsed = (performance.now() - started) / 1000;
console.log(`${MESSAGES} authorizations in ${elapsed.toFixed(2)}s: ${(MESSAGES / elapsed).toFixed(0)}/s`, JSON.stringify(cards.stats().batcher), JSON.stringify(cards.stats().listener.responsesByCode));
socket.destroy();
await cards.close(); await tasks.stop(); await bus.close(); await ledger.close(); await store.close();
rmSync(dir, { recursive: true, force: true });
