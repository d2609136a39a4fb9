// The TigerBeetle checksum (AEGIS-128L MAC, zero key and nonce): the three published test vectors from
// the issue (empty, 16 and 256 zero bytes), agreement between aligned and unaligned inputs of every
// length around the 32-byte block boundary, and that a one-bit change anywhere changes the checksum.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checksum, checksumInto, checksumMatches } from '../../../src/wire/tigerbeetle/checksum.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

test('the published vectors: empty, 16 zero bytes, 256 zero bytes', () => {
  assert.equal(hex(checksum(new Uint8Array(0))), '83cc600dc4e3e7e62d4055826174f149');
  assert.equal(hex(checksum(new Uint8Array(16))), 'f72ad48dd05dd1656133101cd4be3a26');
  assert.equal(hex(checksum(new Uint8Array(256))), '651b82f3ddd4fcbf2deb8496e8ff613c');
});

test('unaligned input gives the same checksum as aligned input, for lengths 0..100', () => {
  const seen = new Set<string>();
  for (let length = 0; length <= 100; length += 1) {
    const aligned = new Uint8Array(length);
    for (let i = 0; i < length; i += 1) aligned[i] = (i * 31 + 7) & 0xff;
    const shifted = new Uint8Array(length + 3);
    shifted.set(aligned, 3);
    const unaligned = shifted.subarray(3);
    assert.equal(hex(checksum(unaligned)), hex(checksum(aligned)), `length ${length}`);
    seen.add(hex(checksum(aligned)));
  }
  assert.equal(seen.size, 101, 'every length has its own checksum');
});

test('flipping any single bit of a 64-byte message changes the checksum', () => {
  const message = new Uint8Array(64);
  const base = hex(checksum(message));
  const seen = new Set<string>([base]);
  for (let bit = 0; bit < 64 * 8; bit += 1) {
    message[bit >> 3] ^= 1 << (bit & 7);
    seen.add(hex(checksum(message)));
    message[bit >> 3] ^= 1 << (bit & 7);
  }
  assert.equal(seen.size, 64 * 8 + 1);
});

test('checksumInto writes the tag at an offset and checksumMatches reads it back', () => {
  const source = new TextEncoder().encode('purser');
  const target = new Uint8Array(40).fill(0xaa);
  checksumInto(source, target, 20);
  assert.equal(hex(target.subarray(20, 36)), hex(checksum(source)));
  assert.equal(target[19], 0xaa);
  assert.equal(target[36], 0xaa);
  assert.equal(checksumMatches(source, target, 20), true);
  target[25] ^= 1;
  assert.equal(checksumMatches(source, target, 20), false);
});
