/**
 * The issuer's decisions for one ISO 8583 request, run as a job inside a batch's ledger transaction (see
 * batcher.ts): authorizations (0100/0101), financial requests and captures (0200), reversals
 * (0400/0401/0420/0421), inquiries (processing codes 31 balance, 38 mini-statement).
 *
 * Checks, in this order, the first that fails giving the response code (model.ts `RC`):
 *   repeat or duplicate (answered from the first result) → late original after its reversal (05) →
 *   processing code (12) → card known, Luhn (14) → status (05) → expiry (54) → currency (12) →
 *   ARQC (82; a replayed ATC 63) → cardholder verification (55) → cash limit (61) → amount (13) →
 *   funds (51, or 10 partial when the terminal allows it) → approved (00).
 * Everything a message changes — transfers, its message record, the card's ATC window and mini-statement
 * — is written in the batch's one store transaction, so it all commits or none of it does.
 */
import { CreateTransferStatus, TransferFlags, type Transfer } from 'purser';
import type { BatchContext } from './batcher.js';
import { transfer, type Card, type CardDirectory } from './directory.js';
import { issuerAuthenticationData, TAG_AMOUNT, TAG_ISSUER_AUTHENTICATION_DATA, TAG_TVR, verifyArqc } from './emv/arqc.js';
import { encodeTlv, parseTlv } from './emv/tlv.js';
import { EmvDataError } from './errors.js';
import type { IsoMessage } from './iso8583/codec.js';
import { feeAccountId as feeAccountFor, luhnValid, RC, TRANSFER_CODE_CASH, TRANSFER_CODE_FEE, TRANSFER_CODE_FEE_REFUND, TRANSFER_CODE_PURCHASE, TRANSFER_CODE_REFUND, isStatementCode } from './model.js';
import { cardKey, groupOf, recordKey, type TransferGroup } from './groups.js';
import {
  acceptAtc, decodeMessageRecord, emptyMessageRecord, encodeMessageRecord, messageKey, pushStatement, readStatement, MessageState,
  TABLE_MESSAGES, TABLE_REVERSALS, type MessageRecord,
} from './records.js';
import { availableBalanceField, buildResponse, statementField, type ResponseExtras } from './responses.js';
import type { CardsSettings } from './settings.js';

/** What happened, for the access log, metrics and the outbox event. */
export interface Outcome {
  response: Buffer;
  responseCode: string;
}

/** A message's answer: known when its job returns, or filled in when its deferred transfers ran (before commit). */
export interface Answer {
  outcome: Outcome | undefined;
}

function done(outcome: Outcome): Answer {
  return { outcome };
}

/** An approval, published as the durable `card.approved` event. */
export interface Approval {
  pan: string;
  cardId: bigint;
  transferId: bigint;
  amount: bigint;
  currency: number;
  approvalCode: string;
  responseCode: string;
  terminal: string;
  merchant: string;
  stan: string;
  rrn: string;
}

export type PublishApproval = (batch: BatchContext, approval: Approval) => Promise<void>;

const KIND_PURCHASE = 0;
const KIND_CASH = 1;

function text(message: IsoMessage, id: number): string | undefined {
  const value = message.fields.get(id);
  return typeof value === 'string' ? value : undefined;
}

export class CardProcessor {
  constructor(
    private readonly directory: CardDirectory,
    private readonly settings: CardsSettings,
    /** Wall-clock milliseconds, for expiry dates (tests set it). */
    private readonly nowMs: () => number,
    private readonly publish: PublishApproval | undefined,
  ) {}

  /**
   * One request message → its response. Runs inside a batch; the answer is complete once the batch's
   * transaction commits (its transfers may run together with those of other messages, see groups.ts).
   * Throws only for unexpected faults.
   */
  async process(message: IsoMessage, batch: BatchContext): Promise<Answer> {
    const missing = this.missingField(message);
    if (missing !== undefined) return done(this.reply(message, { responseCode: RC.formatError }));
    switch (message.mti) {
      case '0100': case '0101':
        return this.request(message, batch, true);
      case '0200':
        return message.fields.has(90) ? this.capture(message, batch) : this.request(message, batch, false);
      case '0400': case '0401': case '0420': case '0421':
        return this.reversal(message, batch);
      default:
        return done(this.reply(message, { responseCode: RC.invalidTransaction }));
    }
  }

