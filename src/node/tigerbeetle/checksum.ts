/**
 * TigerBeetle's checksum: AEGIS-128L used as a MAC with a zero key and a zero nonce, the message as
 * associated data and an empty plaintext; the 128-bit tag (XOR of state blocks S0..S6 after
 * finalisation) is the checksum, stored little-endian. Every header and every body on the wire carries
 * one, so a Purser node must compute exactly the same bytes as the official client.
 *
 * Node's crypto has neither AEGIS nor a bare AES round, so the AES round (SubBytes, ShiftRows,
 * MixColumns, then XOR with the round key) is done here with four 256-entry lookup tables ("T-tables"),
 * one per row of a column, on 32-bit little-endian column words. The tables are computed at load time
 * from the GF(2^8) arithmetic that defines AES, not typed in.
 *
 * This is a checksum, not a secret: T-table AES leaks timing through the cache, which matters only
 * when the key is secret, and here the key is public (zero).
 */
import { assert } from '../../errors.js';

/** Bytes of the tag, the size of every checksum field on the wire. */
export const CHECKSUM_SIZE_BYTES = 16;

/** Bytes absorbed per AEGIS-128L update (two 128-bit blocks). */
const ABSORB_RATE_BYTES = 32;
const ABSORB_RATE_WORDS = ABSORB_RATE_BYTES / 4;

/** The state is eight 128-bit blocks, kept as 32 column words (block b's words at 4b..4b+3). */
const STATE_WORDS = 32;

/** Rounds of the update function run at initialisation and at finalisation (AEGIS-128L). */
const INIT_ROUNDS = 10;
const FINAL_ROUNDS = 7;

// ---- AES T-tables ----------------------------------------------------------------------------------

function gfDouble(x: number): number {
  return ((x << 1) ^ (x & 0x80 ? 0x1b : 0)) & 0xff;
}

function gfMultiply(a: number, b: number): number {
  let product = 0;
  for (let bit = 0; bit < 8; bit += 1) {
    if (b & 1) product ^= a;
    a = gfDouble(a);
    b >>= 1;
  }
  return product;
}

/** The AES S-box: multiplicative inverse in GF(2^8), then the affine map with constant 0x63. */
function buildSbox(): Uint8Array {
  const sbox = new Uint8Array(256);
  for (let x = 0; x < 256; x += 1) {
    let inverse = 0;
    if (x !== 0) {
      for (let y = 1; y < 256; y += 1) {
        if (gfMultiply(x, y) === 1) {
          inverse = y;
          break;
        }
      }
    }
    let s = inverse;
    for (let shift = 1; shift <= 4; shift += 1) s ^= ((inverse << shift) | (inverse >> (8 - shift))) & 0xff;
    sbox[x] = s ^ 0x63;
  }
  return sbox;
}

const SBOX = buildSbox();
assert(SBOX[0x00] === 0x63 && SBOX[0x01] === 0x7c && SBOX[0x53] === 0xed, 'AES S-box construction');

/**
 * T0[x] is the column MixColumns makes from S(x) in row 0 (coefficients 2,1,1,3 from row 0 down),
 * packed little-endian (row 0 in the low byte). T1..T3 are the same for input rows 1..3: byte rotations.
 */
const T0 = new Int32Array(256);
const T1 = new Int32Array(256);
const T2 = new Int32Array(256);
const T3 = new Int32Array(256);
for (let x = 0; x < 256; x += 1) {
  const s = SBOX[x];
  const s2 = gfDouble(s);
  const s3 = s2 ^ s;
  T0[x] = s2 | (s << 8) | (s << 16) | (s3 << 24);
  T1[x] = s3 | (s2 << 8) | (s << 16) | (s << 24);
  T2[x] = s | (s3 << 8) | (s2 << 16) | (s << 24);
  T3[x] = s | (s << 8) | (s3 << 16) | (s2 << 24);
}

// ---- AEGIS-128L ------------------------------------------------------------------------------------

/**
 * One AES round of block `from` of `state` into block `to` of `next`, with round key `k0..k3`.
 * ShiftRows is folded into which input column each row's byte is taken from.
 */
