/**
 * The node's gateway to other nodes over NATS (Tuxedo's domain gateway, with NATS as the transport between
 * machines): services this node hosts are exported — each is a NATS queue-group subscription, so several
 * nodes exporting one service share its calls — and services other nodes export are imported as proxies in
 * the local bus, so `call`/`acall`/`forward` reach them unchanged, with the same flags and error codes.
 *
 * Failure bounds. Every node sends a heartbeat every `heartbeatMs` (default 1 s) on a NATS connection of its
 * own, so heartbeats never queue behind call payloads; any ack or reply from a node also counts as a sign of
 * life. A node not heard from for `deadAfterHeartbeats` of its intervals (3: 3 s by default) is dead: its
 * in-flight calls are answered TPESVCERR at once and its services leave the registry (they return with its
 * next heartbeat). A call no node acknowledges within the same bound is answered TPESVCERR. A lost NATS link
 * answers every in-flight remote call TPESVCERR at once and withdraws every remote service; the client
 * reconnects on its own and heartbeats bring the services back. A local service always wins over a remote
 * one of the same name (it is never imported).
 *
 * TLS (tls.ts): with TLS options both connections verify the NATS server and never fall back to plain text.
 * A first connection that fails on TLS (the server's certificate does not verify, the server refuses this
 * node's certificate, or it offers no TLS) is not retried quietly forever: the link's state becomes
 * `refused` with a NODE_GATEWAY_TLS_FAILED error (in /health, GET /v1/admin/gateway and the log), `ready()`
 * rejects with that error, and the gateway keeps trying every REFUSED_RETRY_MS so that a fixed server is
 * picked up without a restart.
 *
 * Deadlines travel as the time left: the serving node starts its own deadline from it and drops a call that
 * arrives with none left; the caller's own bus answers TPETIME on time, and a reply after that is dropped as
 * late (counted by the bus).
 */
import { randomInt } from 'node:crypto';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Registry } from 'prom-client';
import { RemoteOutcome, ServiceFailure, ServiceReply, XatmiError } from '../../bus/errors.js';
import { TIMEOUT_MS_MAX, TPNOBLOCK, TPNOTIME, TPNOTRAN, type Bus, type ServiceRequest } from '../../bus/interfaces.js';
import { NodeError } from '../errors.js';
import type { Logger } from '../logger.js';
import { connectBoth, RETRY_MS, REFUSED_RETRY_MS } from './link.js';
import { gatewayMetrics } from './metrics.js';
import {
  BYE_WILDCARD, HEARTBEAT_WILDCARD, PROTOCOL_VERSION, byeSubject, callSubject, decodeCall, decodeHeartbeat, decodeReplyOrAck, encode, heartbeatSubject, replySubject,
  type CallMessage, type ReplyMessage,
} from './protocol.js';
import { describeTlsFailure, isTlsFailure, type NatsTls } from './tls.js';

export const GATEWAY_HEARTBEAT_MS_DEFAULT = 1000;
/** Services the node advertises for its own parts (the outbox's remote workers); `*` does not export them. */
const NODE_SERVICE_PREFIX = 'TASKS.';
export const DEAD_AFTER_HEARTBEATS = 3;
/** A proxy holds one server per call in flight to other nodes; beyond this many, calls queue. */
export const PROXY_SERVERS = 1024;
export const PROXY_QUEUE_DEPTH = 10_000;
/** After its deadline, a remote call's entry is dropped this much later (its caller had TPETIME already). */
const DEADLINE_GRACE_MS = 1000;
const FORWARDED_FLAGS = TPNOBLOCK | TPNOTRAN | TPNOTIME;
/** A served call is acknowledged only if its answer takes longer than this (far below the unacknowledged bound). */
const ACK_DELAY_MS = 20;

