/**
 * `openTasks({ store })`: the transactional outbox. A task is a record the caller's own store transaction
 * writes (`enqueue(tx, …)`), so it exists if and only if that transaction commits — no second system to
 * write to; the commit hook (`tx.afterCommit`) only wakes the claimer, it carries no task. Handlers registered in this process claim tasks under a lease, in batches,
 * one claim transaction at a time per queue (runner.ts); a failed attempt is retried after an exponential
 * back-off with jitter, up to its `maxAttempts`, then becomes a dead letter that operators can inspect,
 * retry or delete. Every state change is a store transaction (storage.ts), so a crash at any point leaves
 * each task in exactly one state, and the next open puts the runs of the dead process back in their queues.
 */
import type { Store, Transaction } from '../store/interfaces.js';
import { TransactionTimeoutError } from '../store/errors.js';
import { COUNTED_STATES, ID_SEQUENCE, type TaskRecord } from './codec.js';
import {
  checkEnqueueOptions, checkName, checkQueue, checkRegisterOptions, checkStopOptions, CONCURRENCY_DEFAULT, BACKOFF_BASE_MS_DEFAULT,
  BACKOFF_MAX_MS_DEFAULT, type Registration, serializePayload,
} from './checks.js';
import { TaskArgumentError, TaskNotFoundError, TaskNotRunningError, TasksClosedError, TaskUnknownError } from './errors.js';
import { checkRemoteClaim, claimOf, type Lease, type RemoteClaim, RemoteLeases } from './remote.js';
import type {
  EnqueueOptions, EnqueueResult, OpenTasksOptions, QueueCounts, RegisterOptions, StopOptions, TaskHandler, Tasks, TasksLogger, TasksObserver,
  TasksStats, TaskView,
} from './interfaces.js';
import { QueueRunner, type RunnerHost } from './runner.js';
import { MOVE_BATCH_MAX, Scheduler } from './scheduler.js';
import {
  claimBatch, completeMany, failAttempt, findRecord, giveBack, insertTask, listRecords, readCounts, recoverRunning, redrive, removeDead,
  trimDone,
} from './storage.js';
import { viewOf } from './views.js';
import { CoalescedRun } from '../util/coalesced.js';

/** Most completions one transaction commits. */
const COMPLETION_BATCH_MAX = 4096;
const POLL_INTERVAL_MS_DEFAULT = 1000;
const LIST_LIMIT_DEFAULT = 100;
const LIST_LIMIT_MAX = 1000;
const RETAIN_FINISHED_MAX = 1_000_000;

/** One outbox per store: two would each take the other's running tasks for a dead process's. */
const storesWithOutbox = new WeakSet<Store>();

const stderrLogger: TasksLogger = {
  error: (fields, message) => console.error(`purser tasks: ${message}`, fields),
  warn: (fields, message) => console.error(`purser tasks: ${message}`, fields),
};

export async function openTasks(options: OpenTasksOptions): Promise<Tasks> {
  if (typeof options !== 'object' || options === null) throw new TaskArgumentError('openTasks options must be an object');
  const known = new Set(['store', 'clock', 'random', 'pollIntervalMs', 'logger', 'observer', 'retainFinished']);
  for (const key of Object.keys(options)) if (!known.has(key)) throw new TaskArgumentError(`openTasks: unknown option ${JSON.stringify(key)}`);
  const { store } = options;
  if (typeof store?.transaction !== 'function' || typeof store.sequence !== 'function') throw new TaskArgumentError('openTasks: store must be a Store from openStore() (or node.store)');
  if (options.clock !== undefined && typeof options.clock !== 'function') throw new TaskArgumentError('openTasks: clock must be a function returning epoch milliseconds');
  if (options.random !== undefined && typeof options.random !== 'function') throw new TaskArgumentError('openTasks: random must be a function returning [0, 1)');
  const pollIntervalMs = options.pollIntervalMs ?? POLL_INTERVAL_MS_DEFAULT;
  if (!Number.isSafeInteger(pollIntervalMs) || pollIntervalMs < 1 || pollIntervalMs > 3_600_000) throw new TaskArgumentError('openTasks: pollIntervalMs must be an integer from 1 to 3,600,000');
  const retainFinished = options.retainFinished ?? 0;
  if (!Number.isSafeInteger(retainFinished) || retainFinished < 0 || retainFinished > RETAIN_FINISHED_MAX) throw new TaskArgumentError(`openTasks: retainFinished must be an integer from 0 to ${RETAIN_FINISHED_MAX}`);
  if (storesWithOutbox.has(store)) throw new TasksClosedError('TASKS_ALREADY_OPEN', 'this store already has an open task outbox (a started node has node.tasks); use that one');
  storesWithOutbox.add(store);
  const outbox = new TaskOutbox(store, options.clock ?? Date.now, options.random ?? Math.random, pollIntervalMs, options.logger ?? stderrLogger, options.observer, retainFinished);
  try {
    await outbox.recover();
  } catch (error) {
    storesWithOutbox.delete(store);
    throw error;
  }
  return outbox;
}

