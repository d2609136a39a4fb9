/**
 * The services a config declares, made ready to advertise: each module is imported once here, before the
 * node starts anything, so a module that fails to load or has no handler stops the start with a
 * `ConfigError` naming the service, and no data directory or port is touched.
 *
 * In-process services (`servers`) run the imported default export; worker-thread services (`threads`)
 * get the module's URL and each worker imports it again (the import here is the check).
 */
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../errors.js';
import type { AdvertiseOptions, Bus, ServiceHandler } from '../bus/interfaces.js';
import type { Store } from '../store/interfaces.js';
import type { Tasks } from '../tasks/interfaces.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Logger } from './logger.js';
import type { AppDeclarations, ServiceDeclarations, TaskDeclarations } from './config-file.js';
import type { RegisterOptions, TaskHandler } from '../tasks/interfaces.js';

export interface LoadedService {
  readonly name: string;
  readonly handler: ServiceHandler | URL;
  readonly options: AdvertiseOptions;
  /** Absolute path of the module, for logs. */
  readonly module: string;
}

/**
 * Imports every declared module and checks that its default export is a function. `query` (a reload's
 * `reload=N`) makes the URLs new, so Node imports changed code instead of answering from its module cache.
 */
export async function loadServices(services: ServiceDeclarations, query?: string): Promise<LoadedService[]> {
  const loaded: LoadedService[] = [];
  for (const [name, declaration] of Object.entries(services)) {
    const { module, ...options } = declaration;
    const url = pathToFileURL(module);
    if (query !== undefined) url.search = query;
    let exports: { default?: unknown };
    try {
      exports = (await import(url.href)) as { default?: unknown };
    } catch (error) {
      throw new ConfigError(`services.${name}.module: ${module} cannot be loaded: ${(error as Error).message}`, { cause: error });
    }
    if (typeof exports.default !== 'function') {
      throw new ConfigError(`services.${name}.module: ${module} has no handler; its default export must be a function (request) => reply`);
    }
    const handler = options.threads === undefined ? (exports.default as ServiceHandler) : url;
    loaded.push({ name, handler, options, module });
  }
  return loaded;
}

/** Advertises the loaded services on `bus` (a refusal throws; the caller closes the bus, which withdraws them all). */
export function advertiseServices(bus: Bus, services: readonly LoadedService[]): void {
  for (const service of services) bus.advertise(service.name, service.handler, service.options);
}

/** What an app's `start` gets: the node's running parts, its own settings and a logger of its own. */
export interface AppContext {
  /** The app's name in the config (`apps.<name>`). */
  readonly name: string;
  readonly bus: Bus;
  readonly store: Store;
  readonly ledger: Ledger;
  /** The node's task outbox (`tasks.publish(tx, …)`, `tasks.register`, …). */
  readonly tasks: Tasks;
  readonly logger: Logger;
  /** `apps.<name>.settings` as written (an empty object when absent); the app checks it. */
  readonly settings: Record<string, unknown>;
}

/** A started app: the node closes it first on shutdown, before the bus, the ledger and the store. */
export interface RunningApp {
  close(): Promise<void>;
}

/** An app module's default export. */
export type AppStart = (context: AppContext) => Promise<RunningApp>;

export interface LoadedApp {
  readonly name: string;
  readonly start: AppStart;
  readonly settings: Record<string, unknown>;
  readonly module: string;
}

/** Imports every declared app module and checks that its default export is a function. */
export async function loadApps(apps: AppDeclarations): Promise<LoadedApp[]> {
  const loaded: LoadedApp[] = [];
  for (const [name, declaration] of Object.entries(apps)) {
    let exports: { default?: unknown };
    try {
      exports = (await import(pathToFileURL(declaration.module).href)) as { default?: unknown };
    } catch (error) {
      throw new ConfigError(`apps.${name}.module: ${declaration.module} cannot be loaded: ${(error as Error).message}`, { cause: error });
    }
    if (typeof exports.default !== 'function') {
      throw new ConfigError(`apps.${name}.module: ${declaration.module} has no start function; its default export must be async (context) => ({ close })`);
    }
    loaded.push({ name, start: exports.default as AppStart, settings: declaration.settings ?? {}, module: declaration.module });
  }
  return loaded;
}

export interface LoadedTask {
  readonly name: string;
  readonly handler: TaskHandler;
  readonly options: RegisterOptions;
  readonly subscribe: readonly string[];
  readonly module: string;
}

/** Imports every declared task module and checks that its default export is a function (the handler). */
export async function loadTasks(tasks: TaskDeclarations): Promise<LoadedTask[]> {
  const loaded: LoadedTask[] = [];
  for (const [name, declaration] of Object.entries(tasks)) {
    const { module, subscribe = [], ...options } = declaration;
    let exports: { default?: unknown };
    try {
      exports = (await import(pathToFileURL(module).href)) as { default?: unknown };
    } catch (error) {
      throw new ConfigError(`tasks.${name}.module: ${module} cannot be loaded: ${(error as Error).message}`, { cause: error });
    }
    if (typeof exports.default !== 'function') {
      throw new ConfigError(`tasks.${name}.module: ${module} has no handler; its default export must be a function (job) => …`);
    }
    loaded.push({ name, handler: exports.default as TaskHandler, options, subscribe, module });
  }
  return loaded;
}
