/**
 * One accepted TCP connection of the TigerBeetle listener: reassembles messages from the byte stream and
 * hands them to the replica (`listener.ts`).
 *
 * Its `ConnectionGuard` (limits.ts) bounds what it may cost: every byte read is reserved in the node's
 * memory budget before it is parsed and given back once its message is answered; a message must finish
 * within the frame deadline; a connection with no complete message for the idle timeout is closed (the
 * official clients ping every 30 s, see `defaultTigerBeetleLimits`). TigerBeetle's protocol has no error
 * message, so every refusal is a closed connection; the client reconnects and resends.
 */
import type { Socket } from 'node:net';
import { assert } from '../../../errors.js';
import { frameInvalid, HEADER_SIZE_BYTES, headerChecksumValid, readFrame } from '../../../wire/tigerbeetle/header.js';
import { ConnectionGuard, type ListenerLimits, type MemoryBudget, type TrackedConnection } from '../limits.js';
import type { ReplySink } from './sessions.js';
import type { Logger } from '../../logger.js';

/** A connection whose unsent replies exceed this (a client that does not read) is closed. */
export const WRITE_BUFFER_MAX_BYTES = 8 * 1024 * 1024;

/** What the connection needs of the replica. */
export interface MessageHandler {
  readonly logger: Logger;
  onMessage(connection: Connection, message: Buffer): void;
  refused(connection: Connection, reason: string): void;
  forget(connection: Connection): void;
}

export class Connection implements ReplySink, TrackedConnection {
  private chunks: Buffer[] = [];
  private bufferedBytes = 0;
  /** Size of the message whose header has been verified and whose body is awaited, or 0. */
  private expectedSizeBytes = 0;
  /** Bytes of messages being executed, held in the budget until their reply is made. */
  private requestBytes = 0;
  private readonly guard: ConnectionGuard;

  constructor(
    private readonly socket: Socket,
    private readonly handler: MessageHandler,
    limits: ListenerLimits,
    budget: MemoryBudget,
  ) {
    this.guard = new ConnectionGuard(socket, limits, budget, (why, message) => this.close(`${why} timeout: ${message}`));
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (error) => handler.logger.debug({ err: error }, 'TigerBeetle connection error'));
    socket.on('close', () => {
      this.guard.close();
      handler.forget(this);
    });
  }

  get open(): boolean {
    return !this.socket.destroyed;
  }

  get greeted(): boolean {
    return this.guard.greeted;
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  /** The first valid message arrived: the idle timeout applies from now on. */
  greet(): void {
    this.guard.greet();
  }

  displace(): void {
    this.close('the listener is at its connection limit and this connection had sent no valid message');
  }

  send(message: Buffer): void {
    if (!this.open) return;
    if (this.socket.writableLength > WRITE_BUFFER_MAX_BYTES) {
      this.close('client does not read its replies');
      return;
    }
    this.socket.write(message);
  }

  close(reason: string): void {
    if (!this.open) return;
    this.handler.logger.debug({ reason, remote: this.socket.remoteAddress }, 'closing TigerBeetle connection');
    this.socket.destroy();
  }

  refuse(reason: string): void {
    this.handler.refused(this, reason);
    this.close(reason);
  }

  /** Holds a message's bytes in the budget while it executes; the returned function gives them back. */
  holdRequest(bytes: number): () => void {
    this.requestBytes += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.requestBytes -= bytes;
      assert(this.requestBytes >= 0, 'request bytes never go negative');
      if (this.open) this.guard.hold(this.bufferedBytes + this.requestBytes);
    };
  }

  private receive(chunk: Buffer): void {
    if (!this.open || !this.guard.admit(chunk)) return;
    this.chunks.push(chunk);
    this.bufferedBytes += chunk.length;
    let messages = 0;
    while (this.open) {
      if (this.expectedSizeBytes === 0) {
        if (this.bufferedBytes < HEADER_SIZE_BYTES) break;
        const header = this.peek(HEADER_SIZE_BYTES);
        // The size field is trusted only once the header checksum holds.
        if (!headerChecksumValid(header)) return this.refuse('header checksum');
        const problem = frameInvalid(header);
        if (problem !== undefined) return this.refuse(problem);
        this.expectedSizeBytes = readFrame(header).sizeBytes;
      }
      if (this.bufferedBytes < this.expectedSizeBytes) break;
      const message = this.take(this.expectedSizeBytes);
      this.expectedSizeBytes = 0;
      messages += 1;
      this.dispatch(message);
    }
    if (!this.open) return;
    if (!this.guard.afterChunk(messages, this.bufferedBytes)) return this.refuse('unfinished message over the buffered-bytes cap');
    this.guard.hold(this.bufferedBytes + this.requestBytes);
  }

  /**
   * Hands a message on. An exception here is a bug in this module (input problems are answered on the
   * wire, not thrown); it is logged loudly and costs this connection, not the node and its other clients.
   */
  private dispatch(message: Buffer): void {
    try {
      this.handler.onMessage(this, message);
    } catch (error) {
      this.handler.logger.error({ err: error }, 'TigerBeetle listener bug while handling a message; closing the connection');
      this.close('internal error');
    }
  }

  private peek(bytes: number): Buffer {
    assert(bytes <= this.bufferedBytes, 'peek past the buffered bytes');
    if (this.chunks[0].length < bytes) this.chunks = [Buffer.concat(this.chunks, this.bufferedBytes)];
    return this.chunks[0].subarray(0, bytes);
  }

  private take(bytes: number): Buffer {
    const taken = this.peek(bytes);
    const first = this.chunks[0];
    if (first.length === bytes) this.chunks.shift();
    else this.chunks[0] = first.subarray(bytes);
    this.bufferedBytes -= bytes;
    return taken;
  }
}
