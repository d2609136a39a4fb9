/**
 * The console's statement language, parsed into plain values (no I/O here, so it is tested on its own):
 *
 *   create_accounts id=1 ledger=1 code=1 flags=linked|history, id=2 ledger=1 code=1;
 *   create_transfers id=1 debit_account_id=1 credit_account_id=2 amount=10 ledger=1 code=1;
 *   lookup_accounts 1 2            (or id=1, id=2)        lookup_transfers 1
 *   get_account_transfers account_id=1 limit=10 flags=debits|credits|reversed
 *   get_account_balances account_id=1 …     query_accounts ledger=1 limit=10     query_transfers code=1
 *   call SERVICE {"json": "data"}
 *   pq | psr | psc | requests | bbstats | susp SERVICE | res SERVICE | resize SERVICE N | cancel ID
 *   help | exit | quit
 *
 * Ledger statements follow `tigerbeetle repl`: objects of key=value pairs separated by commas, an optional
 * closing semicolon, flags joined by `|`. Fields left out are zero (lookups and filters included), except
 * that a filter's `limit` defaults to 10 and an account filter's `flags` to debits|credits. Every value is
 * checked against its field's width.
 */
import { ConfigError } from '../errors.js';
import { AccountFilterFlags, AccountFlags, QueryFilterFlags, TransferFlags } from '../ledger/types.js';
import type { Account, AccountFilter, QueryFilter, Transfer } from '../ledger/types.js';
import { ADMIN_VERBS } from './admin.js';

export type Statement =
  | { kind: 'create_accounts'; accounts: Account[] }
  | { kind: 'create_transfers'; transfers: Transfer[] }
  | { kind: 'lookup_accounts' | 'lookup_transfers'; ids: bigint[] }
  | { kind: 'get_account_transfers' | 'get_account_balances'; filter: AccountFilter }
  | { kind: 'query_accounts' | 'query_transfers'; filter: QueryFilter }
  | { kind: 'call'; service: string; data: unknown }
  | { kind: 'admin'; verb: string; args: string[] }
  | { kind: 'help' | 'exit' | 'empty' };

/** How wide a field is: u128/u64 fields are bigints; the rest numbers with a maximum. */
type Width = 'u128' | 'u64' | 'u32' | 'u16';
const MAX: Record<Width, bigint> = { u128: (1n << 128n) - 1n, u64: (1n << 64n) - 1n, u32: (1n << 32n) - 1n, u16: (1n << 16n) - 1n };

const ACCOUNT_FIELDS: Record<string, Width> = {
  id: 'u128', debits_pending: 'u128', debits_posted: 'u128', credits_pending: 'u128', credits_posted: 'u128',
  user_data_128: 'u128', user_data_64: 'u64', user_data_32: 'u32', reserved: 'u32', ledger: 'u32', code: 'u16', flags: 'u16', timestamp: 'u64',
};
const TRANSFER_FIELDS: Record<string, Width> = {
  id: 'u128', debit_account_id: 'u128', credit_account_id: 'u128', amount: 'u128', pending_id: 'u128',
  user_data_128: 'u128', user_data_64: 'u64', user_data_32: 'u32', timeout: 'u32', ledger: 'u32', code: 'u16', flags: 'u16', timestamp: 'u64',
};
const ACCOUNT_FILTER_FIELDS: Record<string, Width> = {
  account_id: 'u128', user_data_128: 'u128', user_data_64: 'u64', user_data_32: 'u32', code: 'u16', timestamp_min: 'u64', timestamp_max: 'u64', limit: 'u32', flags: 'u32',
};
const QUERY_FILTER_FIELDS: Record<string, Width> = {
  user_data_128: 'u128', user_data_64: 'u64', user_data_32: 'u32', ledger: 'u32', code: 'u16', timestamp_min: 'u64', timestamp_max: 'u64', limit: 'u32', flags: 'u32',
};
const FILTER_LIMIT_DEFAULT = 10;
/** Objects in one create statement: TigerBeetle's batch limit. */
export const STATEMENT_OBJECTS_MAX = 8189;

