/**
 * The `purser` command. Each command is one row of `COMMANDS`; `main()` picks it, runs it and turns errors
 * into exit codes: 2 for a usage or configuration mistake (one line, no stack trace), 1 for a failure at
 * run time (also one line for a PurserError; a stack only for a bug).
 */
import { adminCommand } from './admin.js';
import { tasksCommand } from './tasks.js';
import { callCommand } from './call.js';
import { CARDS_COMMAND_HELP } from '../../apps/cards/cli-help.js';
import { replCommand } from './repl.js';
import { ConfigError, PurserError } from '../errors.js';
import { optionsHelp } from '../node/config.js';
import { CONFIG_FILE_NAMES, resolveStartConfig } from '../node/config-file.js';
import { startNode } from '../node/node.js';
import { VERSION } from '../version.js';
import { checkpointHelp, dumpHelp, loadHelp, runCheckpoint, runDump, runLoad } from './store-commands.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

interface Command {
  summary: string;
  usage: string;
  help: () => string;
  run: (args: string[], env: NodeJS.ProcessEnv) => Promise<number>;
}

export const COMMANDS: Record<string, Command> = {
  start: {
    summary: 'run a node: store, ledger, bus (HTTP and TCP), optional TigerBeetle listener, metrics',
    usage: 'purser start [--config <file>] [options]',
    help: () => `Services come from a config file: --config <file>, else PURSER_CONFIG, else the one
${CONFIG_FILE_NAMES.join(', ')} in the working directory (none: an empty bus).
Its other keys are the options below by their config names (httpPort, busPort, dir, …).

Options (flags win over PURSER_* environment variables, which win over the config file):
${optionsHelp()}`,
    run: runStart,
  },
  checkpoint: {
    summary: 'write a store snapshot and drop the log before it (running node via --url, or a closed --dir)',
    usage: 'purser checkpoint [--url <url> | --dir <path>]',
    help: checkpointHelp,
    run: runCheckpoint,
  },
  dump: {
    summary: 'write a closed store to a portable, checksummed dump file',
    usage: 'purser dump [--dir <path>] [--out <file>]',
    help: dumpHelp,
    run: runDump,
  },
  load: {
    summary: 'load a dump file into an empty data directory (checked whole first)',
    usage: 'purser load [--dir <path>] [--in <file>]',
    help: loadHelp,
    run: runLoad,
  },
  version: {
    summary: 'print the version',
    usage: 'purser version',
    help: () => '',
    run: (args) => {
      if (args.length > 0) throw new ConfigError(`'purser version' takes no arguments, got ${args[0]}`);
      process.stdout.write(`${VERSION}\n`);
      return Promise.resolve(EXIT_OK);
    },
  },
  call: callCommand,
  // The reference app's own verbs live with the app (apps/cards/cli.ts), loaded only when run.
  cards: {
    ...CARDS_COMMAND_HELP,
    run: async (args, env) => (await import('../../apps/cards/cli.js')).cardsCommand.run(args, env),
  },
  repl: replCommand,
  admin: adminCommand,
  tasks: tasksCommand,
  help: {
    summary: 'show help for purser or for one command',
    usage: 'purser help [command]',
    help: () => '',
    run: (args) => {
      if (args.length === 0) process.stdout.write(topHelp());
      else process.stdout.write(commandHelp(args[0]));
      return Promise.resolve(EXIT_OK);
    },
  },
};

function topHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length)) + 2;
  const lines = Object.entries(COMMANDS).map(([name, command]) => `  ${name.padEnd(width)}${command.summary}`);
  return `purser ${VERSION} — a transaction-processing monitor for money\n\nUsage: purser <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun 'purser <command> --help' for a command's options.\n`;
}

function commandHelp(name: string): string {
  const command = COMMANDS[name];
  if (!command) throw new ConfigError(`unknown command '${name}'; run 'purser --help' for the list`);
  const details = command.help();
  return `${command.summary}\n\nUsage: ${command.usage}\n${details ? `\n${details}\n` : ''}`;
}

async function runStart(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { config, file } = await resolveStartConfig(args, env, process.cwd());
  const node = await startNode({ ...config, services: file?.services, apps: file?.apps, tasks: file?.tasks, configFile: file?.path });
  if (file !== undefined) node.logger.info({ configFile: file.path, services: Object.keys(file.services), apps: Object.keys(file.apps) }, 'hosting the services and apps of the config file');
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      node.logger.info({ signal }, 'shutting down');
      const timer = setTimeout(() => {
        node.logger.error({ timeoutMs: config.shutdownTimeoutMs }, 'graceful shutdown timed out; exiting');
        resolve(EXIT_FAILURE);
      }, config.shutdownTimeoutMs);
      timer.unref();
      node.close().then(
        () => {
          clearTimeout(timer);
          resolve(EXIT_OK);
        },
        (error: unknown) => {
          node.logger.error({ err: error }, 'shutdown failed');
          clearTimeout(timer);
          resolve(EXIT_FAILURE);
        },
      );
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    // SIGHUP reloads the config file's services (as POST /v1/admin/reload does); a mistake is logged, nothing changes.
    if (file !== undefined) {
      process.on('SIGHUP', () => {
        if (stopping) return;
        node.reload().catch((error: unknown) => node.logger.error({ err: error }, 'config reload failed; nothing was changed'));
      });
    }
  });
}

/** Runs the CLI with `argv` (without `node` and the script) and returns the exit code. */
export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined || name === '--help' || name === '-h') {
      process.stdout.write(topHelp());
      return name === undefined ? EXIT_USAGE : EXIT_OK;
    }
    if (name === '--version' || name === '-v') return await COMMANDS.version.run([], env);
    const command = COMMANDS[name];
    if (!command) throw new ConfigError(`unknown command '${name}'; run 'purser --help' for the list`);
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(commandHelp(name));
      return EXIT_OK;
    }
    return await command.run(rest, env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`purser: ${error.message}\n`);
      return EXIT_USAGE;
    }
    if (error instanceof PurserError) {
      process.stderr.write(`purser: ${error.message} [${error.code}]\n`);
      return EXIT_FAILURE;
    }
    process.stderr.write(`purser: unexpected failure (a bug; please report it)\n${(error as Error)?.stack ?? String(error)}\n`);
    return EXIT_FAILURE;
  }
}
