/**
 * Within one batch, the transfers of many messages go to the ledger in as few `createTransfers` calls as
 * exact serial semantics allow. Each ledger call writes the pages it touched into the store transaction
 * (the transfer page, every account page), so one call per message copied about 30 KiB per message and
 * made garbage of it; one call per group copies each page once.
 *
 * A message plans its transfers and defers them with the keys it read and will write (its message
 * record, its original's, its card's record). The next message that needs one of those keys first flushes
 * the group: the deferred transfers run in one call, in arrival order, and each message's `finish` sees
 * its own results. So every message reads what every earlier message wrote, as if they ran one by one:
 * messages of other cards and other references simply share a ledger call. Card records are read once per
 * batch and written once at its end.
 */
import { BATCH_EVENTS_MAX, type CreateTransferResult, type Transfer } from 'purser';
import type { BatchContext } from './batcher.js';
import { newCardRecord, TABLE_CARDS, u128Key } from './records.js';

interface Deferred {
  transfers: Transfer[];
  finish: (results: CreateTransferResult[]) => Promise<void>;
}

export class TransferGroup {
  private deferred: Deferred[] = [];
  private events = 0;
  private readonly dirty = new Set<string>();
  private readonly cards = new Map<bigint, Buffer>();
  private readonly changedCards = new Set<bigint>();

  constructor(private readonly batch: BatchContext) {
    batch.beforeCommit.push(() => this.settle());
  }

  /** Flushes first if a deferred message will write any of `keys`. */
  async touch(...keys: string[]): Promise<void> {
    for (const key of keys) {
      if (this.dirty.has(key)) {
        await this.flush();
        return;
      }
    }
  }

  /** Queues a message's transfers (one linked chain, ending unlinked); `finish` runs with its results. */
  async defer(transfers: Transfer[], keys: string[], finish: Deferred['finish']): Promise<void> {
    if (this.events + transfers.length > BATCH_EVENTS_MAX) await this.flush();
    this.deferred.push({ transfers, finish });
    this.events += transfers.length;
    for (const key of keys) this.dirty.add(key);
  }

  /** Runs the deferred transfers in one ledger call and each message's `finish`, in arrival order. */
  async flush(): Promise<void> {
    if (this.deferred.length === 0) return;
    const deferred = this.deferred;
    this.deferred = [];
    this.events = 0;
    this.dirty.clear();
    const results = await this.batch.session.createTransfers(deferred.flatMap((entry) => entry.transfers));
    let at = 0;
    for (const entry of deferred) {
      await entry.finish(results.slice(at, at + entry.transfers.length));
      at += entry.transfers.length;
    }
  }

  /** The card's record (ATC window and mini-statement), read once per batch; mutate it and call `changed`. */
  async card(cardId: bigint): Promise<Buffer> {
    await this.touch(cardKey(cardId));
    let record = this.cards.get(cardId);
    if (record === undefined) {
      const raw = await this.batch.tx.get(TABLE_CARDS, u128Key(cardId), { forUpdate: true });
      record = raw === undefined ? newCardRecord() : Buffer.from(raw);
      this.cards.set(cardId, record);
    }
    return record;
  }

  changed(cardId: bigint): void {
    this.changedCards.add(cardId);
  }

  private async settle(): Promise<void> {
    await this.flush();
    for (const cardId of this.changedCards) await this.batch.tx.put(TABLE_CARDS, u128Key(cardId), this.cards.get(cardId)!);
  }
}

const groups = new WeakMap<BatchContext, TransferGroup>();

export function groupOf(batch: BatchContext): TransferGroup {
  let group = groups.get(batch);
  if (group === undefined) {
    group = new TransferGroup(batch);
    groups.set(batch, group);
  }
  return group;
}

export function cardKey(cardId: bigint): string {
  return `c${cardId}`;
}

/** The dirty-set key of a record in `table` (messages or reversals). */
export function recordKey(table: string, key: Buffer): string {
  return `${table}:${key.toString('latin1')}`;
}
