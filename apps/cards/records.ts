/**
 * The switch's own store records, binary and fixed-layout (no JSON on the hot path), written in the same
 * store transaction as the ledger transfers they describe.
 *
 * `cards.card` — one record per card (key: the MAIN account id, 16 bytes): the ATC replay window and the
 * mini-statement. The mini-statement is the "shifter" ring buffer of the ring-buffer post: ten fixed slots,
 * newest first; adding an entry shifts the slots down by one and writes slot 0, so reading the last ten
 * entries is one get of one record — no scan of history however old the card.
 *
 * `cards.msg` — one record per authorization or financial message (key: terminal, STAN, RRN): what it did
 * (state, amounts, transfer ids) and the response sent, so a repeat gets the first answer byte for byte,
 * and a capture or reversal finds its original. `cards.rev` — the same for reversals, keyed the same way.
 */
export const TABLE_CARDS = 'cards.card';
export const TABLE_MESSAGES = 'cards.msg';
export const TABLE_REVERSALS = 'cards.rev';
export const TABLE_CUSTOMERS = 'cards.customer';

export const STATEMENT_ENTRIES_MAX = 10;
const ENTRY_BYTES = 40;
const RING_OFFSET = 12;
export const CARD_RECORD_BYTES = RING_OFFSET + STATEMENT_ENTRIES_MAX * ENTRY_BYTES;
/** The ATC replay window: the highest ATC seen and the 64 before it. */
const ATC_WINDOW = 64;

export function u128Key(value: bigint): Buffer {
  const key = Buffer.allocUnsafe(16);
  key.writeBigUInt64BE(value >> 64n, 0);
  key.writeBigUInt64BE(value & 0xffff_ffff_ffff_ffffn, 8);
  return key;
}

function readU128(buffer: Buffer, offset: number): bigint {
  return (buffer.readBigUInt64BE(offset) << 64n) | buffer.readBigUInt64BE(offset + 8);
}

function writeU128(buffer: Buffer, offset: number, value: bigint): void {
  buffer.writeBigUInt64BE(value >> 64n, offset);
  buffer.writeBigUInt64BE(value & 0xffff_ffff_ffff_ffffn, offset + 8);
}

export function newCardRecord(): Buffer {
  return Buffer.alloc(CARD_RECORD_BYTES);
}

/**
 * Records an ATC in the window. Returns false (and changes nothing) when the ATC was used before or is
 * older than the window: a replayed cryptogram.
 */
export function acceptAtc(record: Buffer, atc: number): boolean {
  if (record[0] === 0) {
    record[0] = 1;
    record.writeUInt16BE(atc, 1);
    record.writeBigUInt64BE(1n, 3);
    return true;
  }
  const high = record.readUInt16BE(1);
  let window = record.readBigUInt64BE(3);
  if (atc > high) {
    const shift = atc - high;
    window = shift >= ATC_WINDOW ? 1n : ((window << BigInt(shift)) | 1n) & 0xffff_ffff_ffff_ffffn;
    record.writeUInt16BE(atc, 1);
    record.writeBigUInt64BE(window, 3);
    return true;
  }
  const age = high - atc;
  if (age >= ATC_WINDOW) return false;
  const bit = 1n << BigInt(age);
  if ((window & bit) !== 0n) return false;
  record.writeBigUInt64BE(window | bit, 3);
  return true;
}

export interface StatementEntry {
  transferId: bigint;
  /** The ledger's timestamp of the transfer (ns). */
  timestamp: bigint;
  amount: bigint;
  code: number;
  /** The transfer's flags (pending, post, void). */
  flags: number;
}

/** Shifts the ring down one slot and writes `entry` as the newest. */
export function pushStatement(record: Buffer, entry: StatementEntry): void {
  record.copyWithin(RING_OFFSET + ENTRY_BYTES, RING_OFFSET, RING_OFFSET + (STATEMENT_ENTRIES_MAX - 1) * ENTRY_BYTES);
  const at = RING_OFFSET;
  writeU128(record, at, entry.transferId);
  record.writeBigUInt64BE(entry.timestamp, at + 16);
  record.writeBigUInt64BE(entry.amount, at + 24);
  record.writeUInt16BE(entry.code, at + 32);
  record.writeUInt16BE(entry.flags, at + 34);
  record[11] = Math.min(STATEMENT_ENTRIES_MAX, record[11] + 1);
}

