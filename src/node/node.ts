/**
 * A node: one process hosting the parts — the store, the ledger on it, the HTTP listener (health, metrics,
 * the store's and the bus's routes), the bus with its TCP listener, the TigerBeetle listener — and the
 * owner of every adapter between a part and the outside (`node/`: routes, metrics, listeners).
 * `startNode` is what `purser start` runs and what programs and tests call; it installs no signal
 * handlers — the CLI does that — so it can be embedded.
 */
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { hostname } from 'node:os';
import { NodeError } from './errors.js';
import { VERSION } from '../version.js';
import { defaultConfig, natsServers, validateConfig, type NodeConfig } from './config.js';
import { startHttpListener } from './listeners/http.js';
import { createLogger, type Logger } from './logger.js';
import { createNodeMetrics, type NodeMetrics } from './metrics.js';
import { createBus } from '../bus/bus.js';
import { busHttpRoutes } from './bus-routes.js';
import { createBusMetrics } from './bus-metrics.js';
import { startBusListener, type BusListener } from './listeners/bus.js';
import { parseTigerBeetleAddress } from './listeners/tigerbeetle/address.js';
import { startTigerBeetleListener } from './listeners/tigerbeetle/listener.js';
import type { Bus } from '../bus/interfaces.js';
import type { Store } from '../store/interfaces.js';
import type { Ledger } from '../ledger/ledger.js';
import { openLedger } from '../ledger/open.js';
import { openNodeStore, registerStoreMetrics, storeHttpRoutes, storeLogMetrics, type RecoveryProgress } from './store.js';
import { healthResponse, type NodePhase } from './health.js';
import { registerLedgerMetrics } from './ledger.js';
import { NodeParts } from './parts.js';
import { advertiseTasksServices, openNodeTasks, tasksHttpRoutes } from './tasks.js';
import type { Tasks } from '../tasks/interfaces.js';
import type { FileSystem } from '../store/durability/fs.js';
import { checkConfigObject, type AppDeclarations, type ServiceDeclarations, type TaskDeclarations } from './config-file.js';
import { advertiseServices, loadApps, loadServices, loadTasks, type LoadedService, type RunningApp } from './config-services.js';
import { resolveSecurity, type NodeSecurity } from './security.js';
import { MemoryBudget } from './listeners/limits.js';
import { FairQueue } from './listeners/fair-queue.js';
import { registerReadings } from './metrics.js';
import { HostedServices, type ReloadReport } from './reload.js';
import { startGateway, type Gateway } from './gateway/gateway.js';
import { ConfigError } from '../errors.js';

export interface StartNodeOptions extends Partial<NodeConfig> {
  /** A logger to use instead of creating one from `logLevel`/`logPretty` (tests pass a silent one). */
  logger?: Logger;
  /**
   * Called after the node stopped itself because a store write or fsync failed (it is logged first).
   * Default: set `process.exitCode = 1`, so the process ends non-zero once the node's handles are gone.
   */
  onFatal?: (error: Error) => void;
  /** The file system under the store (tests pass a simulated disk that fails on purpose). Default: the real one. */
  storeFileSystem?: FileSystem;
  /**
   * Services to host, as a config file declares them (`loadConfigFile(path).services`; relative module paths
   * here resolve against the working directory). Every module is loaded and checked before anything starts.
   */
  services?: ServiceDeclarations;
  /**
   * The config file `services` (and `apps`) came from, as `purser start` passes it: enables `node.reload()`
   * and POST /v1/admin/reload, which bring the hosted services in line with the file (see reload.ts).
   */
  configFile?: string;
  /**
   * Tasks the node's outbox runs, as a config file declares them (`loadConfigFile(path).tasks`): each module's
   * default export is registered as the handler (`node.tasks.register`) and subscribed to its topics.
   */
  tasks?: TaskDeclarations;
  /**
   * Applications to host, as a config file declares them (`loadConfigFile(path).apps`): each module's default
   * export is started with the node's bus, store and ledger once everything else runs, and closed first.
   */
  apps?: AppDeclarations;
}