export const STATEMENT_HELP = [
  'Ledger (TigerBeetle repl syntax; fields left out are 0; flags joined with |):',
  '  create_accounts id=1 ledger=1 code=1 [flags=linked|history|debits_must_not_exceed_credits|…], id=2 …;',
  '  create_transfers id=1 debit_account_id=1 credit_account_id=2 amount=10 ledger=1 code=1 [flags=pending|…] [timeout=s];',
  '  lookup_accounts 1 2;   lookup_transfers 1;   (or id=1, id=2)',
  '  get_account_transfers account_id=1 [limit=10] [flags=debits|credits|reversed (default debits|credits)];   get_account_balances …',
  '  query_accounts [ledger=1] [code=1] [user_data_128=…] [limit=10] [flags=reversed];   query_transfers …',
  'Bus:',
  '  call SERVICE [json]',
  'Operator (tmadmin):',
  '  pq, psr, psc, requests, bbstats, susp SERVICE, res SERVICE, resize SERVICE N, cancel ID',
  'Console: help, exit (or Ctrl-D)',
].join('\n');

export function parseStatement(line: string): Statement {
  const text = line.trim().replace(/;\s*$/, '').trim();
  if (text === '' || text.startsWith('#')) return { kind: 'empty' };
  const [word] = text.split(/\s+/, 1);
  const rest = text.slice(word.length).trim();
  switch (word) {
    case 'help':
    case '?':
      return { kind: 'help' };
    case 'exit':
    case 'quit':
      return { kind: 'exit' };
    case 'call':
      return parseCall(rest);
    case 'create_accounts':
      return { kind: word, accounts: objects(rest, word, true).map((fields) => build(fields, ACCOUNT_FIELDS, AccountFlags, word) as unknown as Account) };
    case 'create_transfers':
      return { kind: word, transfers: objects(rest, word, true).map((fields) => build(fields, TRANSFER_FIELDS, TransferFlags, word) as unknown as Transfer) };
    case 'lookup_accounts':
    case 'lookup_transfers':
      return { kind: word, ids: parseIds(rest, word) };
    case 'get_account_transfers':
    case 'get_account_balances':
      // Without debits or credits in its flags the ledger matches nothing, so a filter without flags asks for both.
      return { kind: word, filter: build(single(rest, word), ACCOUNT_FILTER_FIELDS, AccountFilterFlags, word, { limit: FILTER_LIMIT_DEFAULT, flags: AccountFilterFlags.debits | AccountFilterFlags.credits }) as unknown as AccountFilter };
    case 'query_accounts':
    case 'query_transfers':
      return { kind: word, filter: build(single(rest, word), QUERY_FILTER_FIELDS, QueryFilterFlags, word, { limit: FILTER_LIMIT_DEFAULT }) as unknown as QueryFilter };
    default:
      if (ADMIN_VERBS.includes(word)) return { kind: 'admin', verb: word, args: rest === '' ? [] : rest.split(/\s+/) };
      throw new ConfigError(`unknown statement '${word.slice(0, 40)}'; type help`);
  }
}

function parseCall(rest: string): Statement {
  const match = /^(\S+)\s*(.*)$/s.exec(rest);
  if (!match) throw new ConfigError('call needs a service name: call SERVICE [json]');
  let data: unknown = null;
  if (match[2] !== '') {
    try {
      data = JSON.parse(match[2]);
    } catch (error) {
      throw new ConfigError(`call ${match[1]}: the data is not valid JSON: ${(error as Error).message}`);
    }
  }
  return { kind: 'call', service: match[1], data };
}

