/**
 * `remoteTasks(client)`: handlers in a process that `connect()`ed to a node, claiming the node's tasks over
 * the bus (the TASKS.* services the node advertises). Each claim is a lease the worker keeps alive with
 * heartbeats (every third of `leaseMs`); if this process dies or hangs, the node retries the task once the
 * lease runs out — seconds, not hours. Results go back as TASKS.COMPLETE or TASKS.FAIL naming the attempt,
 * and a result whose lease has ended is refused by the node.
 *
 * Remote handlers are at-least-once: `job.transaction` needs the node's store and is not available here
 * (do store work in a service the handler calls, keyed by `job.idempotencyKey`).
 */
import { deserialize } from 'node:v8';
import { checkName, checkQueue, CONCURRENCY_MAX } from './checks.js';
import { TaskArgumentError, TaskNotRunningError } from './errors.js';
import type { Job, TaskHandler, TasksLogger } from './interfaces.js';
import { REMOTE_LEASE_MS_MAX, REMOTE_LEASE_MS_MIN, type RemoteClaim } from './remote.js';

/** The part of a `connect()` client a remote worker uses. */
export interface TasksBusClient {
  call(service: string, data: unknown, options?: { timeoutMs?: number }): Promise<{ data: unknown }>;
}

export interface RemoteTasksOptions {
  /** Lease of each claim, in ms (default 10,000): how long after this process dies its tasks run again. */
  leaseMs?: number;
  logger?: TasksLogger;
}

export interface RemoteWorkerOptions {
  /** The queue the task is in on the node (default: its name, as there). */
  queue?: string;
  /** Handlers of this queue running at once in this process (default 8). */
  concurrency?: number;
}

export interface RemoteTasks {
  register<P = unknown>(name: string, handler: TaskHandler<P>, options?: RemoteWorkerOptions): void;
  start(): void;
  /** Stops claiming and waits for running handlers (their results are still sent). */
  stop(): Promise<void>;
}

/** How long one claim call waits on the node for work before it answers empty. */
const CLAIM_WAIT_MS = 10_000;
const CLAIM_RETRY_MS = 1000;
const LEASE_MS_DEFAULT = 10_000;

const stderrLogger: TasksLogger = {
  error: (fields, message) => console.error(`purser remote tasks: ${message}`, fields),
  warn: (fields, message) => console.error(`purser remote tasks: ${message}`, fields),
};

interface Running {
  claim: RemoteClaim;
  controller: AbortController;
  lost: boolean;
}

export function remoteTasks(client: TasksBusClient, options: RemoteTasksOptions = {}): RemoteTasks {
  if (typeof client?.call !== 'function') throw new TaskArgumentError('remoteTasks takes a client from connect()');
  const leaseMs = options.leaseMs ?? LEASE_MS_DEFAULT;
  if (!Number.isSafeInteger(leaseMs) || leaseMs < REMOTE_LEASE_MS_MIN || leaseMs > REMOTE_LEASE_MS_MAX) throw new TaskArgumentError(`leaseMs must be an integer from ${REMOTE_LEASE_MS_MIN} to ${REMOTE_LEASE_MS_MAX}`);
  return new RemoteWorker(client, leaseMs, options.logger ?? stderrLogger);
}

class RemoteWorker implements RemoteTasks {
  private readonly handlers = new Map<string, TaskHandler>();
  private readonly queues = new Map<string, { concurrency: number; active: number; wake: (() => void) | null }>();
  private readonly running = new Map<bigint, Running>();
  private readonly loops: Array<Promise<void>> = [];
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private started = false;
  private stopping = false;

  constructor(private readonly client: TasksBusClient, private readonly leaseMs: number, private readonly logger: TasksLogger) {}

