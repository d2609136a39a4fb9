/**
 * The node's configuration file: `purser.config.json`, `.js`, `.mjs` or `.ts`, found in the working
 * directory or named by `--config <path>` / `PURSER_CONFIG`. It declares the services the node hosts and,
 * optionally, any node option by its `NodeConfig` name (`dir`, `httpPort`, `busPort`, …):
 *
 *   { "busPort": 7700, "services": { "ECHO": { "module": "./services/echo.mjs", "servers": 2 } } }
 *
 * Layering is defaults < file < `PURSER_*` variables < flags. Everything is checked here, before the node
 * touches anything: a mistake is one `ConfigError` line naming the file and the key (`services.ECHO.servers`),
 * and nothing starts. Module paths and `dir` are resolved against the file's directory.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ConfigError } from '../errors.js';
import { checkServiceName } from '../bus/checks.js';
import { PIPELINE_DEPTH_MAX, QUEUE_DEPTH_MAX, SERVERS_MAX, THREADS_MAX } from '../bus/registry.js';
import { TIMEOUT_MS_MAX } from '../bus/interfaces.js';
import { LOG_LEVELS, OPTIONS, defaultConfig, resolveConfig, validateConfig, type NodeConfig } from './config.js';

/** One hosted service: its module (default export = handler) and how it is served. */
export interface ServiceDeclaration {
  /** Path of the module (absolute, or relative to the config file; relative to the working directory in `startNode`) or a `file:` URL. */
  module: string;
  /** In-process servers (the module is imported into the node's thread). Default 1 when `threads` is absent. */
  servers?: number;
  /** Worker-thread servers running the module instead. Not with `servers`. */
  threads?: number;
  /** Most requests waiting in the service's queue. Default 1000. */
  queueDepth?: number;
  /** Worker threads only: requests handed to one worker ahead of time (1: Tuxedo's exact model). Default 32. */
  pipelineDepth?: number;
  /** Worker threads only: most restarts within `restartWindowMs`. Default 5. */
  restartsMax?: number;
  /** Worker threads only. Default 60000. */
  restartWindowMs?: number;
}

export type ServiceDeclarations = Record<string, ServiceDeclaration>;

/**
 * One hosted application: a module whose default export `start(context)` gets the node's bus, store and
 * ledger once they run, and returns `{ close() }` (Tuxedo's tpsvrinit/tpsvrdone for a whole program). It
 * advertises its own services and may open its own listeners. `settings` is handed over as written.
 */
export interface AppDeclaration {
  /** Path of the module (absolute, or relative to the config file; relative to the working directory in `startNode`) or a `file:` URL. */
  module: string;
  /** The application's own settings (a JSON object); it checks them itself. */
  settings?: Record<string, unknown>;
}

export type AppDeclarations = Record<string, AppDeclaration>;

/**
 * One task the node's outbox runs (`node.tasks.register(name, handler, options)`): a module whose default
 * export is the handler `(job) => …`, its RegisterOptions, and the topics whose `publish` enqueues it.
 */
export interface TaskDeclaration {
  /** Path of the module (absolute, or relative to the config file) or a `file:` URL. */
  module: string;
  queue?: string;
  concurrency?: number;
  leaseMs?: number;
  timeoutMs?: number;
  maxAttempts?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Topics this task subscribes to: each `tasks.publish(tx, topic, …)` enqueues one of it. */
  subscribe?: string[];
}

export type TaskDeclarations = Record<string, TaskDeclaration>;

export interface ConfigFile {
  /** Absolute path of the file read. */
  path: string;
  /** The node options it sets (the others keep their defaults). */
  options: Partial<NodeConfig>;
  /** The services it declares, with module paths made absolute. */
  services: ServiceDeclarations;
  /** The applications it declares, with module paths made absolute. */
  apps: AppDeclarations;
  /** The tasks it declares, with module paths made absolute. */
  tasks: TaskDeclarations;
}

/** The names looked for in the working directory, in this order; two of them at once is a mistake. */
export const CONFIG_FILE_NAMES = ['purser.config.json', 'purser.config.js', 'purser.config.mjs', 'purser.config.ts'] as const;
export const CONFIG_FILE_BYTES_MAX = 1024 * 1024; // a config is a page of text; more is a mistake
const SERVICES_MAX = 10_000;

