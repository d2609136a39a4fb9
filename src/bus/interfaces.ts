/**
 * The bus's public types: every name a program or the network side (src/client, the bus listener) needs.
 * The implementation lives in `bus.ts` and the modules it names; nothing here has behaviour.
 *
 * Vocabulary follows XATMI (Tuxedo, Enduro/X): a *service* is a name with one bounded request queue; its
 * *servers* take requests from that queue one at a time (Tuxedo's MSSQ: multiple servers, single queue);
 * a *call descriptor* (`cd`) names an asynchronous request until its reply is taken, cancelled or timed out.
 */

/** Flag values are Tuxedo's `atmi.h` values, so numbers seen in logs or on the wire mean what they mean there. */
/** Fail at once with TPEBLOCK instead of waiting for a free queue slot (or, in getReply, for a reply). */
export const TPNOBLOCK = 0x01;
/** Fire and forget: `acall` returns cd 0, the reply is discarded. */
export const TPNOREPLY = 0x04;
/** Not part of the caller's transaction. Accepted and recorded; the bus itself has no transactions. */
export const TPNOTRAN = 0x08;
/** No deadline: wait for a queue slot and the reply without limit. */
export const TPNOTIME = 0x20;
/** `getReply`: take whichever reply arrives first. Also accepted in place of a cd: `getReply(TPGETANY)`. */
export const TPGETANY = 0x80;

/** Deadline of a call that gives no `timeoutMs` (bus and network client alike). */
export const DEFAULT_TIMEOUT_MS = 30_000; // 30 seconds, like a typical Tuxedo BLOCKTIME
/** The longest deadline a call may ask for; longer waits use TPNOTIME. */
export const TIMEOUT_MS_MAX = 24 * 60 * 60 * 1000; // 1 day

/** Every flag the bus knows; any other bit set is TPEINVAL. */
export const TP_FLAGS_ALL = TPNOBLOCK | TPNOREPLY | TPNOTRAN | TPNOTIME | TPGETANY;

/** The error codes an `XatmiError` carries (XATMI's `tperrno` names). */
export type XatmiErrorCode =
  | 'TPENOENT' // no such service
  | 'TPETIME' // the request's deadline passed
  | 'TPEBLOCK' // TPNOBLOCK and the queue is full (or, for getReply, no reply is ready)
  | 'TPESVCFAIL' // the service failed on purpose (ServiceFailure): carries `data` and `urcode`
  | 'TPESVCERR' // the service broke: threw something else, its worker died, or it was withdrawn
  | 'TPELIMIT' // too many outstanding call descriptors
  | 'TPEBADDESC' // unknown, cancelled or already-consumed call descriptor
  | 'TPEINVAL' // bad argument
  | 'TPEPROTO' // called in the wrong context (bus closed, forward twice, handler already returned)
  | 'TPEPERM'; // the caller's credentials do not allow this service (network callers only)

/** A service's code: gets the request, returns the reply data (TPSUCCESS), or throws `ServiceFailure` (TPFAIL). */
export type ServiceHandler = (request: ServiceRequest) => unknown;

export interface BusOptions {
  /** Most requests outstanding at once (each holds a descriptor until its reply is taken); past it: TPELIMIT. */
  descriptorsMax?: number;
  /** Deadline of a request whose caller gave no `timeoutMs` (Tuxedo's BLOCKTIME). Milliseconds. */
  defaultTimeoutMs?: number;
  /** Where the access log (one line per call) and server events go; pino's Logger fits. Silent if absent. */
  logger?: BusLogger;
  /** Level of the per-call access-log line. Default 'debug' (so a busy node does not log every call at info). */
  accessLogLevel?: 'debug' | 'info';
  /** Told what the bus does, for metrics (the node's are in `node/bus-metrics.ts`). None if absent. */
  observer?: BusObserver;
}

/**
 * What the bus reports as it works. Called on the hot path (per call), so an implementation must be cheap:
 * record into plain counters and hand them to a metrics library when scraped.
 */
