/**
 * The 2-byte big-endian length framing of ISO 8583 over TCP, as a stream reader: bytes in, whole message
 * bodies out. A frame longer than the limit or of length zero is a protocol violation: the reader reports
 * it and the connection is closed (nothing in it can be answered — its MTI is not known to be there).
 */
import { MESSAGE_BYTES_MAX } from './codec.js';

export class FrameReader {
  private buffered: Buffer = Buffer.alloc(0);

  constructor(private readonly bytesMax: number = MESSAGE_BYTES_MAX) {}

  /** Bytes held for an unfinished frame. */
  get pendingBytes(): number {
    return this.buffered.length;
  }

  /**
   * Appends `chunk` and returns the complete frames' bodies (copies: safe to keep). Returns a string saying
   * why when the stream breaks the framing; the caller closes the connection.
   */
  push(chunk: Buffer): Buffer[] | string {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const frames: Buffer[] = [];
    let offset = 0;
    while (this.buffered.length - offset >= 2) {
      const length = this.buffered.readUInt16BE(offset);
      if (length === 0) return 'a frame of length 0';
      if (length > this.bytesMax) return `a frame of ${length} bytes exceeds the limit of ${this.bytesMax}`;
      if (this.buffered.length - offset - 2 < length) break;
      frames.push(Buffer.from(this.buffered.subarray(offset + 2, offset + 2 + length)));
      offset += 2 + length;
    }
    this.buffered = offset === this.buffered.length ? Buffer.alloc(0) : Buffer.from(this.buffered.subarray(offset));
    return frames;
  }
}