  /** The fields every request needs; a message without one is answered 30. */
  private missingField(message: IsoMessage): number | undefined {
    for (const id of [2, 3, 4, 7, 11, 37, 41]) if (!message.fields.has(id)) return id;
    if (message.mti !== '0400' && message.mti !== '0401' && message.mti !== '0420' && message.mti !== '0421' && !message.fields.has(49)) return 49;
    return undefined;
  }

  private reply(message: IsoMessage, extras: ResponseExtras): Outcome {
    return { response: buildResponse(message, extras), responseCode: extras.responseCode };
  }

  private keyOf(message: IsoMessage): Buffer {
    return messageKey(text(message, 41)!, text(message, 11)!, text(message, 37)!);
  }

  /** The key of the message a capture or reversal refers to: same terminal and RRN, the original STAN from DE 90. */
  private originalKeyOf(message: IsoMessage): Buffer {
    const original = text(message, 90);
    return messageKey(text(message, 41)!, original === undefined ? text(message, 11)! : original.slice(4, 10), text(message, 37)!);
  }

  private async saveMessage(batch: BatchContext, table: string, key: Buffer, record: MessageRecord): Promise<void> {
    await batch.tx.put(table, key, encodeMessageRecord(record));
  }

  /**
   * A message whose key (terminal, STAN, RRN) was seen before: a repeat or duplicate of the same message
   * class gets the first answer byte for byte; another class under the same key is a different message
   * reusing a reference, answered 94 (duplicate transmission) and not recorded.
   */
  private repeat(message: IsoMessage, first: MessageRecord): Outcome {
    if (first.response.length >= 4 && first.response.toString('latin1', 0, 2) === message.mti.slice(0, 2)) return { response: first.response, responseCode: '' };
    return this.reply(message, { responseCode: RC.duplicateTransmission });
  }

  /** Reads a message or reversal record, after the deferred messages that write it have run. */
  private async readRecord(group: TransferGroup, batch: BatchContext, table: string, key: Buffer): Promise<MessageRecord | undefined> {
    await group.touch(recordKey(table, key));
    const raw = await batch.tx.get(table, key, { forUpdate: true });
    return raw === undefined ? undefined : decodeMessageRecord(raw);
  }

  /** A declined or unanswerable request: its record keeps the answer for repeats. */
  private async decline(message: IsoMessage, batch: BatchContext, key: Buffer, extras: ResponseExtras, card?: Card): Promise<Outcome> {
    const outcome = this.reply(message, extras);
    const record = emptyMessageRecord(MessageState.Declined);
    if (card !== undefined) {
      record.cardId = card.mainId;
      record.ledger = card.ledger;
    }
    record.response = outcome.response;
    await this.saveMessage(batch, TABLE_MESSAGES, key, record);
    return outcome;
  }

