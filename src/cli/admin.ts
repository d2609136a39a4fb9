/**
 * `purser admin <verb>`: tmadmin for a running node, over its HTTP admin routes (/v1/admin/…).
 *
 *   views    pq (queues), psr (servers), psc (services), requests (in the bus, oldest first), bbstats (totals)
 *   actions  susp|suspend SERVICE, res|resume SERVICE, resize SERVICE N, cancel REQUEST_ID
 *
 * Views print a table (or JSON with --json); actions print the affected row. The REPL runs the same verbs
 * through `runAdminVerb`.
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../errors.js';
import { AdminError } from './errors.js';

export const ADMIN_REQUEST_TIMEOUT_MS = 5_000;
/** An action may wait for a leaving server to finish its request (resize), so it gets longer. */
export const ADMIN_ACTION_TIMEOUT_MS = 60_000;

const VIEWS = ['pq', 'psr', 'psc', 'requests', 'bbstats'] as const;
type View = (typeof VIEWS)[number];

const COLUMNS: Record<Exclude<View, 'bbstats'>, Array<[heading: string, field: string]>> = {
  pq: [['Service', 'service'], ['Queue depth', 'queueDepth'], ['Servers', 'servers'], ['Busy', 'busy'], ['Queued', 'queued'], ['Waiting', 'waitingForSlot'], ['Ave. queued', 'averageQueued'], ['Kind', 'kind']],
  psr: [['Server', 'serverId'], ['Service', 'service'], ['Done', 'done'], ['Current', 'current'], ['State', 'state'], ['Restarts', 'restarts']],
  psc: [['Service', 'service'], ['Done', 'done'], ['Failed', 'failed'], ['Timed out', 'timedOut'], ['Expired', 'expiredInQueue'], ['Status', 'status']],
  requests: [['Id', 'id'], ['Service', 'service'], ['Phase', 'phase'], ['Kind', 'kind'], ['Age ms', 'ageMs'], ['Left ms', 'remainingMs']],
};

/** Actions: verb (and its tmadmin abbreviation) → the route and how many arguments it takes. */
const ACTIONS: Record<string, { route: string; args: string[] }> = {
  reload: { route: 'reload', args: [] },
  suspend: { route: 'suspend', args: ['SERVICE'] },
  susp: { route: 'suspend', args: ['SERVICE'] },
  resume: { route: 'resume', args: ['SERVICE'] },
  res: { route: 'resume', args: ['SERVICE'] },
  resize: { route: 'resize', args: ['SERVICE', 'SERVERS'] },
  cancel: { route: 'cancel', args: ['REQUEST_ID'] },
};

export const ADMIN_VERBS = [...VIEWS, ...Object.keys(ACTIONS)];

