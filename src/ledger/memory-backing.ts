/**
 * A tiny in-memory implementation of the ledger's storage contract (`LedgerBacking`): tables of binary
 * keys and values, and transactions that buffer their writes and apply them on success. Used by
 * `openLedger()` only when no store is given; it has no durability and no concurrency of its own (the
 * ledger runs one transaction at a time).
 */
import type { LedgerBacking } from './ledger.js';
import type { LedgerTx } from './state.js';

function keyString(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

export class MemoryBacking implements LedgerBacking {
  private readonly tables = new Map<string, Map<string, [Uint8Array, Uint8Array]>>();

  async transaction<T>(fn: (tx: LedgerTx) => Promise<T>): Promise<T> {
    const buffered = new Map<string, Map<string, [Uint8Array, Uint8Array]>>();
    const tables = this.tables;
    const tx: LedgerTx = {
      get: (table, key) => {
        const k = keyString(key);
        const record = buffered.get(table)?.get(k) ?? tables.get(table)?.get(k);
        return Promise.resolve(record?.[1]);
      },
      put: (table, key, value) => {
        let writes = buffered.get(table);
        if (writes === undefined) buffered.set(table, (writes = new Map<string, [Uint8Array, Uint8Array]>()));
        writes.set(keyString(key), [key, value]);
        return Promise.resolve();
      },
      range: (table) => rangeOf(tables.get(table), buffered.get(table)),
    };
    const result = await fn(tx);
    for (const [table, writes] of buffered) {
      let records = tables.get(table);
      if (records === undefined) tables.set(table, (records = new Map<string, [Uint8Array, Uint8Array]>()));
      for (const [k, record] of writes) records.set(k, record);
    }
    return result;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

async function* rangeOf(
  committed: Map<string, [Uint8Array, Uint8Array]> | undefined,
  buffered: Map<string, [Uint8Array, Uint8Array]> | undefined,
): AsyncIterable<[Uint8Array, Uint8Array]> {
  const merged = new Map([...(committed ?? []), ...(buffered ?? [])]);
  const keys = [...merged.keys()].sort();
  for (const k of keys) yield merged.get(k)!;
  await Promise.resolve();
}
