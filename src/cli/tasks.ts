/**
 * `purser tasks <verb>`: the task outbox of a running node, over its HTTP routes (/v1/tasks…).
 *
 *   ls [--state dead|ready|scheduled|running|done] [--queue Q] [--limit N]   queues and their counts; with --state, those tasks
 *   show ID     one running task or dead letter, in full (last error, payload)
 *   retry ID    a dead letter back to its queue with a fresh set of attempts
 *   rm ID       a dead letter deleted
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../errors.js';
import { adminRequest, nodeUrl } from './admin.js';

const VERBS = ['ls', 'show', 'retry', 'rm'];

export const tasksCommand = {
  summary: 'inspect and redrive the task outbox of a running node: ls, show, retry, rm',
  usage: 'purser tasks <ls|show|retry|rm> [ID] [--state S] [--queue Q] [--limit N] [--url http://127.0.0.1:7780] [--json]',
  help: () =>
    [
      'Verbs:',
      '  ls                  per queue: ready, scheduled (delayed or backing off), running, dead',
      '  ls --state dead     the dead letters (also ready, scheduled, running, done), oldest first; --queue Q, --limit N (≤ 1000)',
      '  show ID             a running task or dead letter: attempts, last error, payload',
      '  retry ID            move a dead letter back to its queue with a fresh set of attempts',
      '  rm ID               delete a dead letter',
      'Options:',
      '  --url <url>   the node\'s HTTP address (default: PURSER_URL, else http://PURSER_HTTP_HOST:PURSER_HTTP_PORT,',
      '                else http://127.0.0.1:7780)',
      '  --json        print JSON',
    ].join('\n'),
  run: runTasks,
};

async function runTasks(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { url: { type: 'string' }, json: { type: 'boolean' }, state: { type: 'string' }, queue: { type: 'string' }, limit: { type: 'string' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new ConfigError(`purser tasks: ${(error as Error).message}`);
  }
  const [verb, ...rest] = parsed.positionals;
  const { url, json, state, queue, limit } = parsed.values;
  if (verb === undefined || !VERBS.includes(verb)) throw new ConfigError(`purser tasks needs a verb: ${VERBS.join(', ')}${verb ? ` (got '${verb}')` : ''}`);
  const base = nodeUrl(url, env);
  if (verb === 'ls') {
    if (rest.length > 0) throw new ConfigError(`purser tasks ls takes no arguments, got '${rest[0]}'`);
    if (state === undefined && (queue !== undefined || limit !== undefined)) throw new ConfigError('purser tasks ls: --queue and --limit go with --state');
    if (limit !== undefined && !/^\d{1,4}$/.test(limit)) throw new ConfigError(`purser tasks ls: --limit must be a whole number, got '${limit}'`);
    if (state === undefined) {
      const body = await adminRequest(new URL('/v1/tasks', base), 'GET');
      process.stdout.write(json ? `${JSON.stringify(body, null, 2)}\n` : table(QUEUE_COLUMNS, body as Row[], '(no queues yet)'));
      return 0;
    }
    const query = new URLSearchParams({ state, ...(queue === undefined ? {} : { queue }), ...(limit === undefined ? {} : { limit }) });
    const body = await adminRequest(new URL(`/v1/tasks/list?${query.toString()}`, base), 'GET');
    process.stdout.write(json ? `${JSON.stringify(body, null, 2)}\n` : table(TASK_COLUMNS, body as Row[], `(no ${state} tasks)`));
    return 0;
  }
  if (rest.length !== 1 || !/^[1-9]\d{0,19}$/.test(rest[0])) throw new ConfigError(`purser tasks ${verb} takes one task id (a positive whole number)${rest.length > 0 ? `, got '${rest.join(' ')}'` : ''}`);
  if (state !== undefined || queue !== undefined || limit !== undefined) throw new ConfigError(`purser tasks ${verb}: --state, --queue and --limit go with ls`);
  const id = rest[0];
  if (verb === 'show') {
    const body = await adminRequest(new URL(`/v1/tasks/show/${id}`, base), 'GET');
    process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    return 0;
  }
  const body = await adminRequest(new URL(`/v1/tasks/${verb}/${id}`, base), 'POST');
  process.stdout.write(json ? `${JSON.stringify(body, null, 2)}\n` : verb === 'retry' ? `task ${id} is back in its queue\n` : `dead letter ${id} deleted\n`);
  return 0;
}

type Row = Record<string, unknown>;
const QUEUE_COLUMNS: Array<[string, string]> = [['Queue', 'queue'], ['Ready', 'ready'], ['Scheduled', 'scheduled'], ['Running', 'running'], ['Dead', 'dead']];
const TASK_COLUMNS: Array<[string, string]> = [['Id', 'id'], ['Name', 'name'], ['Queue', 'queue'], ['State', 'state'], ['Attempts', 'attempts'], ['Run at', 'runAt'], ['Last error', 'lastErrorLine']];

function table(columns: Array<[string, string]>, rows: Row[], empty: string): string {
  const cells = rows.map((row) => columns.map(([, field]) => cell(field === 'lastErrorLine' ? firstLine(row.lastError) : row[field])));
  const widths = columns.map(([heading], index) => Math.max(heading.length, ...cells.map((line) => line[index].length)));
  const render = (line: string[]) => line.map((text, index) => text.padEnd(widths[index])).join('  ').trimEnd();
  const lines = [render(columns.map(([heading]) => heading)), render(widths.map((width) => '-'.repeat(width))), ...cells.map(render)];
  if (rows.length === 0) lines.push(empty);
  return `${lines.join('\n')}\n`;
}

function firstLine(value: unknown): string {
  return typeof value === 'string' ? value.split('\n')[0].slice(0, 80) : '';
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}
