/**
 * The bus services of the switch: `CARDS.ISSUE` and `CARDS.STATUS` (reachable by `purser call`, HTTP JSON
 * and `connect()`). They run through the same batcher as the ISO 8583 traffic, so cards change in the same
 * serial order the authorizations see. Bad input is a `TPESVCFAIL` whose data is `{ code, message }` with
 * a `CardsRequestError` code; nothing is written.
 */
import { ServiceFailure, type ServiceRequest } from 'purser';
import type { Batcher } from './batcher.js';
import type { Card, CardDirectory, IssueRequest } from './directory.js';
import { CardsRequestError } from './errors.js';
import { bigIntToUuid, CARD_STATUSES, luhnValid, uuidToBigInt, type CardStatus } from './model.js';

/** User return codes of a TPESVCFAIL, by error code. */
export const URCODES = { CARDS_INVALID_REQUEST: 1, CARDS_DUPLICATE_CARD: 2, CARDS_UNKNOWN_CARD: 3, CARDS_INVALID_SETTINGS: 4 } as const;

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const AMOUNT_MAX = 2n ** 63n - 1n; // far above any credit limit; keeps amounts in the records' 64 bits

function invalid(message: string): never {
  throw new CardsRequestError('CARDS_INVALID_REQUEST', message);
}

function field(data: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(data, key) ? data[key] : undefined;
}

/** Checks a CARDS.ISSUE request: `{ pan, psn, expiry: 'YYMM', customer: UUID, creditLimit, currency }`. */
export function parseIssueRequest(data: unknown): IssueRequest {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) invalid('expected { pan, psn, expiry, customer, creditLimit, currency }');
  const record = data as Record<string, unknown>;
  for (const key of Object.keys(record)) if (!['pan', 'psn', 'expiry', 'customer', 'creditLimit', 'currency'].includes(key)) invalid(`unknown field ${key}`);
  const pan = field(record, 'pan');
  if (typeof pan !== 'string' || !/^[1-9]\d{11,18}$/.test(pan)) invalid('pan: expected 12 to 19 digits, not starting with 0');
  if (!luhnValid(pan)) invalid('pan: fails the Luhn check');
  const psnRaw = field(record, 'psn');
  const psn = typeof psnRaw === 'string' && /^\d{1,2}$/.test(psnRaw) ? Number(psnRaw) : psnRaw;
  if (typeof psn !== 'number' || !Number.isInteger(psn) || psn < 0 || psn > 99) invalid('psn: expected the PAN sequence number, 0 to 99');
  const expiry = field(record, 'expiry');
  if (typeof expiry !== 'string' || !/^\d{2}(0[1-9]|1[0-2])$/.test(expiry)) invalid("expiry: expected 'YYMM'");
  const customer = field(record, 'customer');
  if (typeof customer !== 'string' || !UUID.test(customer)) invalid('customer: expected a UUID string');
  const limitRaw = field(record, 'creditLimit');
  let creditLimit: bigint;
  if (typeof limitRaw === 'number' && Number.isSafeInteger(limitRaw) && limitRaw >= 0) creditLimit = BigInt(limitRaw);
  else if (typeof limitRaw === 'string' && /^\d{1,19}$/.test(limitRaw)) creditLimit = BigInt(limitRaw);
  else return invalid('creditLimit: expected whole minor units, a JSON number or a decimal string');
  if (creditLimit > AMOUNT_MAX) invalid('creditLimit: too large');
  const currencyRaw = field(record, 'currency');
  const currency = typeof currencyRaw === 'string' && /^\d{3}$/.test(currencyRaw) ? Number(currencyRaw) : currencyRaw;
  if (typeof currency !== 'number' || !Number.isInteger(currency) || currency < 1 || currency > 999) invalid('currency: expected an ISO 4217 numeric code, 1 to 999');
  return { pan: pan, psn: psn, expiry: expiry, customer: uuidToBigInt(customer), creditLimit, currency: currency };
}

export function parseStatusRequest(data: unknown): { pan: string; status: CardStatus } {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) invalid('expected { pan, status }');
  const record = data as Record<string, unknown>;
  for (const key of Object.keys(record)) if (key !== 'pan' && key !== 'status') invalid(`unknown field ${key}`);
  const pan = field(record, 'pan');
  const status = field(record, 'status');
  if (typeof pan !== 'string' || !/^\d{12,19}$/.test(pan)) invalid('pan: expected 12 to 19 digits');
  if (typeof status !== 'string' || !(CARD_STATUSES as readonly string[]).includes(status)) invalid(`status: expected one of ${CARD_STATUSES.join(', ')}`);
  return { pan: pan, status: status as CardStatus };
}

export function describeCard(card: Card) {
  return {
    pan: card.pan, psn: Number(card.psn), expiry: card.expiry, status: card.status, customer: bigIntToUuid(card.customer), agreement: card.agreement,
    currency: card.ledger, mainAccount: card.mainId.toString(), limitAccount: card.limitId.toString(),
  };
}

function failure(error: unknown): never {
  if (error instanceof CardsRequestError) throw new ServiceFailure(URCODES[error.code], { code: error.code, message: error.message });
  throw error;
}

export function issueService(batcher: Batcher, directory: CardDirectory) {
  return async (request: ServiceRequest) => {
    try {
      const issue = parseIssueRequest(request.data);
      const outcome = await batcher.submit((batch) => directory.issue(issue, batch));
      if ('duplicate' in outcome) throw new CardsRequestError('CARDS_DUPLICATE_CARD', `a card with PAN ${issue.pan} exists`);
      if ('unknownIssuer' in outcome) invalid(`pan: no issuer of this switch has its BIN`);
      return { ...describeCard(outcome.card), creditLimit: issue.creditLimit.toString() };
    } catch (error) {
      return failure(error);
    }
  };
}

export function statusService(batcher: Batcher, directory: CardDirectory) {
  return async (request: ServiceRequest) => {
    try {
      const { pan, status } = parseStatusRequest(request.data);
      const previous = await batcher.submit((batch) => directory.setStatus(pan, status, batch));
      if (previous === undefined) throw new CardsRequestError('CARDS_UNKNOWN_CARD', `no card with PAN ${pan}`);
      return { pan, status, previous };
    } catch (error) {
      return failure(error);
    }
  };
}
