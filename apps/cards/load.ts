/**
 * `purser cards load`: drives a running switch over TCP with real ISO 8583 messages and real ARQCs, and
 * keeps what it expects the books to say. The mix, per new operation: chip authorizations (60%), each
 * followed once answered by a capture (60%: the amount, less or more), a reversal (25%), a repeat 0101
 * (5%) or nothing; financial requests (15%); cash withdrawals (5%, some over the limit: 61); reversals
 * sent before their original (3%: the original must then be declined 05); mini-statements (5%) and
 * balance inquiries (2%); bad cryptograms (3%: 82), amounts beyond the credit limit (3%: 51), unknown
 * cards (2%: 14) and malformed messages (2%: 30). Half the traffic goes to the `--hot-merchants`.
 *
 * Messages are sent open-loop at `--tps` (new operations and their follow-ups together), spread over the
 * connections; a message waiting more than 30 s is counted unanswered. Latency is measured per message from
 * write to answer; the figures printed are for authorizations (0100).
 */
import { randomBytes } from 'node:crypto';
import { chipCard, chipData, IsoClient, type ChipCard } from './client.js';
import { CardsUnreachableError } from './errors.js';
import { encode, type FieldValue, type IsoMessage } from './iso8583/codec.js';
import { luhnCheckDigit } from './model.js';

export interface LoadOptions {
  tps: number;
  durationSeconds: number;
  cards: number;
  merchants: number;
  hotMerchants: number;
  connections: number;
  host: string;
  port: number;
  imk: Buffer;
  bin: string;
  currency: number;
  creditLimitMinor: bigint;
  seed: number;
  /** Issues a card (CARDS.ISSUE); resolves with its MAIN account id, or undefined for a duplicate PAN. */
  issue: (card: { pan: string; psn: number; expiry: string; customer: string; creditLimit: string; currency: number }) => Promise<bigint | undefined>;
  progress: (line: string) => void;
}

export interface LoadCard extends ChipCard {
  mainId: bigint;
  atc: number;
  /** What the generator expects the ledger to hold for this card. */
  holdsApproved: number;
  holdsCaptured: number;
  holdsReversed: number;
  excessTransfers: number;
  financials: number;
  /** Σ (hold + fee) of approved holds neither captured nor reversed. */
  outstandingMinor: bigint;
  /** A message of this card went unanswered: its exact accounting is unknown. */
  uncertain: boolean;
}

export interface LoadResult {
  cards: LoadCard[];
  sent: number;
  answered: number;
  unanswered: number;
  notSent: number;
  elapsedSeconds: number;
  authorizations: number;
  authLatenciesMs: Float64Array;
  byCode: Map<string, number>;
  byKind: Map<string, number>;
  /** Expectations that failed while running (a repeat answered differently, a late original approved, …). */
  violations: string[];
  connections: IsoClient[];
  terminals: string[];
}

const ANSWER_TIMEOUT_MS = 30_000;
const IN_FLIGHT_MAX = 20_000;
const FEE_PURCHASE = 10n;
const FEE_CASH = 200n;

/** xorshift32: fast, seeded, good enough to pick a mix. */
function prng(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x1_0000_0000;
  };
}

