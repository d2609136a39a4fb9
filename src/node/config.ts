/**
 * Node configuration, in one place.
 *
 * Every option is one row of `OPTIONS`: its flag, its `PURSER_*` environment variable, its type, its
 * default and its help text. `defaultConfig()` is the single source of defaults; `resolveConfig()` layers
 * environment variables and then command-line flags over it (flags win) and validates the result, so a
 * bad value is reported once, with the name the user typed, before anything starts.
 *
 * Parts that come later (the bus listener, the TigerBeetle listener) add their rows here.
 */
import { CLOCK_TOLERANCE_MS_DEFAULT } from '../ledger/clock.js';
import { parseArgs } from 'node:util';
import { DEFAULT_BUS_PORT } from '../wire/bus-protocol.js';
import { ConfigError } from '../errors.js';
import { parseTigerBeetleAddress } from './listeners/tigerbeetle/address.js';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface NodeConfig {
  /** Data directory of the embedded store. Ignored when `memory` is set. */
  dir: string;
  /** Keep everything in memory: nothing is written to disk and nothing survives a restart. */
  memory: boolean;
  /** Address the HTTP listener (health, metrics, JSON API) binds to. Loopback unless told otherwise. */
  httpHost: string;
  /** Port of the HTTP listener; 0 picks a free port (tests use this). */
  httpPort: number;
  /** Address the bus's TCP listener (the `connect()` client's protocol) binds to. Loopback unless told otherwise. */
  busHost: string;
  /**
   * Port of the bus's TCP listener; 0 picks a free port. When `httpPort` is 0 and this is not given, it is 0
   * too, so that test and embedded nodes (which ask for any HTTP port) never contend for 7700.
   */
  busPort: number;
  /**
   * Where the TigerBeetle client-protocol listener binds (`host:port`, or a port on 127.0.0.1), or `off`.
   * Off by default so that several nodes (tests, benchmarks) never contend for TigerBeetle's port 3000.
   */
  tbAddress: string;
  logLevel: LogLevel;
  /** Force human-readable logs (`true`), JSON lines (`false`), or decide by whether stdout is a terminal. */
  logPretty: boolean | 'auto';
  /** How long a graceful shutdown may take before the node gives up waiting and exits. */
  shutdownTimeoutMs: number;
  /** How far the wall clock may disagree with monotonic time and still be believed by the ledger. */
  ledgerClockToleranceMs: number;
}

export const DEFAULT_HTTP_PORT = 7780;
export { DEFAULT_BUS_PORT };
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10 * 1000; // 10 seconds

export function defaultConfig(): NodeConfig {
  return {
    dir: './purser-data',
    memory: false,
    httpHost: '127.0.0.1',
    httpPort: DEFAULT_HTTP_PORT,
    busHost: '127.0.0.1',
    busPort: DEFAULT_BUS_PORT,
    tbAddress: 'off',
    logLevel: 'info',
    logPretty: 'auto',
    shutdownTimeoutMs: DEFAULT_SHUTDOWN_TIMEOUT_MS,
    ledgerClockToleranceMs: CLOCK_TOLERANCE_MS_DEFAULT,
  };
}

type Kind = 'string' | 'boolean' | 'port' | 'duration_ms' | 'log_level' | 'tristate';

interface OptionSpec {
  key: keyof NodeConfig;
  flag: string;
  env: string;
  kind: Kind;
  valueName?: string;
  help: string;
}

