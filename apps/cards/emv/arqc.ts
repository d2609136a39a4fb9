/**
 * ARQC verification and ARPC generation for one chip authorization (EMV 4.4 Book 2 §8.1–8.2), on the tags
 * of DE 55. The MAC input is the minimum data of Book 2 §8.1.1, in this order and with these lengths:
 * amount authorised 9F02 (6), amount other 9F03 (6), terminal country 9F1A (2), TVR 95 (5), transaction
 * currency 5F2A (2), transaction date 9A (3), transaction type 9C (1), unpredictable number 9F37 (4),
 * AIP 82 (2), ATC 9F36 (2). A missing tag or a wrong length is an `EmvDataError` (declined as a bad ARQC).
 */
import { EmvDataError } from '../errors.js';
import { acSessionKey, arpcMethod1, macAlgorithm3 } from './crypto.js';
import type { Tag } from './tlv.js';

export const TAG_ARQC = 0x9f26;
export const TAG_ATC = 0x9f36;
export const TAG_AMOUNT = 0x9f02;
export const TAG_TVR = 0x95;
export const TAG_ISSUER_AUTHENTICATION_DATA = 0x91;

const MINIMUM_DATA: readonly (readonly [Tag, number])[] = [
  [0x9f02, 6], [0x9f03, 6], [0x9f1a, 2], [0x95, 5], [0x5f2a, 2], [0x9a, 3], [0x9c, 1], [0x9f37, 4], [0x82, 2], [0x9f36, 2],
];

function requireTag(tags: ReadonlyMap<Tag, Buffer>, tag: Tag, length: number): Buffer {
  const value = tags.get(tag);
  if (value === undefined) throw new EmvDataError(`DE 55 lacks tag ${tag.toString(16).toUpperCase()}`);
  if (value.length !== length) throw new EmvDataError(`tag ${tag.toString(16).toUpperCase()} must be ${length} bytes, got ${value.length}`);
  return value;
}

/** The concatenated minimum data the ARQC is computed over. */
export function arqcInput(tags: ReadonlyMap<Tag, Buffer>): Buffer {
  return Buffer.concat(MINIMUM_DATA.map(([tag, length]) => requireTag(tags, tag, length)));
}

/** The card's side: the ARQC a card with this ICC master key computes over these tags (tests and the load generator). */
export function generateArqc(iccMasterKey: Buffer, tags: ReadonlyMap<Tag, Buffer>): Buffer {
  const sessionKey = acSessionKey(iccMasterKey, requireTag(tags, TAG_ATC, 2));
  return macAlgorithm3(sessionKey, arqcInput(tags));
}

export interface ArqcCheck {
  /** The ARQC matched. */
  valid: boolean;
  /** The application transaction counter, for the replay check. */
  atc: number;
  arqc: Buffer;
  /** The AC session key: the ARPC is computed with it too. */
  sessionKey: Buffer;
}

/** Verifies the ARQC (9F26) of DE 55 against the card's ICC master key. Throws `EmvDataError` for unusable data. */
export function verifyArqc(iccMasterKey: Buffer, tags: ReadonlyMap<Tag, Buffer>): ArqcCheck {
  const arqc = requireTag(tags, TAG_ARQC, 8);
  const atcBytes = requireTag(tags, TAG_ATC, 2);
  const sessionKey = acSessionKey(iccMasterKey, atcBytes);
  const expected = macAlgorithm3(sessionKey, arqcInput(tags));
  return { valid: expected.equals(arqc), atc: atcBytes.readUInt16BE(0), arqc, sessionKey };
}

/** Tag 91's value for ARPC method 1: the ARPC (8 bytes) and the ARC (the two ASCII bytes of DE 39). */
export function issuerAuthenticationData(sessionKey: Buffer, arqc: Buffer, responseCode: string): Buffer {
  const arc = Buffer.from(responseCode, 'latin1');
  if (arc.length !== 2) throw new EmvDataError('the response code must be two characters');
  return Buffer.concat([arpcMethod1(sessionKey, arqc, arc), arc]);
}