  /** An authorization (hold) or a financial request (posted at once), or an inquiry. */
  private async request(message: IsoMessage, batch: BatchContext, authorization: boolean): Promise<Answer> {
    const group = groupOf(batch);
    const key = this.keyOf(message);
    const first = await this.readRecord(group, batch, TABLE_MESSAGES, key);
    if (first !== undefined) {
      if (first.state === MessageState.ReversedEarly) return done(await this.decline(message, batch, key, { responseCode: RC.doNotHonor })); // the original after its reversal
      return done(this.repeat(message, first));
    }
    const processing = text(message, 3)!.slice(0, 2);
    const kind = processing === '01' ? KIND_CASH : KIND_PURCHASE;
    if (processing !== '00' && processing !== '01' && processing !== '31' && processing !== '38') return done(await this.decline(message, batch, key, { responseCode: RC.invalidTransaction }));
    const pan = text(message, 2)!;
    const card = luhnValid(pan) ? await this.directory.find(pan, batch) : undefined;
    if (card === undefined) return done(await this.decline(message, batch, key, { responseCode: RC.invalidCardNumber }));
    if (card.status !== 'active') return done(await this.decline(message, batch, key, { responseCode: RC.doNotHonor }, card));
    const expiry = text(message, 14);
    if (card.expiry < this.currentYyMm() || (expiry !== undefined && expiry !== card.expiry)) return done(await this.decline(message, batch, key, { responseCode: RC.expiredCard }, card));
    if (text(message, 49) !== String(card.ledger).padStart(3, '0')) return done(await this.decline(message, batch, key, { responseCode: RC.invalidTransaction }, card));
    const amount = BigInt(text(message, 4)!);

    // Chip: verify the ARQC; every answer to a valid ARQC carries the ARPC (tag 91), declines included.
    // The card's record is read after every earlier message of this card in the batch has run.
    const cardRecord = await group.card(card.mainId);
    let arpcFor: ((responseCode: string) => Buffer) | undefined;
    const icc = message.fields.get(55);
    if (icc !== undefined) {
      let tags: Map<number, Buffer>;
      let check: ReturnType<typeof verifyArqc>;
      try {
        tags = parseTlv(icc as Buffer);
        check = verifyArqc(card.iccMasterKey, tags);
      } catch (error) {
        if (error instanceof EmvDataError) return done(await this.decline(message, batch, key, { responseCode: RC.badCryptogram }, card));
        throw error;
      }
      if (!check.valid || tags.get(TAG_AMOUNT)!.toString('hex') !== text(message, 4)) return done(await this.decline(message, batch, key, { responseCode: RC.badCryptogram }, card));
      arpcFor = (responseCode) => encodeTlv([[TAG_ISSUER_AUTHENTICATION_DATA, issuerAuthenticationData(check.sessionKey, check.arqc, responseCode)]]);
      const replay = !acceptAtc(cardRecord, check.atc);
      if (replay) return done(await this.decline(message, batch, key, { responseCode: RC.securityViolation, iccData: arpcFor(RC.securityViolation) }, card));
      group.changed(card.mainId);
      const tvr = tags.get(TAG_TVR);
      if (tvr !== undefined && tvr.length === 5 && (tvr[2] & 0x80) !== 0) return done(await this.decline(message, batch, key, { responseCode: RC.incorrectPin, iccData: arpcFor(RC.incorrectPin) }, card));
    }
    const declineChip = (responseCode: string): Promise<Outcome> => this.decline(message, batch, key, { responseCode, iccData: arpcFor?.(responseCode) }, card);

    if (processing === '31' || processing === '38') return done(await this.inquiry(message, batch, key, card, cardRecord, processing, arpcFor));
    if (kind === KIND_CASH && amount > this.settings.cashWithdrawalMaxMinor) return done(await declineChip(RC.exceedsWithdrawalLimit));
    if (amount === 0n) return done(await declineChip(RC.invalidAmount));

    const { feeId: feeAccount, merchantId } = await this.directory.ensureAccounts(card.ledger, text(message, 42) ?? '', batch);
    const fee = kind === KIND_CASH ? this.settings.cashFeeMinor : this.settings.purchaseFeeMinor;
    const code = kind === KIND_CASH ? TRANSFER_CODE_CASH : TRANSFER_CODE_PURCHASE;
    // Partial approval (DE 48 "P": the terminal accepts less): a balancing debit takes what the card has
    // left after the fee, when that is less than asked and more than nothing. The balance read here is
    // exact: no message of this card is deferred past group.card() above.
    let approved = amount;
    let balancing = false;
    if (text(message, 48) === 'P') {
      const [main] = await batch.session.lookupAccounts([card.mainId]);
      const available = main.credits_posted - main.debits_posted - main.debits_pending;
      if (available < amount + fee && available > fee) {
        balancing = true;
        approved = available - fee;
      }
    }
    const holdId = await this.directory.nextId();
    const feeTransferId = await this.directory.nextId();
    const pending = authorization ? TransferFlags.pending : 0;
    const timeout = authorization ? this.settings.holdTimeoutSeconds : 0;
    const chain: Transfer[] = [];
    if (fee > 0n) chain.push(transfer({ id: feeTransferId, debit_account_id: card.mainId, credit_account_id: feeAccount, amount: fee, ledger: card.ledger, code: TRANSFER_CODE_FEE, flags: TransferFlags.linked | pending, timeout }));
    chain.push(transfer({ id: holdId, debit_account_id: card.mainId, credit_account_id: merchantId, amount, ledger: card.ledger, code, flags: pending | (balancing ? TransferFlags.balancing_debit : 0), timeout }));
    const answer: Answer = { outcome: undefined };
    await group.defer(chain, [recordKey(TABLE_MESSAGES, key), cardKey(card.mainId)], async (results) => {
      const failed = results.find((result) => result.status !== CreateTransferStatus.created && result.status !== CreateTransferStatus.linked_event_failed);
      if (failed !== undefined) {
        if (failed.status !== CreateTransferStatus.exceeds_credits) throw new Error(`authorization transfer: ${CreateTransferStatus[failed.status]}`);
        answer.outcome = await declineChip(RC.insufficientFunds);
        return;
      }
      pushStatement(cardRecord, { transferId: holdId, timestamp: results[results.length - 1].timestamp, amount: approved, code, flags: pending | (balancing ? TransferFlags.balancing_debit : 0) });
      group.changed(card.mainId);
      const responseCode = approved < amount ? RC.partialApproval : RC.approved;
      const approvalCode = holdId.toString(16).slice(-6).toUpperCase().padStart(6, '0');
      const outcome = this.reply(message, { responseCode, approvalCode, amount: approved, iccData: arpcFor?.(responseCode) });
      await this.saveMessage(batch, TABLE_MESSAGES, key, {
        ...emptyMessageRecord(authorization ? MessageState.Held : MessageState.Posted),
        kind, cardId: card.mainId, merchantId, ledger: card.ledger, holdId, feeId: fee > 0n ? feeTransferId : 0n, heldAmount: approved, feeAmount: fee,
        postedAmount: authorization ? 0n : approved, postedFee: authorization ? 0n : fee, response: outcome.response,
      });
      if (this.publish !== undefined) {
        await this.publish(batch, {
          pan: card.pan, cardId: card.mainId, transferId: holdId, amount: approved, currency: card.ledger, approvalCode, responseCode,
          terminal: text(message, 41)!, merchant: text(message, 42) ?? '', stan: text(message, 11)!, rrn: text(message, 37)!,
        });
      }
      answer.outcome = outcome;
    });
    return answer;
  }

