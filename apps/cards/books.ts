/**
 * The books check at the end of `purser cards load`, read through the node's ledger (the `connect()`
 * client) and the switch itself:
 * 1. Debits equal credits: over every account of the currency's ledger, Σ debits_posted = Σ credits_posted
 *    and Σ debits_pending = Σ credits_pending.
 * 2. Every hold is captured, voided, expired or pending: each pending transfer on a card is resolved by at
 *    most one post or void (or has expired), every post and void names a pending transfer of the card, and
 *    the amounts still pending add up to the card's `debits_pending`.
 * 3. The ledger agrees with what the load generator was told: per card, holds approved, captured, reversed,
 *    financial transfers, and the amount still held (holds and fees) equal the answers it received.
 * 4. Mini-statements match the ledger: for a sample of cards, the switch's mini-statement (processing code
 *    38) lists the card's newest statement transfers in the ledger, newest first, with their amounts.
 */
import { randomBytes } from 'node:crypto';
import { AccountFilterFlags, TransferFlags, type BusClient, type Transfer } from 'purser';
import type { IsoClient } from './client.js';
import type { FieldValue } from './iso8583/codec.js';
import type { LoadCard } from './load.js';
import { isStatementCode, TRANSFER_CODE_CASH, TRANSFER_CODE_PURCHASE } from './model.js';
import { parseStatementField } from './responses.js';

export interface BooksReport {
  failures: string[];
  lines: string[];
}

const PAGE = 8189;

async function allCardTransfers(ledger: BusClient, accountId: bigint): Promise<Transfer[]> {
  const out: Transfer[] = [];
  let timestampMin = 0n;
  for (;;) {
    const page = await ledger.getAccountTransfers({ account_id: accountId, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, code: 0, timestamp_min: timestampMin, timestamp_max: 0n, limit: PAGE, flags: AccountFilterFlags.debits | AccountFilterFlags.credits });
    out.push(...page);
    if (page.length < PAGE) return out;
    timestampMin = page[page.length - 1].timestamp + 1n;
  }
}

