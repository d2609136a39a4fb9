// The ledger's transfer pages: written through typed arrays, they hold exactly the codec's bytes, and a
// transfer is found in a page by its timestamp.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeTransfer } from '../../src/wire/tigerbeetle/codec.js';
import { findInPage, TransferPages } from '../../src/ledger/pages.js';
import type { Transfer } from '../../src/ledger/types.js';
import { transfer } from './_client.js';

const U128_MAX = (1n << 128n) - 1n;

/** Values above 2^64 and at field maxima, so the pages' word-wise writes are checked on every byte. */
function transfers(count: number): Transfer[] {
  return Array.from({ length: count }, (_, i) => transfer((1n << 127n) + BigInt(i), BigInt(i) << 70n, 3n, (1n << 100n) + 7n, {
    pending_id: BigInt(i), user_data_128: U128_MAX - BigInt(i), user_data_64: (1n << 64n) - 1n, user_data_32: 0xffff_ffff - i,
    timeout: i, ledger: 70000 + i, code: 65535 - i, flags: 256 + (i % 3), timestamp: 1000n + BigInt(i),
  }));
}

test('transfer pages hold exactly the codec bytes, and a transfer is found by timestamp', () => {
  const all = transfers(200);
  const pages = new TransferPages();
  const writes = [...pages.append(all.slice(0, 70)), ...pages.append(all.slice(70))];
  const bytes: Uint8Array[] = [];
  const byKey = new Map<string, Uint8Array>();
  for (const [key, value] of writes) byKey.set(Buffer.from(key).toString('hex'), value.slice());
  for (const value of byKey.values()) for (let offset = 0; offset < value.length; offset += 128) bytes.push(value.subarray(offset, offset + 128));
  assert.equal(bytes.length, 200);
  const encoded = new Uint8Array(128);
  bytes.forEach((record, i) => {
    encodeTransfer(new DataView(encoded.buffer), 0, all[i]);
    assert.deepEqual(record, encoded);
  });
  for (const t of [all[0], all[63], all[64], all[199]]) {
    const page = byKey.get(Buffer.from(pages.keyOf(t.timestamp)).toString('hex'))!;
    assert.deepEqual(findInPage(page, t.timestamp), t);
  }
});
