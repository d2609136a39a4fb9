/**
 * The card switch's errors. Each is a `PurserError` with a stable code (the app defines its own, as a
 * program built on Purser would). Bad input to a public entry point of the app gets one of these and
 * changes nothing.
 */
import { PurserError } from 'purser';

/** An ISO 8583 message that does not follow the field specification. Carries what was read before the fault. */
export class IsoFormatError extends PurserError {
  static override readonly codes = ['CARDS_ISO_FORMAT'] as const;
  declare readonly code: 'CARDS_ISO_FORMAT';

  constructor(
    message: string,
    /** The field being read when the fault was found (0: MTI, 1: bitmap), or -1 for the message as a whole. */
    readonly field: number,
    /** The MTI and the fields decoded before the fault, so a reply can still name the message (DE 11). */
    readonly partial: { mti: string | undefined; fields: ReadonlyMap<number, string | Buffer> },
  ) {
    super('CARDS_ISO_FORMAT', message);
  }
}

/** EMV data that cannot be used: malformed BER-TLV, a missing or wrongly sized tag, a bad key. */
export class EmvDataError extends PurserError {
  static override readonly codes = ['CARDS_EMV_DATA'] as const;
  declare readonly code: 'CARDS_EMV_DATA';

  constructor(message: string) {
    super('CARDS_EMV_DATA', message);
  }
}

/** A request to the card services (CARDS.ISSUE, CARDS.STATUS) or the app's settings that cannot be used. */
export class CardsRequestError extends PurserError {
  static override readonly codes = ['CARDS_INVALID_REQUEST', 'CARDS_UNKNOWN_CARD', 'CARDS_DUPLICATE_CARD', 'CARDS_INVALID_SETTINGS'] as const;
  declare readonly code: 'CARDS_INVALID_REQUEST' | 'CARDS_UNKNOWN_CARD' | 'CARDS_DUPLICATE_CARD' | 'CARDS_INVALID_SETTINGS';

  constructor(code: CardsRequestError['code'], message: string) {
    super(code, message);
  }
}

/** `purser cards load` could not reach the switch's ISO 8583 listener. */
export class CardsUnreachableError extends PurserError {
  static override readonly codes = ['CARDS_UNREACHABLE'] as const;
  declare readonly code: 'CARDS_UNREACHABLE';

  constructor(message: string, options?: { cause?: unknown }) {
    super('CARDS_UNREACHABLE', message, options);
  }
}