export interface GatewayOptions {
  /** NATS server URLs (nats://[user:pass@]host:port). */
  servers: string[];
  nodeName: string;
  token?: string;
  /** TLS to NATS, required when given (tls.ts reads it); undefined: plain, unless the server requires TLS. */
  tls?: NatsTls;
  /** Services to export: every one the node hosts ('*'), or these. */
  exports: '*' | readonly string[];
  heartbeatMs?: number;
  bus: Bus;
  logger: Logger;
  registry: Registry;
}

export interface RemoteNode {
  epoch: number;
  heartbeatMs: number;
  services: Set<string>;
  lastSeenMs: number;
}

interface PendingCall {
  service: string;
  /** The node that acknowledged it; undefined until then. */
  node: string | undefined;
  sentAtMs: number;
  /** The caller's deadline (performance.now() clock; Infinity under TPNOTIME). */
  deadlineMs: number;
  timer: NodeJS.Timeout | undefined;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * The link to NATS: `connecting` until first connected (`error`: why the last attempt failed), `refused` while
 * NATS fails the TLS handshake (`error.code` NODE_GATEWAY_TLS_FAILED), `up`, `down` (lost; reconnecting), `closed`.
 */
export interface GatewayLink {
  state: 'connecting' | 'refused' | 'up' | 'down' | 'closed';
  /** `code` only on a TLS failure; otherwise why NATS could not be reached (down, refused, timed out). */
  error?: { code?: 'NODE_GATEWAY_TLS_FAILED'; message: string };
}

export interface GatewayStats {
  state: GatewayLink['state'];
  error?: GatewayLink['error'];
  nodes: Array<{ node: string; services: string[]; lastSeenMsAgo: number }>;
  exported: string[];
  imported: string[];
  inFlight: number;
  badMessages: number;
  expiredOnArrival: number;
}

/** Starts a gateway; it connects in the background (see `ready()`), so a node never waits for NATS to start. */
export function startGateway(options: GatewayOptions): Gateway {
  const gateway = new Gateway(options);
  gateway.start();
  return gateway;
}

export class Gateway {
  private readonly node: string;
  private readonly epoch = randomInt(1, 2 ** 47);
  private readonly heartbeatMs: number;
  private readonly bus: Bus;
  private readonly logger: Logger;
  private data: NatsConnection | undefined;
  private control: NatsConnection | undefined;
  private state: GatewayStats['state'] = 'connecting';
  private readonly remote = new Map<string, RemoteNode>();
  private readonly exported = new Map<string, Subscription>();
  private readonly proxies = new Set<string>();
  private readonly pending = new Map<number, PendingCall>();
  private lastCallId = 0;
  private timer: NodeJS.Timeout | undefined;
  private badMessages = 0;
  private expiredOnArrival = 0;
  private readonly metrics: ReturnType<typeof gatewayMetrics>;
  /** Why the last first-connection attempt failed; cleared once connected. */
  private lastError: GatewayLink['error'];
  private refusal: NodeError | undefined;
  private readonly waiters: Array<{ resolve: () => void; reject: (error: NodeError) => void }> = [];
  /** Aborted by close(): ends the wait between first-connection attempts. */
  private readonly closing = new AbortController();

  constructor(private readonly options: GatewayOptions) {
    this.node = options.nodeName;
    this.heartbeatMs = options.heartbeatMs ?? GATEWAY_HEARTBEAT_MS_DEFAULT;
    this.bus = options.bus;
    this.logger = options.logger.child({ part: 'gateway', node: this.node });
    this.metrics = gatewayMetrics(options.registry, () => this.state, () => this.remote);
  }

  /**
   * Connects both NATS connections. The node does not wait for NATS: with the server down, it starts and
   * serves its own services while the client keeps trying; remote services appear once it is connected.
   */
  start(): void {
    void this.connectNow().catch((error: unknown) => this.logger.error({ err: error }, 'gateway could not connect to NATS'));
  }