type Phase = 'open' | 'running' | 'stopping' | 'stopped';

interface PendingWakes {
  queues: Set<string>;
  /** The earliest run time among the transaction's scheduled tasks, if any. */
  dueMs: number | null;
}

export class TaskOutbox implements Tasks, RunnerHost {
  readonly counters: TasksStats = { claimed: 0, completed: 0, retried: 0, dead: 0, leaseExpiries: 0, recovered: 0, internalErrors: 0 };
  private readonly handlers = new Map<string, { handler: TaskHandler; registration: Registration }>();
  private readonly subscriptions = new Map<string, string[]>();
  private readonly runners = new Map<string, QueueRunner>();
  /** Task names declared for remote workers, and their queues (which no local runner claims). */
  private readonly declared = new Map<string, Registration>();
  private readonly remoteQueues = new Set<string>();
  private readonly remoteWaiters = new Map<string, Set<() => void>>();
  private readonly declareListeners: Array<() => void> = [];
  private readonly remoteLeases = new RemoteLeases((lease) => this.expireLease(lease));
  private readonly ids;
  private phase: Phase = 'open';
  private pendingCompletions: Array<{ id: bigint; attempt: number }> = [];
  private completing: Promise<void> | null = null;
  private readonly scheduler: Scheduler;
  /** With retention, deletes the oldest finished tasks beyond `retainFinished` (one trim at a time). */
  private readonly trimming = new CoalescedRun(() => this.trimDone());
  /** What each open transaction that enqueued will wake when it commits (see wakeAfterCommit). */
  private readonly pendingWakes = new WeakMap<Transaction, PendingWakes>();

  constructor(
    readonly store: Store,
    readonly clock: () => number,
    private readonly random: () => number,
    private readonly pollIntervalMs: number,
    readonly logger: TasksLogger,
    readonly observer: TasksObserver | undefined,
    readonly retainFinished: number,
  ) {
    this.ids = store.sequence(ID_SEQUENCE);
    this.scheduler = new Scheduler(this, pollIntervalMs);
  }

  stats(): TasksStats {
    return { ...this.counters };
  }

  get running(): boolean {
    return this.phase === 'running';
  }

  // ----- producing -----------------------------------------------------------------------------------------

  async enqueue(tx: Transaction, name: string, payload?: unknown, options: EnqueueOptions = {}): Promise<EnqueueResult> {
    checkName('task name', name);
    const registration = this.registrationOf(name);
    if (registration === undefined) throw new TaskUnknownError(name);
    return this.insert(tx, name, registration, serializePayload(payload), options);
  }

  private async insert(tx: Transaction, name: string, registration: Registration, payload: Uint8Array, options: EnqueueOptions): Promise<EnqueueResult> {
    if (typeof tx?.put !== 'function' || typeof tx.increment !== 'function' || typeof tx.afterCommit !== 'function') throw new TaskArgumentError('enqueue takes the store transaction (tx) of store.transaction(async (tx) => …) first');
    const nowMs = this.clock();
    const checked = checkEnqueueOptions(options, nowMs);
    if (checked.queue !== undefined && checked.queue !== registration.queue) this.checkQueueFor(name, checked.queue);
    const id = await this.ids.next();
    const record: TaskRecord = {
      id, name, queue: checked.queue ?? registration.queue, priority: checked.priority, attempts: 0,
      maxAttempts: checked.maxAttempts ?? registration.maxAttempts, enqueuedAtMs: nowMs, runAtMs: checked.runAtMs,
      dedupKey: checked.dedupKey, lastError: null, payload,
    };
    // Registered before the write, so a refusal (the store's callback cap) leaves the transaction unchanged.
    const ready = record.runAtMs <= nowMs; // as place() in storage.ts decides
    this.wakeAfterCommit(tx, ready ? record.queue : null, ready ? null : record.runAtMs);
    const { duplicateOf } = await insertTask(tx, record, nowMs);
    if (duplicateOf !== null) return { id: duplicateOf, deduplicated: true };
    return { id, deduplicated: false };
  }