  private async inquiry(message: IsoMessage, batch: BatchContext, key: Buffer, card: Card, cardRecord: Buffer, processing: string, arpcFor: ((rc: string) => Buffer) | undefined): Promise<Outcome> {
    const [main] = await batch.session.lookupAccounts([card.mainId]);
    const available = main.credits_posted - main.debits_posted - main.debits_pending;
    const outcome = this.reply(message, {
      responseCode: RC.approved,
      additionalAmounts: availableBalanceField(card.ledger, available),
      additionalData: processing === '38' ? statementField(readStatement(cardRecord)) : undefined,
      iccData: arpcFor?.(RC.approved),
    });
    await this.saveMessage(batch, TABLE_MESSAGES, key, { ...emptyMessageRecord(MessageState.Inquiry), cardId: card.mainId, ledger: card.ledger, response: outcome.response });
    return outcome;
  }

  /**
   * A capture (0200 with DE 90 naming an authorization): posts the hold — less is fine, the rest is
   * released; a larger presentment posts the hold whole and the excess as a separate transfer. A hold that
   * expired is captured as a new financial transfer (which may then find no funds: 51).
   */
  private async capture(message: IsoMessage, batch: BatchContext): Promise<Answer> {
    const group = groupOf(batch);
    const key = this.keyOf(message);
    const first = await this.readRecord(group, batch, TABLE_MESSAGES, key);
    if (first !== undefined) return done(this.repeat(message, first));
    const originalKey = this.originalKeyOf(message);
    const original = await this.readRecord(group, batch, TABLE_MESSAGES, originalKey);
    if (original === undefined) return done(await this.decline(message, batch, key, { responseCode: RC.originalNotFound }));
    if (original.state !== MessageState.Held) return done(await this.decline(message, batch, key, { responseCode: RC.doNotHonor }));
    const cardRecord = await group.card(original.cardId);
    const amount = BigInt(text(message, 4)!);
    const code = original.kind === KIND_CASH ? TRANSFER_CODE_CASH : TRANSFER_CODE_PURCHASE;
    const postAmount = amount < original.heldAmount ? amount : original.heldAmount;
    const excess = amount - postAmount;
    const postId = await this.directory.nextId();
    const feePostId = await this.directory.nextId();
    const excessId = await this.directory.nextId();
    const chain: Transfer[] = [];
    if (original.feeId !== 0n) chain.push(transfer({ id: feePostId, debit_account_id: original.cardId, credit_account_id: 0n, amount: original.feeAmount, pending_id: original.feeId, ledger: original.ledger, code: TRANSFER_CODE_FEE, flags: TransferFlags.linked | TransferFlags.post_pending_transfer }));
    chain.push(transfer({ id: postId, debit_account_id: original.cardId, credit_account_id: original.merchantId, amount: postAmount, pending_id: original.holdId, ledger: original.ledger, code, flags: TransferFlags.post_pending_transfer | (excess > 0n ? TransferFlags.linked : 0) }));
    if (excess > 0n) chain.push(transfer({ id: excessId, debit_account_id: original.cardId, credit_account_id: original.merchantId, amount: excess, ledger: original.ledger, code }));
    const answer: Answer = { outcome: undefined };
    await group.defer(chain, [recordKey(TABLE_MESSAGES, key), recordKey(TABLE_MESSAGES, originalKey), cardKey(original.cardId)], async (chainResults) => {
      let results = chainResults;
      let statement: { id: bigint; amount: bigint; flags: number; index: number }[] = [{ id: postId, amount: postAmount, flags: TransferFlags.post_pending_transfer, index: original.feeId !== 0n ? 1 : 0 }];
      if (excess > 0n) statement.push({ id: excessId, amount: excess, flags: 0, index: chain.length - 1 });
      if (results.some((result) => result.status === CreateTransferStatus.pending_transfer_expired)) {
        // The hold expired and released its amount: post the presentment as new transfers. They run after
        // the other messages of this group — a serial order in which this capture came a moment later.
        const feeId = await this.directory.nextId();
        const purchaseId = await this.directory.nextId();
        const fresh: Transfer[] = [];
        if (original.feeAmount > 0n) fresh.push(transfer({ id: feeId, debit_account_id: original.cardId, credit_account_id: feeAccountFor(original.ledger), amount: original.feeAmount, ledger: original.ledger, code: TRANSFER_CODE_FEE, flags: TransferFlags.linked }));
        fresh.push(transfer({ id: purchaseId, debit_account_id: original.cardId, credit_account_id: original.merchantId, amount, ledger: original.ledger, code }));
        results = await batch.session.createTransfers(fresh);
        statement = [{ id: purchaseId, amount, flags: 0, index: fresh.length - 1 }];
      }
      const failed = results.find((result) => result.status !== CreateTransferStatus.created && result.status !== CreateTransferStatus.linked_event_failed);
      if (failed !== undefined) {
        if (failed.status !== CreateTransferStatus.exceeds_credits) throw new Error(`capture transfer: ${CreateTransferStatus[failed.status]}`);
        answer.outcome = await this.decline(message, batch, key, { responseCode: RC.insufficientFunds });
        return;
      }
      for (const line of statement) pushStatement(cardRecord, { transferId: line.id, timestamp: results[line.index].timestamp, amount: line.amount, code, flags: line.flags });
      group.changed(original.cardId);
      await this.saveMessage(batch, TABLE_MESSAGES, originalKey, { ...original, state: MessageState.Posted, postedAmount: amount, postedFee: original.feeAmount });
      const outcome = this.reply(message, { responseCode: RC.approved });
      await this.saveMessage(batch, TABLE_MESSAGES, key, { ...emptyMessageRecord(MessageState.CaptureRef), cardId: original.cardId, ledger: original.ledger, ref: originalKey, response: outcome.response });
      answer.outcome = outcome;
    });
    return answer;
  }

