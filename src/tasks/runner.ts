/**
 * One queue's claim loop and the attempts it runs.
 *
 * Claiming: one claim transaction at a time per queue and process takes as many tasks from the head of the
 * queue as there are free slots (up to `CLAIM_BATCH_MAX`) and hands them to handlers in memory. Workers
 * therefore never race each other for the head of the queue (graphile-worker and pg-boss make every worker
 * run its own `SELECT … FOR UPDATE SKIP LOCKED`); the store sees one short transaction per batch. A claim
 * runs when an enqueue in this process wrote to the queue (a poke), when the scheduler promoted tasks into
 * it, and when a slot frees while the last claim came back full (there may be more).
 *
 * Leases: an attempt owns its task until it finishes or its `timeoutMs` passes. In-process handlers renew
 * their lease simply by running (the process that claimed the task is the one running it, and a crash of
 * that process ends every lease at once: the next start puts its tasks back, see storage.recoverRunning), so
 * the lease deadline here is the run's timeout. At the deadline the attempt is lost: `job.signal` aborts,
 * the slot is freed, and the attempt counts as failed, so the task is retried after its back-off while the
 * stuck handler's own completion, if it ever comes, is refused.
 */
import { deserialize } from 'node:v8';
import { assert } from '../errors.js';
import { DeadlineHeap, type Deadlined } from '../util/deadlines.js';
import type { Store, Transaction } from '../store/interfaces.js';
import type { TaskRecord } from './codec.js';
import { TaskNotRunningError } from './errors.js';
import type { Job, RunOutcome, TaskHandler, TasksLogger, TasksObserver, TasksStats } from './interfaces.js';
import type { Registration } from './checks.js';
import { claimBatch, failAttempt, finish, ownedRunning } from './storage.js';

/** Most tasks one claim transaction takes (bounds its writes and the pages it locks). */
export const CLAIM_BATCH_MAX = 512;
/** Claim transactions of one queue running at once (see claimMore). */
const CLAIMS_IN_FLIGHT_MAX = 4;
/** A failed claim (store contention past its deadline, say) is tried again after this long. */
const CLAIM_RETRY_MS = 1000;

/** What a queue runner needs from the outbox that owns it. */
export interface RunnerHost {
  readonly store: Store;
  readonly logger: TasksLogger;
  readonly observer: TasksObserver | undefined;
  readonly counters: TasksStats;
  readonly clock: () => number;
  /** True while the outbox runs tasks (between start and stop). */
  readonly running: boolean;
  handlerFor(name: string): { handler: TaskHandler; registration: Registration } | undefined;
  /** Retry time for an attempt that failed (exponential back-off with jitter). */
  retryAtMs(record: TaskRecord, registration: Registration | undefined): number;
  /** A failed attempt was scheduled to run again at `runAtMs`. */
  retryScheduled(runAtMs: number): void;
  /** Queues a finished attempt's completion (committed in batches). */
  complete(id: bigint, attempt: number): void;
  /** Finished tasks are kept in `tasks.done` when this is above 0 (see OpenTasksOptions.retainFinished). */
  readonly retainFinished: number;
  /** Tells the outbox that tasks finished (it trims the kept ones). */
  finished(): void;
}

type AttemptState = 'running' | 'finished' | 'lost';

export class Attempt implements Deadlined {
  deadlineMs: number;
  heapIndex = -1;
  state: AttemptState = 'running';
  /** Set once `job.transaction` committed the task's completion. */
  completedInTransaction = false;
  readonly startedAtMs = performance.now();
  /** Made when a handler first reads `job.signal` (most never do, and a controller costs more than a no-op task). */
  private controller: AbortController | undefined;
  private abortReason: Error | undefined;

  constructor(readonly record: TaskRecord, timeoutMs: number) {
    this.deadlineMs = this.startedAtMs + timeoutMs;
  }

  get id(): bigint {
    return this.record.id;
  }

  get attempt(): number {
    return this.record.attempts;
  }

  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    if (this.abortReason !== undefined && !this.controller.signal.aborted) this.controller.abort(this.abortReason);
    return this.controller.signal;
  }

  /** Ends the attempt's claim on its task (timeout, stop) and tells the handler through its signal. */
  lose(reason: Error): void {
    this.state = 'lost';
    this.abortReason = reason;
    this.controller?.abort(reason);
  }
}