/**
 * The config file to read: `given` (from `--config` or `PURSER_CONFIG`; must exist), else the one
 * `purser.config.*` in `cwd`, else undefined (a node with no file hosts no services).
 */
export function findConfigFile(cwd: string, given?: string): string | undefined {
  if (given !== undefined) {
    if (given.length === 0) throw new ConfigError('--config: expected a path to a purser.config.{json,js,mjs,ts} file');
    const path = resolve(cwd, given);
    if (!existsSync(path)) throw new ConfigError(`config file ${path} does not exist`);
    return path;
  }
  const found = CONFIG_FILE_NAMES.map((name) => resolve(cwd, name)).filter((path) => existsSync(path));
  if (found.length > 1) throw new ConfigError(`more than one config file in ${cwd} (${found.map((path) => basename(path)).join(', ')}); keep one or choose with --config`);
  return found[0];
}

/** Reads and checks a config file. Throws `ConfigError` naming the file and the key at fault. */
export async function loadConfigFile(path: string): Promise<ConfigFile> {
  const absolute = resolve(path);
  const name = basename(absolute);
  let value: unknown;
  if (absolute.endsWith('.json')) {
    value = parseJsonFile(absolute);
  } else if (/\.(m?js|ts)$/.test(absolute)) {
    let loaded: { default?: unknown };
    try {
      loaded = (await import(pathToFileURL(absolute).href)) as { default?: unknown };
    } catch (error) {
      const code = (error as { code?: string }).code;
      const why = code === 'ERR_UNKNOWN_FILE_EXTENSION' ? 'this Node cannot load TypeScript (Node 22.18+ can); use purser.config.js or .json' : (error as Error).message;
      throw new ConfigError(`${name}: cannot be loaded: ${why}`, { cause: error });
    }
    if (loaded.default === undefined) throw new ConfigError(`${name}: has no default export; write 'export default { services: { … } }'`);
    value = loaded.default;
  } else {
    throw new ConfigError(`${name}: a config file must end in .json, .js, .mjs or .ts`);
  }
  return { path: absolute, ...checkConfigObject(value, name, dirname(absolute)) };
}

function parseJsonFile(path: string): unknown {
  const name = basename(path);
  let text: string;
  try {
    const bytes = readFileSync(path);
    if (bytes.length > CONFIG_FILE_BYTES_MAX) throw new ConfigError(`${name}: larger than ${CONFIG_FILE_BYTES_MAX} bytes`);
    text = bytes.toString('utf8');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`${name}: cannot be read: ${(error as Error).message}`, { cause: error });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    // Node 20 says only "at position N"; give the line too, which is what an editor shows.
    const message = (error as Error).message;
    const position = /at position (\d+)/.exec(message);
    const line = position && !/line \d+/.test(message) ? ` (line ${text.slice(0, Number(position[1])).split('\n').length})` : '';
    throw new ConfigError(`${name}: not valid JSON: ${message}${line}`, { cause: error });
  }
}

/**
 * Checks a config value (the parsed file, or a program's object). Relative module paths resolve against
 * `baseDir`. Returns the node options and the services with absolute module paths.
 */
