/**
 * Cards and the accounts around them, kept in the ledger only (see model.ts): issuing a card, changing its
 * status, finding a card by PAN, and the issuer's and merchants' accounts, created on first use.
 *
 * What never changes about a card (its accounts, PSN, expiry, issuer key) and its status are cached in
 * memory once read. The cache is written only after the transaction that read or changed it committed, and
 * every change goes through this node (the node is the data directory's one writer), so it cannot go stale.
 */
import { AccountFilterFlags, AccountFlags, CreateAccountStatus, CreateTransferStatus, type Account, type Sequence, type Transfer } from 'purser';
import type { BatchContext } from './batcher.js';
import { deriveIccMasterKeyA } from './emv/crypto.js';
import {
  ACCOUNT_CODE_FEES, ACCOUNT_CODE_LIMIT, ACCOUNT_CODE_MAIN, ACCOUNT_CODE_MERCHANT, CARD_STATUSES, TRANSFER_CODE_CREDIT_LINE, TRANSFER_CODE_STATE,
  feeAccountId, merchantAccountId, packCardState, unpackCardState, type CardStatus,
} from './model.js';
import { newCardRecord, pushStatement, TABLE_CARDS, TABLE_CUSTOMERS, u128Key } from './records.js';
import type { IssuerSettings } from './settings.js';

export interface Card {
  pan: string;
  mainId: bigint;
  limitId: bigint;
  ledger: number;
  customer: bigint;
  agreement: number;
  /** Two digits. */
  psn: string;
  /** YYMM. */
  expiry: string;
  status: CardStatus;
  /** The ICC master key for AC (Option A), derived once. */
  iccMasterKey: Buffer;
}

export interface IssueRequest {
  pan: string;
  psn: number;
  expiry: string;
  customer: bigint;
  creditLimit: bigint;
  currency: number;
}

export type IssueOutcome = { card: Card } | { duplicate: true } | { unknownIssuer: true };

const ZERO_ACCOUNT = { debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, reserved: 0, timestamp: 0n };
const CACHE_CARDS_MAX = 1_000_000; // about 300 bytes each; beyond this the oldest are dropped and read again when used

export function transfer(fields: Partial<Transfer> & Pick<Transfer, 'id' | 'debit_account_id' | 'credit_account_id' | 'amount' | 'ledger' | 'code'>): Transfer {
  return { pending_id: 0n, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, timeout: 0, flags: 0, timestamp: 0n, ...fields };
}

export class CardDirectory {
  private readonly cards = new Map<string, Card>();
  /** Accounts known to exist (fee and merchant accounts), so they are created once. */
  private readonly knownAccounts = new Set<bigint>();

  constructor(
    private readonly issuers: readonly IssuerSettings[],
    private readonly ids: Sequence,
  ) {}

  issuerKey(pan: string): Buffer | undefined {
    // The longest BIN that matches wins (an 8-digit BIN inside a 6-digit range).
    let best: IssuerSettings | undefined;
    for (const issuer of this.issuers) if (pan.startsWith(issuer.bin) && (best === undefined || issuer.bin.length > best.bin.length)) best = issuer;
    return best?.imkAc;
  }

  nextId(): Promise<bigint> {
    return this.ids.next();
  }

  /** The card with this PAN, or undefined. Reads the ledger on a cache miss. */
  async find(pan: string, batch: BatchContext): Promise<Card | undefined> {
    const cached = this.cards.get(pan);
    if (cached !== undefined) return cached;
    if (!/^[1-9]\d{11,18}$/.test(pan)) return undefined;
    const [main] = await batch.session.queryAccounts({ user_data_128: 0n, user_data_64: BigInt(pan), user_data_32: 0, ledger: 0, code: ACCOUNT_CODE_MAIN, timestamp_min: 0n, timestamp_max: 0n, limit: 1, flags: 0 });
    if (main === undefined) return undefined;
    const [limit] = await batch.session.queryAccounts({ user_data_128: main.user_data_128, user_data_64: 0n, user_data_32: main.user_data_32, ledger: main.ledger, code: ACCOUNT_CODE_LIMIT, timestamp_min: 0n, timestamp_max: 0n, limit: 1, flags: 0 });
    const [state] = await batch.session.getAccountTransfers({ account_id: main.id, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, code: TRANSFER_CODE_STATE, timestamp_min: 0n, timestamp_max: 0n, limit: 1, flags: AccountFilterFlags.credits | AccountFilterFlags.reversed });
    const key = this.issuerKey(pan);
    if (limit === undefined || state === undefined || key === undefined) return undefined; // not a card this switch issued
    const { expiry, psn } = unpackCardState(state.user_data_64);
    const card = this.makeCard(pan, main, limit.id, expiry, psn, CARD_STATUSES[state.user_data_32] ?? 'closed', key);
    batch.afterCommit.push(() => this.remember(card));
    return card;
  }

  private makeCard(pan: string, main: Account, limitId: bigint, expiry: string, psn: number, status: CardStatus, imk: Buffer): Card {
    const psnDigits = String(psn % 100).padStart(2, '0');
    return {
      pan, mainId: main.id, limitId, ledger: main.ledger, customer: main.user_data_128, agreement: main.user_data_32,
      psn: psnDigits, expiry, status, iccMasterKey: deriveIccMasterKeyA(imk, pan, psnDigits),
    };
  }

