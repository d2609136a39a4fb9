/**
 * How the ledger lays its records out in the store: pages of up to 64 records of 128 bytes (8 KiB), not
 * one store record per account or transfer. A batch of 8,189 transfers then costs about 128 transfer-page
 * writes plus one write per page of changed accounts, instead of tens of thousands of small writes; the
 * store's per-write cost (buffering, copying, B+tree insert, log framing) was measured to dominate a batch
 * when every record was its own key (≈8k transfers/s on this machine, mostly garbage collection).
 *
 * - Accounts live in slots in creation order; page `n` (key: u32 big-endian) holds slots 64n … 64n+63.
 *   The pages stay in memory as the compact copy of every account; a changed account is re-encoded into
 *   its slot and its page is written whole.
 * - Transfers are appended in timestamp order; a page's key is the timestamp of its first transfer
 *   (u64 big-endian), so a transfer is found by a binary search over page start timestamps and then
 *   inside the page.
 */
import { assert } from '../errors.js';
import { endianness } from 'node:os';
import { decodeTransfer, encodeAccount, RECORD_SIZE_BYTES, viewOf } from '../wire/tigerbeetle/codec.js';
import { TimestampList } from './indexes.js';
import type { Account, Transfer } from './types.js';

export const RECORDS_PER_PAGE = 64;
export const PAGE_SIZE_BYTES = RECORDS_PER_PAGE * RECORD_SIZE_BYTES;

export function pageKey(pageIndex: number): Uint8Array {
  const key = new Uint8Array(4);
  new DataView(key.buffer).setUint32(0, pageIndex);
  return key;
}

export class AccountPages {
  private readonly pages: Uint8Array[] = [];
  /** Number of slots in use. */
  count = 0;

  /** 64-bit views of the pages, for the balance words (the records are 8-byte aligned). */
  private readonly words: BigUint64Array[] = [];
  /**
   * The account each slot was fully encoded for: after that only its balances and flags change. A slot
   * is encoded again only if it is reused (after the creation that took it was undone).
   */
  private readonly encodedFor: (Account | undefined)[] = [];

  /** Encodes `account` into `slot` and returns the index of the page to write. */
  write(slot: number, account: Account): number {
    assert(slot < this.count, 'account slot out of range');
    const pageIndex = Math.floor(slot / RECORDS_PER_PAGE);
    let page = this.pages[pageIndex];
    if (page === undefined) {
      this.pages[pageIndex] = page = new Uint8Array(PAGE_SIZE_BYTES);
      this.words[pageIndex] = new BigUint64Array(page.buffer);
    }
    const offset = (slot % RECORDS_PER_PAGE) * RECORD_SIZE_BYTES;
    if (this.encodedFor[slot] === account) {
      writeBalances(this.words[pageIndex], offset / 8, account);
      page[offset + 118] = account.flags & 0xff;
      page[offset + 119] = account.flags >>> 8;
    } else {
      encodeAccount(viewOf(page), offset, account);
      this.encodedFor[slot] = account;
    }
    return pageIndex;
  }

  /** The bytes of a page's slots in use (the store copies them on put). */
  value(pageIndex: number): Uint8Array {
    const used = Math.min(RECORDS_PER_PAGE, this.count - pageIndex * RECORDS_PER_PAGE);
    assert(used > 0, 'writing an empty account page');
    return this.pages[pageIndex].subarray(0, used * RECORD_SIZE_BYTES);
  }
}

assert(endianness() === 'LE', 'the ledger writes little-endian records through typed arrays');

const U64_MAX = (1n << 64n) - 1n;

/** Writes a u128 as two little-endian u64 words, without allocating when it fits in 64 bits. */
function writeWords(words: BigUint64Array, index: number, value: bigint): void {
  if (value <= U64_MAX) {
    words[index] = value;
    words[index + 1] = 0n;
  } else {
    words[index] = value & U64_MAX;
    words[index + 1] = value >> 64n;
  }
}

/** debits_pending, debits_posted, credits_pending, credits_posted: bytes 16..80 of an account record. */
function writeBalances(words: BigUint64Array, base: number, a: Account): void {
  writeWords(words, base + 2, a.debits_pending);
  writeWords(words, base + 4, a.debits_posted);
  writeWords(words, base + 6, a.credits_pending);
  writeWords(words, base + 8, a.credits_posted);
}

/**
 * Encodes a transfer at record `index` of a page through typed-array views (same bytes as
 * `encodeTransfer`, without a DataView and with no bigint allocated for values that fit in 64 bits).
 */
