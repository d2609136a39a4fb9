/**
 * The field specification of ISO 8583:1987 in the ASCII variant of jPOS's `iso87ascii` packager: the one
 * table the codec is driven by. Formats are the standard's own notation:
 *
 *   n6      fixed, 6 ASCII digits                  an12/ans40  fixed, printable ASCII (right-padded by senders)
 *   LLn19   ASCII 2-digit length, then digits      LLLans999   ASCII 3-digit length, then printable ASCII
 *   LLz37   track 2: digits, '=' and 'D'            x+n8        'C' or 'D', then 8 digits
 *   b8      8 bytes as 16 ASCII hex characters     LLLb999     ASCII 3-digit byte count, then raw bytes (DE 55)
 *
 * Lengths of LL/LLL fields count characters (bytes for LLLb) and are checked against the maximum.
 * DE 55 is pinned as raw bytes with an ASCII byte count (jPOS IFA_LLLBINARY), where the stock packager
 * has LLLCHAR: chip data is binary.
 */

export type Content = 'n' | 'ans' | 'z' | 'amount' | 'hex' | 'raw';
export type Prefix = 0 | 2 | 3;

export interface FieldSpec {
  readonly id: number;
  readonly name: string;
  /** Digits of the length prefix: 0 for a fixed-length field. */
  readonly prefix: Prefix;
  readonly content: Content;
  /** Fixed length, or the most a variable field may hold: characters, or bytes for `hex` and `raw`. */
  readonly length: number;
}