export async function checkBooks(ledger: BusClient, cards: readonly LoadCard[], currency: number, statementClient: IsoClient, terminal: string, sampleSize: number): Promise<BooksReport> {
  const failures: string[] = [];
  const lines: string[] = [];

  // 1. Debits equal credits over the whole ledger.
  let timestampMin = 0n;
  const totals = { debitsPosted: 0n, creditsPosted: 0n, debitsPending: 0n, creditsPending: 0n, accounts: 0 };
  for (;;) {
    const page = await ledger.queryAccounts({ user_data_128: 0n, user_data_64: 0n, user_data_32: 0, ledger: currency, code: 0, timestamp_min: timestampMin, timestamp_max: 0n, limit: PAGE, flags: 0 });
    for (const account of page) {
      totals.debitsPosted += account.debits_posted;
      totals.creditsPosted += account.credits_posted;
      totals.debitsPending += account.debits_pending;
      totals.creditsPending += account.credits_pending;
    }
    totals.accounts += page.length;
    if (page.length < PAGE) break;
    timestampMin = page[page.length - 1].timestamp + 1n;
  }
  lines.push(`ledger ${currency}: ${totals.accounts} accounts, posted ${totals.debitsPosted} dr = ${totals.creditsPosted} cr, pending ${totals.debitsPending} dr = ${totals.creditsPending} cr`);
  if (totals.debitsPosted !== totals.creditsPosted || totals.debitsPending !== totals.creditsPending) failures.push('debits do not equal credits');

  // 2 and 3, card by card.
  const states = { captured: 0, voided: 0, expired: 0, pending: 0 };
  let uncertain = 0;
  const mainIds = cards.map((card) => card.mainId);
  const accounts = new Map<bigint, { debits_pending: bigint }>();
  for (let at = 0; at < mainIds.length; at += PAGE) for (const account of await ledger.lookupAccounts(mainIds.slice(at, at + PAGE))) accounts.set(account.id, account);
  for (const card of cards) {
    const transfers = await allCardTransfers(ledger, card.mainId);
    const nowNs = transfers.reduce((max, t) => (t.timestamp > max ? t.timestamp : max), 0n);
    const pending = new Map<bigint, Transfer>();
    const resolved = new Map<bigint, Transfer>();
    const count = { holds: 0, posts: 0, voids: 0, plain: 0 };
    for (const t of transfers) {
      const money = t.code === TRANSFER_CODE_PURCHASE || t.code === TRANSFER_CODE_CASH;
      if (t.flags & TransferFlags.pending) {
        pending.set(t.id, t);
        if (money) count.holds++;
      } else if (t.flags & (TransferFlags.post_pending_transfer | TransferFlags.void_pending_transfer)) {
        if (resolved.has(t.pending_id)) failures.push(`card ${card.pan}: pending transfer ${t.pending_id} resolved twice`);
        resolved.set(t.pending_id, t);
        if (money) count[t.flags & TransferFlags.post_pending_transfer ? 'posts' : 'voids']++;
      } else if (money) {
        count.plain++;
      }
    }
    let stillPending = 0n;
    for (const [id, hold] of pending) {
      const resolution = resolved.get(id);
      const money = hold.code === TRANSFER_CODE_PURCHASE || hold.code === TRANSFER_CODE_CASH;
      if (resolution !== undefined) {
        if (money) states[resolution.flags & TransferFlags.post_pending_transfer ? 'captured' : 'voided']++;
      } else if (hold.timeout > 0 && hold.timestamp + BigInt(hold.timeout) * 1_000_000_000n <= nowNs) {
        if (money) states.expired++;
      } else {
        if (money) states.pending++;
        stillPending += hold.amount;
      }
    }
    for (const id of resolved.keys()) if (!pending.has(id)) failures.push(`card ${card.pan}: a post or void of ${id}, which is not a pending transfer of the card`);
    const account = accounts.get(card.mainId);
    if (account === undefined) failures.push(`card ${card.pan}: no MAIN account`);
    else if (account.debits_pending !== stillPending) failures.push(`card ${card.pan}: debits_pending ${account.debits_pending} ≠ Σ pending holds and fees ${stillPending}`);
    if (card.uncertain) {
      uncertain++;
      continue;
    }
    const expected = { holds: card.holdsApproved, posts: card.holdsCaptured, voids: card.holdsReversed, plain: card.financials + card.excessTransfers };
    if (JSON.stringify(expected) !== JSON.stringify(count)) failures.push(`card ${card.pan}: the ledger has ${JSON.stringify(count)}, the answers said ${JSON.stringify(expected)}`);
    if (account !== undefined && account.debits_pending !== card.outstandingMinor) failures.push(`card ${card.pan}: ${account.debits_pending} held, the answers said ${card.outstandingMinor}`);
  }
  lines.push(`holds: ${states.captured} captured, ${states.voided} voided, ${states.expired} expired, ${states.pending} pending${uncertain > 0 ? `; ${uncertain} cards had an unanswered message and were checked against the ledger only` : ''}`);

  // 4. Mini-statements against the ledger.
  const sample = cards.slice(0, sampleSize);
  let stan = 0;
  const runId = randomBytes(3).toString('hex').toUpperCase();
  for (const card of sample) {
    const rrn = `BK${runId}${String(stan).padStart(4, '0')}`;
    const fields = new Map<number, FieldValue>([
      [2, card.pan], [3, '380000'], [4, '000000000000'], [7, '0101000000'], [11, String(++stan).padStart(6, '0')], [37, rrn], [41, terminal], [42, 'BOOKSCHECK00000'], [49, String(currency).padStart(3, '0')],
    ]);
    const answer = await statementClient.request({ mti: '0100', fields });
    if (answer.fields.get(39) !== '00') {
      failures.push(`card ${card.pan}: mini-statement answered ${String(answer.fields.get(39))}`);
      continue;
    }
    const statement = parseStatementField((answer.fields.get(48) as string | undefined) ?? '');
    const newest = (await ledger.getAccountTransfers({ account_id: card.mainId, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, code: 0, timestamp_min: 0n, timestamp_max: 0n, limit: 200, flags: AccountFilterFlags.debits | AccountFilterFlags.credits | AccountFilterFlags.reversed }))
      .filter((t) => isStatementCode(t.code)).slice(0, 10);
    const got = statement.map((line) => `${line.transferId}:${line.amount}`).join(',');
    const want = newest.map((t) => `${t.id}:${t.amount}`).join(',');
    if (got !== want) failures.push(`card ${card.pan}: mini-statement ${got} ≠ ledger ${want}`);
  }
  lines.push(`mini-statements: ${sample.length} cards compared with the ledger`);
  return { failures, lines };
}
