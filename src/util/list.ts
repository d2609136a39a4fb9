/**
 * An intrusive doubly-linked FIFO: entries carry their own links, so a request that times out or is
 * cancelled while queued leaves the queue in O(1) and frees its slot at once (an array queue would either
 * shift O(n) or keep the dead entry occupying a slot until a server skipped it).
 */
import { assert } from '../errors.js';

export interface Linked<T> {
  previous: T | undefined;
  next: T | undefined;
  /** The list the entry is in, or undefined. Owned by the list. */
  list: object | undefined;
}

export class LinkedQueue<T extends Linked<T>> {
  private head: T | undefined;
  private tail: T | undefined;
  length = 0;

  push(item: T): void {
    assert(item.list === undefined, 'entry already in a list');
    item.list = this;
    item.previous = this.tail;
    item.next = undefined;
    if (this.tail) this.tail.next = item;
    else this.head = item;
    this.tail = item;
    this.length += 1;
  }

  /** Puts `item` first (a newcomer served before those already waiting). */
  unshift(item: T): void {
    assert(item.list === undefined, 'entry already in a list');
    item.list = this;
    item.previous = undefined;
    item.next = this.head;
    if (this.head) this.head.previous = item;
    else this.tail = item;
    this.head = item;
    this.length += 1;
  }

  shift(): T | undefined {
    const item = this.head;
    if (item) this.remove(item);
    return item;
  }

  peek(): T | undefined {
    return this.head;
  }

  remove(item: T): void {
    assert(item.list === this, 'entry is not in this list');
    if (item.previous) item.previous.next = item.next;
    else this.head = item.next;
    if (item.next) item.next.previous = item.previous;
    else this.tail = item.previous;
    item.previous = undefined;
    item.next = undefined;
    item.list = undefined;
    this.length -= 1;
  }
}
