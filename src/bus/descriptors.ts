/**
 * The XATMI call-descriptor table: one implementation for the in-process bus and the network client
 * (`connect()`), so that both follow the same rules.
 *
 * - Descriptors run CD_FIRST..lastCd and wrap, skipping any still held; CD_FIRST is above every flag value,
 *   so `getReply(TPGETANY)` can never be mistaken for a cd.
 * - An outcome (reply or error) goes to the getReply waiting on its cd, else to the longest-waiting
 *   TPGETANY caller, else it waits in arrival order until a getReply takes it. Taking it frees the cd;
 *   after that, and after cancel, the cd is stale (TPEBADDESC).
 * - A TPGETANY caller beyond the descriptors left would wait forever: it is answered TPEBADDESC instead.
 *
 * An entry is the caller's own object (the bus's request, the client's pending call): it carries its settle
 * functions and its stored outcome, so a descriptor costs no allocation here beyond the map slot.
 */
import { XatmiError } from './errors.js';
import { LinkedQueue, type Linked } from '../util/list.js';
import type { Reply } from './interfaces.js';

export const CD_FIRST = 0x100;
/** The bus's last descriptor: positive in a 32-bit signed integer, as XATMI's int cd. */
export const CD_LAST = 0x7fff_ffff;

export interface Descriptor<T> extends Linked<T> {
  readonly cd: number;
  /** Settle functions of the getReply (by cd or TPGETANY) waiting for this outcome. */
  resolve: ((reply: Reply) => void) | undefined;
  reject: ((error: XatmiError) => void) | undefined;
  /** The stored outcome, until a getReply takes it. */
  reply: Reply | undefined;
  error: XatmiError | undefined;
}

interface AnyWaiter {
  resolve: (reply: Reply) => void;
  reject: (error: XatmiError) => void;
}

export interface DescriptorTableOptions<T> {
  /** Called when a descriptor is freed (its outcome taken, or cancelled), before any waiter is settled. */
  onFreed?: (entry: T) => void;
  /** Numbers the owner uses for other things (the client's plain calls and ledger requests share its ids). */
  inUseElsewhere?: (cd: number) => boolean;
  lastCd?: number;
}

export class DescriptorTable<T extends Descriptor<T>> {
  private readonly entries = new Map<number, T>();
  /** Entries whose outcome is in and not yet taken, in arrival order. */
  private readonly ready = new LinkedQueue<T>();
  private readonly anyWaiters: AnyWaiter[] = [];
  private readonly onFreed: (entry: T) => void;
  private readonly inUseElsewhere: ((cd: number) => boolean) | undefined;
  private readonly lastCd: number;
  private nextCd = CD_FIRST;

  constructor(options: DescriptorTableOptions<T> = {}) {
    this.onFreed = options.onFreed ?? (() => undefined);
    this.inUseElsewhere = options.inUseElsewhere;
    this.lastCd = options.lastCd ?? CD_LAST;
  }

  /** Descriptors issued and not yet taken or cancelled. */
  get size(): number {
    return this.entries.size;
  }

  /** Outcomes that are in and wait for a getReply. */
  get readyCount(): number {
    return this.ready.length;
  }

  allocate(): number {
    for (;;) {
      const cd = this.nextCd;
      this.nextCd = cd === this.lastCd ? CD_FIRST : cd + 1;
      if (!this.entries.has(cd) && this.inUseElsewhere?.(cd) !== true) return cd;
    }
  }

  add(entry: T): void {
    this.entries.set(entry.cd, entry);
  }

  get(cd: number): T | undefined {
    return this.entries.get(cd);
  }

  values(): IterableIterator<T> {
    return this.entries.values();
  }

  /** Whether the entry's outcome is in and waits to be taken. */
  isReady(entry: T): boolean {
    return entry.list === this.ready;
  }

  /** Drops an entry that never became a descriptor for its caller (an acall refused at once). */
  discard(entry: T): void {
    this.entries.delete(entry.cd);
  }

  /** The outcome of a held descriptor is in: hand it to whoever waits, or keep it for a later getReply. */
  settle(entry: T, error: XatmiError | undefined, reply: Reply | undefined): void {
    entry.error = error;
    entry.reply = reply;
    if (entry.resolve !== undefined) this.take(entry);
    else if (this.anyWaiters.length > 0) {
      const waiter = this.anyWaiters.shift() as AnyWaiter;
      entry.resolve = waiter.resolve;
      entry.reject = waiter.reject;
      this.take(entry);
    } else this.ready.push(entry);
  }

