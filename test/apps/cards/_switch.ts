// A card switch on an in-memory store and a ledger with a clock the test moves, plus an acquirer client
// and message builders. Shared by the switch tests.
import { pino } from 'pino';
import { createBus, openLedger, openStore, openTasks, type Bus, type Ledger, type Store, type Tasks } from 'purser';
import { startCardsSwitch, type CardsSwitch } from '../../../apps/cards/app.js';
import { chipCard, chipData, IsoClient, type ChipCard, type ChipTransaction } from '../../../apps/cards/client.js';
import type { FieldValue, IsoMessage } from '../../../apps/cards/iso8583/codec.js';
import { luhnCheckDigit } from '../../../apps/cards/model.js';

export const IMK = Buffer.from('0123456789ABCDEFFEDCBA9876543210', 'hex');
export const CUSTOMER = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
/** 2026-12-05 12:00 UTC: the switch's "today" for expiry checks. */
export const START_MS = Date.UTC(2026, 11, 5, 12);

export interface TestSwitch {
  store: Store;
  ledger: Ledger;
  tasks: Tasks;
  bus: Bus;
  cards: CardsSwitch;
  client: IsoClient;
  /** Moves the ledger's clock (hold expiry) forward. */
  advanceSeconds(seconds: number): void;
  close(): Promise<void>;
}

export async function startTestSwitch(settings: Record<string, unknown> = {}): Promise<TestSwitch> {
  const store = await openStore();
  const tasks = await openTasks({ store, logger: { error: () => undefined, warn: () => undefined } });
  let nowNs = BigInt(START_MS) * 1_000_000n;
  const ledger = await openLedger({ store, clock: () => nowNs, logger: { error: () => undefined, warn: () => undefined } });
  const bus = createBus();
  const cards = await startCardsSwitch({
    bus, store, ledger, tasks, logger: pino({ level: 'silent' }), env: {}, nowMs: () => Number(nowNs / 1_000_000n),
    settings: { port: 0, issuers: [{ bin: '999999', imkAc: IMK.toString('hex') }], holdTimeoutSeconds: 3600, ...settings },
  });
  await tasks.start();
  const client = await IsoClient.connect(cards.address.port);
  return {
    store, ledger, tasks, bus, cards, client,
    advanceSeconds: (seconds) => (nowNs += BigInt(seconds) * 1_000_000_000n),
    async close() {
      client.close();
      await cards.close();
      await tasks.stop();
      await bus.close();
      await ledger.close();
      await store.close();
    },
  };
}

let panCounter = 0;
/** A fresh Luhn-valid PAN under the test BIN. */
export function newPan(): string {
  const body = `999999${String(++panCounter).padStart(9, '0')}`;
  return body + luhnCheckDigit(body);
}

export interface IssuedCard extends ChipCard {
  mainId: bigint;
  limitId: bigint;
  expiry: string;
  /** The next ATC this card uses. */
  atc: number;
}

export async function issue(bus: Bus, fields: { creditLimit?: number | string; expiry?: string; customer?: string; psn?: number; pan?: string } = {}): Promise<IssuedCard> {
  const pan = fields.pan ?? newPan();
  const psn = fields.psn ?? 1;
  const expiry = fields.expiry ?? '2912';
  const reply = await bus.call('CARDS.ISSUE', { pan, psn, expiry, customer: fields.customer ?? CUSTOMER, creditLimit: fields.creditLimit ?? 100_000, currency: 978 });
  const data = reply.data as { mainAccount: string; limitAccount: string };
  return { ...chipCard(IMK, pan, psn), mainId: BigInt(data.mainAccount), limitId: BigInt(data.limitAccount), expiry, atc: 1 };
}

let stanCounter = 0;
export function nextStan(): string {
  return String(++stanCounter % 1_000_000).padStart(6, '0');
}

export interface RequestOptions {
  mti?: string;
  processing?: string;
  amount?: bigint;
  stan?: string;
  rrn?: string;
  terminal?: string;
  merchant?: string;
  /** Chip data: true for a good ARQC from the card (consuming its next ATC), a Buffer as given, false for none. */
  chip?: boolean | Buffer;
  chipOverrides?: Partial<ChipTransaction>;
  expiry?: string;
  partial?: boolean;
  currency?: string;
  original?: { stan: string };
}

/** A request for `card` with every field the switch needs. */
export function requestFor(card: IssuedCard | { pan: string }, options: RequestOptions = {}): IsoMessage {
  const stan = options.stan ?? nextStan();
  const amount = options.amount ?? 1000n;
  const fields = new Map<number, FieldValue>([
    [2, card.pan], [3, options.processing ?? '000000'], [4, amount.toString().padStart(12, '0')], [7, '1205120000'], [11, stan], [12, '120000'],
    [22, '051'], [23, '001'], [37, options.rrn ?? `RRN${stan}000`], [41, options.terminal ?? 'TERM0001'], [42, options.merchant ?? 'MERCHANT0000001'],
    [49, options.currency ?? '978'],
  ]);
  if (options.expiry !== undefined) fields.set(14, options.expiry);
  if (options.partial) fields.set(48, 'P');
  if (options.original !== undefined) fields.set(90, `0100${options.original.stan}1205120000${'0'.repeat(22)}`);
  const chip = options.chip ?? 'iccMasterKey' in card;
  if (Buffer.isBuffer(chip)) fields.set(55, chip);
  else if (chip && 'iccMasterKey' in card) {
    const type = options.processing?.startsWith('01') ? 1 : options.processing?.startsWith('3') ? 0x31 : 0;
    fields.set(55, chipData(card, { amount, currency: 978, atc: card.atc++, type, ...options.chipOverrides }));
  }
  return { mti: options.mti ?? '0100', fields };
}

export function responseCode(message: IsoMessage): string {
  return message.fields.get(39) as string;
}

export async function available(ledger: Ledger, card: IssuedCard): Promise<bigint> {
  const [main] = await ledger.lookupAccounts([card.mainId]);
  return main.credits_posted - main.debits_posted - main.debits_pending;
}