export function checkConfigObject(value: unknown, source: string, baseDir: string): { options: Partial<NodeConfig>; services: ServiceDeclarations; apps: AppDeclarations; tasks: TaskDeclarations } {
  const fail = (key: string, why: string): never => {
    throw new ConfigError(`${source}: ${key}: ${why}`);
  };
  if (!isPlainObject(value)) throw new ConfigError(`${source}: expected an object at the top level, got ${describe(value)}`);
  const optionKeys = new Map(OPTIONS.map((spec) => [spec.key as string, spec]));
  const options: Partial<NodeConfig> = {};
  let services: ServiceDeclarations = {};
  let apps: AppDeclarations = {};
  let tasks: TaskDeclarations = {};
  for (const [key, raw] of Object.entries(value)) {
    if (key === 'tasks') {
      tasks = checkTasks(raw, baseDir, fail);
      continue;
    }
    if (key === 'services') {
      services = checkServices(raw, baseDir, fail);
      continue;
    }
    if (key === 'apps') {
      apps = checkApps(raw, baseDir, fail);
      continue;
    }
    const spec = optionKeys.get(key);
    if (spec === undefined) fail(key, `unknown key; known keys are services, apps, tasks, ${[...optionKeys.keys()].join(', ')}`);
    const checked = checkOption(spec!.kind, raw);
    if (typeof checked === 'string' && checked.startsWith('!')) fail(key, checked.slice(1));
    // A path in the file means the same wherever the node is started from.
    const isPath = key === 'dir' || (PATH_KEYS.has(key) && checked !== '');
    (options as Record<string, unknown>)[key] = isPath ? resolve(baseDir, checked as string) : checked;
  }
  // The combination (ports, the TigerBeetle address) is checked the way startNode checks it.
  try {
    validateConfig({ ...defaultConfig(), ...options });
  } catch (error) {
    throw new ConfigError(`${source}: ${(error as Error).message}`, { cause: error });
  }
  return { options, services, apps, tasks };
}

/** Options that name files: relative to the config file's directory. */
const PATH_KEYS = new Set(['authTokens', 'tlsCert', 'tlsKey', 'natsTlsCa', 'natsTlsCert', 'natsTlsKey']);

/** Returns the value, or '!why' when it does not fit `kind`. JSON types: numbers are numbers, not strings. */
function checkOption(kind: (typeof OPTIONS)[number]['kind'], raw: unknown): unknown {
  switch (kind) {
    case 'string':
      return typeof raw === 'string' && raw.length > 0 ? raw : `!expected a non-empty string, got ${describe(raw)}`;
    case 'text':
      return typeof raw === 'string' ? raw : `!expected a string, got ${describe(raw)}`;
    case 'count':
      return isInteger(raw, 1, Number.MAX_SAFE_INTEGER) ? raw : `!expected a whole number, at least 1, got ${describe(raw)}`;
    case 'boolean':
      return typeof raw === 'boolean' ? raw : `!expected true or false, got ${describe(raw)}`;
    case 'tristate':
      return typeof raw === 'boolean' || raw === 'auto' ? raw : `!expected "auto", true or false, got ${describe(raw)}`;
    case 'port':
      return isInteger(raw, 0, 65535) ? raw : `!expected a port number 0..65535, got ${describe(raw)}`;
    case 'duration_ms':
      return isInteger(raw, 0, 999_999_999) ? raw : `!expected whole milliseconds 0..999999999, got ${describe(raw)}`;
    case 'log_level':
      return LOG_LEVELS.includes(raw as never) ? raw : `!expected one of ${LOG_LEVELS.join(', ')}, got ${describe(raw)}`;
  }
}

type Fail = (key: string, why: string) => never;

const SERVICE_KEYS: Record<Exclude<keyof ServiceDeclaration, 'module'>, { min: number; max: number; threadsOnly: boolean }> = {
  servers: { min: 1, max: SERVERS_MAX, threadsOnly: false },
  threads: { min: 1, max: THREADS_MAX, threadsOnly: true },
  queueDepth: { min: 1, max: QUEUE_DEPTH_MAX, threadsOnly: false },
  pipelineDepth: { min: 1, max: PIPELINE_DEPTH_MAX, threadsOnly: true },
  restartsMax: { min: 0, max: 1_000_000, threadsOnly: true },
  restartWindowMs: { min: 1, max: TIMEOUT_MS_MAX, threadsOnly: true },
};

