/**
 * `purser cards load`: the load test of the card switch against a running node (`npm start` in another
 * terminal). Issues the cards through CARDS.ISSUE, drives the ISO 8583 listener (load.ts), prints the
 * figures and checks the books (books.ts). Exit 0 when the books check passes, 1 when it fails, 2 for bad
 * arguments.
 */
import { parseArgs } from 'node:util';
import { connect, ConfigError, XatmiError } from 'purser';
import { checkBooks } from './books.js';
import { CARDS_COMMAND_HELP } from './cli-help.js';
import { issueCards, percentile, runLoad, type LoadOptions } from './load.js';

export const cardsCommand = { ...CARDS_COMMAND_HELP, run: runCards };

const TEST_IMK = '0123456789ABCDEFFEDCBA9876543210';

function integer(value: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) throw new ConfigError(`--${name}: expected a whole number from ${min} to ${max}, got ${value}`);
  return Number(value);
}

function hostPort(value: string, name: string): { host: string; port: number } {
  const match = /^(.*):(\d{1,5})$/.exec(value);
  if (match === null || Number(match[2]) > 65535) throw new ConfigError(`--${name}: expected host:port, got ${value}`);
  return { host: match[1] || '127.0.0.1', port: Number(match[2]) };
}

async function runCards(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [verb, ...rest] = args;
  if (verb !== 'load') throw new ConfigError(`purser cards: unknown verb ${verb ?? '(none)'}; try 'purser cards load --help'`);
  let parsed;
  try {
    parsed = parseArgs({
      args: rest, strict: true, allowPositionals: false,
      options: Object.fromEntries(['tps', 'duration', 'cards', 'merchants', 'hot-merchants', 'connections', 'address', 'bus-address', 'statements', 'seed', 'bin', 'imk'].map((name) => [name, { type: 'string' as const }])),
    });
  } catch (error) {
    throw new ConfigError(`purser cards load: ${(error as Error).message.split('. ')[0]}`);
  }
  const values = parsed.values as Record<string, string | undefined>;
  const iso = hostPort(values.address ?? `127.0.0.1:${env.PURSER_CARDS_PORT || 8583}`, 'address');
  const busAddress = values['bus-address'] ?? env.PURSER_BUS_ADDRESS ?? '127.0.0.1:7700';
  const bin = values.bin ?? '999999';
  if (!/^[1-9]\d{5,7}$/.test(bin)) throw new ConfigError('--bin: expected 6 to 8 digits');
  const imk = values.imk ?? TEST_IMK;
  if (!/^[0-9A-Fa-f]{32}$/.test(imk)) throw new ConfigError('--imk: expected 32 hex characters');
  const statements = integer(values.statements, 'statements', 100, 0, 1_000_000);
  const log = (line: string) => process.stderr.write(`${line}\n`);

  const settings = {
    tps: integer(values.tps, 'tps', 1000, 1, 1_000_000),
    durationSeconds: integer(values.duration, 'duration', 10, 1, 86_400),
    cards: integer(values.cards, 'cards', 1000, 1, 10_000_000),
    merchants: integer(values.merchants, 'merchants', 100, 1, 1_000_000),
    hotMerchants: integer(values['hot-merchants'], 'hot-merchants', 5, 0, 1_000_000),
    connections: integer(values.connections, 'connections', 8, 1, 1024),
    seed: integer(values.seed, 'seed', 1, 0, 2 ** 32 - 1),
  };
  const bus = await connect(busAddress, { connectTimeoutMs: 5000 });
  try {
    const options: LoadOptions = {
      ...settings,
      host: iso.host, port: iso.port, imk: Buffer.from(imk, 'hex'), bin, currency: 978, creditLimitMinor: 10_000_000n,
      progress: log,
      issue: async (card) => {
        try {
          const reply = await bus.call('CARDS.ISSUE', card, { timeoutMs: 60_000 });
          return BigInt((reply.data as { mainAccount: string }).mainAccount);
        } catch (error) {
          if (error instanceof XatmiError && (error.data as { code?: string } | undefined)?.code === 'CARDS_DUPLICATE_CARD') return undefined;
          throw error;
        }
      },
    };
    log(`issuing ${options.cards} cards through CARDS.ISSUE at ${busAddress}`);
    const cards = await issueCards(options);
    log(`load: ${options.tps} messages/s for ${options.durationSeconds}s over ${options.connections} connections to ${iso.host}:${iso.port}`);
    const result = await runLoad(options, cards);
    const latencies = result.authLatenciesMs.subarray(0, result.authorizations).sort();
    const out: string[] = [];
    out.push(`messages: ${result.sent} sent, ${result.answered} answered, ${result.unanswered} unanswered, ${result.notSent} not sent (generator at its in-flight cap) in ${result.elapsedSeconds.toFixed(1)}s`);
    out.push(`authorizations: ${result.authorizations} answered, ${(result.authorizations / result.elapsedSeconds).toFixed(0)}/s; latency p50 ${percentile(latencies, 0.5).toFixed(2)} ms, p99 ${percentile(latencies, 0.99).toFixed(2)} ms, p999 ${percentile(latencies, 0.999).toFixed(2)} ms`);
    out.push(`by response code: ${[...result.byCode].sort().map(([code, count]) => `${code} ${count}`).join(', ')}`);
    out.push(`by message: ${[...result.byKind].sort().map(([kind, count]) => `${kind} ${count}`).join(', ')}`);
    process.stdout.write(`${out.join('\n')}\n`);
    log('checking the books');
    const books = await checkBooks(bus, cards, options.currency, result.connections[0], result.terminals[0], Math.min(statements, cards.length));
    const failures = [...result.violations, ...books.failures];
    process.stdout.write(`${books.lines.join('\n')}\n`);
    for (const client of result.connections) client.close();
    if (failures.length > 0) {
      process.stdout.write(`books check FAILED (${failures.length}):\n${failures.slice(0, 20).map((failure) => `  ${failure}`).join('\n')}\n`);
      return 1;
    }
    process.stdout.write('books check passed\n');
    return 0;
  } finally {
    await bus.close();
  }
}