export interface PurserNode {
  readonly config: Readonly<NodeConfig>;
  /** Where the HTTP listener is bound; `url` is ready to use (`http://127.0.0.1:7780`). */
  readonly http: { host: string; port: number; url: string };
  /** Absolute data directory, or undefined for a memory-only node. */
  readonly dataDir: string | undefined;
  readonly logger: Logger;
  readonly metrics: NodeMetrics;
  /** The XATMI service bus: advertise services here; JSON calls at POST /v1/call/:service, admin at /v1/admin/*. */
  readonly bus: Bus;
  /** Where the bus's TCP listener (the protocol of `connect()` clients) is bound. */
  readonly busListener: { host: string; port: number };
  /** The embedded store: on the data directory (recovered on start), or in memory with `memory`. */
  readonly store: Store;
  /** The TigerBeetle-compatible ledger, kept in the node's store (`ledger.*` tables). */
  readonly ledger: Ledger;
  /** The task outbox on the node's store (`tasks.*` tables), started: register handlers, enqueue in `store.transaction`. */
  readonly tasks: Tasks;
  /** The started apps of `apps`, by name, as their `start` returned them. */
  readonly apps: ReadonlyMap<string, RunningApp>;
  /** Where the TigerBeetle listener (`tigerbeetle-node` clients) is bound; undefined when `tbAddress` is off. */
  readonly tigerbeetle: { host: string; port: number } | undefined;
  /** The gateway to other nodes over NATS (`nats` set), or undefined. `ready()` resolves once it is connected. */
  readonly gateway: Gateway | undefined;
  /**
   * Re-reads the config file and applies the safe service changes (added, removed, resized, new code); what
   * needs a restart is reported. Throws ConfigError when the node has no config file or the file is wrong.
   */
  reload(): Promise<ReloadReport>;
  /** Stops listeners and parts, in reverse order of starting. Safe to call more than once. */
  close(): Promise<void>;
}

