/**
 * The store's retry loop: `store.transaction(fn)` runs `fn` until it commits.
 *
 * A try that loses a lock conflict — a deadlock victim (the youngest in the cycle, see locks.ts) or a lock
 * wait past `lockTimeoutMs` — is discarded and the function run again after a randomized exponential
 * back-off. Every try of one call shares a `TransactionRun`: the first try's age (so it cannot be a victim
 * for ever: once it is the oldest transaction, it is never chosen), its deadline, and the lock plan the
 * failed tries left (see transaction.ts). The loop ends when a try commits, when the deadline passes
 * (`TransactionTimeoutError`, with the last conflict as cause), or after `retries` tries if the caller capped
 * them (then the last conflict's own error). Any other error fails the call at once, the try undone.
 *
 * Deadlines also bound a try whose function is slow or stuck: one timer, armed while any try runs, wounds
 * the tries still running at their deadline — they lose every lock at once, so a stuck function cannot hold
 * a hot page for ever, and fail at their next store call or on return. A try waiting for a lock is left to
 * its lock timer, which never runs past the deadline.
 *
 * A committed try's `afterCommit` callbacks run here, once its commit is durable and before the call
 * resolves: this is the one place that knows the call succeeded. A failed try's callbacks went with it.
 */
import { DeadlockError, LockTimeoutError, StoreArgumentError, TransactionAbortedError, TransactionTimeoutError } from './errors.js';
import type { Transaction } from './interfaces.js';
import { type TransactionContext, type TransactionRun, TransactionState } from './transaction.js';

/** A transaction's deadline: 30 seconds, the bus's default call deadline (a request rarely has longer). */
export const TRANSACTION_TIMEOUT_DEFAULT_MS = 30_000;
export const TRANSACTION_TIMEOUT_MAX_MS = 3_600_000;
export const RETRIES_MAX = 1_000;
/**
 * Randomized exponential back-off before a retry: uniform in [0, window), the window starting at 1 ms and
 * doubling per try up to 100 ms. The randomness spreads victims of one collision apart so they do not meet
 * again at once; the cap keeps a transaction that lost several times from idling long after the page freed.
 */
const RETRY_BACKOFF_FIRST_MS = 1;
const RETRY_BACKOFF_MAX_MS = 100;
/** How often running tries are checked against their deadlines. */
const DEADLINE_SWEEP_MS = 100;

export interface RunOptions {
  timeoutMs: number;
  lockTimeoutMs: number;
  /** Most tries in all; infinite when only the deadline bounds them. */
  triesMax: number;
}

/** What the retry loop needs from the engine, besides what a transaction needs. */
export interface RetryHost extends TransactionContext {
  readonly counters: { escrowRejections: number; retries: number; transactionTimeouts: number; afterCommitErrors: number };
  /** Lock plans for retries (`TransactionRun.lockPlan`); switched off only to measure what they buy. */
  readonly learnLockPlan: boolean;
  /** Ends a failed try: its waits, locks and pending increments are given up. */
  abortTry(tx: TransactionState): void;
  /** Commits a try whose function returned (the synchronous commit step); the promise, if any, resolves when durable. */
  commitTry(tx: TransactionState): Promise<void> | undefined;
  /** Throws if the store failed meanwhile: no more tries run (a closing store lets running calls finish). */
  checkNotFailed(): void;
}

export class TransactionRunner {
  /** Tries whose function is running, for the deadline sweep. */
  private readonly running = new Set<TransactionState>();
  private deadlineSweep: NodeJS.Timeout | null = null;
  private nextTransactionId = 1;

  constructor(private readonly host: RetryHost) {}

  /** Runs `fn` until it commits (see the file comment); resolves to its result once the commit is durable. */
  async run<T>(fn: (tx: Transaction) => Promise<T>, options: RunOptions): Promise<T> {
    const run: TransactionRun = {
      age: this.nextTransactionId,
      lockTimeoutMs: options.lockTimeoutMs,
      deadlineMs: performance.now() + options.timeoutMs,
      lockPlan: null,
      learnLockPlan: this.host.learnLockPlan,
    };
    for (let attempt = 1; ; attempt++) {
      const tx = new TransactionState(this.nextTransactionId++, this.host, run);
      this.running.add(tx);
      this.armDeadlineSweep();
      let result: T;
      try {
        if (attempt > 1) await tx.lockPlanned();
        result = await fn(tx);
        if (tx.doomed !== null) throw tx.doomed;
      } catch (error) {
        this.running.delete(tx);
        this.host.abortTry(tx);
        await this.beforeRetry(tx.doomed ?? error, error, run, options, attempt);
        continue;
      }
      this.running.delete(tx);
      const durable = this.host.commitTry(tx);
      if (durable !== undefined) await durable;
      const callbacks = tx.takeAfterCommit();
      if (callbacks !== null) this.runAfterCommit(callbacks);
      return result;
    }
  }

