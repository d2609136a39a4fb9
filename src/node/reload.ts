/**
 * Reloading the services of a config file into a running node (`purser admin reload`, POST
 * /v1/admin/reload, SIGHUP to `purser start`): what is safe to change without a restart is changed, the
 * rest is reported and left alone.
 *
 *   a service added to the file      → loaded and advertised
 *   a service removed from the file  → unadvertised (queued requests TPESVCERR, running ones finish)
 *   servers/threads changed          → resize
 *   module or its source changed, or a worker option (pipelineDepth, restartsMax, restartWindowMs)
 *                                    → bus.replace: new servers run the new code, the old ones finish
 *                                      their request; nothing queued is lost and no call sees TPENOENT
 *   kind (servers ↔ threads) or queueDepth changed → refused: that needs unadvertise/advertise (do it by
 *                                      removing the service, reloading, and adding it back) or a restart
 *   any node option (ports, dir, …) or an app → reported as needing a restart
 *
 * Everything new is imported and checked before anything changes: a file with a mistake, or a module that
 * fails to load, changes nothing (ConfigError). A changed module is imported again under a fresh URL
 * (`?reload=N`), because Node caches ES modules by URL; modules it imports itself are not reloaded, and
 * each reload keeps the old module in memory — reload to fix code, not in a loop. Only services this node
 * hosts from its config are managed; services a program or an app advertised are never touched.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../errors.js';
import type { Bus } from '../bus/interfaces.js';
import { loadConfigFile, type ServiceDeclaration, type ServiceDeclarations } from './config-file.js';
import { loadServices } from './config-services.js';
import type { NodeConfig } from './config.js';

export interface ReloadReport {
  added: string[];
  removed: string[];
  replaced: string[];
  resized: string[];
  unchanged: string[];
  /** Changes that are not safe without a restart, per service. */
  refused: Array<{ service: string; reason: string }>;
  /** Node options and apps the file sets differently from the running node: they need a restart. */
  restartNeeded: string[];
}

interface Hosted {
  declaration: ServiceDeclaration;
  /** sha256 of the module's source when it was loaded: a changed file is new code. */
  sourceHash: string;
}

/** The services a node hosts from its config file, and how to bring them in line with the file. */
export class HostedServices {
  private readonly hosted = new Map<string, Hosted>();
  private reloads = 0;
  /** One reload at a time: a second waits for the first, so two never interleave their changes. */
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly bus: Bus,
    private readonly configFile: string,
    private readonly config: Readonly<NodeConfig>,
    private readonly apps: readonly string[],
  ) {}

  /** Records the services the node started with (already advertised). */
  async started(declarations: ServiceDeclarations): Promise<void> {
    for (const [name, declaration] of Object.entries(declarations)) this.hosted.set(name, { declaration, sourceHash: await sourceHash(declaration.module) });
  }

  reload(): Promise<ReloadReport> {
    const next = this.running.then(() => this.reloadNow(), () => this.reloadNow());
    this.running = next.catch(() => undefined);
    return next;
  }

  private async reloadNow(): Promise<ReloadReport> {
    const file = await loadConfigFile(this.configFile);
    const report: ReloadReport = { added: [], removed: [], replaced: [], resized: [], unchanged: [], refused: [], restartNeeded: [] };
    for (const [key, value] of Object.entries(file.options)) {
      if (JSON.stringify(value) !== JSON.stringify(this.config[key as keyof NodeConfig])) report.restartNeeded.push(key);
    }
    for (const app of Object.keys(file.apps)) if (!this.apps.includes(app)) report.restartNeeded.push(`apps.${app}`);
    for (const app of this.apps) if (!(app in file.apps)) report.restartNeeded.push(`apps.${app}`);

    // Plan, then load everything new, then change the bus: a failure before the last step changes nothing.
    const toLoad: ServiceDeclarations = {};
    const hashes = new Map<string, string>();
    const resizes: Array<[string, number]> = [];
    for (const [name, declaration] of Object.entries(file.services)) {
      const hash = await sourceHash(declaration.module);
      hashes.set(name, hash);
      const current = this.hosted.get(name);
      if (!current) {
        if (this.bus.services().includes(name)) {
          report.refused.push({ service: name, reason: 'a service of that name is advertised by a program or an app, not by the config file' });
          continue;
        }
        toLoad[name] = declaration;
        continue;
      }
      const was = current.declaration;
      if ((was.threads === undefined) !== (declaration.threads === undefined) || (was.queueDepth ?? null) !== (declaration.queueDepth ?? null)) {
        report.refused.push({ service: name, reason: 'changing servers ↔ threads or queueDepth needs unadvertise and advertise: remove it, reload, add it back (or restart)' });
        continue;
      }
      const codeChanged = was.module !== declaration.module || current.sourceHash !== hash
        || was.pipelineDepth !== declaration.pipelineDepth || was.restartsMax !== declaration.restartsMax || was.restartWindowMs !== declaration.restartWindowMs;
      if (codeChanged) toLoad[name] = declaration;
      else if ((was.servers ?? was.threads ?? 1) !== (declaration.servers ?? declaration.threads ?? 1)) resizes.push([name, declaration.servers ?? declaration.threads ?? 1]);
      else report.unchanged.push(name);
    }
    this.reloads += 1;
    const loaded = await loadServices(toLoad, `reload=${this.reloads}`);

    // Old servers leaving (replace, resize, unadvertise) finish the request they hold; the reload does not wait
    // for them — a held request may take its whole deadline — it answers once the new layout serves calls.
    const leaving: Array<Promise<void>> = [];
    for (const service of loaded) {
      if (this.hosted.has(service.name)) {
        leaving.push(this.bus.replace(service.name, service.handler, service.options));
        report.replaced.push(service.name);
      } else {
        this.bus.advertise(service.name, service.handler, service.options);
        report.added.push(service.name);
      }
      this.hosted.set(service.name, { declaration: file.services[service.name], sourceHash: hashes.get(service.name)! });
    }
    for (const [name, servers] of resizes) {
      leaving.push(this.bus.resize(name, servers));
      this.hosted.set(name, { declaration: file.services[name], sourceHash: hashes.get(name)! });
      report.resized.push(name);
    }
    for (const name of [...this.hosted.keys()]) {
      if (name in file.services) continue;
      this.hosted.delete(name);
      if (this.bus.services().includes(name)) leaving.push(this.bus.unadvertise(name));
      report.removed.push(name);
    }
    void Promise.allSettled(leaving);
    return report;
  }
}

async function sourceHash(module: string): Promise<string> {
  try {
    return createHash('sha256').update(await readFile(module)).digest('hex');
  } catch (error) {
    throw new ConfigError(`${module} cannot be read: ${(error as Error).message}`, { cause: error });
  }
}