  /**
   * A reversal: voids a hold, or refunds what was posted; idempotent (a second reversal changes nothing);
   * and correct before its original — the original's key is marked reversed, and the original, when it
   * arrives, is declined. Always answered 00: the acquirer's reversal is accepted, whatever it undoes.
   */
  private async reversal(message: IsoMessage, batch: BatchContext): Promise<Answer> {
    const group = groupOf(batch);
    const key = this.keyOf(message);
    const first = await this.readRecord(group, batch, TABLE_REVERSALS, key);
    if (first !== undefined) return done(this.repeat(message, first));
    let targetKey = this.originalKeyOf(message);
    let original = await this.readRecord(group, batch, TABLE_MESSAGES, targetKey);
    if (original === undefined) {
      await this.saveMessage(batch, TABLE_MESSAGES, targetKey, emptyMessageRecord(MessageState.ReversedEarly));
    } else {
      if (original.state === MessageState.CaptureRef) {
        targetKey = original.ref;
        original = await this.readRecord(group, batch, TABLE_MESSAGES, targetKey);
      }
      if (original !== undefined && (original.state === MessageState.Held || original.state === MessageState.Posted)) await this.undo(group, original, targetKey, batch);
    }
    // Accepted whatever it undoes, so the answer does not wait for the undo's transfers.
    const outcome = this.reply(message, { responseCode: RC.approved });
    await this.saveMessage(batch, TABLE_REVERSALS, key, { ...emptyMessageRecord(MessageState.Reversed), response: outcome.response });
    return done(outcome);
  }