function checkServices(raw: unknown, baseDir: string, fail: Fail): ServiceDeclarations {
  if (!isPlainObject(raw)) return fail('services', `expected an object of service name → { module, … }, got ${describe(raw)}`);
  const entries = Object.entries(raw);
  if (entries.length > SERVICES_MAX) fail('services', `more than ${SERVICES_MAX} services`);
  const services: ServiceDeclarations = {};
  for (const [name, declaration] of entries) {
    const at = `services.${name}`;
    try {
      checkServiceName(name);
    } catch (error) {
      fail(at, (error as Error).message);
    }
    if (!isPlainObject(declaration)) fail(at, `expected an object { module, servers?, threads?, queueDepth?, … }, got ${describe(declaration)}`);
    const checked: Partial<ServiceDeclaration> = {};
    for (const [key, value] of Object.entries(declaration)) {
      if (key === 'module') {
        if (typeof value !== 'string' || value.length === 0) fail(`${at}.module`, `expected a path to the service module, got ${describe(value)}`);
        checked.module = modulePath(value, baseDir, `${at}.module`, fail);
        continue;
      }
      const limits = SERVICE_KEYS[key as keyof typeof SERVICE_KEYS] as (typeof SERVICE_KEYS)[keyof typeof SERVICE_KEYS] | undefined;
      if (limits === undefined) fail(`${at}.${key}`, `unknown key; known keys are module, ${Object.keys(SERVICE_KEYS).join(', ')}`);
      if (!isInteger(value, limits.min, limits.max)) fail(`${at}.${key}`, `expected an integer from ${limits.min} to ${limits.max}, got ${describe(value)}`);
      (checked as Record<string, unknown>)[key] = value;
    }
    if (checked.module === undefined) fail(`${at}.module`, 'missing; name the module whose default export is the handler');
    if (checked.servers !== undefined && checked.threads !== undefined) fail(at, 'servers (in-process) and threads (worker threads) exclude each other; give one');
    if (checked.threads === undefined) {
      for (const key of Object.keys(checked) as (keyof typeof SERVICE_KEYS)[]) {
        if (SERVICE_KEYS[key]?.threadsOnly) fail(`${at}.${key}`, 'applies to worker threads only; add threads: n');
      }
    }
    services[name] = checked as ServiceDeclaration;
  }
  return services;
}

const APPS_MAX = 100;
const APP_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

function checkApps(raw: unknown, baseDir: string, fail: Fail): AppDeclarations {
  if (!isPlainObject(raw)) return fail('apps', `expected an object of app name → { module, settings? }, got ${describe(raw)}`);
  const entries = Object.entries(raw);
  if (entries.length > APPS_MAX) fail('apps', `more than ${APPS_MAX} apps`);
  const apps: AppDeclarations = {};
  for (const [name, declaration] of entries) {
    const at = `apps.${name}`;
    if (!APP_NAME.test(name)) fail(at, 'an app name is 1-64 characters of A-Za-z0-9_.-');
    if (!isPlainObject(declaration)) fail(at, `expected an object { module, settings? }, got ${describe(declaration)}`);
    const checked: Partial<AppDeclaration> = {};
    for (const [key, value] of Object.entries(declaration)) {
      if (key === 'module') {
        if (typeof value !== 'string' || value.length === 0) fail(`${at}.module`, `expected a path to the app module, got ${describe(value)}`);
        checked.module = modulePath(value, baseDir, `${at}.module`, fail);
      } else if (key === 'settings') {
        if (!isPlainObject(value)) fail(`${at}.settings`, `expected an object, got ${describe(value)}`);
        checked.settings = value;
      } else {
        fail(`${at}.${key}`, 'unknown key; known keys are module, settings');
      }
    }
    if (checked.module === undefined) fail(`${at}.module`, 'missing; name the module whose default export starts the app');
    apps[name] = checked as AppDeclaration;
  }
  return apps;
}

const TASKS_MAX = 1000;
const TASK_NAME = /^[A-Za-z0-9_.:@/-]{1,128}$/;
/** Numeric task options and their ranges (the outbox checks them again when registering). */
const TASK_KEYS: Record<string, { min: number; max: number }> = {
  concurrency: { min: 1, max: 10_000 },
  leaseMs: { min: 1, max: TIMEOUT_MS_MAX },
  timeoutMs: { min: 1, max: TIMEOUT_MS_MAX },
  maxAttempts: { min: 1, max: 1_000_000 },
  backoffBaseMs: { min: 0, max: TIMEOUT_MS_MAX },
  backoffMaxMs: { min: 0, max: TIMEOUT_MS_MAX },
};