/** The table behind `purser start --help`, flag parsing and `PURSER_*` variables. Keep it in help order. */
export const OPTIONS: readonly OptionSpec[] = [
  { key: 'dir', flag: 'dir', env: 'PURSER_DIR', kind: 'string', valueName: 'path', help: 'data directory of the embedded store' },
  { key: 'memory', flag: 'memory', env: 'PURSER_MEMORY', kind: 'boolean', help: 'keep all data in memory; nothing is written to disk' },
  { key: 'httpHost', flag: 'http-host', env: 'PURSER_HTTP_HOST', kind: 'string', valueName: 'host', help: 'address of the HTTP listener (/health, /metrics)' },
  { key: 'httpPort', flag: 'http-port', env: 'PURSER_HTTP_PORT', kind: 'port', valueName: 'port', help: 'port of the HTTP listener; 0 picks a free one' },
  { key: 'busHost', flag: 'bus-host', env: 'PURSER_BUS_HOST', kind: 'string', valueName: 'host', help: 'address of the bus TCP listener (connect() clients)' },
  { key: 'busPort', flag: 'bus-port', env: 'PURSER_BUS_PORT', kind: 'port', valueName: 'port', help: 'port of the bus TCP listener; 0 picks a free one (also when --http-port is 0 and this is not given)' },
  { key: 'tbAddress', flag: 'tb-address', env: 'PURSER_TB_ADDRESS', kind: 'string', valueName: 'host:port|port|off', help: 'TigerBeetle client protocol listener (tigerbeetle-node connects here), e.g. 127.0.0.1:3000' },
  { key: 'logLevel', flag: 'log-level', env: 'PURSER_LOG_LEVEL', kind: 'log_level', valueName: 'level', help: `one of ${LOG_LEVELS.join(', ')}` },
  { key: 'logPretty', flag: 'log-pretty', env: 'PURSER_LOG_PRETTY', kind: 'tristate', valueName: 'auto|true|false', help: 'human-readable logs; auto = when stdout is a terminal' },
  { key: 'ledgerClockToleranceMs', flag: 'ledger-clock-tolerance-ms', env: 'PURSER_LEDGER_CLOCK_TOLERANCE_MS', kind: 'duration_ms', valueName: 'ms', help: 'wall-clock steps beyond this (against monotonic time) are not believed by the ledger' },
  { key: 'shutdownTimeoutMs', flag: 'shutdown-timeout-ms', env: 'PURSER_SHUTDOWN_TIMEOUT_MS', kind: 'duration_ms', valueName: 'ms', help: 'longest graceful shutdown before forcing exit' },
];

function parseValue(spec: OptionSpec, raw: string | boolean, source: string): NodeConfig[keyof NodeConfig] {
  const bad = (why: string) => new ConfigError(`${source}: ${JSON.stringify(raw)} is not valid: ${why}`);
  switch (spec.kind) {
    case 'string': {
      if (typeof raw !== 'string' || raw.length === 0) throw bad('expected a non-empty string');
      return raw;
    }
    case 'boolean': {
      if (typeof raw === 'boolean') return raw;
      if (raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0' || raw === '') return false;
      throw bad('expected true or false');
    }
    case 'tristate': {
      if (raw === 'auto') return 'auto';
      if (raw === 'true' || raw === '1' || raw === true) return true;
      if (raw === 'false' || raw === '0') return false;
      throw bad('expected auto, true or false');
    }
    case 'port': {
      if (typeof raw !== 'string' || !/^\d{1,5}$/.test(raw) || Number(raw) > 65535) throw bad('expected a port number 0..65535');
      return Number(raw);
    }
    case 'duration_ms': {
      if (typeof raw !== 'string' || !/^\d{1,9}$/.test(raw)) throw bad('expected whole milliseconds, 0..999999999');
      return Number(raw);
    }
    case 'log_level': {
      if (!LOG_LEVELS.includes(raw as LogLevel)) throw bad(`expected one of ${LOG_LEVELS.join(', ')}`);
      return raw;
    }
  }
}

/**
 * Builds a validated configuration from defaults, then `fromFile` (a config file's options, see
 * config-file.ts), then `env`, then `argv` (flags after the command name).
 * Throws `ConfigError` on an unknown flag, a stray argument or a malformed value.
 */
export function resolveConfig(argv: readonly string[], env: NodeJS.ProcessEnv = {}, fromFile: Partial<NodeConfig> = {}): NodeConfig {
  const config = { ...defaultConfig(), ...fromFile };
  const assign = (spec: OptionSpec, value: NodeConfig[keyof NodeConfig]) => {
    (config as unknown as Record<string, unknown>)[spec.key] = value;
  };
  for (const spec of OPTIONS) {
    const raw = env[spec.env];
    if (raw !== undefined) assign(spec, parseValue(spec, raw, `environment variable ${spec.env}`));
  }
  const parseOptions: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const spec of OPTIONS) parseOptions[spec.flag] = { type: spec.kind === 'boolean' ? 'boolean' : 'string' };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options: parseOptions, strict: true, allowPositionals: false });
  } catch (error) {
    // parseArgs says what was wrong ("Unknown option '--bogus'"); keep its first sentence.
    const message = error instanceof Error ? error.message.split('. ')[0] : String(error);
    throw new ConfigError(`${message}; see 'purser start --help'`, { cause: error });
  }
  for (const spec of OPTIONS) {
    const raw = parsed.values[spec.flag];
    if (raw !== undefined && typeof raw !== 'object') assign(spec, parseValue(spec, raw, `--${spec.flag}`));
  }
  const busPortGiven = fromFile.busPort !== undefined || env.PURSER_BUS_PORT !== undefined || parsed.values['bus-port'] !== undefined;
  if (config.httpPort === 0 && !busPortGiven) config.busPort = 0; // see NodeConfig.busPort
  return validateConfig(config);
}