function aesRound(state: Int32Array, from: number, next: Int32Array, to: number, k0: number, k1: number, k2: number, k3: number): void {
  const a0 = state[from];
  const a1 = state[from + 1];
  const a2 = state[from + 2];
  const a3 = state[from + 3];
  next[to] = T0[a0 & 0xff] ^ T1[(a1 >>> 8) & 0xff] ^ T2[(a2 >>> 16) & 0xff] ^ T3[a3 >>> 24] ^ k0;
  next[to + 1] = T0[a1 & 0xff] ^ T1[(a2 >>> 8) & 0xff] ^ T2[(a3 >>> 16) & 0xff] ^ T3[a0 >>> 24] ^ k1;
  next[to + 2] = T0[a2 & 0xff] ^ T1[(a3 >>> 8) & 0xff] ^ T2[(a0 >>> 16) & 0xff] ^ T3[a1 >>> 24] ^ k2;
  next[to + 3] = T0[a3 & 0xff] ^ T1[(a0 >>> 8) & 0xff] ^ T2[(a1 >>> 16) & 0xff] ^ T3[a2 >>> 24] ^ k3;
}

/**
 * The AEGIS-128L update with message blocks M0 = m[at..at+3] and M1 = m[at+4..at+7]:
 * S'0 = R(S7, S0^M0), S'i = R(S(i-1), Si) for i = 1..7 except S'4 = R(S3, S4^M1).
 * Writes into `next`; the caller swaps the two buffers.
 */
function update(state: Int32Array, next: Int32Array, m: Int32Array, at: number): void {
  aesRound(state, 28, next, 0, state[0] ^ m[at], state[1] ^ m[at + 1], state[2] ^ m[at + 2], state[3] ^ m[at + 3]);
  aesRound(state, 0, next, 4, state[4], state[5], state[6], state[7]);
  aesRound(state, 4, next, 8, state[8], state[9], state[10], state[11]);
  aesRound(state, 8, next, 12, state[12], state[13], state[14], state[15]);
  aesRound(state, 12, next, 16, state[16] ^ m[at + 4], state[17] ^ m[at + 5], state[18] ^ m[at + 6], state[19] ^ m[at + 7]);
  aesRound(state, 16, next, 20, state[20], state[21], state[22], state[23]);
  aesRound(state, 20, next, 24, state[24], state[25], state[26], state[27]);
  aesRound(state, 24, next, 28, state[28], state[29], state[30], state[31]);
}

function wordsOf(bytes: number[]): number[] {
  const view = new DataView(Uint8Array.from(bytes).buffer);
  return [0, 4, 8, 12].map((offset) => view.getInt32(offset, true));
}

// The two AEGIS constants (the Fibonacci sequence mod 256).
const C0 = wordsOf([0x00, 0x01, 0x01, 0x02, 0x03, 0x05, 0x08, 0x0d, 0x15, 0x22, 0x37, 0x59, 0x90, 0xe9, 0x79, 0x62]);
const C1 = wordsOf([0xdb, 0x3d, 0x18, 0x55, 0x6d, 0xc2, 0x2f, 0xf1, 0x20, 0x11, 0x31, 0x42, 0x73, 0xb5, 0x28, 0xdd]);

/** Scratch buffers: checksums run on one thread, one at a time, so they are shared, not allocated. */
const stateA = new Int32Array(STATE_WORDS);
const stateB = new Int32Array(STATE_WORDS);
const zeroBlocks = new Int32Array(ABSORB_RATE_WORDS);
const tailBlock = new Int32Array(ABSORB_RATE_WORDS);
const tailBytes = new Uint8Array(tailBlock.buffer);
const tagWords = new Int32Array(4);
const tagBytes = new Uint8Array(tagWords.buffer);
/** Holds a copy of unaligned input so that it can be read as 32-bit words; grows to the largest input. */
let alignedCopy = new Int32Array(0);

/**
 * The state after initialisation with key 0 and nonce 0 (K^N, C1, C0, C1, K^N, K^C0, K^C1, K^C0, then
 * ten updates with (N, K)). It is the same for every checksum, so it is computed once.
 */
