/**
 * How the switch keeps cards, customers and money in the ledger, with no other database (the "TigerBeetle
 * without a control plane database" posts), and the codes it answers with.
 *
 * Per card, an account set linked by `user_data_128` (the customer's UUID as a number) and `user_data_32`
 * (the customer's agreement number, 1, 2, 3… assigned inside the store transaction that issues the card):
 * - MAIN (code 1): what the card spends; `debits_must_not_exceed_credits`, so the ledger itself refuses to
 *   overdraw it. `user_data_64` is the PAN as a number (a PAN is at most 19 digits < 2^64, and starts with a
 *   non-zero digit), so `queryAccounts({ user_data_64: pan, code: 1 })` finds a card through an index.
 * - LIMIT (code 2): the card's credit line. Issuing moves the credit limit LIMIT → MAIN.
 * Card state (status, expiry, PSN) is a zero-amount transfer LIMIT → MAIN with code 900: `user_data_32` the
 * status, `user_data_64` = expiry (YYMM as a number) × 1000 + PSN. The newest one is the card's state,
 * read back with `getAccountTransfers({ code: 900, limit: 1, flags: credits | reversed })`.
 *
 * Per currency (the ledger number is the ISO 4217 numeric code), the issuer's fee income account, and one
 * account per merchant (DE 42), whose id is derived from the merchant id, so no mapping table is needed.
 */
import { createHash } from 'node:crypto';

export const ACCOUNT_CODE_MAIN = 1;
export const ACCOUNT_CODE_LIMIT = 2;
export const ACCOUNT_CODE_FEES = 10;
export const ACCOUNT_CODE_MERCHANT = 11;

/** Transfer codes. Post and void transfers carry the code of the pending transfer they resolve (the ledger's rule). */
export const TRANSFER_CODE_CREDIT_LINE = 1;
export const TRANSFER_CODE_PURCHASE = 10;
export const TRANSFER_CODE_CASH = 11;
export const TRANSFER_CODE_REFUND = 12;
export const TRANSFER_CODE_FEE = 20;
export const TRANSFER_CODE_FEE_REFUND = 21;
export const TRANSFER_CODE_STATE = 900;

/** Transfers that are not statement lines: fees and card state (the mini-statement leaves them out). */
export function isStatementCode(code: number): boolean {
  return code !== TRANSFER_CODE_FEE && code !== TRANSFER_CODE_FEE_REFUND && code !== TRANSFER_CODE_STATE;
}

export const CARD_STATUSES = ['active', 'blocked', 'lost', 'stolen', 'closed'] as const;
export type CardStatus = (typeof CARD_STATUSES)[number];

/** Response codes (DE 39) the switch answers with; ISO 8583:1987 meanings. */
export const RC = {
  approved: '00',
  doNotHonor: '05', // card not active; an original that arrives after its reversal
  partialApproval: '10',
  invalidTransaction: '12', // a processing code or currency the card does not support
  invalidAmount: '13',
  invalidCardNumber: '14', // unknown card, or a PAN that fails the Luhn check
  originalNotFound: '25', // a capture of an authorization the switch never saw
  formatError: '30',
  insufficientFunds: '51',
  expiredCard: '54', // past its expiry month, or DE 14 differs from the card's
  incorrectPin: '55', // the chip reports cardholder verification failed (TVR byte 3 bit 8)
  exceedsWithdrawalLimit: '61',
  securityViolation: '63', // an ATC the card already used (a replayed cryptogram)
  badCryptogram: '82', // the ARQC does not verify, or DE 55 cannot be used
  systemUnavailable: '91', // the ledger or store failed for this message; nothing was changed
  duplicateTransmission: '94', // a terminal, STAN and RRN already used by a message of another class
} as const;

const ISSUER_ID_BASE = 0xca4d5n << 108n;
const MERCHANT_ID_BASE = 0xca4d6n << 108n;

/** The fee income account of a currency. */
export function feeAccountId(ledger: number): bigint {
  return ISSUER_ID_BASE | BigInt(ledger);
}

/** A merchant's account in a currency: derived from the merchant id, so the same merchant always gets the same account. */
export function merchantAccountId(merchant: string, ledger: number): bigint {
  const digest = createHash('sha256').update(`${ledger}:${merchant}`).digest();
  // 96 bits of the digest under a prefix that sequences (which start at 1) never reach.
  return MERCHANT_ID_BASE | (digest.readBigUInt64BE(0) << 32n) | BigInt(digest.readUInt32BE(8));
}

/** The state transfer's `user_data_64`: expiry (YYMM) × 1000 + PSN. */
export function packCardState(expiry: string, psn: number): bigint {
  return BigInt(Number(expiry) * 1000 + psn);
}

export function unpackCardState(value: bigint): { expiry: string; psn: number } {
  const number = Number(value);
  return { expiry: String(Math.floor(number / 1000)).padStart(4, '0'), psn: number % 1000 };
}

/** The Luhn check of a PAN (ISO/IEC 7812-1). */
export function luhnValid(pan: string): boolean {
  let sum = 0;
  for (let index = 0; index < pan.length; index++) {
    let digit = pan.charCodeAt(pan.length - 1 - index) - 48;
    if (index % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}

/** The check digit that makes `partial` + digit pass the Luhn check. */
export function luhnCheckDigit(partial: string): string {
  for (let digit = 0; digit < 10; digit++) if (luhnValid(partial + digit)) return String(digit);
  throw new Error('unreachable: one of ten digits passes');
}

export function uuidToBigInt(uuid: string): bigint {
  return BigInt(`0x${uuid.replace(/-/g, '')}`);
}

export function bigIntToUuid(value: bigint): string {
  const hex = value.toString(16).padStart(32, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