function writeTransfer(page: PageViews, index: number, t: Transfer): void {
  const w = index * 16; // 64-bit words per record
  writeWords(page.words, w, t.id);
  writeWords(page.words, w + 2, t.debit_account_id);
  writeWords(page.words, w + 4, t.credit_account_id);
  writeWords(page.words, w + 6, t.amount);
  writeWords(page.words, w + 8, t.pending_id);
  writeWords(page.words, w + 10, t.user_data_128);
  page.words[w + 12] = t.user_data_64;
  const d = index * 32; // 32-bit words per record
  page.u32[d + 26] = t.user_data_32;
  page.u32[d + 27] = t.timeout;
  page.u32[d + 28] = t.ledger;
  page.u32[d + 29] = t.code | (t.flags << 16);
  page.words[w + 15] = t.timestamp;
}

interface PageViews {
  bytes: Uint8Array;
  words: BigUint64Array;
  u32: Uint32Array;
}

function newPage(): PageViews {
  const bytes = new Uint8Array(PAGE_SIZE_BYTES);
  return { bytes, words: new BigUint64Array(bytes.buffer), u32: new Uint32Array(bytes.buffer) };
}

/** The append-only transfer pages; `tail` is the last page, possibly not full. */
export class TransferPages {
  readonly starts = new TimestampList();
  private tailPage: PageViews = newPage();
  private tailCount = 0;

  /** The state to restore if the transaction that appends next aborts. */
  mark(): { startsLength: number; tail: PageViews; tailCount: number } {
    return { startsLength: this.starts.length, tail: this.tailPage, tailCount: this.tailCount };
  }

  restore(mark: { startsLength: number; tail: PageViews; tailCount: number }): void {
    this.starts.truncate(mark.startsLength);
    this.tailPage = mark.tail;
    this.tailCount = mark.tailCount;
  }

  /** Appends transfers (in timestamp order) and returns the page writes: [key, value] pairs. */
  append(transfers: Transfer[]): [Uint8Array, Uint8Array][] {
    const writes: [Uint8Array, Uint8Array][] = [];
    let dirty = false;
    for (const t of transfers) {
      if (this.tailCount === RECORDS_PER_PAGE || this.starts.length === 0) {
        if (dirty) writes.push(this.tailWrite());
        // A fresh buffer, so a mark taken before still holds the old tail's bytes.
        this.tailPage = newPage();
        this.tailCount = 0;
        this.starts.push(t.timestamp);
      }
      writeTransfer(this.tailPage, this.tailCount, t);
      this.tailCount++;
      dirty = true;
    }
    if (dirty) writes.push(this.tailWrite());
    return writes;
  }

  private tailWrite(): [Uint8Array, Uint8Array] {
    const key = new Uint8Array(8);
    new DataView(key.buffer).setBigUint64(0, this.starts.last()!);
    return [key, this.tailPage.bytes.subarray(0, this.tailCount * RECORD_SIZE_BYTES)];
  }

  /** The first timestamp (the key) of the page that holds `timestamp`. */
  startOf(timestamp: bigint): bigint {
    let index = this.starts.lowerBound(timestamp);
    if (index === this.starts.length || this.starts.at(index) !== timestamp) index--;
    assert(index >= 0, 'transfer timestamp before the first page');
    return this.starts.at(index);
  }

  /** The key of the page that holds `timestamp`. */
  keyOf(timestamp: bigint): Uint8Array {
    const key = new Uint8Array(8);
    new DataView(key.buffer).setBigUint64(0, this.startOf(timestamp));
    return key;
  }

  /** Loads one stored page (in key order, on open) and returns its transfers. */
  load(value: Uint8Array): Transfer[] {
    const count = value.length / RECORD_SIZE_BYTES;
    assert(Number.isInteger(count) && count > 0 && count <= RECORDS_PER_PAGE, 'malformed transfer page');
    const transfers: Transfer[] = [];
    const view = viewOf(value);
    for (let i = 0; i < count; i++) transfers.push(decodeTransfer(view, i * RECORD_SIZE_BYTES));
    this.starts.push(transfers[0].timestamp);
    this.tailPage = newPage();
    this.tailPage.bytes.set(value);
    this.tailCount = count;
    return transfers;
  }
}

/** Finds the transfer with `timestamp` inside a page's bytes (records are in timestamp order). */
export function findInPage(page: Uint8Array, timestamp: bigint): Transfer | undefined {
  const view = viewOf(page);
  let low = 0;
  let high = page.length / RECORD_SIZE_BYTES;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const found = view.getBigUint64(middle * RECORD_SIZE_BYTES + 120, true);
    if (found === timestamp) return decodeTransfer(view, middle * RECORD_SIZE_BYTES);
    if (found < timestamp) low = middle + 1;
    else high = middle;
  }
  return undefined;
}
