/**
 * A node: one process hosting the parts (today: the HTTP listener with health and metrics; the store,
 * ledger, bus and outbox attach here as they land). `startNode` is what `purser start` runs and what
 * programs and tests call; it installs no signal handlers — the CLI does that — so it can be embedded.
 */
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { NodeError } from '../errors.js';
import { VERSION } from '../version.js';
import { defaultConfig, validateConfig, type NodeConfig } from './config.js';
import { startHttpListener, type HttpListener } from './listeners/http.js';
import { createLogger, type Logger } from './logger.js';
import { createNodeMetrics, type NodeMetrics } from './metrics.js';
import { createBus } from '../bus/bus.js';
import { busHttpRoutes } from './bus-routes.js';
import { startBusListener } from './listeners/bus.js';
import { parseTigerBeetleAddress } from './listeners/tigerbeetle/address.js';
import { startTigerBeetleListener } from './listeners/tigerbeetle/listener.js';
import type { Bus } from '../bus/interfaces.js';
import type { Store } from '../store/interfaces.js';
import type { Ledger } from '../ledger/ledger.js';
import { openLedger } from '../ledger/open.js';
import { openNodeStore, registerStoreMetrics, storeHttpRoutes } from './store.js';
import { healthResponse, type NodePhase } from './health.js';
import { registerLedgerMetrics } from './ledger.js';
import type { FileSystem } from '../store/durability/fs.js';

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
  /** Where the TigerBeetle listener (`tigerbeetle-node` clients) is bound; undefined when `tbAddress` is off. */
  readonly tigerbeetle: { host: string; port: number } | undefined;
  /** Stops listeners and parts, in reverse order of starting. Safe to call more than once. */
  close(): Promise<void>;
}

/** Starts a node. Throws `ConfigError` for bad options and `NodeError` when a resource cannot be had. */
export async function startNode(options: StartNodeOptions = {}): Promise<PurserNode> {
  const { logger: givenLogger, onFatal, storeFileSystem, ...overrides } = options;
  const config = validateConfig({ ...defaultConfig(), ...stripUndefined(overrides) });
  // As in resolveConfig: a node that asks for any HTTP port gets any bus port too, unless it names one.
  if (overrides.busPort === undefined && config.httpPort === 0) config.busPort = 0;
  const logger = givenLogger ?? createLogger({ level: config.logLevel, pretty: config.logPretty });
  const startedAt = Date.now();

  let dataDir: string | undefined;
  if (!config.memory) {
    dataDir = resolve(config.dir);
    try {
      await mkdir(dataDir, { recursive: true });
    } catch (error) {
      throw new NodeError('NODE_DATA_DIR', `cannot create data directory ${dataDir}: ${(error as Error).message}; choose another with --dir or run with --memory`, { cause: error });
    }
  }

  // The HTTP listener comes first, so /health answers 503 ("recovering") while the store replays its log
  // and the ledger loads, which takes a while on a large data directory.
  const metrics = createNodeMetrics();
  let phase: NodePhase = 'starting';
  let store: Store | undefined;
  let ledger: Ledger | undefined;
  const http: HttpListener = await startHttpListener({ host: config.httpHost, port: config.httpPort, logger, metrics });
  http.route('GET', '/health', () => healthResponse({
    phase, store, ledger,
    details: () => ({ version: VERSION, pid: process.pid, uptimeMs: Date.now() - startedAt, dataDir: dataDir ?? null, memory: config.memory }),
  }));
  http.route('GET', '/metrics', async () => ({ status: 200, body: await metrics.registry.metrics(), contentType: metrics.registry.contentType }));

  // A failed write or fsync stops the node: the store already refuses every commit; nothing is retried.
  let node: PurserNode | undefined = undefined; // set below; the failure handler needs it
  const stopOnStoreFailure = (error: Error) => {
    logger.fatal({ err: error }, 'store write or fsync failed; stopping the node');
    const done = () => (onFatal ?? (() => (process.exitCode = 1)))(error);
    void node?.close().then(done, done);
  };
  try {
    store = await openNodeStore(dataDir, stopOnStoreFailure, storeFileSystem);
    ledger = await openLedger({ store, logger, clockToleranceMs: config.ledgerClockToleranceMs });
  } catch (error) {
    await store?.close();
    await http.close();
    throw error;
  }
  registerStoreMetrics(metrics.registry, store);
  registerLedgerMetrics(metrics.registry, ledger);
  // The bus drains on close for up to half the shutdown timeout, leaving the rest for the other parts.
  const bus = createBus({ logger, metricsRegistry: metrics.registry });
  for (const route of busHttpRoutes(bus)) http.route(route.method, route.path, route.handler);
  // The bus listener also serves the ledger's Client methods to connect() clients.
  const busListener = await startBusListener({ host: config.busHost, port: config.busPort, bus, logger, ledger, metricsRegistry: metrics.registry }).catch(async (error: unknown) => {
    await Promise.all([http.close(), bus.close()]);
    await ledger.close();
    await store.close();
    throw error;
  });
  // The official TigerBeetle client's protocol, serving the node's ledger (off unless --tb-address is given).
  const tbAddress = parseTigerBeetleAddress(config.tbAddress);
  const tigerbeetle = tbAddress === undefined ? undefined : await startTigerBeetleListener({ ...tbAddress, ledger, logger, metricsRegistry: metrics.registry }).catch(async (error: unknown) => {
    await Promise.all([http.close(), bus.close(), busListener.close()]);
    await ledger.close();
    await store.close();
    throw error;
  });
  for (const route of storeHttpRoutes(store)) http.route(route.method, route.path, route.handler);
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
    store,
    ledger,
    tigerbeetle: tigerbeetle?.address,
    close() {
      phase = 'stopping';
      closing ??= (async () => {
        // TigerBeetle clients are cut off first; requests already executing finish before the ledger closes.
        await tigerbeetle?.close();
        // Network callers in flight are answered (the listener waits for them) while the bus drains.
        const drainTimeoutMs = Math.floor(config.shutdownTimeoutMs / 2);
        await Promise.all([busListener.close({ drainTimeoutMs }), bus.close({ drainTimeoutMs })]);
        await http.close();
        await ledger.close();
        await store.close();
        logger.info('purser node stopped');
      })();
      return closing;
    },
  };
  return node;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
