/**
 * Node configuration, in one place.
 *
 * Every option is one row of `OPTIONS`: its flag, its `PURSER_*` environment variable, its type, its
 * default and its help text. `defaultConfig()` is the single source of defaults; `resolveConfig()` layers
 * environment variables and then command-line flags over it (flags win) and validates the result, so a
 * bad value is reported once, with the name the user typed, before anything starts.
 *
 * Parts that come later add their rows here.
 */
import { CLOCK_TOLERANCE_MS_DEFAULT } from '../ledger/clock.js';
import { parseArgs } from 'node:util';
import { DEFAULT_BUS_PORT } from '../wire/bus-protocol.js';
import { ConfigError } from '../errors.js';
import { parseTigerBeetleAddress } from './listeners/tigerbeetle/address.js';
import { DEFAULT_MEMORY_BUDGET_BYTES } from './listeners/limits.js';
import { NODE_NAME_PATTERN } from './gateway/protocol.js';

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
  /** Bytes the bus and TigerBeetle listeners may hold (read, not yet answered) over all connections. */
  memoryBudgetBytes: number;
  /** Time a new bus connection has to say HELLO, and an HTTP client to send its headers. */
  handshakeTimeoutMs: number;
  /** Time to finish a frame or message once its first byte arrived (bus, TigerBeetle), or a whole HTTP request. */
  frameTimeoutMs: number;
  busConnectionsMax: number;
  busConnectionsPerAddressMax: number;
  /** A bus connection with no frame for this long is closed (connect() clients ping every third of it). */
  busIdleTimeoutMs: number;
  tbConnectionsMax: number;
  tbConnectionsPerAddressMax: number;
  /** A TigerBeetle connection with no message for this long is closed (official clients ping every 30 s). */
  tbIdleTimeoutMs: number;
  /** Comma-separated addresses or CIDR subnets allowed on the TigerBeetle port; empty: all. */
  tbAllowedAddresses: string;
  httpConnectionsMax: number;
  httpConnectionsPerAddressMax: number;
  /** A JSON file of bearer tokens with roles (see auth.ts); empty: no authentication. */
  authTokens: string;
  /** PEM certificate and key files: the HTTP and bus listeners speak TLS with them; empty: plain TCP. */
  tlsCert: string;
  tlsKey: string;
  /** Listen on a non-loopback address without authentication and TLS (warned at start). */
  insecure: boolean;
  /** NATS server URLs, comma-separated (nats://[user:pass@]host:port); empty: no gateway to other nodes. */
  nats: string;
  /** This node's name among the nodes (letters, digits, _ and -); empty: the host name and the bus port. */
  nodeName: string;
  /** A NATS authentication token; empty: none (or user:pass in the URL). */
  natsToken: string;
  /**
   * TLS to NATS: a PEM file of the CA certificates the NATS server's certificate is verified against (empty: the
   * system's CAs), and this node's client certificate and key for servers that require one (both or neither).
   * Any of them, or a `tls://` URL in `nats`, makes TLS required (verified; never a fallback to plain text).
   */
  natsTlsCa: string;
  natsTlsCert: string;
  natsTlsKey: string;
  /** Services the gateway exports: `*` for all the node hosts, or a comma-separated list; empty: none. */
  gatewayExports: string;
  /** How often the gateway sends its heartbeat; a node silent for three of them is gone. */
  gatewayHeartbeatMs: number;
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
    // The listeners' limits (each listener's module explains its defaults; these restate them).
    memoryBudgetBytes: DEFAULT_MEMORY_BUDGET_BYTES,
    handshakeTimeoutMs: 10 * 1000, // 10 seconds
    frameTimeoutMs: 30 * 1000, // 30 seconds
    busConnectionsMax: 4096,
    busConnectionsPerAddressMax: 1024,
    busIdleTimeoutMs: 60 * 1000, // 1 minute
    tbConnectionsMax: 256,
    tbConnectionsPerAddressMax: 64,
    tbIdleTimeoutMs: 90 * 1000, // three pings of an official client
    tbAllowedAddresses: '',
    httpConnectionsMax: 1024,
    httpConnectionsPerAddressMax: 256,
    authTokens: '',
    tlsCert: '',
    tlsKey: '',
    insecure: false,
    nats: '',
    nodeName: '',
    natsToken: '',
    natsTlsCa: '',
    natsTlsCert: '',
    natsTlsKey: '',
    gatewayExports: '*',
    gatewayHeartbeatMs: 1000,
  };
}