  private async undo(group: TransferGroup, original: MessageRecord, key: Buffer, batch: BatchContext): Promise<void> {
    const code = original.kind === KIND_CASH ? TRANSFER_CODE_CASH : TRANSFER_CODE_PURCHASE;
    const mainId = original.cardId;
    const cardRecord = await group.card(mainId);
    const lines: { id: bigint; amount: bigint; code: number; flags: number; index: number }[] = [];
    const chain: Transfer[] = [];
    if (original.state === MessageState.Held) {
      const voidId = await this.directory.nextId();
      if (original.feeId !== 0n) chain.push(transfer({ id: await this.directory.nextId(), debit_account_id: mainId, credit_account_id: 0n, amount: 0n, pending_id: original.feeId, ledger: original.ledger, code: TRANSFER_CODE_FEE, flags: TransferFlags.linked | TransferFlags.void_pending_transfer }));
      chain.push(transfer({ id: voidId, debit_account_id: mainId, credit_account_id: original.merchantId, amount: 0n, pending_id: original.holdId, ledger: original.ledger, code, flags: TransferFlags.void_pending_transfer }));
      lines.push({ id: voidId, amount: original.heldAmount, code, flags: TransferFlags.void_pending_transfer, index: chain.length - 1 });
    } else {
      const refundId = await this.directory.nextId();
      if (original.postedFee > 0n) chain.push(transfer({ id: await this.directory.nextId(), debit_account_id: feeAccountFor(original.ledger), credit_account_id: mainId, amount: original.postedFee, ledger: original.ledger, code: TRANSFER_CODE_FEE_REFUND, flags: TransferFlags.linked }));
      chain.push(transfer({ id: refundId, debit_account_id: original.merchantId, credit_account_id: mainId, amount: original.postedAmount, ledger: original.ledger, code: TRANSFER_CODE_REFUND }));
      lines.push({ id: refundId, amount: original.postedAmount, code: TRANSFER_CODE_REFUND, flags: 0, index: chain.length - 1 });
    }
    await group.defer(chain, [recordKey(TABLE_MESSAGES, key), cardKey(mainId)], async (results) => {
      const expired = results.some((result) => result.status === CreateTransferStatus.pending_transfer_expired);
      const failed = results.find((result) => result.status !== CreateTransferStatus.created && result.status !== CreateTransferStatus.linked_event_failed && result.status !== CreateTransferStatus.pending_transfer_expired);
      if (failed !== undefined) throw new Error(`reversal transfer: ${CreateTransferStatus[failed.status]}`);
      if (!expired) {
        // An expired hold released itself: nothing to void and no statement line.
        for (const line of lines) if (isStatementCode(line.code)) pushStatement(cardRecord, { transferId: line.id, timestamp: results[line.index].timestamp, amount: line.amount, code: line.code, flags: line.flags });
        group.changed(mainId);
      }
      await this.saveMessage(batch, TABLE_MESSAGES, key, { ...original, state: MessageState.Reversed });
    });
  }

  private currentYyMm(): string {
    const now = new Date(this.nowMs());
    return `${String(now.getUTCFullYear() % 100).padStart(2, '0')}${String(now.getUTCMonth() + 1).padStart(2, '0')}`;
  }
}
