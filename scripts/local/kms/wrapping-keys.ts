/**
 * The KMS emulator's side of import: one-time wrapping key pairs for GetParametersForImport and
 * the real decryption of ImportKeyMaterial's `EncryptedKeyMaterial` (docs/kms-api.md §2.4,
 * §2.5, §5.5). The private key is a plain JSON value so the emulator can persist its state file.
 *
 * Every failure is an OrchestratorError with a fixed message (no bytes, no lengths of secrets):
 * InvalidBase64 (not strict base64), UnsupportedAlgorithm (unknown algorithm name),
 * AlgorithmMismatch (algorithm not allowed for this key's spec), UnwrapFailed (anything else:
 * wrong ciphertext length, bad padding, bad SM2 ciphertext, corrupt private key). The emulator
 * maps all of them to KMS `InvalidKeyMaterial` (400).
 */
import {
  constants,
  createPrivateKey,
  generateKeyPairSync,
  privateDecrypt,
  type KeyObject,
} from 'node:crypto';
import { ErrorCode, OrchestratorError } from '../../../shared/errors.js';
import { decodeBase64Strict } from '../../../shared/wrap/base64.js';
import { DerTag, readDer, readOnly } from '../../../shared/wrap/der.js';
import {
  WrappingAlgorithm,
  WrappingKeySpec,
  assertAlgorithmMatchesSpec,
  isWrappingKeySpec,
  parseWrappingAlgorithm,
} from '../../../shared/wrap/material.js';
import { sm2Decrypt, sm2PublicPointFromPrivate } from '../../../shared/wrap/sm2.js';

/** A wrapping private key as JSON: PKCS#8 DER (base64) for RSA_2048, the 32-byte scalar (hex) for EC_SM2. */
export type WrappingPrivateKey =
  | { spec: 'RSA_2048'; pkcs8DerBase64: string }
  | { spec: 'EC_SM2'; privateKeyHex: string };

/** A fresh wrapping key pair: `publicKeyBase64` is what GetParametersForImport returns as `PublicKey`. */
export interface WrappingKeyPair {
  /** Standard base64 (no line breaks) of the DER SubjectPublicKeyInfo. */
  publicKeyBase64: string;
  /** JSON-serialisable private half, kept by the emulator with the import token. */
  privateKey: WrappingPrivateKey;
}

const RSA_2048_BYTES = 256;
// SubjectPublicKeyInfo prefix for id-ecPublicKey (1.2.840.10045.2.1) on SM2 (1.2.156.10197.1.301)
// followed by a 66-byte BIT STRING (00 unused bits || 04 || x || y); RFC 5480 §2 / GM/T 0009 §6.
const SM2_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a811ccf5501822d034200', 'hex');

/** Generates a one-time wrapping key pair of `spec` (Node's OpenSSL keygen, a CSPRNG). */
export function generateWrappingKeyPair(spec: 'RSA_2048' | 'EC_SM2'): WrappingKeyPair {
  switch (spec) {
    case WrappingKeySpec.Rsa2048: {
      const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
      return {
        publicKeyBase64: publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
        privateKey: { spec, pkcs8DerBase64: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64') },
      };
    }
    case WrappingKeySpec.EcSm2: {
      // OpenSSL 3 generates on the SM2 curve; we keep only the raw scalar for sm-crypto-v2.
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'SM2' });
      // Node cannot export SM2 as JWK; read the scalar from SEC1 ECPrivateKey (RFC 5915 §3):
      // SEQUENCE { version INTEGER 1, privateKey OCTET STRING, [0] params, [1] publicKey }.
      const sec1 = readOnly(privateKey.export({ format: 'der', type: 'sec1' }), DerTag.Sequence);
      const version = readDer(sec1, 0);
      const scalar = readDer(sec1, version.end);
      if (version.tag !== DerTag.Integer || scalar.tag !== DerTag.OctetString || scalar.content.length !== 32) {
        throw new OrchestratorError(ErrorCode.Internal, 'SM2 key generation returned an unexpected private key encoding');
      }
      const privateKeyHex = scalar.content.toString('hex');
      const point = sm2PublicPointFromPrivate(privateKeyHex);
      return {
        publicKeyBase64: Buffer.concat([SM2_SPKI_PREFIX, point]).toString('base64'),
        privateKey: { spec, privateKeyHex },
      };
    }
    default:
      throw new OrchestratorError(ErrorCode.UnsupportedAlgorithm, 'wrappingKeySpec: unsupported wrapping key spec');
  }
}

/**
 * Decrypts ImportKeyMaterial's `EncryptedKeyMaterial` with the token's private key and returns
 * the raw material. Does not check the material length: the caller knows the CMK's KeySpec.
 */