export class QueueRunner {
  concurrency: number;
  /** Set once a registration named this queue (its concurrency then comes from registrations). */
  registered = false;
  private readonly attempts = new Set<Attempt>();
  /** Claim transactions running (at most CLAIMS_IN_FLIGHT_MAX), and the slots they may fill. */
  private readonly claims = new Set<Promise<void>>();
  private reserved = 0;
  private pokeScheduled = false;
  /** A claim is wanted: something was enqueued or promoted, or the last claim came back full. */
  private wanted = false;
  private readonly timeouts = new DeadlineHeap<Attempt>((attempt) => this.expire(attempt));
  private idleWaiters: Array<() => void> = [];

  constructor(readonly queue: string, concurrency: number, private readonly host: RunnerHost) {
    this.concurrency = concurrency;
  }

  get active(): number {
    return this.attempts.size;
  }

  /** Asks for a claim soon: after the current event-loop turn, so pokes that come together make one claim. */
  poke(): void {
    this.wanted = true;
    if (this.pokeScheduled || !this.host.running) return;
    this.pokeScheduled = true;
    setImmediate(() => {
      this.pokeScheduled = false;
      this.claimMore();
    });
  }

  /**
   * Starts claim transactions while one is wanted and slots are free. Up to CLAIMS_IN_FLIGHT_MAX run at
   * once: a claim's locks go at its commit step, before its fsync, so the next claim need not wait for the
   * log — only the handlers of a claim wait for it to be durable.
   */
  private claimMore(): void {
    // Only a queue some in-process registration runs is claimed here: a node's outbox starts before the
    // program registers its handlers, and a queue declared for remote workers must be left to them.
    while (this.wanted && this.registered && this.host.running && this.claims.size < CLAIMS_IN_FLIGHT_MAX) {
      const free = this.concurrency - this.attempts.size - this.reserved;
      if (free <= 0) return;
      this.wanted = false;
      const limit = Math.min(free, CLAIM_BATCH_MAX);
      this.reserved += limit;
      const claim = this.claimOnce(limit).finally(() => {
        this.reserved -= limit;
        this.claims.delete(claim);
        if (this.wanted) this.poke();
      });
      this.claims.add(claim);
    }
  }

  private async claimOnce(limit: number): Promise<void> {
    try {
      const claimed = await this.host.store.transaction((tx) => claimBatch(tx, this.queue, limit));
      if (claimed.length === limit) this.wanted = true; // a full batch: there may be more
      this.host.counters.claimed += claimed.length;
      const nowMs = this.host.clock();
      for (const record of claimed) {
        this.host.observer?.pickedUp(this.queue, Math.max(0, nowMs - record.runAtMs));
        this.start(record);
      }
    } catch (error) {
      this.host.counters.internalErrors++;
      this.host.logger.error({ err: error, queue: this.queue }, 'claiming tasks failed; trying again shortly');
      setTimeout(() => this.poke(), CLAIM_RETRY_MS).unref();
    }
  }

  private start(record: TaskRecord): void {
    const registered = this.host.handlerFor(record.name);
    const attempt = new Attempt(record, registered?.registration.timeoutMs ?? 1);
    this.attempts.add(attempt);
    this.timeouts.add(attempt);
    void this.runAttempt(attempt, registered);
  }

  private async runAttempt(attempt: Attempt, registered: ReturnType<RunnerHost['handlerFor']>): Promise<void> {
    let failure: unknown = undefined;
    let failed = false;
    try {
      if (registered === undefined) throw new Error(`no handler is registered for task ${attempt.record.name} in this process`);
      const job = this.job(attempt, deserialize(attempt.record.payload) as unknown);
      await registered.handler(job);
    } catch (error) {
      failed = true;
      failure = error;
    }
    if (attempt.state !== 'running') return; // lost (timeout, stop): the loss already settled the task
    this.settle(attempt);
    const durationMs = performance.now() - attempt.startedAtMs;
    if (attempt.completedInTransaction) {
      if (failed) this.host.logger.warn({ err: failure, task: attempt.record.name, id: String(attempt.id) }, 'a task handler threw after job.transaction completed its task; the task stays completed');
      this.host.observer?.ran(this.queue, durationMs, 'completed');
      return;
    }
    if (!failed) {
      this.host.complete(attempt.id, attempt.attempt);
      this.host.counters.completed++;
      this.host.observer?.ran(this.queue, durationMs, 'completed');
      return;
    }
    await this.fail(attempt, describeError(failure), registered?.registration, durationMs);
  }

