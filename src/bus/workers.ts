/**
 * Worker-thread servers. Each server is one `worker_threads` Worker running the service module's default
 * export; the bus hands it up to `pipelineDepth` requests, which it runs strictly one after another.
 *
 * Why a pipeline: a thread hop (postMessage there and back) costs tens of microseconds, so a worker that
 * holds exactly one request at a time (Tuxedo's model, `pipelineDepth: 1`) spends most of its life waiting
 * for the next one. Handing it a few ahead, and batching every message produced in one turn of the event
 * loop into one postMessage, amortises the hop. The price: requests handed ahead wait behind the one
 * running instead of going to another server; they are still bounded and still expire on time.
 *
 * When a worker dies, every request it holds is answered TPESVCERR at once and its busy count is undone
 * (what SEM_UNDO does for a System V semaphore: the bookkeeping does not die with the process). It is then
 * restarted after an exponential back-off, unless its service's restart budget for the window is spent.
 *
 * Message formats (flat arrays: cheaper to clone than an object per request):
 *   to worker:   [MSG_REQUESTS, id, deadlineEpochMs, flags, service, data, id, …]  (stride 5)
 *                [MSG_CALL_RESULT, callId, ok(1|0), urcode or code, data or message, errorData]
 *   from worker: [MSG_REPLIES, id, status, urcode, data, id, …]                  (stride 4)
 *                [MSG_CALL, callId, parentId, service, data, timeoutMs | undefined, flags]
 */
import { Worker } from 'node:worker_threads';
import { ServiceFailure, ServiceReply, XatmiError } from './errors.js';
import type { BusLogger, CallOptions, Reply } from './interfaces.js';
import type { BusRequest } from './request.js';
import type { Server, Service } from './service.js';
import type { Forward } from './interfaces.js';

export const MSG_REQUESTS = 1;
export const MSG_CALL_RESULT = 2;
export const MSG_REPLIES = 1;
export const MSG_CALL = 2;
export const REQUEST_STRIDE = 5;
export const REPLY_STRIDE = 4;

export const STATUS_SUCCESS = 0;
export const STATUS_FAIL = 1; // ServiceFailure: urcode and data
export const STATUS_ERROR = 2; // the handler threw something else: data is the message
export const STATUS_FORWARD = 3; // data is [service, data]
export const STATUS_EXPIRED = 4; // not run: its deadline had passed when the worker reached it

export const RESTART_BACKOFF_MS_FIRST = 50;
export const RESTART_BACKOFF_MS_MAX = 5_000;

export interface WorkerServerOptions {
  moduleUrl: URL;
  pipelineDepth: number;
  restartsMax: number;
  restartWindowMs: number;
}

/** What a worker server needs from the bus core. */
export interface WorkerHost {
  complete(server: Server, request: BusRequest, outcome: unknown, threw: boolean): void;
  completeUnrun(server: Server, request: BusRequest, code: 'TPETIME' | 'TPEINVAL', message: string): void;
  failInflight(server: Server, requests: BusRequest[], reason: string): void;
  countRestart(): void;
  pump(service: Service): void;
  nestedCall(parent: BusRequest, service: string, data: unknown, options: CallOptions | undefined): Promise<Reply>;
  forwardToken(request: BusRequest, service: string, data: unknown): Forward;
  logger(): BusLogger | undefined;
}

const RUNNING_FROM_SOURCE = import.meta.url.endsWith('.ts');
const HOST_URL = new URL(RUNNING_FROM_SOURCE ? './worker-host.ts' : './worker-host.js', import.meta.url);

/**
 * Worker threads do not inherit the loader hooks that let tests and benchmarks run the TypeScript sources
 * (tsx via --import), so from source the worker first registers tsx, then loads the host. The compiled
 * package starts the compiled host directly.
 */