  /** getReply(cd). Throws the XatmiError of a bad request; the caller turns it into a rejection. */
  getOne(cd: number, noBlock: boolean): Promise<Reply> {
    const entry = this.entries.get(cd);
    if (entry === undefined) throw new XatmiError('TPEBADDESC', `call descriptor ${cd} is not outstanding (never issued, cancelled, or its reply was taken)`);
    if (entry.resolve !== undefined) throw new XatmiError('TPEPROTO', `another getReply is already waiting on descriptor ${cd}`);
    const isIn = this.isReady(entry);
    if (!isIn && noBlock) throw new XatmiError('TPEBLOCK', `no reply for descriptor ${cd} yet and TPNOBLOCK was given`);
    const promise = replyPromise(entry);
    if (isIn) {
      this.ready.remove(entry);
      this.take(entry);
    }
    return promise;
  }

  /** getReply(TPGETANY): the oldest outcome that is in, else the next one to come. */
  getAny(noBlock: boolean): Promise<Reply> {
    const entry = this.ready.shift();
    if (entry !== undefined) {
      const promise = replyPromise(entry);
      this.take(entry);
      return promise;
    }
    if (this.entries.size - this.anyWaiters.length <= 0) return Promise.reject(new XatmiError('TPEBADDESC', 'TPGETANY with no outstanding descriptors'));
    if (noBlock) return Promise.reject(new XatmiError('TPEBLOCK', 'no reply is ready and TPNOBLOCK was given'));
    return new Promise<Reply>((resolve, reject) => this.anyWaiters.push({ resolve, reject }));
  }

  /** tpcancel: forgets the descriptor (its outcome, now or later, is dropped) and returns its entry. */
  cancel(cd: number): T {
    const entry = this.entries.get(cd);
    if (entry === undefined) throw new XatmiError('TPEBADDESC', `call descriptor ${cd} is not outstanding (never issued, cancelled, or its reply was taken)`);
    this.entries.delete(cd);
    if (this.isReady(entry)) this.ready.remove(entry);
    this.onFreed(entry);
    const reject = entry.reject;
    entry.resolve = undefined;
    entry.reject = undefined;
    entry.reply = undefined;
    entry.error = undefined;
    reject?.(new XatmiError('TPEBADDESC', `call descriptor ${cd} was cancelled while waiting for its reply`));
    this.failOrphanedAnyWaiters();
    return entry;
  }

  /** Answers every TPGETANY caller still waiting with `error()` (the client's lost connection). */
  rejectAnyWaiters(error: () => XatmiError): void {
    for (const waiter of this.anyWaiters.splice(0)) waiter.reject(error());
  }

  /** Hands a stored outcome to the waiter set on the entry and frees its descriptor. */
  private take(entry: T): void {
    this.entries.delete(entry.cd);
    this.onFreed(entry);
    const { resolve, reject, error, reply } = entry;
    entry.resolve = undefined;
    entry.reject = undefined;
    entry.reply = undefined;
    entry.error = undefined;
    if (error !== undefined) (reject as (error: XatmiError) => void)(error);
    else (resolve as (reply: Reply) => void)(reply as Reply);
    this.failOrphanedAnyWaiters();
  }

  private failOrphanedAnyWaiters(): void {
    while (this.anyWaiters.length > this.entries.size - this.ready.length) {
      const waiter = this.anyWaiters.pop() as AnyWaiter;
      waiter.reject(new XatmiError('TPEBADDESC', 'TPGETANY: no outstanding descriptors are left'));
    }
  }
}

/**
 * A promise whose settle functions are stored on the entry. One shared executor reads the entry from a
 * module variable, so a call allocates no closure for it (the executor runs synchronously, so this is safe).
 */
let entryAwaitingPromise: Descriptor<unknown> | undefined;
function captureSettlers(resolve: (reply: Reply) => void, reject: (error: XatmiError) => void): void {
  const entry = entryAwaitingPromise as Descriptor<unknown>;
  entry.resolve = resolve;
  entry.reject = reject;
}

export function replyPromise(entry: Descriptor<unknown>): Promise<Reply> {
  entryAwaitingPromise = entry;
  const promise = new Promise<Reply>(captureSettlers);
  entryAwaitingPromise = undefined;
  return promise;
}
