/**
 * The switch's ISO 8583 TCP listener: 2-byte length frames (frames.ts), one codec (iso8583/codec.ts), the
 * requests handed to the processor through the batcher.
 *
 * Nothing a client sends stops the listener or touches another connection: a malformed message whose MTI
 * and STAN were readable is answered with a format error (DE 39 `30`); one that cannot be answered (no
 * MTI, no STAN, broken framing) closes that connection. Limits: `connectionsMax` connections (more are
 * closed at once), `inFlightPerConnectionMax` messages in flight per connection (past it the listener stops
 * reading from that socket until answers go out: back-pressure instead of memory), `idleTimeoutMs` of
 * silence, and at most one unfinished frame (≤ 8 KiB) buffered per connection.
 *
 * Each answered message writes one access-log line at debug level with the Gunicorn post's figures:
 * `queueWaitMs` (waiting for a ledger transaction) against `serviceMs` (in it), and `busy` (messages in
 * that transaction) and `queued` (waiting behind it).
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AppContext } from 'purser';
import { BatcherFullError, isSystemFailure, type Batcher, type JobTiming } from './batcher.js';
import { IsoFormatError } from './errors.js';
import { decode, encode, frame, responseMti, type FieldValue, type IsoMessage } from './iso8583/codec.js';
import { FrameReader } from './iso8583/frames.js';
import { RC } from './model.js';
import type { CardProcessor } from './processor.js';
import { buildResponse } from './responses.js';
import type { CardsSettings } from './settings.js';

type Logger = AppContext['logger'];

export interface ListenerStats {
  connections: number;
  connectionsRefused: number;
  messages: number;
  formatErrors: number;
  closedForBadInput: number;
  responsesByCode: Record<string, number>;
}

const REQUEST_MTIS = new Set(['0100', '0101', '0200', '0400', '0401', '0420', '0421']);

export class CardsListener {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly counters = { connectionsRefused: 0, messages: 0, formatErrors: 0, closedForBadInput: 0 };
  private readonly responsesByCode: Record<string, number> = {};
  private inFlight = 0;
  private closing = false;
  address: { host: string; port: number } = { host: '', port: 0 };

  constructor(
    private readonly settings: CardsSettings,
    private readonly batcher: Batcher,
    private readonly processor: CardProcessor,
    private readonly logger: Logger,
  ) {
    this.server = createServer((socket) => this.accept(socket));
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.settings.port, this.settings.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address();
    if (address !== null && typeof address === 'object') this.address = { host: address.address, port: address.port };
  }

  stats(): ListenerStats {
    return { connections: this.sockets.size, ...this.counters, responsesByCode: { ...this.responsesByCode } };
  }

  /** Stops accepting, answers what is in flight, then closes every connection. */
  async close(): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.pause();
    await this.batcher.idle();
    for (const socket of this.sockets) socket.end();
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private accept(socket: Socket): void {
    if (this.closing || this.sockets.size >= this.settings.connectionsMax) {
      this.counters.connectionsRefused++;
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.setTimeout(this.settings.idleTimeoutMs, () => socket.destroy());
    const reader = new FrameReader();
    const connection = { inFlight: 0, paused: false };
    socket.on('data', (chunk: Buffer) => {
      const frames = reader.push(chunk);
      if (typeof frames === 'string') return this.dropConnection(socket, frames);
      for (const body of frames) {
        if (socket.destroyed) return;
        this.onMessage(socket, body, connection);
      }
    });
    socket.on('error', () => undefined); // a reset by the peer: 'close' follows
    socket.on('close', () => this.sockets.delete(socket));
  }

  private dropConnection(socket: Socket, why: string): void {
    this.counters.closedForBadInput++;
    this.logger.debug({ remote: socket.remoteAddress, why }, 'cards: closing a connection that sent what cannot be answered');
    socket.destroy();
  }

  private onMessage(socket: Socket, body: Buffer, connection: { inFlight: number; paused: boolean }): void {
    this.counters.messages++;
    let message: IsoMessage;
    try {
      message = decode(body);
    } catch (error) {
      if (!(error instanceof IsoFormatError)) throw error;
      this.counters.formatErrors++;
      const { mti, fields } = error.partial;
      const stan = fields.get(11);
      const mtiOut = mti === undefined ? undefined : responseMti(mti);
      if (mtiOut === undefined || stan === undefined) return this.dropConnection(socket, error.message);
      const echoed = new Map<number, FieldValue>([[11, stan]]);
      for (const id of [7, 37, 41]) if (fields.has(id)) echoed.set(id, fields.get(id)!);
      return this.send(socket, { mti: mti!, fields: echoed }, encode({ mti: mtiOut, fields: new Map([...echoed, [39, RC.formatError]]) }), RC.formatError);
    }
    if (message.mti === '0800') {
      const fields = new Map<number, FieldValue>([[39, RC.approved]]);
      for (const id of [7, 11, 70]) if (message.fields.has(id)) fields.set(id, message.fields.get(id)!);
      return this.send(socket, message, encode({ mti: '0810', fields }), RC.approved);
    }
    if (!REQUEST_MTIS.has(message.mti)) {
      // A response or an unsupported message class: nothing to answer with that the sender expects.
      if (responseMti(message.mti) === undefined || !message.fields.has(11)) return this.dropConnection(socket, `unexpected MTI ${message.mti}`);
      return this.send(socket, message, buildResponse(message, { responseCode: RC.invalidTransaction }), RC.invalidTransaction);
    }
    connection.inFlight++;
    this.inFlight++;
    if (connection.inFlight >= this.settings.inFlightPerConnectionMax && !connection.paused) {
      connection.paused = true;
      socket.pause();
    }
    const timing: JobTiming = { queueWaitMs: 0, serviceMs: 0, busy: 0, queued: 0 };
    const done = (response: Buffer, responseCode: string) => {
      connection.inFlight--;
      this.inFlight--;
      if (connection.paused && connection.inFlight < this.settings.inFlightPerConnectionMax / 2) {
        connection.paused = false;
        if (!this.closing) socket.resume();
      }
      this.send(socket, message, response, responseCode, timing);
    };
    this.batcher.submit(async (batch) => {
      const answer = await this.processor.process(message, batch);
      // Complete once the job's batch ran its deferred transfers, before the transaction commits.
      batch.beforeCommit.push(() => (answer.outcome === undefined ? Promise.reject(new Error('a message got no answer')) : Promise.resolve()));
      return answer;
    }, timing).then(
      (answer) => done(answer.outcome!.response, answer.outcome!.responseCode || (decodeCode(answer.outcome!.response) ?? '')),
      (error: unknown) => {
        // The ledger or store could not take it (or the queue is full): nothing was changed; say so.
        if (!(error instanceof BatcherFullError) && !isSystemFailure(error)) this.logger.error({ err: error, mti: message.mti, stan: message.fields.get(11) }, 'cards: a message failed unexpectedly and was undone');
        let response: Buffer;
        try {
          response = buildResponse(message, { responseCode: RC.systemUnavailable });
        } catch {
          return done(Buffer.alloc(0), RC.systemUnavailable);
        }
        done(response, RC.systemUnavailable);
      },
    );
  }

  private send(socket: Socket, request: IsoMessage, response: Buffer, responseCode: string, timing?: JobTiming): void {
    this.responsesByCode[responseCode] = (this.responsesByCode[responseCode] ?? 0) + 1;
    if (response.length > 0 && !socket.destroyed) socket.write(frame(response));
    if (this.logger.isLevelEnabled('debug')) {
      this.logger.debug({
        terminal: request.fields.get(41), mti: request.mti, stan: request.fields.get(11), rc: responseCode,
        queueWaitMs: timing?.queueWaitMs ?? 0, serviceMs: timing?.serviceMs ?? 0, busy: timing?.busy ?? 0, queued: timing?.queued ?? 0,
      }, 'cards message');
    }
  }
}

/** DE 39 of an encoded response (for repeats answered from stored bytes). */
function decodeCode(response: Buffer): string | undefined {
  try {
    const value = decode(response).fields.get(39);
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}
