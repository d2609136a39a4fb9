/**
 * Building response messages: which request fields a response echoes, and the formats of the fields the
 * switch adds (DE 38 approval code, DE 48 mini-statement, DE 54 balance, DE 55 issuer authentication data).
 */
import { TransferFlags } from 'purser';
import { encode, responseMti, type IsoMessage, type FieldValue } from './iso8583/codec.js';
import { TRANSFER_CODE_CASH, TRANSFER_CODE_CREDIT_LINE, TRANSFER_CODE_REFUND } from './model.js';
import type { StatementEntry } from './records.js';

/** Request fields a response carries back unchanged (the PAN, amounts and references the acquirer matches on). */
const ECHOED = [2, 3, 4, 7, 11, 12, 13, 22, 23, 32, 37, 41, 42, 49, 90, 95];

export interface ResponseExtras {
  responseCode: string;
  approvalCode?: string;
  /** Replaces DE 4 (a partial approval's approved amount). */
  amount?: bigint;
  additionalData?: string;
  additionalAmounts?: string;
  iccData?: Buffer;
}

export function buildResponse(request: IsoMessage, extras: ResponseExtras): Buffer {
  const mti = responseMti(request.mti);
  if (mti === undefined) throw new Error(`no response MTI for ${request.mti}`);
  const fields = new Map<number, FieldValue>();
  for (const id of ECHOED) {
    const value = request.fields.get(id);
    if (value !== undefined) fields.set(id, value);
  }
  if (extras.amount !== undefined) fields.set(4, amount12(extras.amount));
  if (extras.approvalCode !== undefined) fields.set(38, extras.approvalCode);
  fields.set(39, extras.responseCode);
  if (extras.additionalData !== undefined) fields.set(48, extras.additionalData);
  if (extras.additionalAmounts !== undefined) fields.set(54, extras.additionalAmounts);
  if (extras.iccData !== undefined) fields.set(55, extras.iccData);
  return encode({ mti, fields });
}

export function amount12(value: bigint): string {
  return value.toString().padStart(12, '0');
}

/** DE 54, one amount: account type 00, amount type 02 (available balance), currency, C or D, 12 digits. */
export function availableBalanceField(currency: number, available: bigint): string {
  return `0002${String(currency).padStart(3, '0')}${available < 0n ? 'D' : 'C'}${amount12(available < 0n ? -available : available)}`;
}

/** A statement line's kind, from the transfer that made it. */
export function statementKind(entry: StatementEntry): string {
  if (entry.flags & TransferFlags.pending) return 'HD';
  if (entry.flags & TransferFlags.post_pending_transfer) return 'CP';
  if (entry.flags & TransferFlags.void_pending_transfer) return 'VD';
  if (entry.code === TRANSFER_CODE_REFUND) return 'RF';
  if (entry.code === TRANSFER_CODE_CREDIT_LINE) return 'CL';
  if (entry.code === TRANSFER_CODE_CASH) return 'CA';
  return 'PU';
}

/** Whether a statement line debits the card (D) or credits it (C). */
export function statementSign(kind: string): 'C' | 'D' {
  return kind === 'VD' || kind === 'RF' || kind === 'CL' ? 'C' : 'D';
}

/**
 * DE 48 of a mini-statement: up to ten lines, newest first, 47 characters each: kind (HD hold, CP capture,
 * VD void, PU purchase, CA cash, RF refund, CL credit line), sign, 12-digit amount, the transfer id in hex.
 */
export function statementField(entries: readonly StatementEntry[]): string {
  return entries.map((entry) => {
    const kind = statementKind(entry);
    return `${kind}${statementSign(kind)}${amount12(entry.amount)}${entry.transferId.toString(16).padStart(32, '0')}`;
  }).join('');
}

export interface StatementLine {
  kind: string;
  sign: 'C' | 'D';
  amount: bigint;
  transferId: bigint;
}

export function parseStatementField(field: string): StatementLine[] {
  const lines: StatementLine[] = [];
  for (let at = 0; at + 47 <= field.length; at += 47) {
    lines.push({ kind: field.slice(at, at + 2), sign: field[at + 2] as 'C' | 'D', amount: BigInt(field.slice(at + 3, at + 15)), transferId: BigInt(`0x${field.slice(at + 15, at + 47)}`) });
  }
  return lines;
}