export function unwrapKeyMaterial(privateKey: WrappingPrivateKey, algorithm: string, encryptedBase64: string): Buffer {
  const alg = parseWrappingAlgorithm(algorithm);
  // The key comes back from the emulator's state file: a corrupt entry is an unwrap failure.
  if (typeof privateKey !== 'object' || privateKey === null || !isWrappingKeySpec(privateKey.spec)) throw unwrapFailed();
  assertAlgorithmMatchesSpec(alg, privateKey.spec);
  const ciphertext = decodeBase64Strict(encryptedBase64, 'EncryptedKeyMaterial');
  switch (alg) {
    case WrappingAlgorithm.RsaesOaepSha256:
      return rsaOaepDecrypt(privateKey, ciphertext, 'sha256');
    case WrappingAlgorithm.RsaesOaepSha1:
      return rsaOaepDecrypt(privateKey, ciphertext, 'sha1');
    case WrappingAlgorithm.RsaesPkcs1V15:
      return rsaPkcs1V15Decrypt(privateKey, ciphertext);
    case WrappingAlgorithm.Sm2Pke: {
      if (privateKey.spec !== WrappingKeySpec.EcSm2 || !/^[0-9a-f]{64}$/.test(privateKey.privateKeyHex)) throw unwrapFailed();
      const material = sm2Decrypt(privateKey.privateKeyHex, ciphertext);
      if (material === undefined) throw unwrapFailed();
      return material;
    }
    default:
      return assertNever(alg);
  }
}

function rsaKey(privateKey: WrappingPrivateKey): KeyObject {
  if (privateKey.spec !== WrappingKeySpec.Rsa2048) throw unwrapFailed();
  try {
    const key = createPrivateKey({ key: decodeBase64Strict(privateKey.pkcs8DerBase64, 'privateKey'), format: 'der', type: 'pkcs8' });
    if (key.asymmetricKeyType !== 'rsa' || key.asymmetricKeyDetails?.modulusLength !== 2048) throw unwrapFailed();
    return key;
  } catch {
    throw unwrapFailed();
  }
}

// RFC 8017 §7.1.2: OAEP with Hash = MGF1 hash = oaepHash (Node passes it to OpenSSL for both) and an
// empty label. OpenSSL's OAEP decode is implemented in constant time.
function rsaOaepDecrypt(privateKey: WrappingPrivateKey, ciphertext: Buffer, hash: 'sha1' | 'sha256'): Buffer {
  const key = rsaKey(privateKey);
  if (ciphertext.length !== RSA_2048_BYTES) throw unwrapFailed();
  try {
    return privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, ciphertext);
  } catch {
    throw unwrapFailed();
  }
}

// RFC 8017 §7.2.2. Node 20 refuses RSA_PKCS1_PADDING for private decryption (Marvin hardening,
// docs/kms-api.md §5.5), so we do the raw RSA operation and check EM = 00 || 02 || PS || 00 || M with
// |PS| >= 8 ourselves. The scan touches every byte and accumulates flags with arithmetic, no early
// exit and no branch on padding bytes; the only branch is on the final verdict. (JavaScript gives
// no hard constant-time guarantee; this is the best-effort shape, and the emulator is local-only.)
function rsaPkcs1V15Decrypt(privateKey: WrappingPrivateKey, ciphertext: Buffer): Buffer {
  const key = rsaKey(privateKey);
  if (ciphertext.length !== RSA_2048_BYTES) throw unwrapFailed();
  let em: Buffer;
  try {
    em = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, ciphertext);
  } catch {
    throw unwrapFailed();
  }
  const { ok, messageStart } = checkPkcs1Type2(em);
  if (ok !== 1) throw unwrapFailed();
  return Buffer.from(em.subarray(messageStart));
}

/** Constant-shape check of an EME-PKCS1-v1_5 block; `ok` is 1 or 0 (exported for tests). */
export function checkPkcs1Type2(em: Uint8Array): { ok: number; messageStart: number } {
  const k = em.length;
  let ok = isZero(k ^ RSA_2048_BYTES);
  ok &= isZero(em[0] ?? 1);
  ok &= isZero((em[1] ?? 0) ^ 0x02);
  let searching = 1; // 1 until the first 00 after the 02 is seen
  let separator = 0;
  for (let i = 2; i < k; i++) {
    const zero = isZero(em[i]!);
    const hit = searching & zero;
    separator = select(hit, i, separator);
    searching &= zero ^ 1;
  }
  ok &= searching ^ 1; // a separator exists
  ok &= greaterOrEqual(separator, 2 + 8); // PS is at least 8 bytes (RFC 8017 §7.2.2 step 3)
  return { ok, messageStart: separator + 1 };
}

// 1 when b == 0, else 0, for 0 <= b < 2^31, without branching.
function isZero(b: number): number {
  return ((b | -b) >>> 31) ^ 1;
}

// 1 when a >= b, for 0 <= a, b < 2^30.
function greaterOrEqual(a: number, b: number): number {
  return ((a - b) >>> 31) ^ 1;
}

// a when mask == 1, b when mask == 0.
function select(mask: number, a: number, b: number): number {
  return (a & -mask) | (b & (mask - 1));
}

function unwrapFailed(): OrchestratorError {
  return new OrchestratorError(ErrorCode.UnwrapFailed, 'EncryptedKeyMaterial: could not be unwrapped with this import token', {
    details: { field: 'EncryptedKeyMaterial' },
  });
}

function assertNever(value: never): never {
  throw new OrchestratorError(ErrorCode.Internal, `unhandled case ${String(value)}`);
}
