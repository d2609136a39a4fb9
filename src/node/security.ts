/**
 * The node's security settings, read once at start: the tokens file, the TLS certificate and key, the
 * gateway's TLS files for NATS (gateway/tls.ts), and the rule that keeps an unprotected node on loopback.
 *
 * The rule: a listener bound to anything but a loopback address must be protected — HTTP and bus by tokens
 * and TLS together (a token sent in clear text over a network is as good as published), the TigerBeetle port,
 * whose protocol has no authentication, by an allow-list of client addresses — unless `--insecure` is
 * given, and then the node warns once per unprotected listener. On loopback, nothing is required; tokens
 * and TLS apply there too when configured.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { TlsOptions } from 'node:tls';
import { ConfigError } from '../errors.js';
import { loadTokensFile, type Authenticator } from './auth.js';
import type { NodeConfig } from './config.js';
import type { Logger } from './logger.js';
import { parseTigerBeetleAddress } from './listeners/tigerbeetle/address.js';
import { loadNatsTls, type NatsTls } from './gateway/tls.js';

export interface NodeSecurity {
  auth: Authenticator | undefined;
  tls: TlsOptions | undefined;
  /** The TigerBeetle allow-list, parsed from the comma-separated option; undefined: everyone. */
  tbAllowedAddresses: string[] | undefined;
  /** TLS to NATS for the gateway (required when set); undefined: plain NATS or no gateway. */
  natsTls: NatsTls | undefined;
}

/** `localhost`, 127.0.0.0/8 and ::1: addresses no other machine can reach. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || bare.startsWith('::ffff:127.');
  return false;
}

/** Reads the tokens, certificate and key, and applies the loopback rule. Throws `ConfigError`. */
export function resolveSecurity(config: NodeConfig, logger: Logger): NodeSecurity {
  const auth = config.authTokens === '' ? undefined : loadTokensFile(config.authTokens);
  const tls = config.tlsCert === '' ? undefined : { cert: readPem(config.tlsCert, 'tlsCert'), key: readPem(config.tlsKey, 'tlsKey') };
  const natsTls = loadNatsTls(config);
  const tbAllowedAddresses = config.tbAllowedAddresses.trim() === '' ? undefined : config.tbAllowedAddresses.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  const unprotected: string[] = [];
  const protectedByTokens = auth !== undefined && tls !== undefined;
  if (!isLoopback(config.httpHost) && !protectedByTokens) unprotected.push(`HTTP on ${config.httpHost}`);
  if (!isLoopback(config.busHost) && !protectedByTokens) unprotected.push(`bus on ${config.busHost}`);
  const tb = parseTigerBeetleAddress(config.tbAddress);
  if (tb !== undefined && !isLoopback(tb.host) && tbAllowedAddresses === undefined) unprotected.push(`TigerBeetle on ${tb.host}`);
  if (unprotected.length > 0 && !config.insecure) {
    throw new ConfigError(
      `refusing to listen beyond loopback without protection: ${unprotected.join(', ')}. Give --auth-tokens with --tls-cert and --tls-key ` +
        '(and --tb-allowed-addresses for the TigerBeetle port), bind to 127.0.0.1, or pass --insecure to accept the risk',
    );
  }
  for (const listener of unprotected) {
    logger.warn({ listener }, 'INSECURE: listening beyond loopback without authentication or encryption (--insecure); any host that can reach it can use it');
  }
  return { auth, tls, tbAllowedAddresses, natsTls };
}

function readPem(path: string, key: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError(`${key}: cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
}
