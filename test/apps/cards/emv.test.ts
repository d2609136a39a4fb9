// EMV cryptography checked against published test vectors, and BER-TLV against malformed input.
//
// The vectors are the test cases of pyemv (github.com/knovichikhin/pyemv, tests/test_kd_hsm.py and
// tests/test_ac_hsm.py), whose values agree with payment HSMs: issuer master key
// 0123456789ABCDEFFEDCBA9876543210 (key check value 08D7), ICC master key by Option A, common session
// key derivation, AC with ISO 9797-1 algorithm 3 and EMV (method 2) padding, ARPC method 1. Quoted:
//   test_derive_common_sk: pan "12345678901234567", psn "45" → ICC MK KCV "FF08"; R 1234567890123456 →
//     SK KCV "DF82"; AC over 0123456789ABCDEF0123456789ABCDEF → "19C1FBC83EBDC0D5";
//     ARPC method 1 with the session key, ARC 0000 → "C3620580668E5B65"
//   test_generate_ac_emv_arpc1: pan "9901234567890123", psn "45" → ICC MK KCV "1DA5"; SK KCV "0995";
//     AC → "4B46013359B7A58B"
//   test_derive_icc_mk_b_sha_pad: R 001C000000000000 (ATC 001C) is the AC diversification value the
//     common session key derivation uses, which is what acSessionKey builds from an ATC.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { acSessionKey, arpcMethod1, deriveCommonSessionKey, deriveIccMasterKeyA, keyCheckValue, macAlgorithm3, padMethod2 } from '../../../apps/cards/emv/crypto.js';
import { encodeTlv, parseTlv } from '../../../apps/cards/emv/tlv.js';
import { generateArqc, issuerAuthenticationData, verifyArqc } from '../../../apps/cards/emv/arqc.js';
import { EmvDataError } from '../../../apps/cards/errors.js';

const IMK = Buffer.from('0123456789ABCDEFFEDCBA9876543210', 'hex');
const hex = (buffer: Buffer) => buffer.toString('hex').toUpperCase();

test('pyemv vector test_derive_common_sk: Option A, common session key, AC and ARPC method 1 with the session key', () => {
  assert.equal(hex(keyCheckValue(IMK, 2)), '08D7');
  const mk = deriveIccMasterKeyA(IMK, '12345678901234567', '45');
  assert.equal(hex(keyCheckValue(mk, 2)), 'FF08');
  const sk = deriveCommonSessionKey(mk, Buffer.from('1234567890123456', 'hex'));
  assert.equal(hex(keyCheckValue(sk, 2)), 'DF82');
  const ac = macAlgorithm3(sk, Buffer.from('0123456789ABCDEF0123456789ABCDEF', 'hex'));
  assert.equal(hex(ac), '19C1FBC83EBDC0D5');
  assert.equal(hex(arpcMethod1(sk, ac, Buffer.from('0000', 'hex'))), 'C3620580668E5B65');
});

test('pyemv vector test_generate_ac_emv_arpc1: a 16-digit PAN', () => {
  const mk = deriveIccMasterKeyA(IMK, '9901234567890123', '45');
  assert.equal(hex(keyCheckValue(mk, 2)), '1DA5');
  const sk = deriveCommonSessionKey(mk, Buffer.from('1234567890123456', 'hex'));
  assert.equal(hex(keyCheckValue(sk, 2)), '0995');
  assert.equal(hex(macAlgorithm3(sk, Buffer.from('0123456789ABCDEF0123456789ABCDEF', 'hex'))), '4B46013359B7A58B');
});

test('the AC session key of an ATC is the common derivation of ATC || 00…00, and the ICC master key has odd parity', () => {
  const mk = deriveIccMasterKeyA(IMK, '9999990000000001', '01');
  assert.deepEqual(acSessionKey(mk, Buffer.from('001C', 'hex')), deriveCommonSessionKey(mk, Buffer.from('001C000000000000', 'hex')));
  for (const byte of mk) assert.equal(byte.toString(2).split('1').length % 2, 0, 'odd number of ones');
  assert.deepEqual(padMethod2(Buffer.alloc(8)), Buffer.from('00000000000000008000000000000000', 'hex'));
});

