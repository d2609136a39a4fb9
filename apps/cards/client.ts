/**
 * The acquirer's side, for tests and the load generator: an ISO 8583 TCP client that matches responses to
 * requests by message class, terminal and STAN (responses may come in any order), and the chip data
 * (DE 55) a card would send, with a real ARQC.
 */
import { connect as connectTcp, type Socket } from 'node:net';
import { generateArqc } from './emv/arqc.js';
import { deriveIccMasterKeyA } from './emv/crypto.js';
import { encodeTlv } from './emv/tlv.js';
import { decode, encode, frame, type IsoMessage } from './iso8583/codec.js';
import { FrameReader } from './iso8583/frames.js';

function matchKey(mti: string, terminal: unknown, stan: unknown): string {
  return `${mti.slice(0, 2)}|${String(terminal)}|${String(stan)}`;
}

export class IsoClient {
  private readonly pending = new Map<string, { resolve: (message: IsoMessage) => void; reject: (error: Error) => void }>();
  private readonly reader = new FrameReader();
  private closedError: Error | undefined;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      const frames = this.reader.push(chunk);
      if (typeof frames === 'string') return this.fail(new Error(`bad framing from the switch: ${frames}`));
      for (const body of frames) {
        const message = decode(body);
        const key = matchKey(message.mti, message.fields.get(41), message.fields.get(11));
        const waiter = this.pending.get(key);
        if (waiter === undefined) continue; // an answer nobody waits for (a repeat's second answer)
        this.pending.delete(key);
        waiter.resolve(message);
      }
    });
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  static connect(port: number, host = '127.0.0.1'): Promise<IsoClient> {
    return new Promise((resolve, reject) => {
      const socket = connectTcp({ port, host }, () => {
        socket.off('error', reject);
        resolve(new IsoClient(socket));
      });
      socket.once('error', reject);
    });
  }

  get closed(): boolean {
    return this.closedError !== undefined;
  }

  /** Resolves when the switch closes the connection. */
  waitClosed(): Promise<void> {
    if (this.socket.destroyed || this.socket.readableEnded) return Promise.resolve();
    return new Promise((resolve) => this.socket.once('close', () => resolve()));
  }

  private fail(error: Error): void {
    this.closedError ??= error;
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
  }

  /** Sends a request and resolves with its response. */
  request(message: IsoMessage): Promise<IsoMessage> {
    return this.requestEncoded(message, encode(message));
  }

  /** Sends bytes that claim to be `message` (for malformed input) and waits for the answer to it. */
  requestEncoded(message: Pick<IsoMessage, 'mti' | 'fields'>, body: Buffer): Promise<IsoMessage> {
    if (this.closedError !== undefined) return Promise.reject(this.closedError);
    const key = matchKey(message.mti, message.fields.get(41), message.fields.get(11));
    if (this.pending.has(key)) return Promise.reject(new Error(`a request ${key} is already in flight`));
    const answer = new Promise<IsoMessage>((resolve, reject) => this.pending.set(key, { resolve, reject }));
    this.socket.write(frame(body));
    return answer;
  }

  /** Writes raw bytes (framing included) with no answer expected. */
  writeRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  close(): void {
    this.socket.destroy();
  }
}

export interface ChipCard {
  pan: string;
  /** Two digits. */
  psn: string;
  iccMasterKey: Buffer;
}

export function chipCard(imk: Buffer, pan: string, psn: number): ChipCard {
  const psnDigits = String(psn).padStart(2, '0');
  return { pan, psn: psnDigits, iccMasterKey: deriveIccMasterKeyA(imk, pan, psnDigits) };
}

export interface ChipTransaction {
  /** Minor units, as DE 4. */
  amount: bigint;
  currency: number;
  atc: number;
  /** YYMMDD. */
  date?: string;
  /** 9C: 00 goods, 01 cash, 31 inquiry. */
  type?: number;
  /** Terminal verification results, 5 bytes (default all zero). */
  tvr?: Buffer;
  unpredictableNumber?: Buffer;
}

/** DE 55 as a card answers GENERATE AC: the minimum data and an ARQC computed over it with the card's key. */
export function chipData(card: ChipCard, transaction: ChipTransaction): Buffer {
  const currency = Buffer.from(String(transaction.currency).padStart(4, '0'), 'hex');
  const tags = new Map<number, Buffer>([
    [0x9f02, Buffer.from(transaction.amount.toString().padStart(12, '0'), 'hex')],
    [0x9f03, Buffer.alloc(6)],
    [0x9f1a, currency],
    [0x95, transaction.tvr ?? Buffer.alloc(5)],
    [0x5f2a, currency],
    [0x9a, Buffer.from(transaction.date ?? '261205', 'hex')],
    [0x9c, Buffer.from([transaction.type ?? 0])],
    [0x9f37, transaction.unpredictableNumber ?? Buffer.from([0x12, 0x34, 0x56, 0x78])],
    [0x82, Buffer.from([0x18, 0x00])],
    [0x9f36, Buffer.from([(transaction.atc >> 8) & 0xff, transaction.atc & 0xff])],
  ]);
  tags.set(0x9f26, generateArqc(card.iccMasterKey, tags));
  return encodeTlv([...tags]);
}
