/**
 * BER-TLV as EMV uses it (Book 3, Annex B) for DE 55: tags of one to three bytes, lengths in short form or
 * long form with one or two length bytes. Parsing is flat (a constructed tag's value is kept whole) and
 * strict: a truncated tag, length or value, a duplicate tag or more than `TAGS_MAX` tags is an
 * `EmvDataError`, never a partial result.
 */
import { EmvDataError } from '../errors.js';

/** DE 55 holds at most 999 bytes; a tag costs at least 2, so more than 500 cannot be honest. */
export const TAGS_MAX = 500;

/** Tag bytes as a number: 0x9F36 for the ATC, 0x95 for the TVR. */
export type Tag = number;

export function parseTlv(bytes: Buffer): Map<Tag, Buffer> {
  const tags = new Map<Tag, Buffer>();
  let offset = 0;
  const fail = (why: string): never => {
    throw new EmvDataError(`DE 55 is not valid BER-TLV: ${why} at byte ${offset}`);
  };
  while (offset < bytes.length) {
    if (tags.size >= TAGS_MAX) fail(`more than ${TAGS_MAX} tags`);
    let tag = bytes[offset++];
    if (tag === 0x00 || tag === 0xff) fail('a padding byte where a tag must start');
    if ((tag & 0x1f) === 0x1f) {
      // Subsequent tag bytes follow while bit 8 is set; EMV tags are at most three bytes.
      for (let more = true, count = 0; more; count++) {
        if (count === 2) fail('a tag longer than three bytes');
        if (offset >= bytes.length) fail('a truncated tag');
        const next = bytes[offset++];
        tag = tag * 256 + next;
        more = (next & 0x80) !== 0;
      }
    }
    if (offset >= bytes.length) fail(`tag ${tag.toString(16)} has no length`);
    let length = bytes[offset++];
    if (length & 0x80) {
      const lengthBytes = length & 0x7f;
      if (lengthBytes === 0 || lengthBytes > 2) fail(`tag ${tag.toString(16)} has an unsupported length form`);
      if (offset + lengthBytes > bytes.length) fail(`tag ${tag.toString(16)} has a truncated length`);
      length = lengthBytes === 1 ? bytes[offset] : bytes.readUInt16BE(offset);
      offset += lengthBytes;
    }
    if (offset + length > bytes.length) fail(`tag ${tag.toString(16)} claims ${length} bytes, ${bytes.length - offset} left`);
    if (tags.has(tag)) fail(`tag ${tag.toString(16)} appears twice`);
    tags.set(tag, bytes.subarray(offset, offset + length));
    offset += length;
  }
  return tags;
}

/** Encodes tags in the order given (short or long length form as needed). */
export function encodeTlv(entries: readonly (readonly [Tag, Buffer])[]): Buffer {
  const parts: Buffer[] = [];
  for (const [tag, value] of entries) {
    const tagBytes = tag > 0xffff ? [tag >> 16, (tag >> 8) & 0xff, tag & 0xff] : tag > 0xff ? [tag >> 8, tag & 0xff] : [tag];
    if (value.length > 0xffff) throw new EmvDataError(`tag ${tag.toString(16)}: value of ${value.length} bytes is too long`);
    const lengthBytes = value.length < 0x80 ? [value.length] : value.length <= 0xff ? [0x81, value.length] : [0x82, value.length >> 8, value.length & 0xff];
    parts.push(Buffer.from([...tagBytes, ...lengthBytes]), value);
  }
  return Buffer.concat(parts);
}