  private remember(card: Card): void {
    if (this.cards.size >= CACHE_CARDS_MAX) this.cards.delete(this.cards.keys().next().value!);
    this.cards.set(card.pan, card);
  }

  /**
   * Issues a card: its account set, the credit limit moved onto it and its first state, all in the batch's
   * transaction. The agreement number comes from a per-customer counter in the same store transaction,
   * so two cards of one customer issued at once cannot get the same number (the post's open race).
   */
  async issue(request: IssueRequest, batch: BatchContext): Promise<IssueOutcome> {
    const imk = this.issuerKey(request.pan);
    if (imk === undefined) return { unknownIssuer: true };
    if ((await this.find(request.pan, batch)) !== undefined) return { duplicate: true };
    const customerKey = u128Key(request.customer);
    const previous = await batch.tx.get(TABLE_CUSTOMERS, customerKey, { forUpdate: true });
    const agreement = (previous === undefined ? 0 : Buffer.from(previous).readUInt32BE(0)) + 1;
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(agreement);
    await batch.tx.put(TABLE_CUSTOMERS, customerKey, counter);

    const mainId = await this.nextId();
    const limitId = await this.nextId();
    const set = { ...ZERO_ACCOUNT, user_data_128: request.customer, user_data_32: agreement, ledger: request.currency };
    const main: Account = { ...set, id: mainId, user_data_64: BigInt(request.pan), code: ACCOUNT_CODE_MAIN, flags: AccountFlags.linked | AccountFlags.debits_must_not_exceed_credits };
    const limit: Account = { ...set, id: limitId, code: ACCOUNT_CODE_LIMIT, flags: 0 };
    const accountResults = await batch.session.createAccounts([main, limit]);
    for (const result of accountResults) if (result.status !== CreateAccountStatus.created) throw new Error(`issuing a card: account ${CreateAccountStatus[result.status]}`);
    const creditLineId = await this.nextId();
    const transfers: Transfer[] = [
      transfer({ id: creditLineId, debit_account_id: limitId, credit_account_id: mainId, amount: request.creditLimit, ledger: request.currency, code: TRANSFER_CODE_CREDIT_LINE, flags: 1 }),
      this.stateTransfer(await this.nextId(), mainId, limitId, request.currency, 'active', request.expiry, request.psn),
    ];
    const results = await batch.session.createTransfers(transfers);
    for (const result of results) if (result.status !== CreateTransferStatus.created) throw new Error(`issuing a card: transfer ${CreateTransferStatus[result.status]}`);
    // The card's record starts with its first statement line: the credit limit.
    const record = newCardRecord();
    pushStatement(record, { transferId: creditLineId, timestamp: results[0].timestamp, amount: request.creditLimit, code: TRANSFER_CODE_CREDIT_LINE, flags: 0 });
    await batch.tx.put(TABLE_CARDS, u128Key(mainId), record);
    const card = this.makeCard(request.pan, { ...main }, limitId, request.expiry, request.psn, 'active', imk);
    batch.afterCommit.push(() => this.remember(card));
    return { card };
  }

  private stateTransfer(id: bigint, mainId: bigint, limitId: bigint, ledger: number, status: CardStatus, expiry: string, psn: number): Transfer {
    return transfer({
      id, debit_account_id: limitId, credit_account_id: mainId, amount: 0n, ledger, code: TRANSFER_CODE_STATE,
      user_data_32: CARD_STATUSES.indexOf(status), user_data_64: packCardState(expiry, psn),
    });
  }

  /** Writes a new state transfer for the card; returns the status it had, or undefined for an unknown card. */
  async setStatus(pan: string, status: CardStatus, batch: BatchContext): Promise<CardStatus | undefined> {
    const card = await this.find(pan, batch);
    if (card === undefined) return undefined;
    const [result] = await batch.session.createTransfers([this.stateTransfer(await this.nextId(), card.mainId, card.limitId, card.ledger, status, card.expiry, Number(card.psn))]);
    if (result.status !== CreateTransferStatus.created) throw new Error(`card state: ${CreateTransferStatus[result.status]}`);
    const previous = card.status;
    batch.afterCommit.push(() => this.remember({ ...card, status }));
    return previous;
  }

  /** Creates the fee account of a ledger and a merchant's account the first time they are needed. */
  async ensureAccounts(ledger: number, merchant: string, batch: BatchContext): Promise<{ feeId: bigint; merchantId: bigint }> {
    const feeId = feeAccountId(ledger);
    const merchantId = merchantAccountId(merchant, ledger);
    const missing: Account[] = [];
    for (const [id, code] of [[feeId, ACCOUNT_CODE_FEES], [merchantId, ACCOUNT_CODE_MERCHANT]] as const) {
      if (this.knownAccounts.has(id)) continue;
      const [existing] = await batch.session.lookupAccounts([id]);
      if (existing === undefined) missing.push({ ...ZERO_ACCOUNT, id, ledger, code, flags: 0 });
      batch.afterCommit.push(() => this.knownAccounts.add(id));
    }
    if (missing.length > 0) {
      const results = await batch.session.createAccounts(missing);
      for (const result of results) if (result.status !== CreateAccountStatus.created) throw new Error(`creating an account: ${CreateAccountStatus[result.status]}`);
    }
    return { feeId, merchantId };
  }
}
