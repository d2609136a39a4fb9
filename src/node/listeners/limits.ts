/**
 * What keeps one client from locking a listener up: connection caps, deadlines and a memory budget,
 * shared by the bus and TigerBeetle listeners (the HTTP listener uses node:http's own equivalents).
 *
 * - `ConnectionTable`: at most `connectionsMax` connections per listener and `connectionsPerAddressMax`
 *   per remote address. At a cap a new connection takes the place of the oldest one that has not finished
 *   its handshake (of the same address, at the address's cap): silent sockets must not lock out real
 *   clients. If every connection has, the new one is closed.
 * - `ConnectionGuard`, one per connection: a deadline for the handshake, an idle timeout after it (any
 *   complete frame counts as activity, so clients that ping stay connected), a deadline to finish a frame
 *   once its first byte arrived (slowloris), a cap on the bytes of an unfinished frame, and the
 *   connection's share of the node's memory budget. Deadlines are checked periodically (a quarter of the
 *   shorter timeout), so each is kept to within a quarter of itself.
 * - `MemoryBudget`, one per node: every byte a listener has read and not yet answered — unfinished frames
 *   and requests queued or running — is reserved here first. A connection that cannot reserve a chunk
 *   stops reading (its bytes stay in the kernel, which applies TCP flow control to the sender) and resumes
 *   when the budget frees up; that is the back-pressure. Refusal comes only from the deadlines: a frame
 *   that cannot finish in time closes its connection. The last eighth of the budget is kept for
 *   connections holding little (a lookup while someone floods the node with full batches).
 */
import type { Socket } from 'node:net';
import { assert } from '../../errors.js';

export interface ListenerLimits {
  /** Connections the listener holds at once. */
  connectionsMax: number;
  /** Connections from one remote address at once. */
  connectionsPerAddressMax: number;
  /** Time from accept to a complete handshake (bus: HELLO; TigerBeetle: the first valid message). */
  handshakeTimeoutMs: number;
  /** Time without a complete frame after the handshake before the connection is closed. */
  idleTimeoutMs: number;
  /** Time to finish a frame once its first byte arrived. */
  frameTimeoutMs: number;
  /** Bytes of unfinished frames one connection may hold; more closes it. */
  frameBufferedBytesMax: number;
  /** Bytes one connection may hold (unfinished frames and requests not yet answered) before it stops being read. */
  connectionHeldBytesMax: number;
}

/** The node-wide budget for bytes read and not yet answered, over every listener. */
export const DEFAULT_MEMORY_BUDGET_BYTES = 256 * 1024 * 1024; // 256 MiB
/** A connection holding at most this much may use the budget's reserved last eighth. */
export const SMALL_HOLDER_BYTES_MAX = 64 * 1024; // 64 KiB

export class MemoryBudget {
  private usedBytes_ = 0;
  private peakBytes_ = 0;
  /** Connections that stopped reading for want of budget, woken in order when bytes are released. */
  private readonly waiting = new Set<() => void>();
  private waking = false;
  /** Reservations refused (each paused a connection). */
  refusals = 0;

  constructor(readonly maxBytes: number = DEFAULT_MEMORY_BUDGET_BYTES) {
    assert(Number.isInteger(maxBytes) && maxBytes > 0, 'memory budget must be a positive integer');
  }

  get usedBytes(): number {
    return this.usedBytes_;
  }

  /** The most ever reserved at once: never above `maxBytes`. */
  get peakBytes(): number {
    return this.peakBytes_;
  }

  get waitingCount(): number {
    return this.waiting.size;
  }

  /** Reserves `bytes` for a holder that already holds `heldBytes`; false if the budget cannot give them. */
  tryReserve(bytes: number, heldBytes: number): boolean {
    const limit = heldBytes + bytes <= SMALL_HOLDER_BYTES_MAX ? this.maxBytes : this.maxBytes - (this.maxBytes >>> 3);
    if (this.usedBytes_ + bytes > limit) {
      this.refusals += 1;
      return false;
    }
    this.usedBytes_ += bytes;
    if (this.usedBytes_ > this.peakBytes_) this.peakBytes_ = this.usedBytes_;
    assert(this.usedBytes_ <= this.maxBytes, 'memory budget overdrawn');
    return true;
  }

  release(bytes: number): void {
    assert(bytes >= 0 && bytes <= this.usedBytes_, 'memory budget released more than reserved');
    this.usedBytes_ -= bytes;
    if (bytes > 0 && this.waiting.size > 0) this.wakeSoon();
  }

