/**
 * EMV application cryptograms (EMV 4.4 Book 2, Annex A1), with 3DES from node:crypto:
 *
 * - ICC master key by Option A (A1.4.1): Y = the rightmost 16 digits of PAN || PSN as 8 BCD bytes;
 *   MK = 3DES(IMK)[Y] || 3DES(IMK)[Y xor FF…FF], with odd parity.
 * - Common session key derivation (A1.3): from R = ATC || 00…00 (8 bytes),
 *   SK = 3DES(MK)[R0 R1 F0 R3…R7] || 3DES(MK)[R0 R1 0F R3…R7].
 * - The AC is the MAC of ISO/IEC 9797-1 algorithm 3 (A1.2.1) with padding method 2: single-DES CBC with
 *   the left key half, then decrypt with the right half and encrypt with the left on the last block.
 * - ARPC method 1 (A1.2.1 / §8.2.1): 3DES(SK)[ARQC xor (ARC || 00 00 00 00 00 00)].
 *
 * Keys are 16-byte double-length DES keys. `des-ede-ecb` is 3DES with K1 = K3; single DES is the same
 * cipher with both halves equal (node's OpenSSL 3 keeps plain DES in its legacy provider only).
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { EmvDataError } from '../errors.js';

function checkKey(key: Buffer, what: string): void {
  if (key.length !== 16) throw new EmvDataError(`${what} must be a 16-byte double-length DES key, got ${key.length} bytes`);
}

/** 3DES (EDE, two keys) of 8-byte blocks, ECB. */
export function tdesEncrypt(key: Buffer, data: Buffer): Buffer {
  const cipher = createCipheriv('des-ede-ecb', key, null);
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(data), cipher.final()]);
}

function desWith(key8: Buffer, data: Buffer, decrypt: boolean): Buffer {
  const doubled = Buffer.concat([key8, key8]);
  const cipher = decrypt ? createDecipheriv('des-ede-ecb', doubled, null) : createCipheriv('des-ede-ecb', doubled, null);
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(data), cipher.final()]);
}

/** Sets each byte's lowest bit so the byte has an odd number of ones (DES key parity). */
export function withOddParity(key: Buffer): Buffer {
  const out = Buffer.from(key);
  for (let index = 0; index < out.length; index++) {
    let ones = 0;
    for (let bit = 1; bit < 0x100; bit <<= 1) if (out[index] & bit) ones++;
    if (ones % 2 === 0) out[index] ^= 0x01;
  }
  return out;
}

/** Key check value: the first `bytes` bytes of the key's encryption of eight zero bytes. */
export function keyCheckValue(key: Buffer, bytes = 3): Buffer {
  checkKey(key, 'the key');
  return tdesEncrypt(key, Buffer.alloc(8)).subarray(0, bytes);
}

/** ICC master key for AC by Option A from the issuer master key, the PAN and the PAN sequence number (two digits). */
export function deriveIccMasterKeyA(imk: Buffer, pan: string, psn: string): Buffer {
  checkKey(imk, 'the issuer master key');
  if (!/^\d{1,19}$/.test(pan)) throw new EmvDataError('the PAN must be 1-19 digits');
  if (!/^\d{2}$/.test(psn)) throw new EmvDataError('the PAN sequence number must be two digits');
  const digits = (pan + psn).slice(-16).padStart(16, '0');
  const y = Buffer.from(digits, 'hex');
  const inverted = Buffer.from(y.map((byte) => byte ^ 0xff));
  return withOddParity(Buffer.concat([tdesEncrypt(imk, y), tdesEncrypt(imk, inverted)]));
}

/** Common session key derivation from an 8-byte diversification value R (for an AC: ATC || six zero bytes). */
export function deriveCommonSessionKey(masterKey: Buffer, r: Buffer): Buffer {
  checkKey(masterKey, 'the ICC master key');
  if (r.length !== 8) throw new EmvDataError('the session key diversification value must be 8 bytes');
  const left = Buffer.from(r);
  const right = Buffer.from(r);
  left[2] = 0xf0;
  right[2] = 0x0f;
  return tdesEncrypt(masterKey, Buffer.concat([left, right]));
}

/** The AC session key for an application transaction counter (2 bytes). */
export function acSessionKey(masterKey: Buffer, atc: Buffer): Buffer {
  if (atc.length !== 2) throw new EmvDataError('the ATC (9F36) must be 2 bytes');
  return deriveCommonSessionKey(masterKey, Buffer.concat([atc, Buffer.alloc(6)]));
}

/** ISO/IEC 9797-1 padding method 2: 0x80, then zeros to a multiple of 8 bytes (always at least one byte). */
export function padMethod2(data: Buffer): Buffer {
  const padded = Buffer.alloc((Math.floor(data.length / 8) + 1) * 8);
  data.copy(padded);
  padded[data.length] = 0x80;
  return padded;
}

/** ISO/IEC 9797-1 MAC algorithm 3 ("retail MAC") with padding method 2; 8 bytes. */
export function macAlgorithm3(key: Buffer, data: Buffer): Buffer {
  checkKey(key, 'the MAC key');
  const padded = padMethod2(data);
  const left = key.subarray(0, 8);
  const right = key.subarray(8, 16);
  const cbc = createCipheriv('des-ede-cbc', Buffer.concat([left, left]), Buffer.alloc(8));
  cbc.setAutoPadding(false);
  const chained = Buffer.concat([cbc.update(padded), cbc.final()]);
  const last = chained.subarray(chained.length - 8);
  return desWith(left, desWith(right, last, true), false);
}

/** ARPC method 1: the response cryptogram for an ARQC and a 2-byte authorisation response code. */
export function arpcMethod1(sessionKey: Buffer, arqc: Buffer, arc: Buffer): Buffer {
  checkKey(sessionKey, 'the session key');
  if (arqc.length !== 8) throw new EmvDataError('the ARQC must be 8 bytes');
  if (arc.length !== 2) throw new EmvDataError('the ARC must be 2 bytes');
  const block = Buffer.from(arqc);
  block[0] ^= arc[0];
  block[1] ^= arc[1];
  return tdesEncrypt(sessionKey, block);
}