  /**
   * Runs a committed transaction's `afterCommit` callbacks in order. The commit already stands, so a callback
   * that throws (or rejects) must not fail the call nor stop the callbacks after it: it is counted and
   * reported as a process warning (the store has no logger of its own), and the rest run.
   */
  private runAfterCommit(callbacks: Array<() => void>): void {
    for (const callback of callbacks) {
      try {
        const returned: unknown = callback();
        if (returned instanceof Promise) returned.catch((error: unknown) => this.afterCommitFailed(error));
      } catch (error) {
        this.afterCommitFailed(error);
      }
    }
  }

  private afterCommitFailed(error: unknown): void {
    this.host.counters.afterCommitErrors++;
    const message = error instanceof Error ? error.message : String(error);
    process.emitWarning(`an afterCommit callback failed (the transaction is committed): ${message}`, { type: 'PurserAfterCommitWarning', code: 'STORE_AFTER_COMMIT_FAILED' });
  }

  /** After a failed try: throws what ends the call, or waits out the back-off before the next try. */
  private async beforeRetry(failure: unknown, thrown: unknown, run: TransactionRun, options: RunOptions, attempt: number): Promise<void> {
    if (!(failure instanceof DeadlockError || failure instanceof LockTimeoutError)) {
      throw failure instanceof TransactionAbortedError || failure instanceof TransactionTimeoutError ? failure : thrown;
    }
    const remainingMs = run.deadlineMs - performance.now();
    if (remainingMs <= 0) {
      this.host.counters.transactionTimeouts++;
      const message = `transaction did not commit within its timeoutMs of ${String(options.timeoutMs)} ms (${String(attempt)} tries; the last ended: ${failure.message})`;
      throw new TransactionTimeoutError(message, { cause: failure });
    }
    if (attempt >= options.triesMax) {
      throw failure instanceof DeadlockError ? new DeadlockError(`transaction was a deadlock victim on all ${String(attempt)} tries`) : failure;
    }
    this.host.counters.retries++;
    await sleep(Math.min(remainingMs, backoffMs(attempt)));
    this.host.checkNotFailed();
  }

  /** Keeps one timer armed while any try runs, to wound tries still running at their deadline. */
  private armDeadlineSweep(): void {
    if (this.deadlineSweep !== null) return;
    this.deadlineSweep = setTimeout(() => {
      this.deadlineSweep = null;
      this.sweepDeadlines();
      if (this.running.size > 0) this.armDeadlineSweep();
    }, DEADLINE_SWEEP_MS);
    this.deadlineSweep.unref();
  }

  private sweepDeadlines(): void {
    const now = performance.now();
    for (const tx of this.running) {
      // A waiting try is bounded by its lock timer, which never runs past the deadline.
      if (tx.doomed === null && tx.waits.length === 0 && tx.deadlineMs <= now) {
        this.host.counters.transactionTimeouts++;
        tx.wound(new TransactionTimeoutError(`transaction ${String(tx.id)} was still running at its deadline; its locks were released`));
      }
    }
  }
}

/** Checks `store.transaction` options against the store's defaults. */
export function checkRunOptions(options: unknown, defaults: RunOptions): RunOptions {
  if (typeof options !== 'object' || options === null) throw new StoreArgumentError('transaction options must be an object');
  const { retries, timeoutMs = defaults.timeoutMs, lockTimeoutMs = defaults.lockTimeoutMs } = options as { retries?: unknown; timeoutMs?: unknown; lockTimeoutMs?: unknown };
  checkRetries(retries);
  checkTimeout('timeoutMs', timeoutMs);
  checkTimeout('lockTimeoutMs', lockTimeoutMs);
  return { timeoutMs, lockTimeoutMs, triesMax: retries ?? defaults.triesMax };
}

export function checkRetries(retries: unknown): asserts retries is number | undefined {
  if (retries === undefined) return;
  if (typeof retries !== 'number' || !Number.isSafeInteger(retries) || retries < 1 || retries > RETRIES_MAX) {
    throw new StoreArgumentError(`retries must be an integer from 1 to ${String(RETRIES_MAX)} (tries in all)`);
  }
}

export function checkTimeout(name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > TRANSACTION_TIMEOUT_MAX_MS) {
    throw new StoreArgumentError(`${name} must be an integer from 1 to ${String(TRANSACTION_TIMEOUT_MAX_MS)} (milliseconds)`);
  }
}

/** Randomized exponential back-off before try `attempt + 1` (see RETRY_BACKOFF_MAX_MS). */
function backoffMs(attempt: number): number {
  const windowMs = Math.min(RETRY_BACKOFF_MAX_MS, RETRY_BACKOFF_FIRST_MS * 2 ** Math.min(attempt - 1, 16));
  return Math.random() * windowMs;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
