/**
 * The `--tb-address` value: where the TigerBeetle listener binds, or `off`. Kept apart from the listener
 * so that configuration parsing does not load the protocol.
 */
import { TigerBeetleError } from '../../errors.js';

/** The port TigerBeetle's own documentation uses; what `--tb-address 3000` spells out. */
export const TIGERBEETLE_CONVENTIONAL_PORT = 3000;

/**
 * Parses `off`, a port (bound on 127.0.0.1), or `host:port` (`[v6]:port` for IPv6).
 * Returns undefined for `off`; throws `TigerBeetleError` `TB_ADDRESS_INVALID` for anything else.
 */
export function parseTigerBeetleAddress(value: string): { host: string; port: number } | undefined {
  const invalid = () => new TigerBeetleError('TB_ADDRESS_INVALID', `TigerBeetle address ${JSON.stringify(value)} is not off, a port, or host:port (e.g. 127.0.0.1:${String(TIGERBEETLE_CONVENTIONAL_PORT)})`);
  if (typeof value !== 'string') throw invalid();
  if (value === 'off') return undefined;
  const match = /^(?:(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/.exec(value);
  if (match === null) throw invalid();
  const port = Number(match[2]);
  if (port > 65535) throw invalid();
  const host = match[1] === undefined ? '127.0.0.1' : match[1].replace(/^\[(.*)\]$/, '$1');
  return { host, port };
}