export interface BusObserver {
  /** A server finished a request: how long it waited for a server, and how long the server took. */
  served(service: string, queueWaitMs: number, serviceMs: number): void;
  /** A caller got its outcome: TPSUCCESS or the XATMI error code. */
  answered(service: string, outcome: string): void;
  /** A request was dropped unrun: its deadline passed while it was queued. */
  expiredInQueue(): void;
  /** A reply was dropped: its caller had already been answered TPETIME. */
  lateReply(): void;
  /** A worker-thread server died and was restarted. */
  workerRestarted(): void;
}

export interface BusLogger {
  debug(object: object, message: string): void;
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
  isLevelEnabled?(level: string): boolean;
}

export interface AdvertiseOptions {
  /** In-process servers (concurrent handler runs, each one request at a time). Default 1. Not with `threads`. */
  servers?: number;
  /** Worker-thread servers, for a handler given as a module URL. Default 1 for a URL. */
  threads?: number;
  /** Most requests waiting in the service's queue (not counting those being served). Default 1000. */
  queueDepth?: number;
  /**
   * Worker threads only: requests handed to one worker ahead of time, run strictly one after another. 1 gives
   * Tuxedo's exact behaviour (a server holds one request); more amortises the thread hop (see README). Default 32.
   */
  pipelineDepth?: number;
  /** Worker threads only: most restarts of one service's workers within `restartWindowMs`. Default 5. */
  restartsMax?: number;
  /** Worker threads only: the window the restart budget counts in. Default 60000 (1 minute). */
  restartWindowMs?: number;
  /**
   * A gateway's proxy for a service hosted on other nodes: the nodes serving it now (shown by pq and psc,
   * whose kind is then 'remote'). Set by the node's NATS gateway, not by programs.
   */
  remoteNodes?: () => readonly string[];
}

export interface CallOptions {
  /** Time from now until the request's deadline. Default: the bus's `defaultTimeoutMs`. Ignored with TPNOTIME. */
  timeoutMs?: number;
  /** TPNOBLOCK | TPNOREPLY (acall only) | TPNOTRAN | TPNOTIME. */
  flags?: number;
}

export interface GetReplyOptions {
  /** TPGETANY | TPNOBLOCK. TPNOTIME is accepted and changes nothing: the request's own deadline governs. */
  flags?: number;
}

export interface Reply<T = unknown> {
  /** The descriptor this reply answers (useful with TPGETANY); 0 for `call`. */
  cd: number;
  data: T;
  /** The user return code (tpurcode); 0 unless the service returned `new ServiceReply(data, urcode)`. */
  urcode: number;
}

/** What a handler is given. Calls made through it inherit the request's remaining time. */
export interface ServiceRequest {
  readonly service: string;
  readonly data: unknown;
  readonly flags: number;
  /** Absolute deadline on the `performance.now()` clock; Infinity under TPNOTIME. */
  readonly deadlineMs: number;
  /** Milliseconds left before the deadline (0 when passed; Infinity under TPNOTIME). */
  remainingMs(): number;
  call(service: string, data: unknown, options?: CallOptions): Promise<Reply>;
  acall(service: string, data: unknown, options?: CallOptions): number;
  getReply(cd: number, options?: GetReplyOptions): Promise<Reply>;
  cancel(cd: number): void;
  /**
   * Hands this request to another service (tpforward): `return request.forward('OTHER', data)`. The server is
   * free at once; the reply goes straight to the original caller; the deadline stays the original one.
   */
  forward(service: string, data: unknown): Forward;
}

/** The token `forward` returns; a handler returns it. Opaque. */
export interface Forward {
  readonly forwardTo: string;
}

/** tmadmin `pq`: one row per service. */
export interface QueueView {
  service: string;
  queueDepth: number;
  servers: number;
  busy: number;
  queued: number;
  /** Requests waiting for a free slot in a full queue. */
  waitingForSlot: number;
  /** Time-weighted average of `queued` since advertise. */
  averageQueued: number;
  kind: 'in-process' | 'threads' | 'remote';
  /** For a remote service: the nodes serving it now. */
  nodes?: readonly string[];
}

/** tmadmin `psr`: one row per server. */
export interface ServerView {
  serverId: string;
  service: string;
  done: number;
  /** The service of the request being run, or 'IDLE'. */
  current: string;
  /** Worker threads: running, restarting (waiting out the back-off) or dead (restart budget spent). */
  state: 'running' | 'restarting' | 'dead';
  restarts: number;
}

