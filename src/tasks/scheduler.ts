/**
 * Delayed tasks and tasks backing off wait in `tasks.scheduled`, ordered by run time, never in a queue. The
 * scheduler moves the due ones into their queues (in transactions of at most `MOVE_BATCH_MAX`), and keeps one
 * timer armed for the earliest run time it knows of: from the table after each pass, and from every enqueue
 * or failure that schedules something earlier. The timer never waits longer than `pollIntervalMs`, which
 * bounds the wait when a test injects a clock (or a hint was lost: a hint from a transaction that aborted
 * only costs an empty pass).
 */
import type { Store } from '../store/interfaces.js';
import type { TasksLogger, TasksStats } from './interfaces.js';
import { CoalescedRun } from '../util/coalesced.js';
import { nextScheduledMs, promoteDue } from './storage.js';

/** Most tasks one promotion transaction moves. */
export const MOVE_BATCH_MAX = 1000;

export interface SchedulerHost {
  readonly store: Store;
  readonly clock: () => number;
  readonly logger: TasksLogger;
  readonly counters: TasksStats;
  /** True while the outbox runs tasks. */
  readonly running: boolean;
  /** Tasks were moved into `queue`. */
  wake(queue: string): void;
}

export class Scheduler {
  private timer: NodeJS.Timeout | undefined;
  private nextDueMs = Infinity;
  /** Moves due tasks into their queues, then arms the timer for the next one. One pass at a time. */
  private readonly promotion = new CoalescedRun(() => this.promoteDue());

  constructor(private readonly host: SchedulerHost, private readonly pollIntervalMs: number) {}

  /** Something was scheduled to run at `runAtMs` (its transaction committed). */
  noteDue(runAtMs: number): void {
    if (runAtMs >= this.nextDueMs) return;
    this.nextDueMs = runAtMs;
    this.arm();
  }

  start(): void {
    this.promotion.request();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    await this.promotion.idle();
  }

  private arm(): void {
    if (!this.host.running) return;
    clearTimeout(this.timer);
    const delayMs = Math.max(0, Math.min(this.pollIntervalMs, this.nextDueMs - this.host.clock()));
    this.timer = setTimeout(() => this.promotion.request(), delayMs);
  }

  private async promoteDue(): Promise<void> {
    const { store, clock } = this.host;
    try {
      for (;;) {
        const nowMs = clock();
        const { queues, nextMs } = await store.transaction(async (tx) => ({ queues: await promoteDue(tx, nowMs, MOVE_BATCH_MAX), nextMs: await nextScheduledMs(tx) }));
        for (const queue of queues) this.host.wake(queue);
        this.nextDueMs = nextMs ?? Infinity;
        if (nextMs === undefined || nextMs > clock()) break;
      }
    } catch (error) {
      this.host.counters.internalErrors++;
      this.host.logger.error({ err: error }, 'promoting due tasks failed; trying again at the next poll');
    }
    this.arm();
  }
}
