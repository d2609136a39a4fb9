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
import type { ServiceDeclarations } from './config-file.js';

export interface LoadedService {
  readonly name: string;
  readonly handler: ServiceHandler | URL;
  readonly options: AdvertiseOptions;
  /** Absolute path of the module, for logs. */
  readonly module: string;
}

/** Imports every declared module and checks that its default export is a function. */
export async function loadServices(services: ServiceDeclarations): Promise<LoadedService[]> {
  const loaded: LoadedService[] = [];
  for (const [name, declaration] of Object.entries(services)) {
    const { module, ...options } = declaration;
    const url = pathToFileURL(module);
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
