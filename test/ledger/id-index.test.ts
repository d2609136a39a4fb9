// The transfer id index against a Map: increasing ids (the appended, binary-searched part) mixed with
// out-of-order ones (the map part), undo of the latest inserts in reverse order, and lookups of present
// and absent ids of every size.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TransferIdIndex } from '../../src/ledger/id-index.js';

test('TransferIdIndex agrees with a Map through ordered and unordered inserts and undo', () => {
  const index = new TransferIdIndex();
  const model = new Map<bigint, bigint>();
  const log: bigint[] = [];
  let seed = 99;
  const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  let next = 1000n;
  for (let i = 0; i < 20_000; i++) {
    const roll = random();
    let id: bigint;
    if (roll < 0.8) id = next += BigInt(1 + Math.floor(random() * 5)); // increasing, like id()
    else id = BigInt(Math.floor(random() * 2 ** 40)) << BigInt(Math.floor(random() * 80)); // anywhere
    if (model.has(id) || id === 0n) continue;
    index.insert(id, BigInt(i + 1));
    model.set(id, BigInt(i + 1));
    log.push(id);
    if (random() < 0.05) {
      for (let undo = Math.floor(random() * 3); undo > 0 && log.length > 0; undo--) {
        const last = log.pop()!;
        index.remove(last);
        model.delete(last);
      }
    }
    if (i % 50 === 0) {
      for (const probe of [id, id + 1n, log[Math.floor(random() * log.length)] ?? 5n, 1n << 127n]) {
        assert.equal(index.get(probe), model.get(probe), `id ${String(probe)}`);
      }
    }
  }
  assert.equal(index.size, model.size);
  for (const [id, timestamp] of model) assert.equal(index.get(id), timestamp);
});