/** `count`: a positive integer (connections, bytes); `text`: a string that may be empty (a path, a list). */
type Kind = 'string' | 'text' | 'count' | 'boolean' | 'port' | 'duration_ms' | 'log_level' | 'tristate';

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
  { key: 'authTokens', flag: 'auth-tokens', env: 'PURSER_AUTH_TOKENS', kind: 'text', valueName: 'path', help: 'JSON file of bearer tokens with roles (admin, call, monitor); HTTP and bus clients must present one' },
  { key: 'tlsCert', flag: 'tls-cert', env: 'PURSER_TLS_CERT', kind: 'text', valueName: 'path', help: 'PEM certificate (chain) for TLS on the HTTP and bus listeners; with --tls-key' },
  { key: 'tlsKey', flag: 'tls-key', env: 'PURSER_TLS_KEY', kind: 'text', valueName: 'path', help: 'PEM private key for --tls-cert' },
  { key: 'insecure', flag: 'insecure', env: 'PURSER_INSECURE', kind: 'boolean', help: 'allow non-loopback listeners without tokens and TLS (or, for TigerBeetle, an allow-list)' },
  { key: 'nats', flag: 'nats', env: 'PURSER_NATS', kind: 'text', valueName: 'urls', help: 'NATS servers for the gateway to other nodes, comma-separated (nats://host:4222); empty: no gateway' },
  { key: 'nodeName', flag: 'node-name', env: 'PURSER_NODE_NAME', kind: 'text', valueName: 'name', help: 'this node\'s name among the nodes (default: host name and bus port)' },
  { key: 'natsToken', flag: 'nats-token', env: 'PURSER_NATS_TOKEN', kind: 'text', valueName: 'token', help: 'NATS authentication token (or user:pass@ in the URL)' },
  { key: 'natsTlsCa', flag: 'nats-tls-ca', env: 'PURSER_NATS_TLS_CA', kind: 'text', valueName: 'path', help: 'PEM CA certificate(s) the NATS server\'s certificate is verified against (default: the system\'s); makes TLS to NATS required' },
  { key: 'natsTlsCert', flag: 'nats-tls-cert', env: 'PURSER_NATS_TLS_CERT', kind: 'text', valueName: 'path', help: 'PEM client certificate for NATS servers that verify clients (mutual TLS); with --nats-tls-key' },
  { key: 'natsTlsKey', flag: 'nats-tls-key', env: 'PURSER_NATS_TLS_KEY', kind: 'text', valueName: 'path', help: 'PEM private key for --nats-tls-cert' },
  { key: 'gatewayExports', flag: 'gateway-exports', env: 'PURSER_GATEWAY_EXPORTS', kind: 'text', valueName: '*|list', help: 'services exported to other nodes: * (all hosted), a comma-separated list, or empty (none)' },
  { key: 'gatewayHeartbeatMs', flag: 'gateway-heartbeat-ms', env: 'PURSER_GATEWAY_HEARTBEAT_MS', kind: 'duration_ms', valueName: 'ms', help: 'gateway heartbeat interval; a node silent for 3 of them is gone and its calls fail TPESVCERR' },
  { key: 'tbAllowedAddresses', flag: 'tb-allowed-addresses', env: 'PURSER_TB_ALLOWED_ADDRESSES', kind: 'text', valueName: 'list', help: 'comma-separated client addresses or CIDR subnets allowed on the TigerBeetle port; empty: all' },
  { key: 'memoryBudgetBytes', flag: 'memory-budget-bytes', env: 'PURSER_MEMORY_BUDGET_BYTES', kind: 'count', valueName: 'bytes', help: 'bytes the bus and TigerBeetle listeners may hold unanswered over all connections; beyond it they stop reading' },
  { key: 'handshakeTimeoutMs', flag: 'handshake-timeout-ms', env: 'PURSER_HANDSHAKE_TIMEOUT_MS', kind: 'duration_ms', valueName: 'ms', help: 'time for a bus client to say HELLO and an HTTP client to send its headers' },
  { key: 'frameTimeoutMs', flag: 'frame-timeout-ms', env: 'PURSER_FRAME_TIMEOUT_MS', kind: 'duration_ms', valueName: 'ms', help: 'time to finish a bus frame, a TigerBeetle message or an HTTP request once started' },
  { key: 'busConnectionsMax', flag: 'bus-connections-max', env: 'PURSER_BUS_CONNECTIONS_MAX', kind: 'count', valueName: 'n', help: 'bus connections at once' },
  { key: 'busConnectionsPerAddressMax', flag: 'bus-connections-per-address-max', env: 'PURSER_BUS_CONNECTIONS_PER_ADDRESS_MAX', kind: 'count', valueName: 'n', help: 'bus connections from one client address' },
  { key: 'busIdleTimeoutMs', flag: 'bus-idle-timeout-ms', env: 'PURSER_BUS_IDLE_TIMEOUT_MS', kind: 'duration_ms', valueName: 'ms', help: 'bus connections silent this long are closed (connect() pings every third of it)' },
  { key: 'tbConnectionsMax', flag: 'tb-connections-max', env: 'PURSER_TB_CONNECTIONS_MAX', kind: 'count', valueName: 'n', help: 'TigerBeetle connections at once' },
  { key: 'tbConnectionsPerAddressMax', flag: 'tb-connections-per-address-max', env: 'PURSER_TB_CONNECTIONS_PER_ADDRESS_MAX', kind: 'count', valueName: 'n', help: 'TigerBeetle connections from one client address' },
  { key: 'tbIdleTimeoutMs', flag: 'tb-idle-timeout-ms', env: 'PURSER_TB_IDLE_TIMEOUT_MS', kind: 'duration_ms', valueName: 'ms', help: 'TigerBeetle connections silent this long are closed (official clients ping every 30 s)' },
  { key: 'httpConnectionsMax', flag: 'http-connections-max', env: 'PURSER_HTTP_CONNECTIONS_MAX', kind: 'count', valueName: 'n', help: 'HTTP connections at once' },
  { key: 'httpConnectionsPerAddressMax', flag: 'http-connections-per-address-max', env: 'PURSER_HTTP_CONNECTIONS_PER_ADDRESS_MAX', kind: 'count', valueName: 'n', help: 'HTTP connections from one client address' },
];

