/**
 * The switch's settings (`apps.cards.settings` in the config file), checked once at start: a mistake is a
 * `CardsRequestError` (`CARDS_INVALID_SETTINGS`) naming the key, and nothing starts. Defaults live here.
 */
import { CardsRequestError } from './errors.js';

export interface IssuerSettings {
  /** The BIN (first six to eight digits of the PAN) the issuer master key belongs to. */
  bin: string;
  /** Issuer master key for application cryptograms, 32 hex characters. */
  imkAc: Buffer;
}

export interface CardsSettings {
  /** ISO 8583 listener. Default 127.0.0.1:8583; `PURSER_CARDS_PORT` overrides the port (0: any free port). */
  host: string;
  port: number;
  issuers: IssuerSettings[];
  /** Hold expiry: the pending transfer's timeout. Default 7 days. */
  holdTimeoutSeconds: number;
  /** Fees charged to the card per approved purchase and cash withdrawal, in minor units. */
  purchaseFeeMinor: bigint;
  cashFeeMinor: bigint;
  /** The largest cash withdrawal (DE 3 = 01…) one message may take; more is declined 61. */
  cashWithdrawalMaxMinor: bigint;
  /** Most messages executed in one ledger transaction. */
  batchMessagesMax: number;
  /** Messages waiting for the ledger before new ones are answered 91 at once. */
  queueMessagesMax: number;
  connectionsMax: number;
  /** Messages one connection may have in flight before the switch stops reading from it. */
  inFlightPerConnectionMax: number;
  /** A connection that sends nothing for this long is closed (an 0800 echo keeps it open). */
  idleTimeoutMs: number;
  /** Subscribe the switch's own `cards.approval-notice` task to `card.approved` (default true). */
  approvalNotices: boolean;
}

export const DEFAULT_SETTINGS = {
  host: '127.0.0.1',
  port: 8583,
  holdTimeoutSeconds: 7 * 24 * 3600, // 7 days, a common authorization validity for card-not-present
  purchaseFeeMinor: 10n,
  cashFeeMinor: 200n,
  cashWithdrawalMaxMinor: 50_000n,
  batchMessagesMax: 512,
  queueMessagesMax: 20_000,
  connectionsMax: 1024,
  inFlightPerConnectionMax: 256,
  idleTimeoutMs: 5 * 60 * 1000, // 5 minutes
} as const;

const KEYS = ['host', 'port', 'issuers', 'holdTimeoutSeconds', 'purchaseFeeMinor', 'cashFeeMinor', 'cashWithdrawalMaxMinor', 'batchMessagesMax', 'queueMessagesMax', 'connectionsMax', 'inFlightPerConnectionMax', 'idleTimeoutMs', 'approvalNotices'];

export function parseSettings(raw: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): CardsSettings {
  const fail = (key: string, why: string): never => {
    throw new CardsRequestError('CARDS_INVALID_SETTINGS', `apps.cards.settings.${key}: ${why}`);
  };
  for (const key of Object.keys(raw)) if (!KEYS.includes(key)) fail(key, `unknown key; known keys are ${KEYS.join(', ')}`);
  const integer = (key: string, fallback: number, min: number, max: number): number => {
    const value = raw[key] ?? fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) fail(key, `expected an integer from ${min} to ${max}`);
    return value as number;
  };
  const minor = (key: string, fallback: bigint): bigint => {
    const value = raw[key] ?? fallback;
    if (typeof value === 'bigint' && value >= 0n) return value;
    if ((typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) || (typeof value === 'string' && /^\d{1,18}$/.test(value))) return BigInt(value);
    return fail(key, 'expected a non-negative whole amount in minor units');
  };
  const host = raw.host ?? DEFAULT_SETTINGS.host;
  if (typeof host !== 'string' || host.length === 0) fail('host', 'expected a host name or address');
  let port = integer('port', DEFAULT_SETTINGS.port, 0, 65535);
  if (env.PURSER_CARDS_PORT !== undefined && env.PURSER_CARDS_PORT !== '') {
    if (!/^\d{1,5}$/.test(env.PURSER_CARDS_PORT) || Number(env.PURSER_CARDS_PORT) > 65535) {
      throw new CardsRequestError('CARDS_INVALID_SETTINGS', `PURSER_CARDS_PORT: expected a port number 0..65535, got ${JSON.stringify(env.PURSER_CARDS_PORT)}`);
    }
    port = Number(env.PURSER_CARDS_PORT);
  }
  const issuersRaw = raw.issuers ?? [];
  if (!Array.isArray(issuersRaw) || issuersRaw.length === 0) fail('issuers', 'expected a list of { bin, imkAc } (at least one)');
  const issuers = (issuersRaw as unknown[]).map((issuer, index) => {
    const { bin, imkAc, ...rest } = (issuer ?? {}) as { bin?: unknown; imkAc?: unknown };
    if (Object.keys(rest).length > 0) fail(`issuers[${index}]`, `unknown key ${Object.keys(rest)[0]}; known keys are bin, imkAc`);
    if (typeof bin !== 'string' || !/^[1-9]\d{5,7}$/.test(bin)) fail(`issuers[${index}].bin`, 'expected 6 to 8 digits, not starting with 0');
    if (typeof imkAc !== 'string' || !/^[0-9A-Fa-f]{32}$/.test(imkAc)) fail(`issuers[${index}].imkAc`, 'expected a double-length DES key as 32 hex characters');
    return { bin: bin as string, imkAc: Buffer.from(imkAc as string, 'hex') };
  });
  return {
    host: host as string,
    port,
    issuers,
    holdTimeoutSeconds: integer('holdTimeoutSeconds', DEFAULT_SETTINGS.holdTimeoutSeconds, 1, 2 ** 32 - 1),
    purchaseFeeMinor: minor('purchaseFeeMinor', DEFAULT_SETTINGS.purchaseFeeMinor),
    cashFeeMinor: minor('cashFeeMinor', DEFAULT_SETTINGS.cashFeeMinor),
    cashWithdrawalMaxMinor: minor('cashWithdrawalMaxMinor', DEFAULT_SETTINGS.cashWithdrawalMaxMinor),
    batchMessagesMax: integer('batchMessagesMax', DEFAULT_SETTINGS.batchMessagesMax, 1, 4096),
    queueMessagesMax: integer('queueMessagesMax', DEFAULT_SETTINGS.queueMessagesMax, 1, 1_000_000),
    connectionsMax: integer('connectionsMax', DEFAULT_SETTINGS.connectionsMax, 1, 65_536),
    inFlightPerConnectionMax: integer('inFlightPerConnectionMax', DEFAULT_SETTINGS.inFlightPerConnectionMax, 1, 65_536),
    idleTimeoutMs: integer('idleTimeoutMs', DEFAULT_SETTINGS.idleTimeoutMs, 1000, 24 * 3600 * 1000),
    approvalNotices: raw.approvalNotices === undefined ? true : raw.approvalNotices === true ? true : raw.approvalNotices === false ? false : fail('approvalNotices', 'expected true or false'),
  };
}