/** tmadmin `psc`: one row per service. */
export interface ServiceView {
  service: string;
  done: number;
  /** Calls that ended in an error, including runs that outlived their deadline (`timedOut`). */
  failed: number;
  timedOut: number;
  expiredInQueue: number;
  /** UNAVAILABLE: no live server; SUSPENDED: an operator suspended it (new calls get TPENOENT). */
  status: 'AVAILABLE' | 'UNAVAILABLE' | 'SUSPENDED';
}

/** One request in the bus, for an operator (`purser admin requests`, `GET /v1/admin/requests`). */
export interface RequestView {
  id: number;
  service: string;
  /** waiting: for a slot in a full queue; queued; running on a server. */
  phase: 'waiting' | 'queued' | 'running';
  kind: 'call' | 'acall' | 'noreply';
  ageMs: number;
  /** Time left before its deadline, or null without one (TPNOTIME). */
  remainingMs: number | null;
}

/** Totals over the whole bus, tmadmin's `bbstats`. */
export interface BusTotals {
  services: number;
  suspended: number;
  servers: number;
  busyServers: number;
  waiting: number;
  queued: number;
  running: number;
  calls: number;
  done: number;
  failed: number;
  timedOut: number;
  expiredInQueue: number;
  lateReplies: number;
  cancelledReplies: number;
  cancelledByOperator: number;
  workerRestarts: number;
}

export interface Bus {
  advertise(service: string, handler: ServiceHandler | URL, options?: AdvertiseOptions): void;
  /** Withdraws a service at once: new calls get TPENOENT, queued ones TPESVCERR; running ones finish. */
  unadvertise(service: string): Promise<void>;
  /**
   * Changes a service's number of servers (threads for a module) at once. Growing starts servers that take
   * queued work immediately; shrinking stops servers gracefully: each finishes the request it holds, takes
   * nothing new and leaves the queue to the others. Resolves when the leaving servers are gone.
   */
  resize(service: string, servers: number): Promise<void>;
  /**
   * Swaps a service's handler without a gap (a code reload): new servers run `handler` and take the queue at
   * once; the old ones finish the request they hold and leave. Queued requests stay. The kind (function or
   * module URL) and `queueDepth` must stay the same. Resolves when the old servers are gone.
   */
  replace(service: string, handler: ServiceHandler | URL, options?: AdvertiseOptions): Promise<void>;
  call(service: string, data: unknown, options?: CallOptions): Promise<Reply>;
  acall(service: string, data: unknown, options?: CallOptions): number;
  getReply(cd: number, options?: GetReplyOptions): Promise<Reply>;
  cancel(cd: number): void;
  /** Names of advertised services. */
  services(): string[];
  pq(): QueueView[];
  psr(): ServerView[];
  psc(): ServiceView[];
  /** Suspends a service: new calls get TPENOENT at once; queued and running requests finish. */
  suspend(service: string): void;
  /** Undoes `suspend`. */
  resume(service: string): void;
  /** Requests waiting, queued or running, oldest first, at most `limit` (default 1,000). */
  requests(limit?: number): RequestView[];
  /**
   * An operator's cancel of one request by its id: its caller is answered TPESVCERR at once; a waiting or
   * queued request is dropped unrun, a running one finishes and its reply is dropped. False when no such
   * request is in the bus (already answered, or never was).
   */
  cancelRequest(id: number): boolean;
  /** Totals over the whole bus (tmadmin `bbstats`). */
  totals(): BusTotals;
  /** Counters since creation, for tests and the admin views. */
  stats(): BusStats;
  /**
   * Stops taking calls (TPEPROTO), lets queued and running requests finish, then stops workers.
   * Requests still unfinished after `drainTimeoutMs` get TPESVCERR.
   */
  close(options?: { drainTimeoutMs?: number }): Promise<void>;
}

export interface BusStats {
  calls: number;
  /** Requests an operator cancelled (`cancelRequest`). */
  cancelledByOperator: number;
  expiredInQueue: number;
  lateReplies: number;
  cancelledReplies: number;
  workerRestarts: number;
}
