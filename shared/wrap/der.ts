/**
 * A minimal, strict DER reader/writer (X.690 §8, §10): definite lengths in minimal form only,
 * no trailing bytes. Just enough for SubjectPublicKeyInfo (RFC 5280 §4.1) and the GM/T 0009
 * SM2 ciphertext SEQUENCE. Every failure is a plain `DerError`; callers turn it into their own
 * coded error with a fixed message.
 */

/** Thrown by the DER reader on malformed input (callers map it to a coded error). */
export class DerError extends Error {
  override readonly name: string = 'DerError';
}

/** DER tags used here. */
export const DerTag = {
  Integer: 0x02,
  BitString: 0x03,
  OctetString: 0x04,
  Null: 0x05,
  ObjectIdentifier: 0x06,
  Sequence: 0x30,
} as const;

/** One decoded TLV: the tag, its content bytes and the offset just past it. */
export interface DerElement {
  tag: number;
  content: Buffer;
  end: number;
}

/** Reads one TLV at `offset` (short-form tags only, minimal definite lengths). */
export function readDer(buf: Buffer, offset: number): DerElement {
  if (offset + 2 > buf.length) throw new DerError('truncated');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('high tag numbers unsupported');
  const first = buf[offset + 1]!;
  let length: number;
  let pos = offset + 2;
  if (first < 0x80) {
    length = first;
  } else {
    const n = first & 0x7f;
    if (n === 0 || n > 4) throw new DerError('bad length');
    if (pos + n > buf.length) throw new DerError('truncated');
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + buf[pos + i]!;
    pos += n;
    // X.690 §10.1: the shortest length form is mandatory.
    if (length < 0x80 || buf[pos - n] === 0) throw new DerError('non-minimal length');
  }
  const end = pos + length;
  if (end > buf.length) throw new DerError('truncated');
  return { tag, content: buf.subarray(pos, end), end };
}

/** Reads the children of a constructed element's content, checking each tag in order. */
export function readSequence(content: Buffer, tags: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let offset = 0;
  for (const expected of tags) {
    const el = readDer(content, offset);
    if (el.tag !== expected) throw new DerError('unexpected tag');
    out.push(el.content);
    offset = el.end;
  }
  if (offset !== content.length) throw new DerError('trailing bytes');
  return out;
}

/** Decodes a whole buffer as exactly one element of the given tag. */
export function readOnly(buf: Buffer, tag: number): Buffer {
  const el = readDer(buf, 0);
  if (el.tag !== tag) throw new DerError('unexpected tag');
  if (el.end !== buf.length) throw new DerError('trailing bytes');
  return el.content;
}

/** Content of a DER INTEGER as an unsigned big-endian magnitude (rejects negatives, non-minimal). */
export function unsignedIntegerBytes(content: Buffer): Buffer {
  if (content.length === 0) throw new DerError('empty integer');
  if (content[0]! & 0x80) throw new DerError('negative integer');
  if (content.length > 1 && content[0] === 0 && !(content[1]! & 0x80)) throw new DerError('non-minimal integer');
  return content[0] === 0 && content.length > 1 ? content.subarray(1) : content;
}

/** Encodes one TLV. */
export function writeDer(tag: number, content: Uint8Array): Buffer {
  const len = content.length;
  let header: Buffer;
  if (len < 0x80) header = Buffer.from([tag, len]);
  else if (len < 0x100) header = Buffer.from([tag, 0x81, len]);
  else if (len < 0x10000) header = Buffer.from([tag, 0x82, len >> 8, len & 0xff]);
  else throw new DerError('too long');
  return Buffer.concat([header, content]);
}

/** Encodes an unsigned big-endian magnitude as a minimal DER INTEGER. */
export function writeUnsignedInteger(magnitude: Uint8Array): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = Buffer.from(magnitude.subarray(start));
  const body = trimmed.length > 0 && trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed;
  return writeDer(DerTag.Integer, body.length === 0 ? Buffer.from([0]) : body);
}

/** Decodes an OBJECT IDENTIFIER's content to dotted form (X.690 §8.19). */
export function oidToString(content: Buffer): string {
  if (content.length === 0) throw new DerError('empty oid');
  const arcs: number[] = [];
  let value = 0;
  for (let i = 0; i < content.length; i++) {
    const b = content[i]!;
    if (value === 0 && b === 0x80) throw new DerError('non-minimal oid arc');
    value = value * 128 + (b & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 128) throw new DerError('oid arc too large');
    if (!(b & 0x80)) {
      arcs.push(value);
      value = 0;
    } else if (i === content.length - 1) {
      throw new DerError('truncated oid');
    }
  }
  const first = arcs[0]!;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...arcs.slice(1)].join('.');
}