/** [id, format, name] in the notation above. */
const TABLE: readonly (readonly [number, string, string])[] = [
  [2, 'LLn19', 'primary account number'],
  [3, 'n6', 'processing code'],
  [4, 'n12', 'amount, transaction'],
  [5, 'n12', 'amount, settlement'],
  [6, 'n12', 'amount, cardholder billing'],
  [7, 'n10', 'transmission date and time'],
  [8, 'n8', 'amount, cardholder billing fee'],
  [9, 'n8', 'conversion rate, settlement'],
  [10, 'n8', 'conversion rate, cardholder billing'],
  [11, 'n6', 'system trace audit number'],
  [12, 'n6', 'time, local transaction'],
  [13, 'n4', 'date, local transaction'],
  [14, 'n4', 'date, expiration'],
  [15, 'n4', 'date, settlement'],
  [16, 'n4', 'date, conversion'],
  [17, 'n4', 'date, capture'],
  [18, 'n4', 'merchant type'],
  [19, 'n3', 'acquiring institution country code'],
  [20, 'n3', 'PAN extended, country code'],
  [21, 'n3', 'forwarding institution country code'],
  [22, 'n3', 'point of service entry mode'],
  [23, 'n3', 'card sequence number'],
  [24, 'n3', 'network international identifier'],
  [25, 'n2', 'point of service condition code'],
  [26, 'n2', 'point of service PIN capture code'],
  [27, 'n1', 'authorization identification response length'],
  [28, 'x+n8', 'amount, transaction fee'],
  [29, 'x+n8', 'amount, settlement fee'],
  [30, 'x+n8', 'amount, transaction processing fee'],
  [31, 'x+n8', 'amount, settlement processing fee'],
  [32, 'LLn11', 'acquiring institution identification code'],
  [33, 'LLn11', 'forwarding institution identification code'],
  [34, 'LLans28', 'primary account number, extended'],
  [35, 'LLz37', 'track 2 data'],
  [36, 'LLLans104', 'track 3 data'],
  [37, 'ans12', 'retrieval reference number'],
  [38, 'ans6', 'authorization identification response'],
  [39, 'ans2', 'response code'],
  [40, 'ans3', 'service restriction code'],
  [41, 'ans8', 'card acceptor terminal identification'],
  [42, 'ans15', 'card acceptor identification code'],
  [43, 'ans40', 'card acceptor name/location'],
  [44, 'LLans25', 'additional response data'],
  [45, 'LLans76', 'track 1 data'],
  [46, 'LLLans999', 'additional data - ISO'],
  [47, 'LLLans999', 'additional data - national'],
  [48, 'LLLans999', 'additional data - private'],
  [49, 'ans3', 'currency code, transaction'],
  [50, 'ans3', 'currency code, settlement'],
  [51, 'ans3', 'currency code, cardholder billing'],
  [52, 'b8', 'personal identification number data'],
  [53, 'n16', 'security related control information'],
  [54, 'LLLans120', 'additional amounts'],
  [55, 'LLLb999', 'ICC data (EMV, BER-TLV)'],
  [56, 'LLLans999', 'reserved ISO'],
  [57, 'LLLans999', 'reserved national'],
  [58, 'LLLans999', 'reserved national'],
  [59, 'LLLans999', 'reserved national'],
  [60, 'LLLans999', 'reserved private'],
  [61, 'LLLans999', 'reserved private'],
  [62, 'LLLans999', 'reserved private'],
  [63, 'LLLans999', 'reserved private'],
  [64, 'b8', 'message authentication code'],
  [65, 'b1', 'bitmap, extended'],
  [66, 'n1', 'settlement code'],
  [67, 'n2', 'extended payment code'],
  [68, 'n3', 'receiving institution country code'],
  [69, 'n3', 'settlement institution country code'],
  [70, 'n3', 'network management information code'],
  [71, 'n4', 'message number'],
  [72, 'n4', 'message number, last'],
  [73, 'n6', 'date, action'],
  [74, 'n10', 'credits, number'],
  [75, 'n10', 'credits, reversal number'],
  [76, 'n10', 'debits, number'],
  [77, 'n10', 'debits, reversal number'],
  [78, 'n10', 'transfer, number'],
  [79, 'n10', 'transfer, reversal number'],
  [80, 'n10', 'inquiries, number'],
  [81, 'n10', 'authorizations, number'],
  [82, 'n12', 'credits, processing fee amount'],
  [83, 'n12', 'credits, transaction fee amount'],
  [84, 'n12', 'debits, processing fee amount'],
  [85, 'n12', 'debits, transaction fee amount'],
  [86, 'n16', 'credits, amount'],
  [87, 'n16', 'credits, reversal amount'],
  [88, 'n16', 'debits, amount'],
  [89, 'n16', 'debits, reversal amount'],
  [90, 'n42', 'original data elements'],
  [91, 'ans1', 'file update code'],
  [92, 'ans2', 'file security code'],
  [93, 'ans6', 'response indicator'],
  [94, 'ans7', 'service indicator'],
  [95, 'ans42', 'replacement amounts'],
  [96, 'b16', 'message security code'],
  [97, 'x+n16', 'amount, net settlement'],
  [98, 'ans25', 'payee'],
  [99, 'LLn11', 'settlement institution identification code'],
  [100, 'LLn11', 'receiving institution identification code'],
  [101, 'LLans17', 'file name'],
  [102, 'LLans28', 'account identification 1'],
  [103, 'LLans28', 'account identification 2'],
  [104, 'LLLans100', 'transaction description'],
  ...Array.from({ length: 23 }, (_, index) => [105 + index, 'LLLans999', index < 7 ? 'reserved ISO' : index < 15 ? 'reserved national' : 'reserved private'] as const),
  [128, 'b8', 'message authentication code 2'],
];

const FORMAT = /^(LLL|LL)?(n|ans|z|x\+n|b)(\d+)$/;

function parseFormat(id: number, format: string, name: string): FieldSpec {
  const match = FORMAT.exec(format);
  if (match === null) throw new Error(`field ${id}: bad format ${format}`);
  const prefix: Prefix = match[1] === 'LLL' ? 3 : match[1] === 'LL' ? 2 : 0;
  const kind = match[2];
  const content: Content = kind === 'b' ? (prefix === 0 ? 'hex' : 'raw') : kind === 'x+n' ? 'amount' : (kind as Content);
  // x+n8 is nine characters on the wire: the sign and eight digits.
  const length = Number(match[3]) + (content === 'amount' ? 1 : 0);
  return { id, name, prefix, content, length };
}

/** FIELDS[id] for id 2..128; 0 (MTI) and 1 (bitmaps) are handled by the codec itself. */
export const FIELDS: readonly (FieldSpec | undefined)[] = (() => {
  const fields: (FieldSpec | undefined)[] = new Array<FieldSpec | undefined>(129).fill(undefined);
  for (const [id, format, name] of TABLE) fields[id] = parseFormat(id, format, name);
  for (let id = 2; id <= 128; id++) if (fields[id] === undefined) throw new Error(`field ${id} has no specification`);
  return fields;
})();