/** The mini-statement, newest first. */
export function readStatement(record: Buffer): StatementEntry[] {
  const entries: StatementEntry[] = [];
  for (let slot = 0; slot < record[11]; slot++) {
    const at = RING_OFFSET + slot * ENTRY_BYTES;
    entries.push({
      transferId: readU128(record, at),
      timestamp: record.readBigUInt64BE(at + 16),
      amount: record.readBigUInt64BE(at + 24),
      code: record.readUInt16BE(at + 32),
      flags: record.readUInt16BE(at + 34),
    });
  }
  return entries;
}

/** What a message did. */
export const enum MessageState {
  /** An approved authorization: the hold (and fee) are pending, or expired — the ledger knows which. */
  Held = 1,
  /** Money moved: a financial request, or an authorization that was captured. */
  Posted = 2,
  Reversed = 3,
  Declined = 4,
  /** A reversal arrived first; the original, when it comes, is declined. */
  ReversedEarly = 5,
  /** A capture (0200 with DE 90): its money facts live in the authorization's record, `ref`. */
  CaptureRef = 6,
  /** An inquiry (balance, mini-statement): answered, nothing moved. */
  Inquiry = 7,
}

export interface MessageRecord {
  state: MessageState;
  /** 0 purchase, 1 cash. */
  kind: number;
  cardId: bigint;
  merchantId: bigint;
  ledger: number;
  holdId: bigint;
  feeId: bigint;
  heldAmount: bigint;
  feeAmount: bigint;
  postedAmount: bigint;
  postedFee: bigint;
  /** For a capture: the key of the authorization it captured (26 bytes), else empty. */
  ref: Buffer;
  /** The response body sent (empty for a reversed-early tombstone). */
  response: Buffer;
}

const HEADER_BYTES = 130;
export const MESSAGE_KEY_BYTES = 26;

/** Terminal (DE 41, 8) + STAN (DE 11, 6) + RRN (DE 37, 12). */
export function messageKey(terminal: string, stan: string, rrn: string): Buffer {
  const key = Buffer.from(terminal + stan + rrn, 'latin1');
  if (key.length !== MESSAGE_KEY_BYTES) throw new Error(`message key of ${key.length} bytes`);
  return key;
}

export function encodeMessageRecord(record: MessageRecord): Buffer {
  const out = Buffer.alloc(HEADER_BYTES + record.response.length);
  out[0] = record.state;
  out[1] = record.kind;
  writeU128(out, 2, record.cardId);
  writeU128(out, 18, record.merchantId);
  out.writeUInt32BE(record.ledger, 34);
  writeU128(out, 38, record.holdId);
  writeU128(out, 54, record.feeId);
  out.writeBigUInt64BE(record.heldAmount, 70);
  out.writeBigUInt64BE(record.feeAmount, 78);
  out.writeBigUInt64BE(record.postedAmount, 86);
  out.writeBigUInt64BE(record.postedFee, 94);
  out.writeUInt16BE(record.response.length, 102);
  record.ref.copy(out, 104);
  record.response.copy(out, HEADER_BYTES);
  return out;
}

export function decodeMessageRecord(bytes: Uint8Array): MessageRecord {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const responseBytes = buffer.readUInt16BE(102);
  const ref = Buffer.from(buffer.subarray(104, 104 + MESSAGE_KEY_BYTES));
  return {
    state: buffer[0],
    kind: buffer[1],
    cardId: readU128(buffer, 2),
    merchantId: readU128(buffer, 18),
    ledger: buffer.readUInt32BE(34),
    holdId: readU128(buffer, 38),
    feeId: readU128(buffer, 54),
    heldAmount: buffer.readBigUInt64BE(70),
    feeAmount: buffer.readBigUInt64BE(78),
    postedAmount: buffer.readBigUInt64BE(86),
    postedFee: buffer.readBigUInt64BE(94),
    ref: ref.every((byte) => byte === 0) ? Buffer.alloc(0) : ref,
    response: Buffer.from(buffer.subarray(HEADER_BYTES, HEADER_BYTES + responseBytes)),
  };
}

export function emptyMessageRecord(state: MessageState): MessageRecord {
  return {
    state, kind: 0, cardId: 0n, merchantId: 0n, ledger: 0, holdId: 0n, feeId: 0n, heldAmount: 0n, feeAmount: 0n,
    postedAmount: 0n, postedFee: 0n, ref: Buffer.alloc(0), response: Buffer.alloc(0),
  };
}
