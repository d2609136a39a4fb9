/**
 * `purser call SERVICE '{json}'`: one bus call against a running node over its TCP listener (the
 * `connect()` client), the reply data printed as JSON. A failed call prints the XATMI code on stderr
 * (`purser: … [TPENOENT]`) and exits 1; a TPESVCFAIL also prints the service's failure data on stdout,
 * which is the answer a script wants to read.
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../errors.js';
import { connect } from '../client/client.js';
import { XatmiError } from '../bus/errors.js';
import { DEFAULT_TIMEOUT_MS, TIMEOUT_MS_MAX } from '../bus/interfaces.js';
import { DEFAULT_BUS_PORT } from '../wire/bus-protocol.js';

const CONNECT_TIMEOUT_MS = 5_000;

export const callCommand = {
  summary: 'call a service on a running node and print the reply data as JSON',
  usage: "purser call <SERVICE> ['<json>'] [--address host:port] [--timeout-ms <ms>]",
  help: () =>
    [
      'The data is one JSON value (default null). Exit 0 with the reply data on stdout; on a failed call, exit 1',
      'with the XATMI code on stderr (TPENOENT, TPETIME, TPESVCFAIL, …); for TPESVCFAIL the failure data goes to stdout.',
      'Options:',
      `  --address <host:port>  the node's bus listener (default: PURSER_BUS_ADDRESS, else PURSER_BUS_HOST:PURSER_BUS_PORT, else 127.0.0.1:${DEFAULT_BUS_PORT})`,
      `  --timeout-ms <ms>      the call's deadline (default ${DEFAULT_TIMEOUT_MS})`,
    ].join('\n'),
  run: runCall,
};

async function runCall(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { address: { type: 'string' }, 'timeout-ms': { type: 'string' } }, allowPositionals: true, strict: true });
  } catch (error) {
    throw new ConfigError(`purser call: ${(error as Error).message.split('. ')[0]}`);
  }
  const [service, json, ...extra] = parsed.positionals;
  if (service === undefined) throw new ConfigError("purser call needs a service name; see 'purser call --help'");
  if (extra.length > 0) throw new ConfigError(`purser call takes one JSON argument; quote it ('{"a":1}'), got also '${extra[0]}'`);
  let data: unknown = null;
  if (json !== undefined) {
    try {
      data = JSON.parse(json);
    } catch (error) {
      throw new ConfigError(`purser call: the data is not valid JSON: ${(error as Error).message}`);
    }
  }
  const rawTimeout = parsed.values['timeout-ms'];
  const timeoutMs = rawTimeout === undefined ? DEFAULT_TIMEOUT_MS : Number(rawTimeout);
  if (!/^\d+$/.test(rawTimeout ?? '1') || timeoutMs < 1 || timeoutMs > TIMEOUT_MS_MAX) throw new ConfigError(`--timeout-ms: expected whole milliseconds from 1 to ${TIMEOUT_MS_MAX}, got ${rawTimeout}`);
  const address = parsed.values.address ?? env.PURSER_BUS_ADDRESS ?? `${env.PURSER_BUS_HOST ?? '127.0.0.1'}:${env.PURSER_BUS_PORT ?? DEFAULT_BUS_PORT}`;

  // A node that requires a token gets PURSER_TOKEN; PURSER_BUS_TLS=true speaks TLS (trusting NODE_EXTRA_CA_CERTS too).
  const client = await connect(address, { connectTimeoutMs: CONNECT_TIMEOUT_MS, token: env.PURSER_TOKEN || undefined, tls: env.PURSER_BUS_TLS === 'true' });
  try {
    const reply = await client.call(service, data, { timeoutMs });
    process.stdout.write(`${toJson(reply.data)}\n`);
    if (reply.urcode !== 0) process.stderr.write(`purser: urcode ${reply.urcode}\n`);
    return 0;
  } catch (error) {
    if (error instanceof XatmiError && error.code === 'TPESVCFAIL') process.stdout.write(`${toJson(error.data)}\n`);
    throw error; // main() prints it with its code and exits 1
  } finally {
    await client.close();
  }
}

/** JSON with bigints as decimal strings (a reply may hold them; JSON.stringify alone throws on a bigint). */
function toJson(value: unknown): string {
  return JSON.stringify(value ?? null, (_key, item: unknown) => (typeof item === 'bigint' ? item.toString() : item));
}
