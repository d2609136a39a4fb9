/**
 * The program a worker-thread server runs: imports the service module, takes batches of requests from the
 * bus, runs them strictly one at a time, and sends the replies back batched (see workers.ts for the
 * message formats and why they are batched).
 *
 * The service module's default export is the handler, with the same contract as an in-process one:
 * return the reply data (or a ServiceReply), throw ServiceFailure to fail, `return request.forward(…)` to
 * hand the request on. `request.call` reaches services through the main thread with the remaining time;
 * `acall`/`getReply`/`cancel` are not offered inside worker threads (TPEPROTO).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ServiceFailure, ServiceReply, XatmiError } from './errors.js';
import type { CallOptions, Forward, Reply, ServiceHandler, ServiceRequest, XatmiErrorCode } from './interfaces.js';
import {
  MSG_CALL, MSG_CALL_RESULT, MSG_REPLIES, MSG_REQUESTS, REQUEST_STRIDE,
  STATUS_ERROR, STATUS_EXPIRED, STATUS_FAIL, STATUS_FORWARD, STATUS_SUCCESS,
} from './workers.js';

const port = parentPort;
if (!port) throw new Error('worker-host.ts runs only as a worker thread');
const { moduleUrl } = workerData as { moduleUrl: string; service: string };
const loaded = (await import(moduleUrl)) as { default?: unknown };
if (typeof loaded.default !== 'function') throw new Error(`service module ${moduleUrl} has no default-exported handler function`);
const handler = loaded.default as ServiceHandler;

const pending: unknown[] = [];
let pendingHead = 0;
let running = false;
let replies: unknown[] = [MSG_REPLIES];
const calls = new Map<number, { resolve: (reply: Reply) => void; reject: (error: XatmiError) => void }>();
let nextCallId = 1;

class ForwardRequest implements Forward {
  constructor(
    readonly forwardTo: string,
    readonly data: unknown,
    readonly request: WorkerRequest,
  ) {}
}

class WorkerRequest implements ServiceRequest {
  done = false;
  forwarded = false;
  constructor(
    readonly id: number,
    readonly service: string,
    readonly data: unknown,
    readonly flags: number,
    readonly deadlineMs: number,
  ) {}

  remainingMs(): number {
    return Math.max(0, this.deadlineMs - performance.now());
  }

  call(service: string, data: unknown, options?: CallOptions): Promise<Reply> {
    if (this.done) return Promise.reject(new XatmiError('TPEPROTO', 'call after the handler returned'));
    const callId = nextCallId++;
    const promise = new Promise<Reply>((resolve, reject) => calls.set(callId, { resolve, reject }));
    flushReplies();
    try {
      port!.postMessage([MSG_CALL, callId, this.id, service, data, options?.timeoutMs, options?.flags ?? 0]);
    } catch (error) {
      calls.delete(callId);
      return Promise.reject(new XatmiError('TPEINVAL', `call data cannot leave the worker thread: ${(error as Error).message}`));
    }
    return promise;
  }

  acall(): number {
    throw new XatmiError('TPEPROTO', 'acall is not available inside worker-thread servers; use call');
  }

  getReply(): Promise<Reply> {
    return Promise.reject(new XatmiError('TPEPROTO', 'getReply is not available inside worker-thread servers; use call'));
  }

  cancel(): void {
    throw new XatmiError('TPEPROTO', 'cancel is not available inside worker-thread servers');
  }

  forward(service: string, data: unknown): Forward {
    if (this.done) throw new XatmiError('TPEPROTO', 'forward is only possible while the handler runs');
    if (this.forwarded) throw new XatmiError('TPEPROTO', 'this request has already been forwarded');
    this.forwarded = true;
    return new ForwardRequest(service, data, this);
  }
}

port.on('message', (message: unknown[]) => {
  if (message[0] === MSG_REQUESTS) {
    for (let index = 1; index < message.length; index++) pending.push(message[index]);
    if (!running) void runPending();
  } else if (message[0] === MSG_CALL_RESULT) {
    const [, callId, ok, codeOrUrcode, dataOrMessage, errorData] = message as [number, number, number, unknown, unknown, [number, unknown] | undefined];
    const waiter = calls.get(callId);
    if (!waiter) return;
    calls.delete(callId);
    if (ok === 1) waiter.resolve({ cd: 0, data: dataOrMessage, urcode: codeOrUrcode as number });
    else waiter.reject(new XatmiError(codeOrUrcode as XatmiErrorCode, String(dataOrMessage), { urcode: errorData?.[0], data: errorData?.[1] }));
  }
});

/** Runs queued requests one at a time; synchronous handlers run back to back and reply in one batch. */
async function runPending(): Promise<void> {
  running = true;
  while (pendingHead < pending.length) {
    const id = pending[pendingHead] as number;
    const deadlineEpochMs = pending[pendingHead + 1] as number;
    const flags = pending[pendingHead + 2] as number;
    const service = pending[pendingHead + 3] as string;
    const data = pending[pendingHead + 4];
    pendingHead += REQUEST_STRIDE;
    if (pendingHead === pending.length) {
      pending.length = 0;
      pendingHead = 0;
    }
    const deadlineMs = deadlineEpochMs - performance.timeOrigin;
    if (deadlineMs <= performance.now()) {
      replies.push(id, STATUS_EXPIRED, 0, undefined);
      continue;
    }
    const request = new WorkerRequest(id, service, data, flags, deadlineMs);
    let outcome: unknown;
    let threw = false;
    try {
      outcome = handler(request);
      if (isThenable(outcome)) {
        flushReplies();
        outcome = await outcome;
      }
    } catch (error) {
      outcome = error;
      threw = true;
    }
    request.done = true;
    record(request, outcome, threw);
  }
  running = false;
  flushReplies();
}

function record(request: WorkerRequest, outcome: unknown, threw: boolean): void {
  const id = request.id;
  if (threw) {
    if (outcome instanceof ServiceFailure) replies.push(id, STATUS_FAIL, outcome.urcode, outcome.data);
    else replies.push(id, STATUS_ERROR, 0, outcome instanceof Error ? outcome.message : String(outcome));
  } else if (outcome instanceof ForwardRequest && outcome.request === request) replies.push(id, STATUS_FORWARD, 0, [outcome.forwardTo, outcome.data]);
  else if (outcome instanceof ServiceReply) replies.push(id, STATUS_SUCCESS, outcome.urcode, outcome.data);
  else replies.push(id, STATUS_SUCCESS, 0, outcome);
}

function flushReplies(): void {
  if (replies.length === 1) return;
  const batch = replies;
  replies = [MSG_REPLIES];
  try {
    port!.postMessage(batch);
  } catch {
    // A reply that cannot be cloned fails alone, as TPESVCERR, rather than losing the whole batch.
    for (let index = 1; index < batch.length; index += 4) {
      const entry = batch.slice(index, index + 4);
      try {
        port!.postMessage([MSG_REPLIES, ...entry]);
      } catch (error) {
        port!.postMessage([MSG_REPLIES, entry[0], STATUS_ERROR, 0, `reply cannot leave the worker thread: ${(error as Error).message}`]);
      }
    }
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function';
}
