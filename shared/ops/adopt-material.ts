/**
 * The material file of `adopt`, read once. Accepted: the raw material as the seed procedure makes
 * it (`openssl rand -out KeyMaterial.bin 32`: exactly 16, 24 or 32 bytes), or that material as one
 * line of Base64. Refused, with the reason: the seed's wrapped form (EncryptedKeyMaterial_base64.txt,
 * or JSON {"encryptedKeyMaterial", "importToken"}): it is sealed to a KMS public key whose private
 * key only KMS holds, so we cannot unwrap it, and escrow (the point of adopting) needs the raw
 * material. Nothing read here is ever logged or put in an error.
 */
import { readFile } from 'node:fs/promises';
import { ErrorCode, OrchestratorError } from '../errors.js';

const RAW_SIZES = new Set([16, 24, 32]);
/** RSA-2048/3072/4096 ciphertexts: a wrapped material. */
const WRAPPED_SIZES = new Set([256, 384, 512]);
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

const bad = (text: string) =>
  new OrchestratorError(ErrorCode.InvalidInput, `material-file: ${text}`, { details: { field: 'material-file' } });

/** Why the wrapped form is refused (also in the README and the help). */
export const WRAPPED_REFUSAL =
  'this is the wrapped form (encrypted to a KMS import public key): only KMS can unwrap it, and adopt must ' +
  'escrow the raw material, so it is refused; pass the raw material file (KeyMaterial.bin of the seed ' +
  'procedure, 16/24/32 bytes, or its Base64). Nothing changed';

/** Reads the material file once; returns the raw material (the caller zeroes it). */
export async function readAdoptMaterial(path: string): Promise<Buffer> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    throw bad(`cannot read ${path}: ${typeof code === 'string' ? code : 'read failed'}`);
  }
  if (RAW_SIZES.has(buf.length)) return buf;
  try {
    const text = buf.toString('utf8').trim();
    if (text.startsWith('{')) {
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch {
        throw bad('not JSON, raw material or Base64');
      }
      if (typeof doc === 'object' && doc !== null && ('encryptedKeyMaterial' in doc || 'importToken' in doc))
        throw bad(WRAPPED_REFUSAL);
      throw bad('a JSON file is taken only as the wrapped form, which is refused (see help)');
    }
    if (BASE64.test(text)) {
      const decoded = Buffer.from(text, 'base64');
      if (RAW_SIZES.has(decoded.length)) return decoded;
      const size = decoded.length;
      decoded.fill(0);
      if (WRAPPED_SIZES.has(size)) throw bad(WRAPPED_REFUSAL);
    }
    throw bad(`${buf.length} bytes: not raw material (16, 24 or 32 bytes, or their Base64)`);
  } finally {
    buf.fill(0);
  }
}