const SEED_STATE: Int32Array = (() => {
  const blocks = [[0, 0, 0, 0], C1, C0, C1, [0, 0, 0, 0], C0, C1, C0];
  let state = Int32Array.from(blocks.flat());
  let next = new Int32Array(STATE_WORDS);
  for (let round = 0; round < INIT_ROUNDS; round += 1) {
    update(state, next, zeroBlocks, 0);
    [state, next] = [next, state];
  }
  return state;
})();

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
assert(littleEndian, 'the checksum reads 32-bit words in platform order and needs a little-endian platform');

/** Computes the tag of `source` into `tagBytes`. */
function computeTag(source: Uint8Array): void {
  const fullBlocksBytes = source.length - (source.length % ABSORB_RATE_BYTES);
  let words: Int32Array;
  if (source.byteOffset % 4 === 0) {
    words = new Int32Array(source.buffer, source.byteOffset, fullBlocksBytes / 4);
  } else {
    if (alignedCopy.length * 4 < fullBlocksBytes) alignedCopy = new Int32Array(fullBlocksBytes / 4);
    new Uint8Array(alignedCopy.buffer, 0, fullBlocksBytes).set(source.subarray(0, fullBlocksBytes));
    words = alignedCopy;
  }
  let state = stateA;
  let next = stateB;
  state.set(SEED_STATE);
  const fullBlocksWords = fullBlocksBytes / 4;
  // Two updates per iteration, so the buffers swap back without a temporary.
  let at = 0;
  for (; at + ABSORB_RATE_WORDS < fullBlocksWords; at += 2 * ABSORB_RATE_WORDS) {
    update(state, next, words, at);
    update(next, state, words, at + ABSORB_RATE_WORDS);
  }
  if (at < fullBlocksWords) {
    update(state, next, words, at);
    [state, next] = [next, state];
  }
  if (fullBlocksBytes < source.length) {
    tailBlock.fill(0);
    tailBytes.set(source.subarray(fullBlocksBytes));
    update(state, next, tailBlock, 0);
    [state, next] = [next, state];
  }
  // Finalisation: t = S2 ^ (LE64(associated data bits) || LE64(plaintext bits = 0)).
  const bits = source.length * 8;
  tailBlock.fill(0);
  tailBlock[0] = state[8] ^ (bits >>> 0);
  tailBlock[1] = state[9] ^ Math.floor(bits / 0x1_0000_0000);
  tailBlock[2] = state[10];
  tailBlock[3] = state[11];
  tailBlock.copyWithin(4, 0, 4);
  for (let round = 0; round < FINAL_ROUNDS; round += 1) {
    update(state, next, tailBlock, 0);
    [state, next] = [next, state];
  }
  for (let word = 0; word < 4; word += 1) {
    tagWords[word] = state[word] ^ state[4 + word] ^ state[8 + word] ^ state[12 + word] ^ state[16 + word] ^ state[20 + word] ^ state[24 + word];
  }
}

/** The checksum of `source` as 16 new bytes (the order they have on the wire). */
export function checksum(source: Uint8Array): Uint8Array {
  computeTag(source);
  return tagBytes.slice();
}

/** Writes the checksum of `source` into `target[targetOffset..targetOffset+16]`. */
export function checksumInto(source: Uint8Array, target: Uint8Array, targetOffset: number): void {
  assert(targetOffset >= 0 && targetOffset + CHECKSUM_SIZE_BYTES <= target.length, 'checksum target out of range');
  computeTag(source);
  target.set(tagBytes, targetOffset);
}

/** Whether `expected[expectedOffset..+16]` is the checksum of `source`. */
export function checksumMatches(source: Uint8Array, expected: Uint8Array, expectedOffset: number): boolean {
  assert(expectedOffset >= 0 && expectedOffset + CHECKSUM_SIZE_BYTES <= expected.length, 'checksum field out of range');
  computeTag(source);
  for (let i = 0; i < CHECKSUM_SIZE_BYTES; i += 1) {
    if (tagBytes[i] !== expected[expectedOffset + i]) return false;
  }
  return true;
}