function checkTasks(raw: unknown, baseDir: string, fail: Fail): TaskDeclarations {
  if (!isPlainObject(raw)) return fail('tasks', `expected an object of task name → { module, concurrency?, subscribe?, … }, got ${describe(raw)}`);
  const entries = Object.entries(raw);
  if (entries.length > TASKS_MAX) fail('tasks', `more than ${TASKS_MAX} tasks`);
  const tasks: TaskDeclarations = {};
  for (const [name, declaration] of entries) {
    const at = `tasks.${name}`;
    if (!TASK_NAME.test(name)) fail(at, 'a task name is 1-128 characters of A-Za-z0-9_.:@/-');
    if (!isPlainObject(declaration)) fail(at, `expected an object { module, concurrency?, leaseMs?, timeoutMs?, maxAttempts?, subscribe?, … }, got ${describe(declaration)}`);
    const checked: Partial<TaskDeclaration> = {};
    for (const [key, value] of Object.entries(declaration)) {
      if (key === 'module') {
        if (typeof value !== 'string' || value.length === 0) fail(`${at}.module`, `expected a path to the task's module, got ${describe(value)}`);
        checked.module = modulePath(value, baseDir, `${at}.module`, fail);
      } else if (key === 'queue') {
        if (typeof value !== 'string' || !TASK_NAME.test(value)) fail(`${at}.queue`, `expected a queue name (1-128 characters of A-Za-z0-9_.:@/-), got ${describe(value)}`);
        checked.queue = value;
      } else if (key === 'subscribe') {
        if (!Array.isArray(value) || value.length > 100 || !value.every((topic) => typeof topic === 'string' && TASK_NAME.test(topic))) {
          fail(`${at}.subscribe`, `expected a list of at most 100 topics (1-128 characters of A-Za-z0-9_.:@/-), got ${describe(value)}`);
        }
        checked.subscribe = [...(value as string[])];
      } else {
        const limits = TASK_KEYS[key];
        if (limits === undefined) fail(`${at}.${key}`, `unknown key; known keys are module, queue, subscribe, ${Object.keys(TASK_KEYS).join(', ')}`);
        if (!isInteger(value, limits.min, limits.max)) fail(`${at}.${key}`, `expected an integer from ${limits.min} to ${limits.max}, got ${describe(value)}`);
        (checked as Record<string, unknown>)[key] = value;
      }
    }
    if (checked.module === undefined) fail(`${at}.module`, 'missing; name the module whose default export is the handler (job) => …');
    tasks[name] = checked as TaskDeclaration;
  }
  return tasks;
}

function modulePath(given: string, baseDir: string, key: string, fail: Fail): string {
  let path: string;
  try {
    path = given.startsWith('file:') ? fileURLToPath(given) : isAbsolute(given) ? given : resolve(baseDir, given);
  } catch (error) {
    return fail(key, `not a usable path or file: URL: ${(error as Error).message}`);
  }
  if (!existsSync(path)) fail(key, `no module at ${path}`);
  return path;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isInteger(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return value === null ? 'null' : 'an object';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return `a ${typeof value}`;
}

/** Takes `--config <path>` / `--config=<path>` out of `argv` (the other flags go to `resolveConfig`). */
export function takeConfigFlag(argv: readonly string[]): { rest: string[]; path: string | undefined } {
  const rest: string[] = [];
  let path: string | undefined;
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index];
    if (arg === '--config' || arg.startsWith('--config=')) {
      if (path !== undefined) throw new ConfigError('--config given twice');
      path = arg === '--config' ? argv[++index] : arg.slice('--config='.length);
      if (path === undefined || path.startsWith('--')) throw new ConfigError("--config needs a path; see 'purser start --help'");
    } else {
      rest.push(arg);
    }
  }
  return { rest, path };
}

/**
 * What `purser start` runs on: the config file (from `--config`, `PURSER_CONFIG` or the working directory),
 * then `PURSER_*` variables and flags over its options. Throws `ConfigError`; reads nothing but the file.
 */
export async function resolveStartConfig(argv: readonly string[], env: NodeJS.ProcessEnv, cwd: string): Promise<{ config: NodeConfig; file: ConfigFile | undefined }> {
  const { rest, path: flagPath } = takeConfigFlag(argv);
  const path = findConfigFile(cwd, flagPath ?? env.PURSER_CONFIG);
  const file = path === undefined ? undefined : await loadConfigFile(path);
  return { config: resolveConfig(rest, env, file?.options), file };
}