/** `key=value key=value, key=value …` → one map per object. */
function objects(rest: string, statement: string, needOne: boolean): Array<Map<string, string>> {
  if (rest === '') {
    if (needOne) throw new ConfigError(`${statement} needs at least one object: key=value …`);
    return [];
  }
  const parts = rest.split(',');
  if (parts.length > STATEMENT_OBJECTS_MAX) throw new ConfigError(`${statement}: at most ${STATEMENT_OBJECTS_MAX} objects in one statement, got ${parts.length}`);
  return parts.map((part, index) => {
    const fields = new Map<string, string>();
    const pairs = part.trim().split(/\s+/).filter(Boolean);
    if (pairs.length === 0) throw new ConfigError(`${statement}: object ${index + 1} is empty (a stray comma?)`);
    for (const pair of pairs) {
      const match = /^([a-z_0-9]+)=(\S+)$/.exec(pair);
      if (!match) throw new ConfigError(`${statement}: expected key=value, got '${pair.slice(0, 60)}'`);
      if (fields.has(match[1])) throw new ConfigError(`${statement}: ${match[1]} given twice in object ${index + 1}`);
      fields.set(match[1], match[2]);
    }
    return fields;
  });
}

function single(rest: string, statement: string): Map<string, string> {
  const list = objects(rest, statement, false);
  if (list.length > 1) throw new ConfigError(`${statement} takes one filter, got ${list.length}`);
  return list[0] ?? new Map();
}

function build(fields: Map<string, string>, spec: Record<string, Width>, flagNames: Record<string, string | number>, statement: string, defaults: Record<string, number> = {}): Record<string, bigint | number> {
  const object: Record<string, bigint | number> = {};
  for (const [name, width] of Object.entries(spec)) object[name] = width === 'u128' || width === 'u64' ? 0n : (defaults[name] ?? 0);
  for (const [name, raw] of fields) {
    const width = spec[name];
    if (width === undefined) throw new ConfigError(`${statement}: unknown field '${name}' (fields: ${Object.keys(spec).join(', ')})`);
    const value = name === 'flags' ? parseFlags(raw, flagNames, statement) : parseUnsigned(raw, width, `${statement}: ${name}`);
    object[name] = width === 'u128' || width === 'u64' ? value : Number(value);
  }
  return object;
}

function parseUnsigned(raw: string, width: Width, what: string): bigint {
  if (!/^(0|[1-9]\d*|0x[0-9a-fA-F]+)$/.test(raw)) throw new ConfigError(`${what} must be an unsigned integer (decimal or 0x hex), got '${raw.slice(0, 60)}'`);
  const value = BigInt(raw);
  if (value > MAX[width]) throw new ConfigError(`${what} does not fit in ${width} (at most ${MAX[width]}), got ${raw.slice(0, 60)}`);
  return value;
}

function parseFlags(raw: string, names: Record<string, string | number>, statement: string): bigint {
  if (/^\d+$/.test(raw)) return parseUnsigned(raw, 'u16', `${statement}: flags`);
  let flags = 0n;
  for (const name of raw.split('|')) {
    const bit = names[name];
    if (typeof bit !== 'number') {
      const known = Object.keys(names).filter((key) => Number.isNaN(Number(key)) && key !== 'none');
      throw new ConfigError(`${statement}: unknown flag '${name.slice(0, 60)}' (flags: ${known.join(', ')})`);
    }
    flags |= BigInt(bit);
  }
  return flags;
}

function parseIds(rest: string, statement: string): bigint[] {
  if (rest === '') throw new ConfigError(`${statement} needs ids: ${statement} 1 2 (or id=1, id=2)`);
  const words = rest.split(/[\s,]+/).filter(Boolean).map((word) => word.replace(/^id=/, ''));
  if (words.length > STATEMENT_OBJECTS_MAX) throw new ConfigError(`${statement}: at most ${STATEMENT_OBJECTS_MAX} ids, got ${words.length}`);
  return words.map((word) => parseUnsigned(word, 'u128', `${statement}: id`));
}