/** Starts a node. Throws `ConfigError` for bad options and `NodeError` when a resource cannot be had. */
export async function startNode(options: StartNodeOptions = {}): Promise<PurserNode> {
  const { logger: givenLogger, onFatal, storeFileSystem, services: declared, apps: declaredApps, configFile, tasks: declaredTasks, ...overrides } = options;
  const config = validateConfig({ ...defaultConfig(), ...stripUndefined(overrides) });
  // Checked and imported first: a bad service declaration or module changes nothing (no directory, no port).
  const serviceDeclarations = declared === undefined ? {} : checkConfigObject({ services: declared }, 'startNode', process.cwd()).services;
  const services = await loadServices(serviceDeclarations);
  const apps = declaredApps === undefined ? [] : await loadApps(checkConfigObject({ apps: declaredApps }, 'startNode', process.cwd()).apps);
  const taskHandlers = declaredTasks === undefined ? [] : await loadTasks(checkConfigObject({ tasks: declaredTasks }, 'startNode', process.cwd()).tasks);
  // As in resolveConfig: a node that asks for any HTTP port gets any bus port too, unless it names one.
  if (overrides.busPort === undefined && config.httpPort === 0) config.busPort = 0;
  const logger = givenLogger ?? createLogger({ level: config.logLevel, pretty: config.logPretty });
  // Tokens, certificate and the loopback rule are settled before anything is created or bound.
  const security = resolveSecurity(config, logger);
  const startedAt = Date.now();
  const dataDir = config.memory ? undefined : await createDataDir(config.dir);

  // A failed write or fsync stops the node: the store already refuses every commit; nothing is retried.
  let node: PurserNode | undefined = undefined; // set below; the failure handler needs it
  const stopOnStoreFailure = (error: Error) => {
    logger.fatal({ err: error }, 'store write or fsync failed; stopping the node');
    const done = () => (onFatal ?? (() => (process.exitCode = 1)))(error);
    void node?.close().then(done, done);
  };
  const metrics = createNodeMetrics();
  let phase: NodePhase = 'starting';
  let store: Store | undefined;
  let ledger: Ledger | undefined;
  let recovery: RecoveryProgress | undefined;
  // Each part starts on the ones before it and closes before them (see parts.ts). The HTTP listener comes
  // first, so /health answers 503 ("recovering") while the store replays its log and the ledger loads,
  // which takes a while on a large data directory.
  const parts = new NodeParts(logger);
  let gateway: Gateway | undefined = undefined; // started last (below); /health reports its link
  const httpLimits = { connectionsMax: config.httpConnectionsMax, connectionsPerAddressMax: config.httpConnectionsPerAddressMax, headersTimeoutMs: config.handshakeTimeoutMs, requestTimeoutMs: config.frameTimeoutMs };
  const http = await parts.start('HTTP listener', () => startHttpListener({ host: config.httpHost, port: config.httpPort, logger, metrics, limits: httpLimits, auth: security.auth, tls: security.tls }), (http) => http.close());
  http.route('GET', '/health', () => healthResponse({
    phase, store, ledger,
    details: () => ({
      version: VERSION, pid: process.pid, uptimeMs: Date.now() - startedAt, dataDir: dataDir ?? null, memory: config.memory, ...(phase === 'starting' && recovery ? { recovery } : {}),
      // The gateway's link (its state, and why it cannot connect when NATS refused its TLS); it does not change
      // the status: the node's own services serve without it.
      ...(gateway ? { gateway: gateway.link() } : {}),
    }),
  }));
  http.route('GET', '/metrics', async () => ({ status: 200, body: await metrics.registry.metrics(), contentType: metrics.registry.contentType }));
  const nodeStore = (store = await parts.start('store', () => openNodeStore({
    dataDir, onFailure: stopOnStoreFailure, fs: storeFileSystem, logger, onProgress: (progress) => (recovery = progress), onLogBatch: storeLogMetrics(metrics.registry),
  }), (store) => store.close()));
  const nodeLedger = (ledger = await parts.start('ledger', () => openLedger({ store: nodeStore, logger, clockToleranceMs: config.ledgerClockToleranceMs }), (ledger) => ledger.close()));
  registerStoreMetrics(metrics.registry, nodeStore);
  registerLedgerMetrics(metrics.registry, nodeLedger);
  // The bus drains on close for up to half the shutdown timeout, leaving the rest for the other parts;
  // its listener answers the network calls in flight (it waits for them) while it drains.
  const drainTimeoutMs = Math.floor(config.shutdownTimeoutMs / 2);
  // One memory budget and one fair queue of ledger requests for both network listeners (listeners/limits.ts).
  const shared = { budget: new MemoryBudget(config.memoryBudgetBytes), fair: new FairQueue() };
  registerListenerMetrics(metrics, shared);
  const { bus, busListener } = await parts.start('bus', () => startBus(config, logger, metrics, nodeLedger, services, { ...shared, security }),
    ({ bus, busListener }) => Promise.all([busListener.close({ drainTimeoutMs }), bus.close({ drainTimeoutMs })]));
  // The official TigerBeetle client's protocol, serving the node's ledger (off unless --tb-address is given).
  // Its clients are cut off first on close; requests already executing finish before the ledger closes.
  const tbAddress = parseTigerBeetleAddress(config.tbAddress);
  const tigerbeetle = tbAddress === undefined ? undefined
    : await parts.start('TigerBeetle listener', () => startTigerBeetleListener({
      ...tbAddress, ledger: nodeLedger, logger, metricsRegistry: metrics.registry, ...shared, allowedAddresses: security.tbAllowedAddresses,
      limits: { connectionsMax: config.tbConnectionsMax, connectionsPerAddressMax: config.tbConnectionsPerAddressMax, handshakeTimeoutMs: config.tbIdleTimeoutMs, idleTimeoutMs: config.tbIdleTimeoutMs, frameTimeoutMs: config.frameTimeoutMs },
    }), (listener) => listener.close());

  // The task outbox on the node's store: it stops before the bus, so handlers draining may still call services.
  const nodeTasks = await parts.start('tasks', async () => {
    const tasks = await openNodeTasks(nodeStore, logger, metrics.registry);
    await tasks.start();
    advertiseTasksServices(bus, tasks); // remote workers claim over the bus
    // The config file's tasks: registered (their queues are claimed from now on), then subscribed, since a
    // subscription names a task that must be registered by the time something publishes.
    for (const task of taskHandlers) tasks.register(task.name, task.handler, task.options);
    for (const task of taskHandlers) for (const topic of task.subscribe) tasks.subscribe(topic, task.name);
    return tasks;
  }, (tasks) => tasks.stop({ drainTimeoutMs }));

  // Applications start last, on every other part, and so stop first (their listeners before the bus drains).
  const runningApps = new Map<string, RunningApp>();
  for (const app of apps) {
    const context = { name: app.name, bus, store: nodeStore, ledger: nodeLedger, tasks: nodeTasks, logger: logger.child({ app: app.name }), settings: app.settings };
    runningApps.set(app.name, await parts.start(`app ${app.name}`, () => app.start(context), (running: RunningApp) => running.close()));
  }
  for (const route of [...busHttpRoutes(bus), ...storeHttpRoutes(nodeStore), ...tasksHttpRoutes(nodeTasks)]) http.route(route.method, route.path, route.handler);
  let hosted: HostedServices | undefined;
  if (configFile !== undefined) {
    hosted = new HostedServices(bus, configFile, config, apps.map((app) => app.name));
    await hosted.started(serviceDeclarations);
  }
  const reload = async (): Promise<ReloadReport> => {
    if (!hosted) throw new ConfigError('this node was started without a config file: there is nothing to reload');
    const report = await hosted.reload();
    logger.info({ ...report }, 'config reloaded');
    return report;
  };
  http.route('POST', '/v1/admin/reload', async () => ({ status: 200, body: await reload() }));
  // The gateway comes last: services of apps are exported too, and it stops first, saying goodbye to the
  // other nodes before anything here stops serving. It connects in the background (the node never waits
  // for NATS); GET /v1/admin/gateway shows the link, the nodes and what is exported and imported.
  const servers = natsServers(config.nats);
  gateway = servers.length === 0 ? undefined : await parts.start('gateway', () => Promise.resolve(startGateway({
    servers, nodeName: config.nodeName || defaultNodeName(config), token: config.natsToken || undefined, tls: security.natsTls,
    exports: config.gatewayExports.trim() === '*' ? '*' : config.gatewayExports.split(',').map((name) => name.trim()).filter(Boolean),
    heartbeatMs: config.gatewayHeartbeatMs, bus, logger, registry: metrics.registry,
  })), (gateway) => gateway.close());
  const started = gateway;
  if (started) http.route('GET', '/v1/admin/gateway', () => ({ status: 200, body: started.stats() }));
  phase = 'serving';
  logger.info({ http: http.address.url, bus: `${busListener.address.host}:${busListener.address.port}`, dataDir: dataDir ?? '(memory)', version: VERSION }, 'purser node started');

  let closing: Promise<void> | undefined;
  node = {
    config,
    http: http.address,
    dataDir,
    logger,
    metrics,
    bus,
    busListener: busListener.address,
    store: nodeStore,
    ledger: nodeLedger,
    tasks: nodeTasks,
    apps: runningApps,
    tigerbeetle: tigerbeetle?.address,
    reload,
    gateway,
    close() {
      phase = 'stopping';
      closing ??= parts.closeAll().then(() => logger.info('purser node stopped'));
      return closing;
    },
  };
  return node;
}