  /**
   * Wakes `queue`'s claimer (or the scheduler, for a task due at `dueMs`) once `tx` has committed, not at
   * once: a claim started now would queue on the page lock `tx` holds, tying up the claimer and the tasks
   * behind it until `tx` ends, and find nothing if it aborts. One callback per transaction (the store caps them).
   */
  private wakeAfterCommit(tx: Transaction, queue: string | null, dueMs: number | null): void {
    let pending = this.pendingWakes.get(tx);
    if (pending === undefined) {
      const wakes: PendingWakes = { queues: new Set(), dueMs: null };
      tx.afterCommit(() => {
        for (const name of wakes.queues) this.wake(name);
        if (wakes.dueMs !== null) this.scheduler.noteDue(wakes.dueMs);
      });
      this.pendingWakes.set(tx, (pending = wakes));
    }
    if (queue !== null) pending.queues.add(queue);
    if (dueMs !== null) pending.dueMs = Math.min(pending.dueMs ?? dueMs, dueMs);
  }

  subscribe(topic: string, taskName: string): void {
    checkName('topic', topic);
    checkName('task name', taskName);
    const names = this.subscriptions.get(topic) ?? [];
    if (!names.includes(taskName)) names.push(taskName);
    this.subscriptions.set(topic, names);
  }

  async publish(tx: Transaction, topic: string, payload?: unknown, options: Omit<EnqueueOptions, 'queue' | 'dedupKey'> = {}): Promise<EnqueueResult[]> {
    checkName('topic', topic);
    if (typeof options === 'object' && options !== null && ('queue' in options || 'dedupKey' in options)) throw new TaskArgumentError('publish options take no queue or dedupKey (each subscription is its own task)');
    const names = this.subscriptions.get(topic) ?? [];
    // Every subscriber is checked before the first task is written, so a bad one leaves the transaction as it was.
    const targets = names.map((name) => {
      const registration = this.registrationOf(name);
      if (registration === undefined) throw new TaskUnknownError(name);
      return { name, registration };
    });
    const bytes = serializePayload(payload);
    checkEnqueueOptions(options, this.clock());
    const results: EnqueueResult[] = [];
    for (const { name, registration } of targets) results.push(await this.insert(tx, name, registration, bytes, options));
    return results;
  }

  // ----- consuming -----------------------------------------------------------------------------------------

  register<P = unknown>(name: string, handler: TaskHandler<P>, options: RegisterOptions = {}): void {
    checkName('task name', name);
    if (typeof handler !== 'function') throw new TaskArgumentError(`register ${name}: the handler must be a function (job) => …`);
    const registration = checkRegisterOptions(name, options);
    if (this.handlers.has(name) || this.declared.has(name)) throw new TaskArgumentError(`task ${name} is registered already`);
    if (this.remoteQueues.has(registration.queue)) throw new TaskArgumentError(`queue ${registration.queue} holds tasks declared for remote workers; give ${name} another queue`);
    this.handlers.set(name, { handler: handler as TaskHandler, registration });
    const runner = this.runnerFor(registration.queue);
    // A queue shared by several task names runs as many at once as the largest registration asks.
    runner.concurrency = runner.registered ? Math.max(runner.concurrency, registration.concurrency) : registration.concurrency;
    runner.registered = true;
    runner.poke(); // tasks of this name may be waiting already
  }

  declare(name: string, options: Pick<RegisterOptions, 'queue' | 'maxAttempts' | 'backoffBaseMs' | 'backoffMaxMs'> = {}): void {
    checkName('task name', name);
    if (typeof options === 'object' && options !== null && ('concurrency' in options || 'timeoutMs' in options || 'leaseMs' in options)) {
      throw new TaskArgumentError(`declare ${name}: concurrency, timeoutMs and leaseMs belong to the remote worker`);
    }
    const registration = checkRegisterOptions(name, options);
    if (this.handlers.has(name) || this.declared.has(name)) throw new TaskArgumentError(`task ${name} is registered already`);
    if (this.runners.get(registration.queue)?.registered === true) throw new TaskArgumentError(`queue ${registration.queue} has in-process handlers; give ${name} another queue`);
    this.declared.set(name, registration);
    this.remoteQueues.add(registration.queue);
    for (const listener of this.declareListeners.splice(0)) listener();
  }