const minimumData = (atc: number, amount = '000000001000') => new Map<number, Buffer>([
  [0x9f02, Buffer.from(amount, 'hex')], [0x9f03, Buffer.alloc(6)], [0x9f1a, Buffer.from('0978', 'hex')],
  [0x95, Buffer.alloc(5)], [0x5f2a, Buffer.from('0978', 'hex')], [0x9a, Buffer.from('261205', 'hex')], [0x9c, Buffer.from([0])],
  [0x9f37, Buffer.from('CAFEBABE', 'hex')], [0x82, Buffer.from('1800', 'hex')], [0x9f36, Buffer.from([atc >> 8, atc & 0xff])],
]);

test('an ARQC made by the card side verifies; a changed amount or a flipped bit does not; the ARPC is method 1 over the ARC', () => {
  const mk = deriveIccMasterKeyA(IMK, '9999990000000001', '01');
  const tags = minimumData(7);
  tags.set(0x9f26, generateArqc(mk, tags));
  const good = parseTlv(encodeTlv([...tags]));
  const check = verifyArqc(mk, good);
  assert.equal(check.valid, true);
  assert.equal(check.atc, 7);
  const changed = new Map(good);
  changed.set(0x9f02, Buffer.from('000000009999', 'hex'));
  assert.equal(verifyArqc(mk, changed).valid, false, 'the amount is covered by the cryptogram');
  const flipped = new Map(good);
  const arqc = Buffer.from(good.get(0x9f26)!);
  arqc[7] ^= 1;
  flipped.set(0x9f26, arqc);
  assert.equal(verifyArqc(mk, flipped).valid, false);
  const data = issuerAuthenticationData(check.sessionKey, check.arqc, '00');
  assert.equal(data.length, 10);
  assert.deepEqual(data.subarray(0, 8), arpcMethod1(check.sessionKey, check.arqc, Buffer.from('00', 'latin1')));
  assert.equal(data.subarray(8).toString('latin1'), '00');
  const missing = new Map(good);
  missing.delete(0x9f37);
  assert.throws(() => verifyArqc(mk, missing), EmvDataError);
});

test('BER-TLV: multi-byte tags and long lengths round-trip; malformed input is an EmvDataError, never a partial result', () => {
  const value = Buffer.alloc(200, 7);
  const encoded = encodeTlv([[0x9f36, Buffer.from([0, 1])], [0x95, Buffer.alloc(5)], [0x5f2a, Buffer.from([9, 0x78])], [0x9f10, value]]);
  const parsed = parseTlv(encoded);
  assert.deepEqual([...parsed.keys()], [0x9f36, 0x95, 0x5f2a, 0x9f10]);
  assert.deepEqual(parsed.get(0x9f10), value);
  const bad = [
    Buffer.from('9F', 'hex'), // truncated tag
    Buffer.from('9F36', 'hex'), // no length
    Buffer.from('9F36050001', 'hex'), // value shorter than its length
    Buffer.from('9F368300000100', 'hex'), // three length bytes
    Buffer.from('9FFFFF0100', 'hex'), // four-byte tag
    Buffer.from('950100950100', 'hex'), // duplicate
    Buffer.from('000100', 'hex'), // padding byte as a tag
    Buffer.from('9581', 'hex'), // truncated long length
  ];
  for (const bytes of bad) assert.throws(() => parseTlv(bytes), EmvDataError, hex(bytes));
  // Random bytes: always a result or an EmvDataError.
  let seed = 42;
  const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
  for (let round = 0; round < 2000; round++) {
    const bytes = Buffer.from(Array.from({ length: random() % 40 }, random));
    try {
      parseTlv(bytes);
    } catch (error) {
      assert.ok(error instanceof EmvDataError);
    }
  }
});

test('bad keys and inputs are EmvDataErrors', () => {
  assert.throws(() => deriveIccMasterKeyA(Buffer.alloc(8), '1234', '00'), EmvDataError);
  assert.throws(() => deriveIccMasterKeyA(IMK, '12a4', '00'), EmvDataError);
  assert.throws(() => deriveIccMasterKeyA(IMK, '1234', '0'), EmvDataError);
  assert.throws(() => acSessionKey(IMK, Buffer.alloc(3)), EmvDataError);
  assert.throws(() => arpcMethod1(IMK, Buffer.alloc(7), Buffer.alloc(2)), EmvDataError);
});
