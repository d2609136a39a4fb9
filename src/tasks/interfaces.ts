/**
 * The task outbox's public types. The outbox keeps everything in the store it is opened on (`tasks.*`
 * tables), so a task exists if and only if the store transaction that enqueued it committed.
 */
import type { Store, Transaction } from '../store/interfaces.js';

export interface OpenTasksOptions {
  /** The store holding the tasks, shared with the caller's tables. One outbox per store. */
  store: Store;
  /** Wall-clock milliseconds for run times, back-off and leases (tests inject one). Default `Date.now`. */
  clock?: () => number;
  /** Uniform random numbers in [0, 1) for back-off jitter (tests inject one). Default `Math.random`. */
  random?: () => number;
  /**
   * Longest time between looks for due delayed tasks, in ms (default 1,000). Due tasks are normally found
   * at once through a timer armed for the earliest one; this bounds the wait when the clock is injected.
   */
  pollIntervalMs?: number;
  /**
   * Finished tasks to keep for inspection (`list({ state: 'done' })`, `show(id)`), newest by id; 0 to 1,000,000,
   * default 0: a finished task is deleted. Older ones are deleted right after each batch of completions.
   */
  retainFinished?: number;
  /** Where unexpected errors go (a handler that threw is not one: it is retried). Default: standard error. */
  logger?: TasksLogger;
  /** Told of every pickup and every run, for metrics (the node turns these into histograms). */
  observer?: TasksObserver;
}