/** The host name and the bus port, as one NATS subject token. */
function defaultNodeName(config: NodeConfig): string {
  return `${hostname()}-${config.busPort}`.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
}

async function createDataDir(dir: string): Promise<string> {
  const dataDir = resolve(dir);
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 }); // balances: readable by the node's user only
  } catch (error) {
    throw new NodeError('NODE_DATA_DIR', `cannot create data directory ${dataDir}: ${(error as Error).message}; choose another with --dir or run with --memory`, { cause: error });
  }
  return dataDir;
}

/** The bus and its TCP listener, which also serves the ledger's Client methods to connect() clients. */
interface SharedListenerParts {
  budget: MemoryBudget;
  fair: FairQueue;
  security: NodeSecurity;
}

async function startBus(config: NodeConfig, logger: Logger, metrics: NodeMetrics, ledger: Ledger, services: readonly LoadedService[], shared: SharedListenerParts): Promise<{ bus: Bus; busListener: BusListener }> {
  // The gauges read the bus when scraped, so the metrics are made before the bus they observe.
  const observer = createBusMetrics(metrics.registry, { pq: () => bus.pq() });
  const bus = createBus({ logger, observer });
  try {
    advertiseServices(bus, services); // before the listener: the first network call finds them
    const busListener = await startBusListener({
      host: config.busHost, port: config.busPort, bus, logger, ledger, metricsRegistry: metrics.registry,
      budget: shared.budget, fair: shared.fair, auth: shared.security.auth, tls: shared.security.tls,
      limits: { connectionsMax: config.busConnectionsMax, connectionsPerAddressMax: config.busConnectionsPerAddressMax, handshakeTimeoutMs: config.handshakeTimeoutMs, idleTimeoutMs: config.busIdleTimeoutMs, frameTimeoutMs: config.frameTimeoutMs },
    });
    return { bus, busListener };
  } catch (error) {
    await bus.close();
    throw error;
  }
}

/** The memory budget and the fair queue, read at scrape time. */
function registerListenerMetrics(metrics: NodeMetrics, shared: { budget: MemoryBudget; fair: FairQueue }): void {
  registerReadings(metrics.registry, () => shared, [
    ['purser_listener_budget_refusals_total', 'chunks a listener could not reserve in the memory budget (each paused its connection)', (s) => s.budget.refusals],
  ], [
    ['purser_listener_budget_used_bytes', 'bytes the bus and TigerBeetle listeners hold, read and not yet answered', (s) => s.budget.usedBytes],
    ['purser_listener_budget_max_bytes', 'the memory budget of the bus and TigerBeetle listeners', (s) => s.budget.maxBytes],
    ['purser_listener_budget_waiting_connections', 'connections not read for want of budget', (s) => s.budget.waitingCount],
    ['purser_ledger_network_requests_queued', 'network ledger requests waiting for their connection\'s turn', (s) => s.fair.stats().queued],
  ]);
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
