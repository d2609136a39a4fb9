/**
 * Runs the switch's work in ledger transactions, many messages per transaction.
 *
 * The ledger runs one transaction at a time and each commits with an fsync, so one message per transaction
 * would cap the switch at one fsync per message. Instead, work queues here while the previous transaction
 * commits, and the next transaction takes everything queued (up to `batchMessagesMax`): group commit at
 * the application's level. Jobs of one batch run one after another on one ledger session, so each sees
 * the effects of those before it, exactly as if they had run alone in that order.
 *
 * Failure model: a job answers expected outcomes (declines, bad requests) with its result and never
 * throws for them. A job that throws has met an unexpected error: the whole transaction is undone (the
 * ledger and store guarantee it), and its batch runs again one job per transaction, so the failing job
 * fails alone and the others commit. A failure of the ledger or store itself (closed, failed, timed out)
 * fails the batch's jobs at once; the caller answers them "system unavailable". Work submitted beyond
 * `queueMessagesMax` is refused at once (`BatcherFullError`), so a pile-up cannot grow memory without
 * bound.
 */
import type { Ledger, LedgerSession, Transaction } from 'purser';
import { LedgerClosedError, LedgerFailedError, StoreClosedError, TransactionTimeoutError } from 'purser';

export interface BatchContext {
  readonly session: LedgerSession;
  readonly tx: Transaction;
  /** Runs after the transaction committed (cache updates); never for an attempt that was undone. */
  readonly afterCommit: (() => void)[];
  /** Runs after the last job, inside the transaction (work the jobs deferred to do together). */
  readonly beforeCommit: (() => Promise<void>)[];
}

export type Job<R> = (batch: BatchContext) => Promise<R>;

/** Filled in for a job when it finishes: the Gunicorn post's split of waiting and working. */
export interface JobTiming {
  /** From submit to the start of the job's transaction. */
  queueWaitMs: number;
  /** From the start of the job's transaction to its commit. */
  serviceMs: number;
  /** Jobs in the transaction that ran this one (the "busy servers" of a batch). */
  busy: number;
  /** Jobs left waiting when the transaction started. */
  queued: number;
}

interface Entry {
  job: Job<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  submittedAtMs: number;
  timing: JobTiming | undefined;
}

export class BatcherFullError extends Error {
  constructor(queued: number) {
    super(`${queued} jobs are already waiting for the ledger`);
    this.name = 'BatcherFullError';
  }
}

export interface BatcherStats {
  batches: number;
  jobs: number;
  isolatedRuns: number;
  refused: number;
  queued: number;
  busy: number;
}

/** Errors that mean the ledger or store cannot take work now, rather than a fault of one job. */
export function isSystemFailure(error: unknown): boolean {
  return error instanceof LedgerFailedError || error instanceof LedgerClosedError || error instanceof StoreClosedError || error instanceof TransactionTimeoutError;
}

export class Batcher {
  private readonly queue: Entry[] = [];
  private running: Promise<void> | undefined;
  private readonly counters = { batches: 0, jobs: 0, isolatedRuns: 0, refused: 0 };
  private busy = 0;

  constructor(
    private readonly ledger: Ledger,
    private readonly batchMessagesMax: number,
    private readonly queueMessagesMax: number,
  ) {}

  stats(): BatcherStats {
    return { ...this.counters, queued: this.queue.length, busy: this.busy };
  }

  /** Queues a job for the next ledger transaction; resolves with its result after that transaction commits. */
  submit<R>(job: Job<R>, timing?: JobTiming): Promise<R> {
    if (this.queue.length >= this.queueMessagesMax) {
      this.counters.refused++;
      return Promise.reject(new BatcherFullError(this.queue.length));
    }
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ job: job, resolve: resolve as (value: unknown) => void, reject, submittedAtMs: performance.now(), timing });
      this.running ??= this.drain();
    });
  }

  /** Resolves once every queued job has run. */
  async idle(): Promise<void> {
    while (this.running !== undefined) await this.running;
  }

  private async drain(): Promise<void> {
    // Let the event loop deliver what is already readable, so the first batch after a quiet spell is not
    // a batch of one while a hundred messages sit in socket buffers.
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      while (this.queue.length > 0) {
        const entries = this.queue.splice(0, this.batchMessagesMax);
        await this.runBatch(entries);
      }
    } finally {
      this.running = undefined;
    }
  }

  private async runBatch(entries: Entry[]): Promise<void> {
    this.counters.batches++;
    this.busy = entries.length;
    const startedAtMs = performance.now();
    const queuedAtStart = this.queue.length;
    let results: unknown[];
    try {
      results = await this.execute(entries);
    } catch (error) {
      this.busy = 0;
      if (entries.length > 1 && !isSystemFailure(error)) {
        // Isolate the failing job: each runs alone, so only it fails.
        for (const entry of entries) {
          this.counters.isolatedRuns++;
          await this.runBatch([entry]);
        }
        return;
      }
      for (const entry of entries) entry.reject(error);
      return;
    }
    this.busy = 0;
    const endedAtMs = performance.now();
    this.counters.jobs += entries.length;
    for (let index = 0; index < entries.length; index++) {
      const entry = entries[index];
      if (entry.timing !== undefined) {
        entry.timing.queueWaitMs = startedAtMs - entry.submittedAtMs;
        entry.timing.serviceMs = endedAtMs - startedAtMs;
        entry.timing.busy = entries.length;
        entry.timing.queued = queuedAtStart;
      }
      entry.resolve(results[index]);
    }
  }

  private async execute(entries: Entry[]): Promise<unknown[]> {
    const { results, afterCommit } = await this.ledger.transaction(async (session, tx) => {
      // A fresh context per attempt: the store may run this function again after a lock conflict.
      const batch: BatchContext = { session, tx, afterCommit: [], beforeCommit: [] };
      const out: unknown[] = [];
      for (const entry of entries) out.push(await entry.job(batch));
      for (const hook of batch.beforeCommit) await hook();
      return { results: out, afterCommit: batch.afterCommit };
    });
    for (const action of afterCommit) action();
    return results;
  }
}