export interface TasksLogger {
  error(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface TasksObserver {
  /** A task was claimed: `waitedMs` from when it became due (enqueue or run time) to the claim. */
  pickedUp(queue: string, waitedMs: number): void;
  /** A run ended: its duration and how it ended. */
  ran(queue: string, durationMs: number, outcome: RunOutcome): void;
}

export type RunOutcome = 'completed' | 'retried' | 'dead' | 'lease-lost';

export interface EnqueueOptions {
  /** Run no earlier than this many ms from now (0 to one year). Not with `runAt`. */
  delayMs?: number;
  /** Run no earlier than this time (a Date or epoch ms). Not with `delayMs`. */
  runAt?: Date | number;
  /** Runs in all, the first included (1 to 1,000; default: the registration's, else 10). */
  maxAttempts?: number;
  /** While a task with the same name and key is pending (queued, delayed or running), another enqueue is a no-op. */
  dedupKey?: string;
  /** The queue to run in (default: the registration's queue, which defaults to the task's name). */
  queue?: string;
  /** -100 to 100, higher runs first within its queue (default 0). */
  priority?: number;
}

export interface EnqueueResult {
  /** The task's id (for `show`, `retry`, `rm`); for a deduplicated enqueue, the pending task's. */
  id: bigint;
  /** True when a task with the same `dedupKey` was pending, so nothing was enqueued. */
  deduplicated: boolean;
}

export interface RegisterOptions {
  /** The queue this task name runs in by default (default: the name itself). */
  queue?: string;
  /** Handlers of this queue running at once in this process (1 to 10,000; default 8). */
  concurrency?: number;
  /**
   * How long a claim lasts without a heartbeat, in ms (default 30,000). In-process handlers heartbeat by
   * themselves while they run (up to `timeoutMs`); a task whose lease ends runs again.
   */
  leaseMs?: number;
  /** Longest run, in ms (default 300,000): past it the attempt has failed, `job.signal` aborts and the task is retried. */
  timeoutMs?: number;
  /** Default `maxAttempts` for tasks of this name (default 10). */
  maxAttempts?: number;
  /** First retry's back-off, in ms (default 1,000); doubled per attempt, with jitter. */
  backoffBaseMs?: number;
  /** Longest back-off, in ms (default 3,600,000). */
  backoffMaxMs?: number;
}

/** What a handler gets. */
export interface Job<P = unknown> {
  readonly id: bigint;
  readonly name: string;
  readonly queue: string;
  readonly payload: P;
  /** 1 for the first run, 2 for the first retry, … */
  readonly attempt: number;
  readonly maxAttempts: number;
  /** Stable across attempts (`task-<id>`): hand it to external systems that deduplicate requests. */
  readonly idempotencyKey: string;
  readonly enqueuedAt: Date;
  /** Aborted when this attempt loses the task: its timeout passed, its lease ended, or the outbox stopped past its drain deadline. */
  readonly signal: AbortSignal;
  /**
   * Runs `fn` in one store transaction that also completes the task: the writes `fn` makes and the task's
   * completion commit together, so they happen exactly once whatever crashes. Throws `TaskNotRunningError`
   * (nothing committed) if this attempt no longer owns the task.
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>;
}

/** A handler's result is ignored; throwing (or rejecting) fails the attempt. */
export type TaskHandler<P = unknown> = (job: Job<P>) => unknown;

export interface StopOptions {
  /** How long running handlers may take to finish, in ms (default 10,000); the rest go back to their queues. */
  drainTimeoutMs?: number;
}

/** Counts per queue, read from the store (escrow counters kept in the same transactions as the tasks). */
export interface QueueCounts {
  queue: string;
  /** Ready to run now. */
  ready: number;
  /** Waiting for their run time (delayed, or backing off before a retry). */
  scheduled: number;
  /** Claimed and not yet finished. */
  running: number;
  dead: number;
}

/** One task as the operator views show it. */
export interface TaskView {
  id: string;
  name: string;
  queue: string;
  state: 'ready' | 'scheduled' | 'running' | 'dead' | 'done';
  priority: number;
  /** Runs started so far. */
  attempts: number;
  maxAttempts: number;
  dedupKey: string | null;
  enqueuedAt: string;
  runAt: string;
  lastError: string | null;
  /** The payload as JSON where it has a JSON form (bigints as strings), else a description. */
  payload: unknown;
}

/** In-process counters since open, for metrics. Monotonic. */
export interface TasksStats {
  claimed: number;
  completed: number;
  retried: number;
  dead: number;
  leaseExpiries: number;
  /** Runs of tasks found running in the store when the outbox opened (their process died). */
  recovered: number;
  internalErrors: number;
}

export interface Tasks {
  enqueue(tx: Transaction, name: string, payload?: unknown, options?: EnqueueOptions): Promise<EnqueueResult>;
  register<P = unknown>(name: string, handler: TaskHandler<P>, options?: RegisterOptions): void;
  /**
   * Declares a task run by remote workers (`remoteTasks(client)` in processes that `connect()` to the node),
   * so it can be enqueued here. Its queue is claimed only by remote workers: a queue holds local or remote
   * task names, not both.
   */
  declare(name: string, options?: Pick<RegisterOptions, 'queue' | 'maxAttempts' | 'backoffBaseMs' | 'backoffMaxMs'>): void;
  /** Every `publish` to `topic` enqueues one task named `taskName` (which must be registered by publish time). */
  subscribe(topic: string, taskName: string): void;
  /** One task per subscription of `topic`, in `tx`. Resolves to their results, in subscription order. */
  publish(tx: Transaction, topic: string, payload?: unknown, options?: Omit<EnqueueOptions, 'queue' | 'dedupKey'>): Promise<EnqueueResult[]>;
  start(): Promise<void>;
  stop(options?: StopOptions): Promise<void>;
  /** Per-queue counts, every queue that ever held a task. */
  queues(): Promise<QueueCounts[]>;
  /** Dead letters (oldest first), or the ready and scheduled tasks of `queue`, at most `limit` (default 100, at most 1,000). */
  list(options?: { state?: 'dead' | 'ready' | 'scheduled' | 'running' | 'done'; queue?: string; limit?: number }): Promise<TaskView[]>;
  /** A running, dead or (with `retainFinished`) finished task by id. */
  show(id: bigint): Promise<TaskView>;
  /** Moves a dead letter back to its queue with a fresh set of attempts. */
  retry(id: bigint): Promise<void>;
  /** Deletes a dead letter. */
  remove(id: bigint): Promise<void>;
  stats(): TasksStats;
}
