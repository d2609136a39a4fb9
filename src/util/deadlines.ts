/**
 * Every outstanding request's deadline in one intrusive binary min-heap, served by ONE timer armed for the
 * earliest deadline — not a timer per request, which would cost a setTimeout/clearTimeout pair per call.
 *
 * Entries carry their own heap index, so removing a request that got its reply is O(log n) and leaves no
 * garbage behind (a lazily-deleted heap would hold every completed call until its deadline: at 1M calls/s
 * with 30 s timeouts, 30M dead entries). The timer is re-armed only when a new entry is earlier than the one
 * it is armed for; when the earliest entry leaves, the timer is left alone and, when it fires for nothing,
 * re-arms for the new earliest. With the usual shape — every call the same timeout, so each new deadline is
 * the latest — a call costs no timer operations at all.
 */
import { assert } from '../errors.js';

export interface Deadlined {
  deadlineMs: number;
  /** Position in the heap, or -1 when not in it. Owned by the heap. */
  heapIndex: number;
}

export class DeadlineHeap<T extends Deadlined> {
  private readonly items: T[] = [];
  private timer: NodeJS.Timeout | undefined;
  private armedForMs = Infinity;
  private readonly onExpire: (item: T) => void;

  /** `onExpire` is called once per entry whose deadline has passed, after it left the heap. */
  constructor(onExpire: (item: T) => void) {
    this.onExpire = onExpire;
  }

  get size(): number {
    return this.items.length;
  }

  add(item: T): void {
    assert(item.heapIndex === -1, 'deadline entry already in the heap');
    assert(Number.isFinite(item.deadlineMs), 'only finite deadlines go into the heap');
    item.heapIndex = this.items.length;
    this.items.push(item);
    this.siftUp(item.heapIndex);
    if (item.deadlineMs < this.armedForMs) this.arm(item.deadlineMs);
  }

  remove(item: T): void {
    const index = item.heapIndex;
    if (index === -1) return;
    assert(this.items[index] === item, 'deadline heap index out of step');
    const last = this.items.pop() as T;
    item.heapIndex = -1;
    if (last === item) return;
    this.items[index] = last;
    last.heapIndex = index;
    this.siftUp(index);
    this.siftDown(last.heapIndex);
  }

  /** Stops the timer (the heap keeps its entries). */
  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedForMs = Infinity;
  }

  private arm(deadlineMs: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    // Node's timers run on a millisecond clock that can be a fraction behind performance.now(), so a timer
    // may fire just before the deadline; fire() then finds nothing due and re-arms for at least 1 ms.
    const delayMs = Math.max(1, Math.ceil(deadlineMs - performance.now()));
    this.armedForMs = deadlineMs;
    this.timer = setTimeout(this.fire, delayMs);
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.armedForMs = Infinity;
    const nowMs = performance.now();
    while (this.items.length > 0 && this.items[0].deadlineMs <= nowMs) {
      const top = this.items[0];
      this.remove(top);
      this.onExpire(top);
    }
    if (this.items.length > 0 && this.timer === undefined) this.arm(this.items[0].deadlineMs);
  };

  private siftUp(index: number): void {
    const items = this.items;
    const item = items[index];
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = items[parentIndex];
      if (parent.deadlineMs <= item.deadlineMs) break;
      items[index] = parent;
      parent.heapIndex = index;
      index = parentIndex;
    }
    items[index] = item;
    item.heapIndex = index;
  }

  private siftDown(index: number): void {
    const items = this.items;
    const length = items.length;
    const item = items[index];
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      const child = right < length && items[right].deadlineMs < items[left].deadlineMs ? right : left;
      if (items[child].deadlineMs >= item.deadlineMs) break;
      items[index] = items[child];
      items[index].heapIndex = index;
      index = child;
    }
    items[index] = item;
    item.heapIndex = index;
  }
}