/** Checks a whole configuration, including one given to `startNode` by a program. Returns it unchanged. */
export function validateConfig(config: NodeConfig): NodeConfig {
  const fail = (message: string) => {
    throw new ConfigError(message);
  };
  if (typeof config.dir !== 'string' || config.dir.length === 0) fail('dir must be a non-empty path');
  if (typeof config.memory !== 'boolean') fail('memory must be true or false');
  if (typeof config.httpHost !== 'string' || config.httpHost.length === 0) fail('httpHost must be a host name or address');
  if (!Number.isInteger(config.httpPort) || config.httpPort < 0 || config.httpPort > 65535) fail(`httpPort must be an integer 0..65535, got ${String(config.httpPort)}`);
  if (typeof config.busHost !== 'string' || config.busHost.length === 0) fail('busHost must be a host name or address');
  if (!Number.isInteger(config.busPort) || config.busPort < 0 || config.busPort > 65535) fail(`busPort must be an integer 0..65535, got ${String(config.busPort)}`);
  try {
    parseTigerBeetleAddress(config.tbAddress);
  } catch (error) {
    fail(`tbAddress: ${(error as Error).message}`);
  }
  if (!LOG_LEVELS.includes(config.logLevel)) fail(`logLevel must be one of ${LOG_LEVELS.join(', ')}`);
  if (config.logPretty !== 'auto' && typeof config.logPretty !== 'boolean') fail('logPretty must be auto, true or false');
  if (!Number.isInteger(config.shutdownTimeoutMs) || config.shutdownTimeoutMs < 0) fail('shutdownTimeoutMs must be a non-negative integer');
  if (!Number.isInteger(config.ledgerClockToleranceMs) || config.ledgerClockToleranceMs < 0 || config.ledgerClockToleranceMs > 86_400_000) {
    fail('ledgerClockToleranceMs must be an integer from 0 to 86,400,000');
  }
  return config;
}

/** The option section of `purser start --help`, generated from `OPTIONS` so it cannot drift. */
export function optionsHelp(): string {
  const defaults = defaultConfig();
  const rows = OPTIONS.map((spec) => {
    const left = `--${spec.flag}${spec.valueName ? ` <${spec.valueName}>` : ''}`;
    const fallback = defaults[spec.key];
    return { left, right: `${spec.help} (default ${String(fallback)}; env ${spec.env})` };
  });
  const width = Math.max(...rows.map((row) => row.left.length)) + 2;
  return rows.map((row) => `  ${row.left.padEnd(width)}${row.right}`).join('\n');
}