export async function issueCards(options: LoadOptions): Promise<LoadCard[]> {
  const cards: LoadCard[] = [];
  const customers = Math.max(1, Math.ceil(options.cards / 2)); // about two cards per customer
  const customerIds = Array.from({ length: customers }, () => uuid());
  let next = 0;
  const worker = async () => {
    while (next < options.cards) {
      const index = next++;
      for (;;) {
        const body = options.bin + randomDigits(15 - options.bin.length);
        const pan = body + luhnCheckDigit(body);
        const psn = index % 100;
        const mainId = await options.issue({ pan, psn, expiry: '3012', customer: customerIds[index % customers], creditLimit: options.creditLimitMinor.toString(), currency: options.currency });
        if (mainId === undefined) continue; // a PAN issued before (an earlier run on the same data): draw another
        cards[index] = { ...chipCard(options.imk, pan, psn), mainId, atc: 1, holdsApproved: 0, holdsCaptured: 0, holdsReversed: 0, excessTransfers: 0, financials: 0, outstandingMinor: 0n, uncertain: false };
        break;
      }
      if ((index + 1) % 1000 === 0) options.progress(`issued ${index + 1}/${options.cards} cards`);
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
  return cards;
}

function randomDigits(count: number): string {
  let out = '';
  const bytes = randomBytes(count);
  for (let index = 0; index < count; index++) out += String(bytes[index] % 10);
  return out;
}

function uuid(): string {
  const hex = randomBytes(16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
}

interface Terminal {
  id: string;
  client: IsoClient;
  stan: number;
  rrn: number;
}

type Send = () => void;

export async function runLoad(options: LoadOptions, cards: LoadCard[]): Promise<LoadResult> {
  const random = prng(options.seed);
  let connections: IsoClient[];
  try {
    connections = await Promise.all(Array.from({ length: options.connections }, () => IsoClient.connect(options.port, options.host)));
  } catch (error) {
    throw new CardsUnreachableError(`cannot connect to the switch at ${options.host}:${options.port}: ${(error as Error).message}; is the node running (npm start), and is the port right (--address, PURSER_CARDS_PORT)?`, { cause: error });
  }
  // Several terminals per connection, so STANs stay short and repeats have a terminal to come from.
  const terminals: Terminal[] = [];
  for (let index = 0; index < options.connections * 8; index++) terminals.push({ id: `T${String(index).padStart(7, '0')}`, client: connections[index % connections.length], stan: 0, rrn: 0 });
  const merchants = Array.from({ length: options.merchants }, (_, index) => `M${String(index).padStart(14, '0')}`);
  const hot = Math.max(1, Math.min(options.hotMerchants, merchants.length));
  const result: LoadResult = {
    cards, sent: 0, answered: 0, unanswered: 0, notSent: 0, elapsedSeconds: 0, authorizations: 0,
    authLatenciesMs: new Float64Array(Math.ceil(options.tps * options.durationSeconds * 1.2) + 1024), byCode: new Map(), byKind: new Map(), violations: [], connections,
    terminals: terminals.map((terminal) => terminal.id),
  };
  const followUps: Send[] = [];
  // RRNs start with a run id, so a second run on the same data never reuses a first run's references.
  const runId = randomBytes(3).toString('hex').toUpperCase().slice(0, 4);
  let inFlight = 0;

  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)];
  const merchant = () => (random() < 0.5 ? merchants[Math.floor(random() * hot)] : pick(merchants));
  const now = new Date();
  const transmission = `${String(now.getUTCMonth() + 1).padStart(2, '0')}${String(now.getUTCDate()).padStart(2, '0')}${String(now.getUTCHours()).padStart(2, '0')}${String(now.getUTCMinutes()).padStart(2, '0')}00`;

  const build = (terminal: Terminal, card: ChipCard, mti: string, processing: string, amount: bigint, extra: { stan?: string; rrn?: string; chip?: boolean; original?: string; merchant?: string } = {}): IsoMessage => {
    const stan = extra.stan ?? String((terminal.stan = (terminal.stan + 1) % 1_000_000) || (terminal.stan = 1)).padStart(6, '0');
    const rrn = extra.rrn ?? `${runId}${(terminal.rrn++).toString(36).toUpperCase().padStart(8, '0')}`;
    const fields = new Map<number, FieldValue>([
      [2, card.pan], [3, processing], [4, amount.toString().padStart(12, '0')], [7, transmission], [11, stan], [12, transmission.slice(4)],
      [22, '051'], [23, `0${card.psn}`], [37, rrn], [41, terminal.id], [42, extra.merchant ?? merchant()], [49, String(options.currency).padStart(3, '0')],
    ]);
    if (extra.original !== undefined) fields.set(90, `0100${extra.original}${transmission}${'0'.repeat(22)}`);
    if (extra.chip !== false) {
      const type = processing.startsWith('01') ? 1 : processing.startsWith('3') ? 0x31 : 0;
      fields.set(55, chipData(card, { amount, currency: options.currency, atc: (card as LoadCard).atc++ & 0xffff, type }));
    }
    return { mti, fields };
  };

  /** Sends a message; `then` gets the answer (undefined if none came). */
  const send = (terminal: Terminal, message: IsoMessage, kind: string, then?: (answer: IsoMessage | undefined, code: string) => void, body?: Buffer) => {
    result.sent++;
    inFlight++;
    result.byKind.set(kind, (result.byKind.get(kind) ?? 0) + 1);
    const started = performance.now();
    let settled = false;
    const timer = setTimeout(() => finish(undefined), ANSWER_TIMEOUT_MS);
    const finish = (answer: IsoMessage | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      inFlight--;
      const code = answer === undefined ? 'none' : String(answer.fields.get(39));
      if (answer === undefined) result.unanswered++;
      else result.answered++;
      result.byCode.set(code, (result.byCode.get(code) ?? 0) + 1);
      if (message.mti === '0100' && answer !== undefined && result.authorizations < result.authLatenciesMs.length) result.authLatenciesMs[result.authorizations++] = performance.now() - started;
      then?.(answer, code);
    };
    const request = body === undefined ? terminal.client.request(message) : terminal.client.requestEncoded(message, body);
    request.then(finish, () => finish(undefined));
  };

  const authorization = (card: LoadCard, cash: boolean) => {
    const terminal = pick(terminals);
    const amount = cash ? BigInt(1000 + Math.floor(random() * 60_000)) : BigInt(100 + Math.floor(random() * 9900));
    const shop = merchant();
    const message = build(terminal, card, '0100', cash ? '010000' : '000000', amount, { merchant: shop });
    send(terminal, message, cash ? 'cash 0100' : 'authorization 0100', (answer, code) => {
      if (answer === undefined) return void (card.uncertain = true);
      if (cash && amount > 50_000n && code !== '61') result.violations.push(`cash withdrawal of ${amount} answered ${code}, expected 61`);
      if (code !== '00' && code !== '10') return;
      const held = BigInt(answer.fields.get(4) as string);
      const fee = cash ? FEE_CASH : FEE_PURCHASE;
      card.holdsApproved++;
      card.outstandingMinor += held + fee;
      const roll = random();
      const stan = message.fields.get(11) as string;
      const rrn = message.fields.get(37) as string;
      if (roll < 0.6) {
        const shape = random();
        const captured = shape < 0.8 ? held : shape < 0.9 ? held / 2n : held + 50n;
        followUps.push(() => send(terminal, build(terminal, card, '0200', message.fields.get(3) as string, captured, { original: stan, rrn, chip: false, merchant: shop }), 'capture 0200', (reply, captureCode) => {
          if (reply === undefined) return void (card.uncertain = true);
          if (captureCode === '00') {
            card.holdsCaptured++;
            card.outstandingMinor -= held + fee;
            if (captured > held) card.excessTransfers++;
          } else if (captureCode !== '51') result.violations.push(`capture answered ${captureCode}`);
        }));
      } else if (roll < 0.85) {
        followUps.push(() => send(terminal, build(terminal, card, '0400', message.fields.get(3) as string, held, { original: stan, rrn, chip: false, merchant: shop }), 'reversal 0400', (reply, reversalCode) => {
          if (reply === undefined) return void (card.uncertain = true);
          if (reversalCode !== '00') return void result.violations.push(`reversal answered ${reversalCode}`);
          card.holdsReversed++;
          card.outstandingMinor -= held + fee;
        }));
      } else if (roll < 0.9) {
        followUps.push(() => send(terminal, { mti: '0101', fields: message.fields }, 'repeat 0101', (reply) => {
          if (reply === undefined) return void (card.uncertain = true);
          if (reply.fields.get(39) !== code || reply.fields.get(38) !== answer.fields.get(38)) result.violations.push('a repeat was answered differently from its original');
        }));
      }
    });
  };

  const operation = () => {
    const card = pick(cards);
    const terminal = pick(terminals);
    const roll = random() * 100;
    if (roll < 60) return authorization(card, false);
    if (roll < 65) return authorization(card, true);
    if (roll < 80) {
      return send(terminal, build(terminal, card, '0200', '000000', BigInt(100 + Math.floor(random() * 5000))), 'financial 0200', (answer, code) => {
        if (answer === undefined) return void (card.uncertain = true);
        if (code === '00' || code === '10') card.financials++;
      });
    }
    if (roll < 83) {
      // The reversal first (the original "lost" on its way), then the original: it must be declined.
      const original = build(terminal, card, '0100', '000000', 500n);
      const reversal = build(terminal, card, '0420', '000000', 500n, { original: original.fields.get(11) as string, rrn: original.fields.get(37) as string, chip: false });
      return send(terminal, reversal, 'reversal-before-original 0420', (answer) => {
        if (answer === undefined) return void (card.uncertain = true);
        followUps.push(() => send(terminal, original, 'late original 0100', (late, code) => {
          if (late === undefined) return void (card.uncertain = true);
          if (code !== '05') result.violations.push(`an original after its reversal was answered ${code}, expected 05`);
        }));
      });
    }
    if (roll < 88) return send(terminal, build(terminal, card, '0100', '380000', 0n), 'mini-statement 0100');
    if (roll < 90) return send(terminal, build(terminal, card, '0100', '310000', 0n), 'balance 0100');
    if (roll < 93) {
      const message = build(terminal, card, '0100', '000000', 700n);
      const icc = Buffer.from(message.fields.get(55) as Buffer);
      icc[icc.length - 1] ^= 0x01; // the ARQC (9F26, encoded last) loses a bit: it no longer verifies
      message.fields.set(55, icc);
      return send(terminal, message, 'bad ARQC 0100', (answer, code) => {
        if (answer !== undefined && code !== '82') result.violations.push(`a bad cryptogram was answered ${code}, expected 82`);
      });
    }
    if (roll < 96) return send(terminal, build(terminal, card, '0100', '000000', options.creditLimitMinor * 2n), 'no funds 0100');
    if (roll < 98) {
      const body = options.bin + randomDigits(15 - options.bin.length);
      const stranger = chipCard(options.imk, body + luhnCheckDigit(body), 1);
      return send(terminal, build(terminal, { ...stranger, atc: 1 } as unknown as LoadCard, '0100', '000000', 100n), 'unknown card 0100', (answer, code) => {
        if (answer !== undefined && code !== '14') result.violations.push(`an unknown card was answered ${code}, expected 14`);
      });
    }
    // Malformed: a control byte in DE 42 (after DE 11 and DE 41, so the switch can answer 30).
    const message = build(terminal, card, '0100', '000000', 100n, { chip: false });
    const bytes = encode(message);
    bytes[bytes.indexOf(message.fields.get(42) as string, 0, 'latin1') + 2] = 0x07;
    send(terminal, message, 'malformed 0100', (answer, code) => {
      if (answer !== undefined && code !== '30') result.violations.push(`a malformed message was answered ${code}, expected 30`);
    }, bytes);
  };

  const startedMs = performance.now();
  const endMs = startedMs + options.durationSeconds * 1000;
  let lastReport = startedMs;
  let lastAuthorizations = 0;
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const nowMs = performance.now();
      const due = Math.floor(((Math.min(nowMs, endMs) - startedMs) / 1000) * options.tps) - result.sent - result.notSent;
      for (let index = 0; index < due; index++) {
        if (inFlight >= IN_FLIGHT_MAX) {
          result.notSent++;
          continue;
        }
        const next = followUps.shift();
        if (next !== undefined) next();
        else operation();
      }
      if (nowMs - lastReport >= 1000) {
        const rate = ((result.authorizations - lastAuthorizations) * 1000) / (nowMs - lastReport);
        options.progress(`${((nowMs - startedMs) / 1000).toFixed(0)}s: sent ${result.sent}, answered ${result.answered}, in flight ${inFlight}, authorizations ${rate.toFixed(0)}/s`);
        lastReport = nowMs;
        lastAuthorizations = result.authorizations;
      }
      if (nowMs >= endMs) {
        clearInterval(tick);
        resolve();
      }
    }, 1);
  });
  // Follow-ups still queued run now, so every approved hold gets its planned fate; then wait for answers.
  while (followUps.length > 0 || inFlight > 0) {
    while (followUps.length > 0) followUps.shift()!();
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  result.elapsedSeconds = (performance.now() - startedMs) / 1000;
  return result;
}

export function percentile(sorted: Float64Array, fraction: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))];
}