  /**
   * Resolves once both NATS connections are up (at once when they are, or were), or when the gateway closes
   * first; rejects with NodeError NODE_GATEWAY_TLS_FAILED while NATS fails the TLS handshake. A server that is
   * only down or unreachable is waited for.
   */
  ready(): Promise<void> {
    if (this.data !== undefined || this.state === 'closed') return Promise.resolve();
    if (this.refusal !== undefined) return Promise.reject(this.refusal);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** The link's state, and the error that keeps it from connecting (for /health). */
  link(): GatewayLink {
    return { state: this.state, ...(this.lastError === undefined ? {} : { error: this.lastError }) };
  }

  /** Connects both NATS connections (link.ts tries until it works or the gateway closes), then starts. */
  private async connectNow(): Promise<void> {
    const connections = await connectBoth({ servers: this.options.servers, token: this.options.token, tls: this.options.tls }, this.node, this.closing.signal, (error) => this.attemptFailed(error));
    if (connections === undefined) return; // closed first
    const [data, control] = connections;
    this.data = data;
    this.control = control;
    if (this.refusal !== undefined) this.logger.info('NATS accepted the TLS handshake now');
    this.lastError = undefined;
    this.refusal = undefined;
    for (const waiter of this.waiters.splice(0)) waiter.resolve();
    this.state = 'up';
    data.subscribe(replySubject(this.node), { callback: (error, message) => { if (!error) this.onReply(message.data); } });
    control.subscribe(HEARTBEAT_WILDCARD, { callback: (error, message) => { if (!error) this.onHeartbeat(message.data); } });
    control.subscribe(BYE_WILDCARD, { callback: (error, message) => { if (!error) this.onBye(message.subject); } });
    this.watch(data);
    this.watch(control);
    this.tick();
    this.timer = setInterval(() => this.tick(), this.heartbeatMs);
    this.logger.info({ servers: this.options.servers, heartbeatMs: this.heartbeatMs }, 'gateway connected to NATS');
  }

  /**
   * A first connection attempt failed: a TLS failure is reported (and fails `ready()`), anything else waited
   * out. Returns how long to wait before the next attempt.
   */
  private attemptFailed(error: unknown): number {
    const message = error instanceof Error ? error.message : String(error);
    if (!isTlsFailure(error)) {
      if (this.lastError?.message !== message) this.logger.warn({ err: error, servers: this.options.servers }, 'NATS not reachable yet; trying again');
      this.lastError = { message };
      if (this.state === 'refused') this.state = 'connecting';
      this.refusal = undefined;
      return RETRY_MS;
    }
    const refusal = new NodeError('NODE_GATEWAY_TLS_FAILED', `the TLS handshake with NATS (${this.options.servers.join(', ')}) failed: ${describeTlsFailure(error)}; check --nats-tls-ca, --nats-tls-cert/--nats-tls-key and the server's TLS settings`, { cause: error });
    if (this.refusal?.message !== refusal.message) this.logger.error({ err: refusal }, 'gateway cannot connect: NATS TLS failed (trying again every few seconds)');
    this.refusal = refusal;
    this.lastError = { code: 'NODE_GATEWAY_TLS_FAILED', message: refusal.message };
    this.state = 'refused';
    for (const waiter of this.waiters.splice(0)) waiter.reject(refusal);
    return REFUSED_RETRY_MS;
  }

  stats(): GatewayStats {
    const now = performance.now();
    return {
      state: this.state,
      ...(this.lastError === undefined ? {} : { error: this.lastError }),
      nodes: [...this.remote].map(([node, remote]) => ({ node, services: [...remote.services].sort(), lastSeenMsAgo: Math.round(now - remote.lastSeenMs) })),
      exported: [...this.exported.keys()].sort(),
      imported: [...this.proxies].sort(),
      inFlight: this.pending.size,
      badMessages: this.badMessages,
      expiredOnArrival: this.expiredOnArrival,
    };
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearInterval(this.timer);
    this.closing.abort();
    for (const waiter of this.waiters.splice(0)) waiter.resolve();
    try {
      this.control?.publish(byeSubject(this.node), encode({ v: PROTOCOL_VERSION, node: this.node }));
    } catch {
      // The link is down: the others see this node's heartbeats stop instead.
    }
    this.failPending(() => true, 'the gateway closed');
    for (const service of [...this.proxies]) await this.withdrawProxy(service);
    // drain: stop taking calls, let the replies of calls being served go out, then close. A drain that fails
    // (the link is down) leaves the client reconnecting, which would keep the process alive: close it too.
    const hangUp = async (connection: NatsConnection | undefined) => {
      await connection?.drain().catch(() => undefined);
      if (connection?.isClosed() === false) await connection.close().catch(() => undefined);
    };
    await Promise.all([hangUp(this.data), hangUp(this.control)]);
  }

  // ── connection state ─────────────────────────────────────────────────────────────────────────────────

  private watch(connection: NatsConnection): void {
    void (async () => {
      for await (const status of connection.status()) {
        if (this.state === 'closed') return;
        if (status.type === 'disconnect') this.linkDown();
        else if (status.type === 'reconnect') {
          this.state = 'up';
          this.logger.info('NATS link back; remote services return with the next heartbeats');
          this.tick();
        }
      }
    })();
  }

  /** Our own link to NATS is gone: nothing remote can answer, so nothing remote is offered. */
  private linkDown(): void {
    if (this.state !== 'up') return;
    this.state = 'down';
    this.logger.warn({ inFlight: this.pending.size }, 'NATS link lost: remote calls in flight answered TPESVCERR, remote services withdrawn');
    this.failPending(() => true, 'the link to NATS was lost');
    for (const node of [...this.remote.keys()]) this.forget(node);
    this.reconcileImports();
  }

  // ── every heartbeat interval: send ours, judge the others, line up exports and imports ──────────────

  private tick(): void {
    if (this.state !== 'up') return;
    this.reconcileExports();
    try {
      this.control!.publish(heartbeatSubject(this.node), encode({ v: PROTOCOL_VERSION, node: this.node, epoch: this.epoch, heartbeatMs: this.heartbeatMs, services: [...this.exported.keys()] }));
    } catch (error) {
      this.logger.debug({ err: error }, 'heartbeat not sent');
    }
    const now = performance.now();
    for (const [node, remote] of this.remote) {
      if (now - remote.lastSeenMs > DEAD_AFTER_HEARTBEATS * remote.heartbeatMs) this.nodeDied(node, `no heartbeat for ${Math.round(now - remote.lastSeenMs)} ms`);
    }
  }

  private reconcileExports(): void {
    // '*' is what the node hosts for callers: not its own plumbing (the outbox's TASKS.* services, which remote
    // workers reach through connect()); a list may still name them.
    const wanted = new Set(this.bus.pq().filter((row) => row.kind !== 'remote').map((row) => row.service)
      .filter((service) => (this.options.exports === '*' ? !service.startsWith(NODE_SERVICE_PREFIX) : this.options.exports.includes(service))));
    for (const service of wanted) {
      if (this.exported.has(service)) continue;
      const subject = callSubject(service);
      this.exported.set(service, this.data!.subscribe(subject, { queue: subject, callback: (error, message) => { if (!error && message.reply) this.serve(message.data, message.reply); } }));
    }
    for (const [service, subscription] of this.exported) {
      if (wanted.has(service)) continue;
      subscription.unsubscribe();
      this.exported.delete(service);
    }
  }

  // ── serving calls from other nodes ───────────────────────────────────────────────────────────────────

  private serve(bytes: Uint8Array, reply: string): void {
    const call = decodeCall(bytes);
    if (!call || !reply.startsWith('purser.reply.')) {
      this.badMessages += 1;
      this.metrics.badMessages.inc();
      return;
    }
    if (call.remainingMs <= 0) {
      this.expiredOnArrival += 1;
      this.metrics.expiredOnArrival.inc();
      return;
    }
    // The ack tells the caller which node holds its call (so that node's death fails it at once). A call that
    // is answered quickly needs none — the reply says the same — so it goes only when the answer is not ready
    // within ACK_DELAY_MS: one message per call instead of two on the common path.
    let answered = false;
    const ack = setTimeout(() => {
      if (!answered) this.send(reply, { v: PROTOCOL_VERSION, kind: 'ack', id: call.id, node: this.node });
    }, ACK_DELAY_MS);
    void this.run(call).then((message) => {
      answered = true;
      clearTimeout(ack);
      this.send(reply, message);
    });
  }

  private async run(call: CallMessage): Promise<ReplyMessage> {
    const base = { v: PROTOCOL_VERSION, kind: 'reply' as const, id: call.id, node: this.node };
    const flags = call.flags & FORWARDED_FLAGS;
    const timeoutMs = Number.isFinite(call.remainingMs) ? Math.max(1, Math.min(Math.ceil(call.remainingMs), TIMEOUT_MS_MAX)) : undefined;
    try {
      const result = await this.bus.call(call.service, call.data, { timeoutMs, flags: timeoutMs === undefined ? flags | TPNOTIME : flags });
      return { ...base, ok: true, data: result.data, urcode: result.urcode };
    } catch (error) {
      if (error instanceof XatmiError) return { ...base, ok: false, code: error.code, message: error.message, urcode: error.urcode, data: error.data };
      return { ...base, ok: false, code: 'TPESVCERR', message: 'the serving node failed unexpectedly' };
    }
  }

  private send(subject: string, message: object): void {
    try {
      this.data!.publish(subject, encode(message));
    } catch (error) {
      // Data that does not serialize, or a link gone meanwhile: the caller's deadline or the link rules answer it.
      this.logger.debug({ err: error, subject }, 'gateway message not sent');
    }
  }

  // ── calling other nodes ──────────────────────────────────────────────────────────────────────────────

  private callRemote(service: string, request: ServiceRequest): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.state !== 'up') {
        reject(new RemoteOutcome(new XatmiError('TPESVCERR', `${service} is on another node and the link to NATS is down`)));
        return;
      }
      const id = ++this.lastCallId;
      const call: PendingCall = { service, node: undefined, sentAtMs: performance.now(), deadlineMs: request.deadlineMs, timer: undefined, resolve, reject };
      this.pending.set(id, call);
      const message: CallMessage = { v: PROTOCOL_VERSION, id, caller: this.node, service, remainingMs: request.remainingMs(), flags: request.flags, data: request.data };
      try {
        this.data!.publish(callSubject(service), encode(message), { reply: replySubject(this.node) });
      } catch (error) {
        this.settle(id, new RemoteOutcome(new XatmiError('TPESVCERR', `${service}: the call could not be sent to another node: ${(error as Error).message}`)));
        return;
      }
      // Until a node acknowledges it, the bound is the one a dead node gets.
      call.timer = setTimeout(() => this.settle(id, new RemoteOutcome(new XatmiError('TPESVCERR', `${service}: no node took the call`))), DEAD_AFTER_HEARTBEATS * this.heartbeatMs);
    });
  }

  private onReply(bytes: Uint8Array): void {
    const message = decodeReplyOrAck(bytes);
    if (!message) {
      this.badMessages += 1;
      this.metrics.badMessages.inc();
      return;
    }
    const remote = this.remote.get(message.node);
    if (remote) remote.lastSeenMs = performance.now(); // a sign of life, whatever the heartbeats do
    const call = this.pending.get(message.id);
    if (!call) return; // late: answered already (deadline, dead node); the bus counts late replies it drops
    if (message.kind === 'ack') {
      call.node = message.node;
      clearTimeout(call.timer);
      // The caller has its TPETIME from its own bus at the deadline; this only frees the proxy's server if
      // the serving node never answers (it drops calls it could not finish in time).
      const id = message.id;
      call.timer = Number.isFinite(call.deadlineMs)
        ? setTimeout(() => this.settle(id, new RemoteOutcome(new XatmiError('TPETIME', `${call.service} did not answer within its deadline`))), Math.max(0, call.deadlineMs - performance.now()) + DEADLINE_GRACE_MS)
        : undefined;
      return;
    }
    this.metrics.roundTrip.observe({ node: message.node }, (performance.now() - call.sentAtMs) / 1000);
    this.metrics.calls.inc({ node: message.node, outcome: message.ok ? 'ok' : message.code });
    if (message.ok) this.settle(message.id, undefined, message.urcode === 0 ? message.data : new ServiceReply(message.data, message.urcode));
    else if (message.code === 'TPESVCFAIL') this.settle(message.id, new ServiceFailure(message.urcode ?? 0, message.data));
    else this.settle(message.id, new RemoteOutcome(new XatmiError(message.code, `${message.node}: ${message.message}`)));
  }

  private settle(id: number, error: unknown, value?: unknown): void {
    const call = this.pending.get(id);
    if (!call) return;
    this.pending.delete(id);
    clearTimeout(call.timer);
    if (error === undefined) call.resolve(value);
    else call.reject(error);
  }

  private failPending(which: (call: PendingCall) => boolean, reason: string): void {
    for (const [id, call] of [...this.pending]) {
      if (!which(call)) continue;
      this.metrics.calls.inc({ node: call.node ?? 'none', outcome: 'TPESVCERR' });
      this.settle(id, new RemoteOutcome(new XatmiError('TPESVCERR', `${call.service}: ${reason}`)));
    }
  }

  // ── other nodes ──────────────────────────────────────────────────────────────────────────────────────

  private onHeartbeat(bytes: Uint8Array): void {
    const beat = decodeHeartbeat(bytes);
    if (!beat) {
      this.badMessages += 1;
      this.metrics.badMessages.inc();
      return;
    }
    if (beat.node === this.node || this.state !== 'up') return;
    const known = this.remote.get(beat.node);
    if (known && known.epoch !== beat.epoch) this.nodeDied(beat.node, 'it restarted');
    const services = new Set(beat.services);
    const current = this.remote.get(beat.node);
    if (current) {
      current.lastSeenMs = performance.now();
      current.heartbeatMs = beat.heartbeatMs;
      current.services = services;
    } else {
      this.remote.set(beat.node, { epoch: beat.epoch, heartbeatMs: beat.heartbeatMs, services, lastSeenMs: performance.now() });
      this.logger.info({ remote: beat.node, services: beat.services.length }, 'node joined');
    }
    this.reconcileImports();
  }

  private onBye(subject: string): void {
    const node = subject.slice('purser.bye.'.length);
    if (this.remote.has(node)) this.nodeDied(node, 'it left');
  }

  private nodeDied(node: string, reason: string): void {
    this.logger.warn({ remote: node, reason }, 'node gone: its calls in flight answered TPESVCERR, its services withdrawn');
    this.failPending((call) => call.node === node, `node ${node} is gone (${reason})`);
    this.forget(node);
    this.reconcileImports();
  }

  private forget(node: string): void {
    this.remote.delete(node);
    this.metrics.forget(node);
  }

  private nodesServing(service: string): string[] {
    return [...this.remote].filter(([, remote]) => remote.services.has(service)).map(([node]) => node).sort();
  }

  private reconcileImports(): void {
    const wanted = new Set<string>();
    for (const remote of this.remote.values()) for (const service of remote.services) wanted.add(service);
    const local = new Set(this.bus.services());
    for (const service of wanted) {
      if (this.proxies.has(service) || local.has(service)) continue; // a local service always wins
      try {
        this.bus.advertise(service, (request) => this.callRemote(service, request), { servers: PROXY_SERVERS, queueDepth: PROXY_QUEUE_DEPTH, remoteNodes: () => this.nodesServing(service) });
        this.proxies.add(service);
      } catch (error) {
        this.logger.warn({ err: error, service }, 'remote service not imported');
      }
    }
    for (const service of [...this.proxies]) if (!wanted.has(service)) void this.withdrawProxy(service);
  }

  private async withdrawProxy(service: string): Promise<void> {
    this.proxies.delete(service);
    if (this.bus.services().includes(service)) await this.bus.unadvertise(service).catch(() => undefined);
  }
}
