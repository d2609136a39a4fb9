/**
 * `purser admin pq|psr|psc`: tmadmin's three most used views, read from a running node over HTTP
 * (GET /v1/admin/<view>) and printed as a table, or as JSON with --json.
 *
 *   pq   print queue:   service, queue depth max, servers, busy, queued, waiting for a slot, average queued
 *   psr  print server:  server id, service, requests done, current service or IDLE, state, restarts
 *   psc  print service: service, done, failed, expired in queue, status
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../errors.js';
import { AdminError } from './errors.js';

export const ADMIN_REQUEST_TIMEOUT_MS = 5_000;
const VIEWS = ['pq', 'psr', 'psc'] as const;
type View = (typeof VIEWS)[number];

const COLUMNS: Record<View, Array<[heading: string, field: string]>> = {
  pq: [['Service', 'service'], ['Queue depth', 'queueDepth'], ['Servers', 'servers'], ['Busy', 'busy'], ['Queued', 'queued'], ['Waiting', 'waitingForSlot'], ['Ave. queued', 'averageQueued'], ['Kind', 'kind']],
  psr: [['Server', 'serverId'], ['Service', 'service'], ['Done', 'done'], ['Current', 'current'], ['State', 'state'], ['Restarts', 'restarts']],
  psc: [['Service', 'service'], ['Done', 'done'], ['Failed', 'failed'], ['Timed out', 'timedOut'], ['Expired', 'expiredInQueue'], ['Status', 'status']],
};

export const adminCommand = {
  summary: 'show a running node\'s bus like tmadmin: pq (queues), psr (servers), psc (services)',
  usage: 'purser admin <pq|psr|psc> [--url http://127.0.0.1:7780] [--json]',
  help: () =>
    [
      'Views:',
      '  pq    per service: queue depth max, servers, busy, queued, waiting for a slot, average queued',
      '  psr   per server: requests done, current service or IDLE, state, restarts',
      '  psc   per service: done, failed, expired in queue, AVAILABLE or UNAVAILABLE',
      'Options:',
      '  --url <url>   the node\'s HTTP address (default: PURSER_URL, else http://PURSER_HTTP_HOST:PURSER_HTTP_PORT,',
      '                else http://127.0.0.1:7780)',
      '  --json        print the rows as JSON',
    ].join('\n'),
  run: runAdmin,
};

async function runAdmin(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { url: { type: 'string' }, json: { type: 'boolean' } }, allowPositionals: true, strict: true });
  } catch (error) {
    throw new ConfigError(`purser admin: ${(error as Error).message}`);
  }
  const [view, ...extra] = parsed.positionals;
  if (view === undefined || !(VIEWS as readonly string[]).includes(view)) throw new ConfigError(`purser admin needs a view: pq, psr or psc${view ? ` (got '${view}')` : ''}`);
  if (extra.length > 0) throw new ConfigError(`purser admin ${view} takes no further arguments, got '${extra[0]}'`);
  const base = parsed.values.url ?? env.PURSER_URL ?? `http://${env.PURSER_HTTP_HOST ?? '127.0.0.1'}:${env.PURSER_HTTP_PORT ?? '7780'}`;
  let url: URL;
  try {
    url = new URL(`/v1/admin/${view}`, base);
  } catch {
    throw new ConfigError(`--url is not a URL: ${base}`);
  }
  const rows = await fetchRows(url);
  process.stdout.write(parsed.values.json ? `${JSON.stringify(rows, null, 2)}\n` : table(COLUMNS[view as View], rows));
  return 0;
}

async function fetchRows(url: URL): Promise<Array<Record<string, unknown>>> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(ADMIN_REQUEST_TIMEOUT_MS) });
  } catch (error) {
    throw new AdminError('ADMIN_UNREACHABLE', `cannot reach the node at ${url.origin}: ${(error as Error).message}; is it running (purser start)?`, { cause: error });
  }
  const text = await response.text();
  let rows: unknown;
  try {
    rows = JSON.parse(text);
  } catch {
    rows = undefined;
  }
  if (!response.ok || !Array.isArray(rows)) throw new AdminError('ADMIN_BAD_RESPONSE', `${url.href} answered ${response.status}: ${text.slice(0, 200)}`);
  return rows as Array<Record<string, unknown>>;
}

function table(columns: Array<[string, string]>, rows: Array<Record<string, unknown>>): string {
  const cells = rows.map((row) => columns.map(([, field]) => format(row[field])));
  const widths = columns.map(([heading], index) => Math.max(heading.length, ...cells.map((line) => line[index].length)));
  const render = (line: string[]) => line.map((cell, index) => cell.padEnd(widths[index])).join('  ').trimEnd();
  const lines = [render(columns.map(([heading]) => heading)), render(widths.map((width) => '-'.repeat(width))), ...cells.map(render)];
  if (rows.length === 0) lines.push('(no services advertised)');
  return `${lines.join('\n')}\n`;
}

function format(value: unknown): string {
  if (typeof value === 'number' && !Number.isInteger(value)) return value.toFixed(2);
  if (value === null || value === undefined) return '';
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}