function startWorker(workerData: object): Worker {
  if (!RUNNING_FROM_SOURCE) return new Worker(HOST_URL, { workerData });
  const tsxApiUrl = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsxApiUrl)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(HOST_URL.href)}); })`;
  return new Worker(bootstrap, { eval: true, workerData });
}

export class WorkerServer implements Server {
  inflight = 0;
  readonly capacity: number;
  done = 0;
  restarts = 0;
  state: 'running' | 'restarting' | 'dead' = 'running';
  retiring = false;
  onIdle?: () => void;

  private worker: Worker | undefined;
  private readonly held = new Map<number, BusRequest>();
  private outbox: unknown[] = [MSG_REQUESTS];
  private flushScheduled = false;
  private nextWireId = 1;
  private stopping = false;
  private restartTimesMs: number[] = [];
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly host: WorkerHost,
    readonly service: Service,
    readonly id: string,
    private readonly options: WorkerServerOptions,
  ) {
    this.capacity = options.pipelineDepth;
    this.spawn();
  }

  running(): Iterable<BusRequest> {
    return this.held.values();
  }

  begin(request: BusRequest): void {
    const wireId = this.nextWireId++;
    request.wireId = wireId;
    this.held.set(wireId, request);
    const deadlineEpochMs = Number.isFinite(request.deadlineMs) ? performance.timeOrigin + request.deadlineMs : Infinity;
    this.outbox.push(wireId, deadlineEpochMs, request.flags, request.service, request.data);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const batch = this.outbox;
    if (batch.length === 1 || !this.worker) return;
    this.outbox = [MSG_REQUESTS];
    try {
      this.worker.postMessage(batch);
    } catch {
      // Something in the batch cannot be cloned: send one by one so only the culprits fail.
      for (let index = 1; index < batch.length; index += REQUEST_STRIDE) this.postOne(batch.slice(index, index + REQUEST_STRIDE));
    }
  };

  private postOne(entry: unknown[]): void {
    try {
      (this.worker as Worker).postMessage([MSG_REQUESTS, ...entry]);
    } catch (error) {
      const request = this.held.get(entry[0] as number);
      if (!request) return;
      this.held.delete(request.wireId);
      this.host.completeUnrun(this, request, 'TPEINVAL', `request data for ${request.service} cannot be sent to a worker thread: ${(error as Error).message}`);
    }
  }

  private spawn(): void {
    const worker = startWorker({ moduleUrl: this.options.moduleUrl.href, service: this.service.name });
    this.worker = worker;
    worker.on('message', (message: unknown[]) => this.onMessage(message));
    worker.on('error', (error) => this.host.logger()?.error({ err: error, server: this.id }, 'worker server failed'));
    worker.on('exit', (code) => this.onExit(worker, code));
    this.state = 'running';
    if (this.outbox.length > 1 && !this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.flush);
    }
  }

  private onMessage(message: unknown[]): void {
    if (message[0] === MSG_REPLIES) this.onReplies(message);
    else if (message[0] === MSG_CALL) this.onNestedCall(message);
  }

  private onReplies(message: unknown[]): void {
    for (let index = 1; index < message.length; index += REPLY_STRIDE) {
      const request = this.held.get(message[index] as number);
      if (!request) continue;
      this.held.delete(request.wireId);
      const status = message[index + 1] as number;
      const urcode = message[index + 2] as number;
      const data = message[index + 3];
      if (status === STATUS_SUCCESS) this.host.complete(this, request, urcode === 0 ? data : new ServiceReply(data, urcode), false);
      else if (status === STATUS_FAIL) this.host.complete(this, request, new ServiceFailure(urcode, data), true);
      else if (status === STATUS_FORWARD) this.completeForward(request, data as [string, unknown]);
      else if (status === STATUS_EXPIRED) this.host.completeUnrun(this, request, 'TPETIME', `${request.service} request expired before its worker reached it`);
      else this.host.complete(this, request, new Error(String(data)), true);
    }
  }

  private completeForward(request: BusRequest, [service, data]: [string, unknown]): void {
    let token: Forward;
    try {
      token = this.host.forwardToken(request, service, data);
    } catch (error) {
      this.host.complete(this, request, error, true);
      return;
    }
    this.host.complete(this, request, token, false);
  }

  private onNestedCall(message: unknown[]): void {
    const [, callId, parentId, service, data, timeoutMs, flags] = message as [number, number, number, string, unknown, number | undefined, number];
    const parent = this.held.get(parentId);
    const worker = this.worker;
    if (!worker) return;
    const answer = (result: unknown[]) => {
      try {
        worker.postMessage(result);
      } catch (error) {
        worker.postMessage([MSG_CALL_RESULT, callId, 0, 'TPEINVAL', `reply cannot be sent to the worker: ${(error as Error).message}`, undefined]);
      }
    };
    if (!parent) {
      answer([MSG_CALL_RESULT, callId, 0, 'TPEPROTO', 'the calling request is no longer running', undefined]);
      return;
    }
    this.host.nestedCall(parent, service, data, { timeoutMs, flags }).then(
      (reply) => answer([MSG_CALL_RESULT, callId, 1, reply.urcode, reply.data, undefined]),
      (error: unknown) => {
        const xatmi = error instanceof XatmiError ? error : new XatmiError('TPESVCERR', String(error));
        answer([MSG_CALL_RESULT, callId, 0, xatmi.code, xatmi.message, [xatmi.urcode, xatmi.data]]);
      },
    );
  }

  private onExit(worker: Worker, code: number): void {
    if (worker !== this.worker) return;
    this.worker = undefined;
    const requests = [...this.held.values()];
    this.held.clear();
    this.outbox = [MSG_REQUESTS];
    if (this.stopping) {
      this.state = 'dead';
      this.host.failInflight(this, requests, `worker server ${this.id} was stopped`);
      return;
    }
    this.host.logger()?.warn({ server: this.id, exitCode: code, inflight: requests.length }, 'worker server died');
    const nowMs = performance.now();
    this.restartTimesMs = this.restartTimesMs.filter((atMs) => nowMs - atMs < this.options.restartWindowMs);
    if (this.restartTimesMs.length >= this.options.restartsMax) {
      this.state = 'dead';
      this.host.logger()?.error({ server: this.id, restartsMax: this.options.restartsMax }, 'worker server restart budget spent; not restarting');
    } else {
      this.state = 'restarting';
      const backoffMs = Math.min(RESTART_BACKOFF_MS_MAX, RESTART_BACKOFF_MS_FIRST * 2 ** this.restartTimesMs.length);
      this.restartTimesMs.push(nowMs);
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined;
        if (this.stopping) return;
        this.restarts += 1;
        this.host.countRestart();
        this.spawn();
        this.host.pump(this.service);
      }, backoffMs);
    }
    this.host.failInflight(this, requests, `worker server ${this.id} died (exit code ${code}) while holding the request`);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const worker = this.worker;
    if (!worker) {
      this.state = 'dead';
      return;
    }
    await worker.terminate();
  }
}
