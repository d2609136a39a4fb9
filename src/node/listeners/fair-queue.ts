/**
 * Ledger requests from the network, served round-robin per connection.
 *
 * The ledger runs one request at a time, first come, first served. Fed straight from the listeners, one
 * connection with a thousand full batches in flight would put a thousand requests ahead of every other
 * client's lookup (measured: a lookup waited 1.9 s behind 32 batches; the issue saw more than 30 s). So
 * the listeners hand requests here instead: each connection (an "owner") has its own queue, and one request
 * at a time goes to the ledger, taken from the owners in turn. An owner new to the ring joins at its front
 * (as new flows do in fq_codel), so a lone lookup waits only for the request the ledger is running. An
 * owner stays in the ring for a whole round after its queue empties — removed only when its turn finds it
 * empty — so a flooder that keeps exactly one request waiting cannot pass for new every time and jump the
 * others. Nobody starves: every owner in the ring is served once per round.
 *
 * One request at a time costs the ledger nothing it had: it runs requests one by one anyway, each
 * committed before the next starts, and handing over the next one takes a few microseconds.
 */
import { asError, assert } from '../../errors.js';
import { LinkedQueue, type Linked } from '../../util/list.js';

export const FAIR_RUNNING_MAX = 1;

interface Task {
  run(): Promise<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** An owner's waiting tasks; linked into the ring while it has any, and for one round after. */
interface OwnerQueue extends Linked<OwnerQueue> {
  readonly owner: object;
  readonly tasks: Task[];
}

export interface FairQueueStats {
  /** Requests waiting for their turn. */
  queued: number;
  /** Requests with the ledger now. */
  running: number;
  /** Owners in the ring: with requests waiting, or served in the current round. */
  owners: number;
}

export class FairQueue {
  private readonly owners = new Map<object, OwnerQueue>();
  /** Owners with waiting tasks, in serving order: the head is served next and goes to the tail. */
  private readonly ring = new LinkedQueue<OwnerQueue>();
  private queued = 0;
  private running = 0;

  constructor(private readonly runningMax: number = FAIR_RUNNING_MAX) {
    assert(Number.isInteger(runningMax) && runningMax > 0, 'runningMax must be a positive integer');
  }

  stats(): FairQueueStats {
    return { queued: this.queued, running: this.running, owners: this.ring.length };
  }

  /** Runs `run` when `owner`'s turn comes; resolves or rejects as it does. */
  submit<T>(owner: object, run: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let queue = this.owners.get(owner);
      if (queue === undefined) {
        queue = { owner, tasks: [], previous: undefined, next: undefined, list: undefined };
        this.owners.set(owner, queue);
      }
      queue.tasks.push({ run, resolve: resolve, reject });
      this.queued += 1;
      // A newcomer is served next; an owner already in the ring (even with nothing waiting) keeps its place.
      if (queue.list === undefined) this.ring.unshift(queue);
      this.dispatch();
    });
  }

  /** Drops the owner's waiting tasks (they never run; their promises stay pending) and forgets it. */
  forget(owner: object): void {
    const queue = this.owners.get(owner);
    if (queue === undefined) return;
    this.queued -= queue.tasks.length;
    queue.tasks.length = 0;
    if (queue.list !== undefined) this.ring.remove(queue);
    this.owners.delete(owner);
  }

  private dispatch(): void {
    while (this.running < this.runningMax) {
      const queue = this.ring.shift();
      if (queue === undefined) return;
      const task = queue.tasks.shift();
      if (task === undefined) {
        this.owners.delete(queue.owner); // a whole round with nothing waiting: it leaves the ring
        continue;
      }
      this.queued -= 1;
      this.ring.push(queue);
      this.start(task);
    }
  }

  private start(task: Task): void {
    this.running += 1;
    let running: Promise<unknown>;
    try {
      running = task.run();
    } catch (error) {
      running = Promise.reject(asError(error));
    }
    const done = () => {
      this.running -= 1;
      this.dispatch();
    };
    running.then(
      (value) => {
        done();
        task.resolve(value);
      },
      (error: unknown) => {
        done();
        task.reject(error);
      },
    );
  }
}
