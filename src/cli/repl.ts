/**
 * `purser repl`: a console on a running node — bus calls and ledger statements over the bus listener (the
 * `connect()` client, connected on first use), tmadmin verbs over HTTP. The language is in repl-parse.ts.
 *
 * On a terminal it prompts and keeps going after an error. With input from a pipe or a file it runs each
 * line in order and exits 1 if any failed; `--command '<statement>'` runs one statement and exits.
 */
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { ConfigError, PurserError } from '../errors.js';
import { connect, type BusClient } from '../client/client.js';
import { XatmiError } from '../bus/errors.js';
import { DEFAULT_BUS_PORT } from '../wire/bus-protocol.js';
import { CreateAccountStatus, CreateTransferStatus } from '../ledger/types.js';
import { nodeUrl, runAdminVerb } from './admin.js';
import { parseStatement, STATEMENT_HELP, type Statement } from './repl-parse.js';

const CONNECT_TIMEOUT_MS = 5_000;
/** Longest line the console reads (a create statement of 8,189 objects fits with room to spare). */
export const REPL_LINE_BYTES_MAX = 4 * 1024 * 1024;

export const replCommand = {
  summary: 'a console on a running node: ledger statements, bus calls and tmadmin verbs',
  usage: "purser repl [--address host:port] [--url http://127.0.0.1:7780] [--command '<statement>']",
  help: () =>
    [
      STATEMENT_HELP,
      'Options:',
      `  --address <host:port>  the node's bus listener (default: PURSER_BUS_ADDRESS, else PURSER_BUS_HOST:PURSER_BUS_PORT, else 127.0.0.1:${DEFAULT_BUS_PORT})`,
      '  --url <url>            the node\'s HTTP address, for the tmadmin verbs (default: PURSER_URL, else http://127.0.0.1:7780)',
      '  --command <statement>  run one statement and exit (1 if it failed)',
      'Input from a pipe or file runs line by line and exits 1 if any statement failed.',
    ].join('\n'),
  run: (args: string[], env: NodeJS.ProcessEnv) => runReplCommand(args, env),
};

async function runReplCommand(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { address: { type: 'string' }, url: { type: 'string' }, command: { type: 'string' } }, strict: true });
  } catch (error) {
    throw new ConfigError(`purser repl: ${(error as Error).message.split('. ')[0]}`);
  }
  const address = parsed.values.address ?? env.PURSER_BUS_ADDRESS ?? `${env.PURSER_BUS_HOST ?? '127.0.0.1'}:${env.PURSER_BUS_PORT ?? DEFAULT_BUS_PORT}`;
  const url = nodeUrl(parsed.values.url, env);
  const session = new Console(address, url, process.stdout, process.stderr);
  try {
    if (parsed.values.command !== undefined) return (await session.run(parsed.values.command)) ? 0 : 1;
    return await session.loop(process.stdin, process.stdin.isTTY === true);
  } finally {
    await session.close();
  }
}

/** One console session: a lazily opened client, the admin URL, and where to write. Exported for tests. */
export class Console {
  private client: Promise<BusClient> | undefined;

  constructor(
    private readonly address: string,
    private readonly url: string,
    private readonly out: Writable,
    private readonly err: Writable,
  ) {}

  /** Reads statements until the input ends or `exit`. Interactive: prompts; else exit 1 if any failed. */
  async loop(input: Readable, interactive: boolean): Promise<number> {
    const lines = createInterface({ input, output: interactive ? this.out : undefined, prompt: 'purser> ', terminal: interactive });
    let failed = false;
    if (interactive) {
      this.out.write(`purser console: ledger and bus at ${this.address}, admin at ${this.url}; type help\n`);
      lines.prompt();
    }
    for await (const line of lines) {
      if (line.length > REPL_LINE_BYTES_MAX) {
        this.err.write(`error: a line of ${line.length} characters is over the limit of ${REPL_LINE_BYTES_MAX}\n`);
        failed = true;
      } else {
        if (parseQuietly(line)?.kind === 'exit') break;
        if (!(await this.run(line))) failed = true;
      }
      if (interactive) lines.prompt();
    }
    lines.close();
    return !interactive && failed ? 1 : 0;
  }

  /** Runs one statement and prints its result; false when it failed (the error is printed). */
  async run(line: string): Promise<boolean> {
    try {
      const statement = parseStatement(line);
      const output = await this.execute(statement);
      if (output !== '') this.out.write(output.endsWith('\n') ? output : `${output}\n`);
      return true;
    } catch (error) {
      if (error instanceof PurserError) {
        this.err.write(`error: ${error.message} [${error.code}]\n`);
        if (error instanceof XatmiError && error.code === 'TPESVCFAIL') this.out.write(`${toJson(error.data)}\n`);
        return false;
      }
      throw error;
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await client.then((c) => c.close(), () => undefined);
  }

  private connection(): Promise<BusClient> {
    if (!this.client) {
      const opening = connect(this.address, { connectTimeoutMs: CONNECT_TIMEOUT_MS });
      // A failed connect is not kept: the next statement tries again (the node may have been starting).
      opening.catch(() => {
        if (this.client === opening) this.client = undefined;
      });
      this.client = opening;
    }
    return this.client;
  }

  private async execute(statement: Statement): Promise<string> {
    switch (statement.kind) {
      case 'empty':
      case 'exit':
        return '';
      case 'help':
        return STATEMENT_HELP;
      case 'admin':
        return runAdminVerb(this.url, statement.verb, statement.args, false);
      case 'call': {
        const reply = await (await this.connection()).call(statement.service, statement.data);
        return reply.urcode === 0 ? toJson(reply.data) : `${toJson(reply.data)}\nurcode ${reply.urcode}`;
      }
      case 'create_accounts': {
        const results = await (await this.connection()).createAccounts(statement.accounts);
        return statement.accounts.map((_account, index) => `${index}: ${CreateAccountStatus[results[index].status]}`).join('\n');
      }
      case 'create_transfers': {
        const results = await (await this.connection()).createTransfers(statement.transfers);
        return statement.transfers.map((_transfer, index) => `${index}: ${CreateTransferStatus[results[index].status]}`).join('\n');
      }
      case 'lookup_accounts':
        return rows(await (await this.connection()).lookupAccounts(statement.ids), 'no accounts found');
      case 'lookup_transfers':
        return rows(await (await this.connection()).lookupTransfers(statement.ids), 'no transfers found');
      case 'get_account_transfers':
        return rows(await (await this.connection()).getAccountTransfers(statement.filter), 'no transfers found');
      case 'get_account_balances':
        return rows(await (await this.connection()).getAccountBalances(statement.filter), 'no balances found');
      case 'query_accounts':
        return rows(await (await this.connection()).queryAccounts(statement.filter), 'no accounts found');
      case 'query_transfers':
        return rows(await (await this.connection()).queryTransfers(statement.filter), 'no transfers found');
    }
  }
}

function parseQuietly(line: string): Statement | undefined {
  try {
    return parseStatement(line);
  } catch {
    return undefined;
  }
}

function rows(items: object[], empty: string): string {
  return items.length === 0 ? empty : items.map((item) => toJson(item)).join('\n');
}

/** JSON with bigints as decimal strings. */
function toJson(value: unknown): string {
  return JSON.stringify(value ?? null, (_key, item: unknown) => (typeof item === 'bigint' ? item.toString() : item));
}