function parseValue(spec: OptionSpec, raw: string | boolean, source: string): NodeConfig[keyof NodeConfig] {
  const bad = (why: string) => new ConfigError(`${source}: ${JSON.stringify(raw)} is not valid: ${why}`);
  switch (spec.kind) {
    case 'string': {
      if (typeof raw !== 'string' || raw.length === 0) throw bad('expected a non-empty string');
      return raw;
    }
    case 'text': {
      if (typeof raw !== 'string') throw bad('expected a string');
      return raw;
    }
    case 'count': {
      if (typeof raw !== 'string' || !/^\d{1,12}$/.test(raw) || Number(raw) < 1) throw bad('expected a whole number, at least 1');
      return Number(raw);
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

const COUNT_KEYS = ['memoryBudgetBytes', 'busConnectionsMax', 'busConnectionsPerAddressMax', 'tbConnectionsMax', 'tbConnectionsPerAddressMax', 'httpConnectionsMax', 'httpConnectionsPerAddressMax'] as const;

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
  for (const key of COUNT_KEYS) {
    if (!Number.isSafeInteger(config[key]) || config[key] < 1) fail(`${key} must be a whole number, at least 1`);
  }
  for (const key of ['handshakeTimeoutMs', 'frameTimeoutMs', 'busIdleTimeoutMs', 'tbIdleTimeoutMs'] as const) {
    if (!Number.isInteger(config[key]) || config[key] < 1 || config[key] > 999_999_999) fail(`${key} must be whole milliseconds from 1 to 999,999,999`);
  }
  for (const key of ['authTokens', 'tlsCert', 'tlsKey', 'tbAllowedAddresses'] as const) {
    if (typeof config[key] !== 'string') fail(`${key} must be a string`);
  }
  if ((config.tlsCert === '') !== (config.tlsKey === '')) fail('tlsCert and tlsKey go together: give both or neither');
  if (typeof config.insecure !== 'boolean') fail('insecure must be true or false');
  for (const key of ['nats', 'nodeName', 'natsToken', 'natsTlsCa', 'natsTlsCert', 'natsTlsKey', 'gatewayExports'] as const) {
    if (typeof config[key] !== 'string') fail(`${key} must be a string`);
  }
  if ((config.natsTlsCert === '') !== (config.natsTlsKey === '')) fail('natsTlsCert (--nats-tls-cert) and natsTlsKey (--nats-tls-key) go together: give both or neither');
  if (natsServers(config.nats).length === 0) {
    // TLS settings for a gateway that is not there are a mistake (a forgotten --nats), not something to ignore.
    for (const key of ['natsTlsCa', 'natsTlsCert'] as const) if (config[key] !== '') fail(`${key} is set but nats is empty: TLS to NATS needs NATS servers (--nats)`);
  }
  for (const url of natsServers(config.nats)) {
    if (!/^(nats|tls):\/\/([^\s/@]+@)?[^\s/@:]+(:\d{1,5})?$/.test(url)) fail(`nats: ${JSON.stringify(url.slice(0, 80))} is not a NATS URL (nats://host:4222)`);
  }
  if (config.nodeName !== '' && !NODE_NAME_PATTERN.test(config.nodeName)) fail(`nodeName must be 1 to 64 letters, digits, _ or -, got ${JSON.stringify(config.nodeName.slice(0, 80))}`);
  if (!Number.isInteger(config.gatewayHeartbeatMs) || config.gatewayHeartbeatMs < 10 || config.gatewayHeartbeatMs > 60_000) fail('gatewayHeartbeatMs must be whole milliseconds from 10 to 60,000');
  return config;
}

/** The NATS server URLs of `--nats` (comma-separated; empty: none). */
export function natsServers(nats: string): string[] {
  return nats.split(',').map((url) => url.trim()).filter((url) => url.length > 0);
}

/** The option section of `purser start --help`, generated from `OPTIONS` so it cannot drift. */
export function optionsHelp(): string {
  const defaults = defaultConfig();
  const rows = OPTIONS.map((spec) => {
    const left = `--${spec.flag}${spec.valueName ? ` <${spec.valueName}>` : ''}`;
    const fallback = defaults[spec.key];
    return { left, right: `${spec.help} (default ${fallback === '' ? 'none' : String(fallback)}; env ${spec.env})` };
  });
  const width = Math.max(...rows.map((row) => row.left.length)) + 2;
  return rows.map((row) => `  ${row.left.padEnd(width)}${row.right}`).join('\n');
}