  /** Records a failed attempt: a retry after back-off, or a dead letter. */
  private async fail(attempt: Attempt, error: string, registration: Registration | undefined, durationMs: number): Promise<void> {
    const retryAtMs = this.host.retryAtMs(attempt.record, registration);
    let outcome: RunOutcome = 'lease-lost';
    try {
      const result = await this.host.store.transaction((tx) => failAttempt(tx, attempt.id, attempt.attempt, error, retryAtMs));
      if (result === 'retried') {
        this.host.counters.retried++;
        this.host.retryScheduled(retryAtMs);
      }
      if (result === 'dead') this.host.counters.dead++;
      outcome = result ?? 'lease-lost';
    } catch (storeError) {
      // The attempt stays in `running`; the next start of the outbox counts it as failed and retries it.
      this.host.counters.internalErrors++;
      this.host.logger.error({ err: storeError, task: attempt.record.name, id: String(attempt.id) }, 'recording a failed task attempt failed');
    }
    this.host.observer?.ran(this.queue, durationMs, outcome);
  }

  /** The attempt's timeout passed: it loses the task, which is retried after its back-off. */
  private expire(attempt: Attempt): void {
    if (attempt.state !== 'running') return;
    attempt.lose(new TaskNotRunningError(`task ${String(attempt.id)} ran past its timeout`));
    this.host.counters.leaseExpiries++;
    this.settle(attempt);
    const registered = this.host.handlerFor(attempt.record.name);
    const timeoutMs = registered?.registration.timeoutMs ?? 0;
    void this.fail(attempt, `timed out: still running after ${timeoutMs} ms`, registered?.registration, performance.now() - attempt.startedAtMs);
  }

  /** Frees the attempt's slot; a claim follows if one is wanted. */
  private settle(attempt: Attempt): void {
    if (attempt.state === 'running') attempt.state = 'finished';
    this.timeouts.remove(attempt);
    this.attempts.delete(attempt);
    if (this.wanted) this.poke();
    if (this.attempts.size === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  private job(attempt: Attempt, payload: unknown): Job {
    const record = attempt.record;
    return {
      id: record.id,
      name: record.name,
      queue: record.queue,
      payload,
      attempt: record.attempts,
      maxAttempts: record.maxAttempts,
      idempotencyKey: `task-${String(record.id)}`,
      enqueuedAt: new Date(record.enqueuedAtMs),
      get signal() {
        return attempt.signal;
      },
      transaction: <T>(fn: (tx: Transaction) => Promise<T>) => this.completeInTransaction(attempt, fn),
    };
  }

  /** `job.transaction`: the caller's writes and the task's completion in one store transaction. */
  private async completeInTransaction<T>(attempt: Attempt, fn: (tx: Transaction) => Promise<T>): Promise<T> {
    const notRunning = () => new TaskNotRunningError(`task ${String(attempt.id)} attempt ${attempt.attempt} no longer owns the task (it timed out, the outbox stopped, or it was completed already); nothing was committed`);
    if (attempt.state !== 'running' || attempt.completedInTransaction) throw notRunning();
    const result = await this.host.store.transaction(async (tx) => {
      const record = await ownedRunning(tx, attempt.id, attempt.attempt);
      if (record === undefined || attempt.state !== 'running') throw notRunning();
      const value = await fn(tx);
      // Checked again after the caller's function: the attempt may have timed out while it ran.
      if (attempt.state !== 'running') throw notRunning();
      await finish(tx, record, true, this.host.retainFinished > 0);
      return value;
    });
    this.host.finished();
    assert(!attempt.completedInTransaction, 'a task is completed in a transaction once');
    attempt.completedInTransaction = true;
    this.host.counters.completed++;
    return result;
  }

  /** Stops claiming; waits for the claims in flight (their tasks start running). */
  async stopClaiming(): Promise<void> {
    this.wanted = false;
    await Promise.all([...this.claims]);
  }

  /** Resolves when no attempt runs, or after `timeoutMs`. */
  async waitIdle(timeoutMs: number): Promise<void> {
    if (this.attempts.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
  }

  /** Takes every attempt still running away from its handler (the drain deadline passed) and returns them. */
  abandonAll(): Attempt[] {
    const abandoned = [...this.attempts];
    for (const attempt of abandoned) {
      attempt.lose(new TaskNotRunningError(`the outbox stopped while task ${String(attempt.id)} ran`));
      this.settle(attempt);
    }
    this.timeouts.stop();
    return abandoned;
  }
}

function describeError(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  try {
    return `thrown: ${JSON.stringify(error)}`;
  } catch {
    return `thrown: ${String(error)}`;
  }
}