  register<P = unknown>(name: string, handler: TaskHandler<P>, options: RemoteWorkerOptions = {}): void {
    checkName('task name', name);
    if (typeof handler !== 'function') throw new TaskArgumentError(`register ${name}: the handler must be a function (job) => …`);
    const queue = options.queue ?? name;
    checkQueue(queue);
    const concurrency = options.concurrency ?? 8;
    if (!Number.isSafeInteger(concurrency) || concurrency < 1 || concurrency > CONCURRENCY_MAX) throw new TaskArgumentError(`concurrency must be an integer from 1 to ${CONCURRENCY_MAX}`);
    if (this.handlers.has(name)) throw new TaskArgumentError(`task ${name} is registered already`);
    if (this.started) throw new TaskArgumentError('register handlers before start()');
    this.handlers.set(name, handler as TaskHandler);
    const state = this.queues.get(queue);
    if (state === undefined) this.queues.set(queue, { concurrency, active: 0, wake: null });
    else state.concurrency = Math.max(state.concurrency, concurrency);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    for (const queue of this.queues.keys()) this.loops.push(this.claimLoop(queue));
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), Math.max(50, Math.floor(this.leaseMs / 3)));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const state of this.queues.values()) state.wake?.();
    await Promise.all(this.loops);
    clearInterval(this.heartbeatTimer);
  }

  private async claimLoop(queue: string): Promise<void> {
    const state = this.queues.get(queue)!;
    while (!this.stopping) {
      if (state.active >= state.concurrency) {
        await new Promise<void>((resolve) => (state.wake = resolve));
        state.wake = null;
        continue;
      }
      let claims: RemoteClaim[];
      try {
        const reply = await this.client.call('TASKS.CLAIM', { queue, max: state.concurrency - state.active, leaseMs: this.leaseMs, waitMs: CLAIM_WAIT_MS }, { timeoutMs: CLAIM_WAIT_MS + 10_000 });
        claims = reply.data as RemoteClaim[];
      } catch (error) {
        if (this.stopping) break;
        this.logger.warn({ err: error, queue }, 'claiming tasks from the node failed; trying again shortly');
        await new Promise((resolve) => setTimeout(resolve, CLAIM_RETRY_MS));
        continue;
      }
      for (const claim of claims) {
        state.active++;
        void this.run(claim).finally(() => {
          state.active--;
          state.wake?.();
        });
      }
    }
    while (state.active > 0) await new Promise<void>((resolve) => (state.wake = resolve));
  }

  private async run(claim: RemoteClaim): Promise<void> {
    const running: Running = { claim, controller: new AbortController(), lost: false };
    this.running.set(claim.id, running);
    let error: string | null = null;
    try {
      const handler = this.handlers.get(claim.name);
      if (handler === undefined) throw new Error(`no handler is registered for task ${claim.name} in this worker`);
      await handler(this.job(running));
    } catch (thrown) {
      error = thrown instanceof Error ? (thrown.stack ?? thrown.message) : String(thrown);
    } finally {
      this.running.delete(claim.id);
    }
    if (running.lost) return; // the node gave the task to another attempt; its result is not ours to send
    try {
      await this.client.call(error === null ? 'TASKS.COMPLETE' : 'TASKS.FAIL', { id: claim.id, attempt: claim.attempt, error });
    } catch (sendError) {
      this.logger.warn({ err: sendError, id: String(claim.id) }, 'the node did not take the result; the task runs again after its lease');
    }
  }

  private job(running: Running): Job {
    const { claim } = running;
    return {
      id: claim.id,
      name: claim.name,
      queue: claim.queue,
      payload: deserialize(claim.payload) as unknown,
      attempt: claim.attempt,
      maxAttempts: claim.maxAttempts,
      idempotencyKey: `task-${String(claim.id)}`,
      enqueuedAt: new Date(claim.enqueuedAtMs),
      signal: running.controller.signal,
      transaction: () => Promise.reject(new TaskArgumentError('job.transaction is not available in a remote worker: the store is in the node')),
    };
  }

  /** Renews every running claim; a claim the node no longer knows is lost (its signal aborts). */
  private async heartbeat(): Promise<void> {
    const claims = [...this.running.values()];
    if (claims.length === 0) return;
    try {
      const reply = await this.client.call('TASKS.HEARTBEAT', { claims: claims.map((running) => ({ id: running.claim.id, attempt: running.claim.attempt })) });
      const owned = reply.data as boolean[];
      claims.forEach((running, index) => {
        if (owned[index]) return;
        running.lost = true;
        running.controller.abort(new TaskNotRunningError(`task ${String(running.claim.id)}: the node ended this attempt's lease`));
      });
    } catch (error) {
      this.logger.warn({ err: error }, 'heartbeat to the node failed; leases run out unless the next one gets through');
    }
  }
}
