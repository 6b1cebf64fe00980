/**
 * SM2 public-key encryption (GB/T 32918.4-2016 / GM/T 0003.4) for `SM2PKE` wrapping.
 *
 * The curve arithmetic, KDF and SM3 come from `sm-crypto-v2` (TypeScript, built on
 * @noble/curves and @noble/hashes). We use it in its raw C1||C3||C2 hex mode only and do the
 * ciphertext ENCODING ourselves, so the wire format is decided in one place (below).
 *
 * Ciphertext encoding chosen: the GM/T 0009-2012 §7.2 / GB/T 35276-2017 `SM2Cipher` structure,
 * DER-encoded, i.e. C1C3C2 order:
 *   SM2Cipher ::= SEQUENCE { XCoordinate INTEGER, YCoordinate INTEGER,
 *                            HASH OCTET STRING SIZE(32), CipherText OCTET STRING }
 * Status: INFERRED, not documented by Alibaba Cloud. What we found (searches of docs, code, issues):
 *  - Alibaba's GetParametersForImport / ImportKeyMaterial / "Import key material" pages (EN and
 *    ZH) only say `EC_SM2` + `SM2PKE` exists for HSM-protected keys in mainland regions and that
 *    EncryptedKeyMaterial is base64 of the ciphertext; no page or official sample gives the bytes.
 *  - GM/T 0009-2012 (SM2 usage specification, now GB/T 35276-2017) defines SM2Cipher above as THE
 *    interchange encoding; the older GM/T 0003.4 only defines the raw C1||C2||C3 concatenation.
 *  - OpenSSL 3 (`openssl pkeyutl -encrypt/-decrypt` with an SM2 key) and Huawei Cloud DEW KMS
 *    (github.com/emmansun/sm2js issue #1: "HUAWEI Cloud KMS (DEW) sm2 encryption result is ASN.1 encoding
 *    format") use this DER form; Tencent KMS offers it as
 *    `SM2_C1C3C2_ASN1` (its Decrypt API reference).
 * So we emit the DER form, and the emulator accepts only that (raw C1C3C2 / C1C2C3 are rejected).
 * If Alibaba is ever shown to want raw C1C3C2, only sm2Encrypt/sm2Decrypt change. Both directions
 * are cross-checked against `openssl pkeyutl` with an SM2 key in test/unit/wrap.
 *
 * Randomness: the ephemeral scalar k is drawn INSIDE sm-crypto-v2 (its `generateKeyPairHex` ->
 * @noble/curves `randomPrivateKey` -> sm-crypto-v2's rng.ts), which on Node 20 uses
 * `globalThis.crypto.getRandomValues` (WebCrypto, backed by OpenSSL's CSPRNG). It cannot take our
 * RandomSource; that is acceptable because k only needs to be secret and fresh, which a CSPRNG
 * gives, and the material itself still comes from the injected RandomSource.
 */
import { createRequire } from 'node:module';
import { DerTag, readOnly, readSequence, unsignedIntegerBytes, writeDer, writeUnsignedInteger } from './der.js';

type Sm2Api = typeof import('sm-crypto-v2')['sm2'];
let sm2Api: Sm2Api | undefined;

/**
 * sm-crypto-v2 (with @noble/curves and @noble/hashes) is loaded on first use, i.e. only when an SM2
 * algorithm is used: most deployments wrap with RSA, and evaluating the library at start-up was a
 * large share of a function's cold start. In the CommonJS function bundles `require` is Node's
 * (esbuild still bundles the module but runs its code only on this call); under ESM loaders
 * (vitest, tsx) there may be no `require`, hence createRequire.
 */
export function loadSm2(): Sm2Api {
  if (sm2Api === undefined) {
    const mod: typeof import('sm-crypto-v2') =
      typeof require === 'function' ? require('sm-crypto-v2') : createRequire(import.meta.url)('sm-crypto-v2');
    sm2Api = mod.sm2;
  }
  return sm2Api;
}

/** How SM2PKE ciphertext is laid out on the wire (see the module comment for the evidence). */
export const SM2_CIPHERTEXT_ENCODING = 'GM/T 0009 DER SEQUENCE{x, y, hash, ciphertext} (C1C3C2)';

const COORD_BYTES = 32;
const HASH_BYTES = 32;

/** Encrypts `plaintext` to the uncompressed point `04||x||y` and returns the GM/T 0009 DER ciphertext. */
export function sm2Encrypt(publicPoint: Uint8Array, plaintext: Uint8Array): Buffer {
  // Raw mode 1 = C1C3C2: hex of x(32) || y(32) || C3(32) || C2(n), C1 without its 04 prefix.
  const rawHex = loadSm2().doEncrypt(Uint8Array.from(plaintext), Buffer.from(publicPoint).toString('hex'), 1);
  const raw = Buffer.from(rawHex, 'hex');
  const x = raw.subarray(0, COORD_BYTES);
  const y = raw.subarray(COORD_BYTES, 2 * COORD_BYTES);
  const c3 = raw.subarray(2 * COORD_BYTES, 2 * COORD_BYTES + HASH_BYTES);
  const c2 = raw.subarray(2 * COORD_BYTES + HASH_BYTES);
  return writeDer(
    DerTag.Sequence,
    Buffer.concat([
      writeUnsignedInteger(x),
      writeUnsignedInteger(y),
      writeDer(DerTag.OctetString, c3),
      writeDer(DerTag.OctetString, c2),
    ]),
  );
}

/**
 * Decrypts a GM/T 0009 DER ciphertext with the 32-byte private scalar (hex). Returns undefined on
 * ANY failure (malformed DER, point not on the curve, C3 mismatch, empty plaintext) so callers
 * raise one fixed error and learn nothing about which check failed.
 */
export function sm2Decrypt(privateKeyHex: string, ciphertext: Buffer): Buffer | undefined {
  try {
    const [xc, yc, hash, c2] = readSequence(readOnly(ciphertext, DerTag.Sequence), [
      DerTag.Integer,
      DerTag.Integer,
      DerTag.OctetString,
      DerTag.OctetString,
    ]) as [Buffer, Buffer, Buffer, Buffer];
    const x = unsignedIntegerBytes(xc);
    const y = unsignedIntegerBytes(yc);
    if (x.length > COORD_BYTES || y.length > COORD_BYTES || hash.length !== HASH_BYTES || c2.length === 0)
      return undefined;
    const rawHex =
      Buffer.concat([leftPad(x, COORD_BYTES), leftPad(y, COORD_BYTES)]).toString('hex') +
      hash.toString('hex') +
      c2.toString('hex');
    // The library checks C1 is on the curve (fromHex throws otherwise) and compares C3; on a C3
    // mismatch it returns an empty array rather than throwing. Its C3 comparison is a string
    // compare, not constant time; acceptable because only the local emulator decrypts SM2PKE.
    const out = loadSm2().doDecrypt(rawHex, privateKeyHex, 1, { output: 'array' });
    return out.length === c2.length ? Buffer.from(out) : undefined;
  } catch {
    // DerError from our reader or an Error from the library (point not on curve, bad scalar).
    return undefined;
  }
}

/** The uncompressed public point `04||x||y` (65 bytes) for a 32-byte private scalar in hex. */
export function sm2PublicPointFromPrivate(privateKeyHex: string): Buffer {
  return Buffer.from(loadSm2().getPublicKeyFromPrivateKey(privateKeyHex), 'hex');
}

function leftPad(bytes: Buffer, size: number): Buffer {
  return bytes.length === size ? bytes : Buffer.concat([Buffer.alloc(size - bytes.length), bytes]);
}
