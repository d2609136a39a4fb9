/**
 * Who may use a node: bearer tokens with a role, checked by the HTTP and bus listeners.
 *
 *   admin     everything: every service, the ledger, `/v1/admin/*` (checkpoint, pq, psr, psc), `/metrics`
 *   call      the services in its `services` list (`"*"` for all), and the ledger if `ledger` is true
 *   monitor   `/metrics` only
 *
 * Tokens come from a JSON file (`--auth-tokens <path>`): `[{ "name": "cards", "token": "…", "role": "call",
 * "services": ["AUTHORIZE"], "ledger": true }]`. `name` is what logs show; a token is never logged. A token
 * is compared with every known token in constant time (SHA-256 digests compared with `timingSafeEqual`,
 * and no early exit), so the time a refusal takes says nothing about how close a guess was.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';

export type Role = 'admin' | 'call' | 'monitor';
const ROLES: readonly Role[] = ['admin', 'call', 'monitor'];

/** An authenticated caller. */
export interface Principal {
  readonly name: string;
  readonly role: Role;
  /** Services a `call` token may call; undefined means all of them. */
  readonly services: ReadonlySet<string> | undefined;
  /** Whether ledger requests are allowed. */
  readonly ledger: boolean;
}

/** Tokens shorter than this are refused when the file is read: they can be guessed. */
export const TOKEN_CHARS_MIN = 16;
export const TOKENS_MAX = 1000;

interface Entry {
  digest: Buffer;
  principal: Principal;
}

export class Authenticator {
  private readonly entries: Entry[];
  /** Digest comparisons made so far: every `authenticate` makes one per known token, whatever the outcome. */
  comparisons = 0;

  constructor(tokens: ReadonlyArray<{ name: string; token: string; role: Role; services?: readonly string[]; ledger?: boolean }>) {
    this.entries = tokens.map((t) => ({
      digest: digest(t.token),
      principal: {
        name: t.name,
        role: t.role,
        services: t.role !== 'call' || t.services === undefined || t.services.includes('*') ? undefined : new Set(t.services),
        ledger: t.role === 'admin' || t.ledger === true,
      },
    }));
  }

  get size(): number {
    return this.entries.length;
  }

  /** The principal whose token this is, or undefined. Takes the same time whichever token matches, if any. */
  authenticate(token: string): Principal | undefined {
    const presented = digest(token);
    let found: Principal | undefined;
    for (const entry of this.entries) {
      // No early exit: every entry is compared, so timing does not tell which one matched.
      this.comparisons += 1;
      if (timingSafeEqual(presented, entry.digest) && found === undefined) found = entry.principal;
    }
    return found;
  }

  /** The token of an `Authorization: Bearer …` header, or undefined. */
  static bearer(header: string | undefined): string | undefined {
    if (header === undefined) return undefined;
    const match = /^Bearer +(\S+) *$/i.exec(header);
    return match === null ? undefined : match[1];
  }
}

export function mayCall(principal: Principal, service: string): boolean {
  if (principal.role === 'admin') return true;
  if (principal.role !== 'call') return false;
  return principal.services === undefined || principal.services.has(service);
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** Reads and checks a tokens file. Throws `ConfigError` naming the file and the entry at fault (never the token). */
export function loadTokensFile(path: string): Authenticator {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError(`auth tokens file ${path}: ${(error as Error).message}`, { cause: error });
  }
  const fail = (message: string): never => {
    throw new ConfigError(`auth tokens file ${path}: ${message}`);
  };
  if (!Array.isArray(parsed) || parsed.length === 0 || parsed.length > TOKENS_MAX) fail(`expected a JSON array of 1 to ${TOKENS_MAX} tokens`);
  const seen = new Set<string>();
  const tokens = (parsed as unknown[]).map((raw, index) => {
    const at = `entry ${index}`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail(`${at} is not an object`);
    const { name, token, role, services, ledger, ...extra } = raw as Record<string, unknown>;
    if (Object.keys(extra).length > 0) fail(`${at} has an unknown key ${Object.keys(extra)[0]}`);
    if (typeof name !== 'string' || name.length === 0) fail(`${at}: name must be a non-empty string`);
    if (typeof token !== 'string' || token.length < TOKEN_CHARS_MIN || /\s/.test(token)) fail(`${at} (${String(name)}): token must be at least ${TOKEN_CHARS_MIN} characters without spaces`);
    if (!ROLES.includes(role as Role)) fail(`${at} (${String(name)}): role must be one of ${ROLES.join(', ')}`);
    if (services !== undefined && (!Array.isArray(services) || services.some((s) => typeof s !== 'string'))) fail(`${at} (${String(name)}): services must be an array of service names`);
    if (ledger !== undefined && typeof ledger !== 'boolean') fail(`${at} (${String(name)}): ledger must be true or false`);
    if (seen.has(token as string)) fail(`${at} (${String(name)}): the same token appears twice`);
    seen.add(token as string);
    return { name: name as string, token: token as string, role: role as Role, services: services as string[] | undefined, ledger: ledger as boolean | undefined };
  });
  return new Authenticator(tokens);
}