  /** Calls `listener` once, when the first task for remote workers is declared (at once if one was). */
  onFirstDeclare(listener: () => void): void {
    if (this.declared.size > 0) listener();
    else this.declareListeners.push(listener);
  }

  handlerFor(name: string): { handler: TaskHandler; registration: Registration } | undefined {
    return this.handlers.get(name);
  }

  /** A task may go to another queue than its registration's only if that queue is run the same way (here, or remotely). */
  private checkQueueFor(name: string, queue: string): void {
    const remoteName = this.declared.has(name);
    const runsHere = this.runners.get(queue)?.registered === true;
    if (remoteName ? !this.remoteQueues.has(queue) : !runsHere) {
      throw new TaskArgumentError(`queue ${queue} is not run by ${remoteName ? 'remote workers' : 'a handler registered in this process'}; register or declare a task with { queue: '${queue}' } first`);
    }
  }

  private registrationOf(name: string): Registration | undefined {
    return this.handlers.get(name)?.registration ?? this.declared.get(name);
  }

  /** Work appeared in `queue` (or may have): the local claimer and remote long polls look (the scheduler calls it too). */
  wake(queue: string): void {
    if (!this.remoteQueues.has(queue)) this.runnerFor(queue).poke();
    const waiting = this.remoteWaiters.get(queue);
    if (waiting !== undefined) {
      this.remoteWaiters.delete(queue);
      for (const resolve of waiting) resolve();
    }
  }

  // ----- remote workers (node/tasks.ts serves these over the bus) ------------------------------------------

