/**
 * The client table: one session per registered client, as a TigerBeetle replica keeps it. A session
 * remembers the client's last request (number and checksum) and the reply to it, so that a request the
 * client resends — because the reply was lost, or it reconnected — is answered from the cache and never
 * executed twice.
 *
 * The table is bounded like TigerBeetle's (`clients_max`, 64): registering one more client drops the
 * least recently used session, and that client is evicted (`no_session`) when it next asks. Sessions
 * live in memory only, so after a node restart every client is evicted the same way and must create a
 * new client; the ledger's idempotent ids (`exists`) make resubmitting the lost request safe.
 *
 * The protocol authenticates nobody, so registering costs nothing: 64 registers with made-up client ids
 * from one process would evict every live client. Each session therefore remembers the address it
 * registered from, and when the table is full, an address that holds `perAddressMax` sessions or more
 * (16 of 64 by default) makes room with its own least recently used session, not another address's. Below
 * that the rule is TigerBeetle's: the least recently used session goes.
 */
import { assert } from '../../../errors.js';

/** TigerBeetle's `clients_max`: at most this many sessions (each may cache a reply of up to 1 MiB). */
export const CLIENT_SESSIONS_MAX = 64;
/** Sessions one remote address may hold by default: a quarter of the table. */
export const CLIENT_SESSIONS_PER_ADDRESS_MAX = 16;

/** Where a session's replies go: the connection its client last spoke on. */
export interface ReplySink {
  send(message: Buffer): void;
  close(reason: string): void;
  readonly open: boolean;
}

export interface Session {
  readonly client: bigint;
  readonly session: bigint;
  /** The remote address the session registered from. */
  readonly address: string;
  /** The release the client registered with; every later request must carry the same one. */
  readonly release: number;
  /** Number and checksum of the latest request accepted (0 and the register's checksum at first). */
  lastRequest: number;
  lastRequestChecksum: bigint;
  /** The reply to `lastRequest`, once it is ready; undefined while it executes. */
  lastReply: Buffer | undefined;
  sink: ReplySink;
}

export class SessionTable {
  /** Map order is the recency order: a touched session is re-inserted at the end. */
  private readonly sessions = new Map<bigint, Session>();

  private readonly perAddress = new Map<string, number>();

  constructor(
    private readonly capacity: number = CLIENT_SESSIONS_MAX,
    private readonly perAddressMax: number = Math.min(capacity, CLIENT_SESSIONS_PER_ADDRESS_MAX),
  ) {
    assert(Number.isInteger(capacity) && capacity > 0, 'session table capacity');
    assert(Number.isInteger(perAddressMax) && perAddressMax > 0 && perAddressMax <= capacity, 'sessions per address');
  }

  get size(): number {
    return this.sessions.size;
  }

  /** The client's session, marked most recently used; undefined if it has none (or lost it). */
  get(client: bigint): Session | undefined {
    const session = this.sessions.get(client);
    if (session !== undefined) {
      this.sessions.delete(client);
      this.sessions.set(client, session);
    }
    return session;
  }

  /**
   * Adds (or replaces) the client's session; returns the session dropped to make room, if any: when the
   * table is full, the least recently used of the same address if that address is at its quota, else the
   * least recently used of all.
   */
  add(session: Session): Session | undefined {
    this.remove(session.client);
    let dropped: Session | undefined;
    if (this.sessions.size >= this.capacity && (this.perAddress.get(session.address) ?? 0) >= this.perAddressMax) {
      for (const candidate of this.sessions.values()) {
        if (candidate.address === session.address) {
          dropped = candidate;
          break;
        }
      }
      assert(dropped !== undefined, 'an address at its quota has a session');
    } else if (this.sessions.size >= this.capacity) {
      const oldest = this.sessions.values().next();
      assert(oldest.done !== true, 'a full table has an oldest session');
      dropped = oldest.value;
    }
    if (dropped !== undefined) this.remove(dropped.client);
    this.sessions.set(session.client, session);
    this.perAddress.set(session.address, (this.perAddress.get(session.address) ?? 0) + 1);
    assert(this.sessions.size <= this.capacity, 'session table over capacity');
    return dropped;
  }

  remove(client: bigint): void {
    const session = this.sessions.get(client);
    if (session === undefined) return;
    this.sessions.delete(client);
    const left = (this.perAddress.get(session.address) ?? 1) - 1;
    if (left === 0) this.perAddress.delete(session.address);
    else this.perAddress.set(session.address, left);
  }
}