  /** `resume` is called once, when bytes were released after this call. */
  wait(resume: () => void): void {
    this.waiting.add(resume);
  }

  cancelWait(resume: () => void): void {
    this.waiting.delete(resume);
  }

  /** Wakes waiters on the next turn, all at once: those that still find no room wait again. */
  private wakeSoon(): void {
    if (this.waking) return;
    this.waking = true;
    setImmediate(() => {
      this.waking = false;
      const woken = [...this.waiting];
      this.waiting.clear();
      for (const resume of woken) resume();
    });
  }
}

/** What a connection table needs of a connection. */
export interface TrackedConnection {
  /** True once the handshake is complete; before it, the connection may be displaced at the cap. */
  readonly greeted: boolean;
  /** Closes the connection because the table needs its place. */
  displace(): void;
}

/** IPv4 clients of a dual-stack socket appear as `::ffff:a.b.c.d`; both spellings are one address. */
export function normalizeAddress(address: string | undefined): string {
  if (address === undefined) return '?';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

export type AdmitOutcome = 'admitted' | 'address_full' | 'listener_full';

export class ConnectionTable<C extends TrackedConnection> {
  /** Insertion order is age order: the first un-greeted entry is the oldest one. */
  private readonly connections = new Map<C, string>();
  private readonly perAddress = new Map<string, number>();
  readonly refused = { address_full: 0, listener_full: 0, displaced: 0 };

  constructor(private readonly limits: Pick<ListenerLimits, 'connectionsMax' | 'connectionsPerAddressMax'>) {}

  get size(): number {
    return this.connections.size;
  }

  values(): IterableIterator<C> {
    return this.connections.keys();
  }

  /**
   * Decides whether a new connection from `address` may stay; the caller closes it if not. At either cap
   * the oldest connection that has not finished its handshake — from the same address, at the address's
   * cap — is displaced to make room: silent sockets must not lock real clients out, even from their own
   * address (on loopback every client shares one).
   */
  admit(address: string): AdmitOutcome {
    const atAddressCap = (this.perAddress.get(address) ?? 0) >= this.limits.connectionsPerAddressMax;
    if (!atAddressCap && this.connections.size < this.limits.connectionsMax) return 'admitted';
    const oldest = this.oldestUngreeted(atAddressCap ? address : undefined);
    if (oldest === undefined) {
      const outcome = atAddressCap ? 'address_full' : 'listener_full';
      this.refused[outcome] += 1;
      return outcome;
    }
    this.refused.displaced += 1;
    this.remove(oldest);
    oldest.displace();
    return 'admitted';
  }

  add(connection: C, address: string): void {
    assert(this.connections.size < this.limits.connectionsMax, 'connection table over its cap');
    this.connections.set(connection, address);
    this.perAddress.set(address, (this.perAddress.get(address) ?? 0) + 1);
  }

  remove(connection: C): void {
    const address = this.connections.get(connection);
    if (address === undefined) return;
    this.connections.delete(connection);
    const left = (this.perAddress.get(address) ?? 1) - 1;
    if (left === 0) this.perAddress.delete(address);
    else this.perAddress.set(address, left);
  }

  private oldestUngreeted(address: string | undefined): C | undefined {
    for (const [connection, from] of this.connections) if (!connection.greeted && (address === undefined || from === address)) return connection;
    return undefined;
  }
}

/** Why a guard gave up on its connection. */
export type GuardTimeout = 'handshake' | 'idle' | 'frame';

/**
 * One connection's deadlines and memory. The owner calls `admit(chunk)` for every chunk before parsing it,
 * `afterChunk` when it has parsed it, and `hold` whenever its count of bytes held changes.
 */
export class ConnectionGuard {
  private heldBytes = 0;
  private greeted_ = false;
  private paused: 'budget' | 'connection' | undefined;
  private readonly handshakeTimer: NodeJS.Timeout;
  /**
   * One periodic check of the idle and frame deadlines per connection, instead of a timer armed or
   * refreshed per chunk: the hot path only notes the time (bus-tcp measured timers per chunk as a cost).
   * A deadline is kept to within a quarter of the shorter timeout.
   */
  private watchdog: NodeJS.Timeout | undefined;
  private lastFrameAtMs = 0;
  /** When the unfinished frame's first byte arrived, or 0 between frames. */
  private frameStartedAtMs = 0;
  private closed = false;
  private readonly resumeFromBudget = () => this.resume('budget');

  constructor(
    private readonly socket: Socket,
    private readonly limits: ListenerLimits,
    private readonly budget: MemoryBudget,
    private readonly onTimeout: (why: GuardTimeout, message: string) => void,
  ) {
    this.handshakeTimer = setTimeout(() => this.onTimeout('handshake', `no handshake within ${limits.handshakeTimeoutMs} ms`), limits.handshakeTimeoutMs);
    const checkEveryMs = Math.max(5, Math.floor(Math.min(limits.idleTimeoutMs, limits.frameTimeoutMs) / 4));
    this.watchdog = setInterval(() => this.checkDeadlines(), checkEveryMs);
    this.watchdog.unref(); // a connection's own socket keeps the process alive, not its checks
  }

  private checkDeadlines(): void {
    const nowMs = Date.now();
    if (this.frameStartedAtMs !== 0 && nowMs - this.frameStartedAtMs >= this.limits.frameTimeoutMs) {
      return this.onTimeout('frame', `a frame was not finished within ${this.limits.frameTimeoutMs} ms`);
    }
    if (this.greeted_ && nowMs - this.lastFrameAtMs >= this.limits.idleTimeoutMs) {
      return this.onTimeout('idle', `no frame for ${this.limits.idleTimeoutMs} ms`);
    }
  }

  get greeted(): boolean {
    return this.greeted_;
  }

  /** Bytes this connection holds in the budget now. */
  get held(): number {
    return this.heldBytes;
  }

  /** The handshake is done: from now on the idle timeout applies. */
  greet(): void {
    if (this.greeted_ || this.closed) return;
    this.greeted_ = true;
    clearTimeout(this.handshakeTimer);
    this.lastFrameAtMs = Date.now();
  }

  /**
   * Reserves a chunk's bytes before the owner parses them. If the budget cannot give them, the chunk is
   * put back into the socket, the socket stops reading, and false is returned: the owner does nothing.
   */
  admit(chunk: Buffer): boolean {
    if (this.budget.tryReserve(chunk.length, this.heldBytes)) {
      this.heldBytes += chunk.length;
      return true;
    }
    this.socket.pause();
    this.socket.unshift(chunk);
    this.paused = 'budget';
    this.budget.wait(this.resumeFromBudget);
    return false;
  }

  /**
   * After a chunk was parsed: `framesCompleted` frames finished in it and `unfinishedBytes` wait for the
   * rest of a frame. Returns false when the unfinished frame is over its cap (the owner closes).
   */
  afterChunk(framesCompleted: number, unfinishedBytes: number): boolean {
    if (framesCompleted > 0 || (unfinishedBytes > 0 && this.frameStartedAtMs === 0)) {
      const nowMs = Date.now();
      if (framesCompleted > 0) this.lastFrameAtMs = nowMs;
      // A new frame's clock starts when its first byte arrives (or the chunk that finished the last one).
      this.frameStartedAtMs = unfinishedBytes === 0 ? 0 : nowMs;
    } else if (unfinishedBytes === 0) {
      this.frameStartedAtMs = 0;
    }
    return unfinishedBytes <= this.limits.frameBufferedBytesMax;
  }

  /**
   * The connection now holds `heldBytes` (unfinished frame bytes plus requests not yet answered); what it
   * held beyond that goes back to the budget. Past `connectionHeldBytesMax` the connection stops being
   * read until it is back under half of it.
   */
  hold(heldBytes: number): void {
    assert(heldBytes >= 0 && heldBytes <= this.heldBytes, 'a connection holds only bytes it reserved');
    this.budget.release(this.heldBytes - heldBytes);
    this.heldBytes = heldBytes;
    if (this.closed) return;
    if (this.paused === undefined && heldBytes > this.limits.connectionHeldBytesMax) {
      this.paused = 'connection';
      this.socket.pause();
    } else if (this.paused === 'connection' && heldBytes <= this.limits.connectionHeldBytesMax / 2) {
      this.resume('connection');
    }
  }

  /** Whether reading is stopped by this guard (the owner must not resume the socket then). */
  get pausedByGuard(): boolean {
    return this.paused !== undefined;
  }

  private resume(from: 'budget' | 'connection'): void {
    if (this.closed || this.paused !== from) return;
    this.paused = undefined;
    this.socket.resume();
  }

  /** Stops the timers and returns every byte to the budget. Safe to call more than once. */
  close(): void {
    this.closed = true;
    clearTimeout(this.handshakeTimer);
    clearInterval(this.watchdog);
    this.budget.cancelWait(this.resumeFromBudget);
    this.budget.release(this.heldBytes);
    this.heldBytes = 0;
  }
}
