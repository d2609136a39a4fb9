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
 */
import { assert } from '../../../errors.js';

/** TigerBeetle's `clients_max`: at most this many sessions (each may cache a reply of up to 1 MiB). */
export const CLIENT_SESSIONS_MAX = 64;

/** Where a session's replies go: the connection its client last spoke on. */
export interface ReplySink {
  send(message: Buffer): void;
  close(reason: string): void;
  readonly open: boolean;
}

export interface Session {
  readonly client: bigint;
  readonly session: bigint;
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

  constructor(private readonly capacity: number = CLIENT_SESSIONS_MAX) {
    assert(Number.isInteger(capacity) && capacity > 0, 'session table capacity');
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

  /** Adds (or replaces) the client's session; returns the session dropped to make room, if any. */
  add(session: Session): Session | undefined {
    let dropped: Session | undefined;
    this.sessions.delete(session.client);
    if (this.sessions.size >= this.capacity) {
      const oldest = this.sessions.keys().next();
      assert(oldest.done !== true, 'a full table has an oldest session');
      dropped = this.sessions.get(oldest.value);
      this.sessions.delete(oldest.value);
    }
    this.sessions.set(session.client, session);
    assert(this.sessions.size <= this.capacity, 'session table over capacity');
    return dropped;
  }

  remove(client: bigint): void {
    this.sessions.delete(client);
  }
}