  async claimRemote(queue: string, max: number, leaseMs: number, waitMs: number): Promise<RemoteClaim[]> {
    checkRemoteClaim(queue, max, leaseMs, waitMs);
    checkQueue(queue);
    if (!this.remoteQueues.has(queue)) throw new TaskArgumentError(`queue ${queue} has no task declared for remote workers (tasks.declare)`);
    if (!this.running) return [];
    const records = await this.store.transaction((tx) => claimBatch(tx, queue, max));
    if (records.length > 0) {
      this.counters.claimed += records.length;
      const nowMs = this.clock();
      for (const record of records) {
        this.observer?.pickedUp(queue, Math.max(0, nowMs - record.runAtMs));
        this.remoteLeases.add(record, leaseMs);
      }
      return records.map(claimOf);
    }
    // Nothing ready: wait for work to appear (or waitMs), then answer empty so the worker asks again at
    // once. Claiming only when a request arrives, never after a wait, keeps a worker that died while its
    // long poll waited from being handed tasks it can no longer run (the bus cannot tell the handler).
    if (waitMs > 0) {
      let waiting = this.remoteWaiters.get(queue);
      if (waiting === undefined) this.remoteWaiters.set(queue, (waiting = new Set()));
      const waiters = waiting;
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          resolve();
        };
        // On timeout the waiter leaves the set, so idle long polls leave nothing behind.
        const timer = setTimeout(() => {
          waiters.delete(wake);
          resolve();
        }, waitMs);
        waiters.add(wake);
      });
    }
    return [];
  }

  heartbeatRemote(claims: ReadonlyArray<{ id: bigint; attempt: number }>): boolean[] {
    return this.remoteLeases.heartbeat(claims);
  }

  /** A remote worker's attempt finished: completed, or failed with `error`. Throws if it no longer owned its task. */
  async finishRemote(id: bigint, attempt: number, error: string | null): Promise<void> {
    const lease = this.remoteLeases.end(id, attempt);
    if (lease === undefined) throw new TaskNotRunningError(`task ${String(id)} attempt ${attempt} no longer owns the task (its lease ended, or the node restarted); its result was dropped`);
    const durationMs = performance.now() - (lease.deadlineMs - lease.leaseMs);
    if (error === null) {
      this.complete(id, attempt);
      this.counters.completed++;
      this.observer?.ran(lease.record.queue, durationMs, 'completed');
      return;
    }
    await this.failRemoteAttempt(lease, error);
  }

  private expireLease(lease: Lease): void {
    this.counters.leaseExpiries++;
    void this.failRemoteAttempt(lease, `lease expired: the remote worker sent no heartbeat for ${lease.leaseMs} ms (it died, hung or lost its connection)`);
  }

  private async failRemoteAttempt(lease: Lease, error: string): Promise<void> {
    const retryAtMs = this.retryAtMs(lease.record, this.registrationOf(lease.record.name));
    try {
      const outcome = await this.store.transaction((tx) => failAttempt(tx, lease.id, lease.attempt, error, retryAtMs));
      if (outcome === 'retried') this.counters.retried++;
      if (outcome === 'dead') this.counters.dead++;
      this.observer?.ran(lease.record.queue, performance.now() - (lease.deadlineMs - lease.leaseMs), outcome ?? 'lease-lost');
      if (outcome === 'retried') this.scheduler.noteDue(retryAtMs);
    } catch (storeError) {
      this.counters.internalErrors++;
      this.logger.error({ err: storeError, id: String(lease.id) }, 'recording a failed remote attempt failed; the next start recovers the task');
    }
  }

  private runnerFor(queue: string): QueueRunner {
    let runner = this.runners.get(queue);
    if (runner === undefined) {
      checkQueue(queue);
      runner = new QueueRunner(queue, CONCURRENCY_DEFAULT, this);
      this.runners.set(queue, runner);
    }
    return runner;
  }

  retryAtMs(record: TaskRecord, registration: Registration | undefined): number {
    const baseMs = registration?.backoffBaseMs ?? BACKOFF_BASE_MS_DEFAULT;
    const maxMs = registration?.backoffMaxMs ?? BACKOFF_MAX_MS_DEFAULT;
    const ceilingMs = Math.min(maxMs, baseMs * 2 ** Math.min(record.attempts - 1, 40));
    // "Equal jitter": half the ceiling for sure, the other half random, so retries of tasks that failed
    // together spread apart but none comes back at once.
    return this.clock() + Math.round(ceilingMs / 2 + this.random() * (ceilingMs / 2));
  }

  retryScheduled(runAtMs: number): void {
    this.scheduler.noteDue(runAtMs);
  }

  complete(id: bigint, attempt: number): void {
    this.pendingCompletions.push({ id, attempt });
    this.completing ??= this.flushCompletions();
  }

  /** Commits finished attempts in batches: a batch waits at most for the transaction before it. */
  private async flushCompletions(): Promise<void> {
    while (this.pendingCompletions.length > 0) {
      const batch = this.pendingCompletions.splice(0, COMPLETION_BATCH_MAX);
      try {
        await this.store.transaction((tx) => completeMany(tx, batch, this.retainFinished > 0));
        this.finished();
      } catch (error) {
        this.counters.internalErrors++;
        if (error instanceof TransactionTimeoutError) {
          this.pendingCompletions.unshift(...batch); // contention: try the batch again
          continue;
        }
        // The store stopped: these tasks stay running in it, and run again after the next start.
        this.logger.error({ err: error, tasks: batch.length }, 'completing finished tasks failed; they will run again after a restart');
        this.pendingCompletions = [];
      }
    }
    this.completing = null;
  }

  /** Tasks finished: with retention, the oldest beyond `retainFinished` go. */
  finished(): void {
    if (this.retainFinished > 0) this.trimming.request();
  }

  private async trimDone(): Promise<void> {
    try {
      while ((await this.store.transaction((tx) => trimDone(tx, this.retainFinished, MOVE_BATCH_MAX))) === MOVE_BATCH_MAX);
    } catch (error) {
      this.counters.internalErrors++;
      this.logger.error({ err: error }, 'deleting finished tasks beyond retainFinished failed; the next completion tries again');
    }
  }

  // ----- life cycle ----------------------------------------------------------------------------------------

  /** Puts the runs of a process that died back in their queues (before anything runs). */
  async recover(): Promise<void> {
    for (;;) {
      const { moved, dead } = await this.store.transaction((tx) => recoverRunning(tx, MOVE_BATCH_MAX));
      this.counters.recovered += moved;
      this.counters.dead += dead;
      if (moved > 0) this.logger.warn({ tasks: moved, dead }, 'tasks were running when the last process stopped; they run again (or are dead letters if that was their last attempt)');
      if (moved < MOVE_BATCH_MAX) break;
    }
  }

  async start(): Promise<void> {
    if (this.phase === 'running') return;
    if (this.phase !== 'open') throw new TasksClosedError('TASKS_CLOSED', 'the outbox was stopped; open a new one to run tasks again');
    this.phase = 'running';
    const counts = await this.store.transaction((tx) => readCounts(tx));
    for (const [queue, count] of counts) if (count.ready > 0) this.wake(queue);
    for (const runner of this.runners.values()) runner.poke();
    this.scheduler.start();
  }

  async stop(options: StopOptions = {}): Promise<void> {
    const drainTimeoutMs = checkStopOptions(options);
    if (this.phase === 'stopping' || this.phase === 'stopped') return;
    this.phase = 'stopping';
    // Remote leases end with this process's claim on the store; their tasks stay running there and the next
    // open puts them back. Remote long polls answer empty.
    this.remoteLeases.clear();
    for (const queue of [...this.remoteWaiters.keys()]) this.wake(queue);
    const runners = [...this.runners.values()];
    await Promise.all(runners.map((runner) => runner.stopClaiming()));
    await this.scheduler.stop();
    const deadlineMs = performance.now() + drainTimeoutMs;
    for (const runner of runners) await runner.waitIdle(Math.max(0, deadlineMs - performance.now()));
    // What still runs goes back to its queue, its attempt not counted: the next start runs it.
    const abandoned = runners.flatMap((runner) => runner.abandonAll());
    if (abandoned.length > 0) {
      this.logger.warn({ tasks: abandoned.length, drainTimeoutMs }, 'tasks still running at the end of the drain go back to their queues');
      await this.store.transaction(async (tx) => {
        for (const attempt of abandoned) await giveBack(tx, attempt.id, attempt.attempt);
      }).catch((error: unknown) => this.logger.error({ err: error }, 'giving back unfinished tasks failed; the next start recovers them'));
    }
    await this.completing;
    await this.trimming.idle();
    this.phase = 'stopped';
    storesWithOutbox.delete(this.store);
  }

  // ----- operator views ------------------------------------------------------------------------------------

  async queues(): Promise<QueueCounts[]> {
    const counts = await this.store.transaction((tx) => readCounts(tx));
    return [...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([queue, count]) => ({ queue, ...count }));
  }

  async list(options: { state?: 'dead' | 'ready' | 'scheduled' | 'running' | 'done'; queue?: string; limit?: number } = {}): Promise<TaskView[]> {
    if (typeof options !== 'object' || options === null) throw new TaskArgumentError('list options must be an object');
    const state = options.state ?? 'dead';
    if (state !== 'done' && !COUNTED_STATES.includes(state)) throw new TaskArgumentError(`list state must be one of ${COUNTED_STATES.join(', ')}, done`);
    if (options.queue !== undefined) checkQueue(options.queue);
    const limit = options.limit ?? LIST_LIMIT_DEFAULT;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > LIST_LIMIT_MAX) throw new TaskArgumentError(`list limit must be an integer from 1 to ${LIST_LIMIT_MAX}`);
    const records = await this.store.transaction((tx) => listRecords(tx, state, options.queue, limit));
    return records.map((record) => viewOf(record, state));
  }

  async show(id: bigint): Promise<TaskView> {
    checkId(id);
    const found = await this.store.transaction((tx) => findRecord(tx, id));
    if (found === undefined) throw new TaskNotFoundError(`no running task or dead letter has id ${String(id)} (finished tasks are deleted; list queued ones with list({ state: 'ready', queue }))`);
    return viewOf(found.record, found.state);
  }

  async retry(id: bigint): Promise<void> {
    checkId(id);
    const nowMs = this.clock();
    const queue = await this.store.transaction((tx) => redrive(tx, id, nowMs));
    if (queue === null) throw new TaskNotFoundError(`no dead letter has id ${String(id)}`);
    this.wake(queue);
  }

  async remove(id: bigint): Promise<void> {
    checkId(id);
    if (!(await this.store.transaction((tx) => removeDead(tx, id)))) throw new TaskNotFoundError(`no dead letter has id ${String(id)}`);
  }
}

function checkId(id: unknown): asserts id is bigint {
  if (typeof id !== 'bigint' || id < 1n || id >= 1n << 64n) throw new TaskArgumentError('a task id is a bigint from 1 to 2^64 - 1');
}