export const adminCommand = {
  summary: 'operate a running node like tmadmin: pq, psr, psc, requests, bbstats, suspend, resume, resize, cancel',
  usage: 'purser admin <verb> [arguments] [--url http://127.0.0.1:7780] [--json]',
  help: () =>
    [
      'Views:',
      '  pq                  per service: queue depth max, servers, busy, queued, waiting for a slot, average queued',
      '  psr                 per server: requests done, current service or IDLE, state, restarts',
      '  psc                 per service: done, failed (of which timed out), expired in queue, AVAILABLE, UNAVAILABLE or SUSPENDED',
      '  requests            requests in the bus, oldest first: id, service, waiting/queued/running, age, time left',
      '  bbstats             totals over the bus: services, servers, busy, queued, running, calls, done, failed, …',
      'Actions:',
      '  suspend|susp SERVICE   new calls get TPENOENT at once; queued and running requests finish',
      '  resume|res SERVICE     undoes suspend',
      '  resize SERVICE N       N servers (threads for a threaded service); leaving servers finish their request',
      '  cancel REQUEST_ID      answer a request TPESVCERR now (ids from `requests`); a queued one is never run',
      '  reload                 re-read the config file: add, remove, resize services and load changed code (as SIGHUP);',
      '                         what needs a restart is listed',
      'Options:',
      '  --url <url>   the node\'s HTTP address (default: PURSER_URL, else http://PURSER_HTTP_HOST:PURSER_HTTP_PORT,',
      '                else http://127.0.0.1:7780)',
      '  --json        print JSON',
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
  const [verb, ...rest] = parsed.positionals;
  process.stdout.write(await runAdminVerb(nodeUrl(parsed.values.url, env), verb, rest, parsed.values.json === true));
  return 0;
}

/** The node's HTTP base URL from --url or the environment. */
export function nodeUrl(url: string | undefined, env: NodeJS.ProcessEnv): string {
  const base = url ?? env.PURSER_URL ?? `http://${env.PURSER_HTTP_HOST ?? '127.0.0.1'}:${env.PURSER_HTTP_PORT ?? '7780'}`;
  try {
    return new URL(base).origin;
  } catch {
    throw new ConfigError(`--url is not a URL: ${base}`);
  }
}

/** Runs one admin verb against the node at `base` and returns what to print. Bad arguments: ConfigError. */
export async function runAdminVerb(base: string, verb: string | undefined, args: string[], json: boolean): Promise<string> {
  if (verb === undefined || !ADMIN_VERBS.includes(verb)) throw new ConfigError(`purser admin needs a verb: ${ADMIN_VERBS.join(', ')}${verb ? ` (got '${verb}')` : ''}`);
  if ((VIEWS as readonly string[]).includes(verb)) {
    if (args.length > 0) throw new ConfigError(`purser admin ${verb} takes no arguments, got '${args[0]}'`);
    const body = await adminRequest(new URL(`/v1/admin/${verb}`, base), 'GET');
    if (json) return `${JSON.stringify(body, null, 2)}\n`;
    if (verb === 'bbstats') return table([['Total', 'name'], ['Value', 'value']], Object.entries(body as Record<string, unknown>).map(([name, value]) => ({ name, value })), '');
    if (!Array.isArray(body)) throw new AdminError('ADMIN_BAD_RESPONSE', `${base}/v1/admin/${verb} answered something that is not a list`);
    return table(COLUMNS[verb as Exclude<View, 'bbstats'>], body as Array<Record<string, unknown>>, verb === 'requests' ? '(no requests in the bus)' : '(no services advertised)');
  }
  const action = ACTIONS[verb];
  if (args.length !== action.args.length) throw new ConfigError(`purser admin ${verb} takes ${action.args.join(' ')}, got ${args.length === 0 ? 'nothing' : `'${args.join(' ')}'`}`);
  let body: unknown;
  if (verb === 'resize') {
    if (!/^\d{1,6}$/.test(args[1])) throw new ConfigError(`purser admin resize: SERVERS must be a whole number, got '${args[1]}'`);
    body = await adminRequest(new URL(`/v1/admin/resize/${encodeURIComponent(args[0])}`, base), 'POST', JSON.stringify({ servers: Number(args[1]) }));
  } else if (verb === 'reload') {
    body = await adminRequest(new URL('/v1/admin/reload', base), 'POST');
  } else {
    if (verb === 'cancel' && !/^[1-9]\d{0,14}$/.test(args[0])) throw new ConfigError(`purser admin cancel: REQUEST_ID must be a positive integer, got '${args[0]}'`);
    body = await adminRequest(new URL(`/v1/admin/${action.route}/${encodeURIComponent(args[0])}`, base), 'POST');
  }
  if (json) return `${JSON.stringify(body, null, 2)}\n`;
  if (verb === 'cancel') return (body as { cancelled: boolean }).cancelled ? `request ${args[0]} cancelled: its caller got TPESVCERR\n` : `no request ${args[0]} in the bus (already answered?)\n`;
  if (verb === 'resize') return table(COLUMNS.pq, [body as Record<string, unknown>], '');
  if (verb === 'reload') return reloadSummary(body as Record<string, unknown>);
  return table(COLUMNS.psc, [body as Record<string, unknown>], '');
}

/**
 * One admin request; the node's typed error (404 TPENOENT for an unknown service, 400 TPEINVAL) becomes an
 * AdminError with the node's message, an unreachable node ADMIN_UNREACHABLE.
 */
export async function adminRequest(url: URL, method: 'GET' | 'POST', body?: string): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, { method, body, headers: authorization(), signal: AbortSignal.timeout(method === 'GET' ? ADMIN_REQUEST_TIMEOUT_MS : ADMIN_ACTION_TIMEOUT_MS) });
  } catch (error) {
    throw new AdminError('ADMIN_UNREACHABLE', `cannot reach the node at ${url.origin}: ${(error as Error).message}; is it running (purser start)?`, { cause: error });
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
  if (!response.ok && error?.message) throw new AdminError('ADMIN_REFUSED', `${error.message} [${error.code ?? response.status}]`);
  if (!response.ok || parsed === undefined) throw new AdminError('ADMIN_BAD_RESPONSE', `${url.href} answered ${response.status}: ${text.slice(0, 200)}`);
  return parsed;
}

function reloadSummary(report: Record<string, unknown>): string {
  const lines: string[] = [];
  for (const key of ['added', 'removed', 'replaced', 'resized', 'unchanged', 'restartNeeded']) {
    const names = report[key];
    if (Array.isArray(names) && names.length > 0) lines.push(`${key}: ${names.join(', ')}`);
  }
  const refused = report.refused;
  if (Array.isArray(refused)) for (const entry of refused as Array<{ service: string; reason: string }>) lines.push(`refused ${entry.service}: ${entry.reason}`);
  return `${lines.length === 0 ? 'nothing to change' : lines.join('\n')}\n`;
}

function table(columns: Array<[string, string]>, rows: Array<Record<string, unknown>>, empty: string): string {
  const cells = rows.map((row) => columns.map(([, field]) => format(row[field])));
  const widths = columns.map(([heading], index) => Math.max(heading.length, ...cells.map((line) => line[index].length)));
  const render = (line: string[]) => line.map((cell, index) => cell.padEnd(widths[index])).join('  ').trimEnd();
  const lines = [render(columns.map(([heading]) => heading)), render(widths.map((width) => '-'.repeat(width))), ...cells.map(render)];
  if (rows.length === 0 && empty) lines.push(empty);
  return `${lines.join('\n')}\n`;
}

function format(value: unknown): string {
  if (typeof value === 'number' && !Number.isInteger(value)) return value.toFixed(2);
  if (value === null || value === undefined) return '';
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/** `Authorization: Bearer $PURSER_TOKEN` when the variable is set (a node with --auth-tokens asks for it). */
export function authorization(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return env.PURSER_TOKEN ? { authorization: `Bearer ${env.PURSER_TOKEN}` } : {};
}
